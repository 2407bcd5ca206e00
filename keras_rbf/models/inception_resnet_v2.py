"""Inception-ResNet-v2 (Szegedy et al., AAAI 2017) with optional RBF blocks (CHEST model).

The plain network is layer for layer `keras.applications.InceptionResNetV2` with the
same layer names as that function produces in a fresh Keras session (`conv2d`,
`conv2d_1`, ..., `block35_1_conv`, ..., `conv_7b`, `avg_pool`, `predictions`), so
weights move between the two by name; `load_imagenet_weights` does that for the
ImageNet file of `keras.applications`, also into grayscale and RBF variants.

RBF placement (`rbf=True`; the paper only says the network was "modified by the
proposed radial basis function blocks", so the points are an argument). Each point puts
`rbf_block(x, normalize=rbf_normalize)` (Fig. 2: `concat([x, RBF(LayerNorm(x))])`) on the
feature map there (`rbf_normalize=False` drops the LayerNorm):

- "stem": after the stem (35 x 35 x 192 at 299 x 299), feeding `mixed_5b`;
- "block35": after the 10 Inception-ResNet-A blocks (320 channels), feeding the conv
  branches of `mixed_6a`;
- "block17": after the 20 Inception-ResNet-B blocks (1088 channels), feeding the conv
  branches of `mixed_7a`;
- "block8": after the 10 Inception-ResNet-C blocks (2080 channels), feeding `conv_7b`;
- "head": on the pooled 1536 features, feeding the classifier `predictions`.

The max-pool branches of the reduction blocks `mixed_6a` / `mixed_7a` keep the plain
features, so the stage widths (320, 1088, 2080) and every residual block stay those
of the original network: only the first convolutions after an RBF block see more input
channels, and all other ImageNet weights still fit.

RBF size: a block on K channels gets `num_centers = min(K, 128)` and `units = min(K, 64)`
unless `rbf_kwargs` says otherwise; distances are divided by K (`scale_by_dim=True`)
and `epsilon = 0.25`, the settings with which the CNN zoo entries keep their deep RBF
units alive under per-coordinate optimizers (see `zoo/cnn_rbf_mnist/card.json`). The
paper's default P = units = K would give the 1088- and 2080-channel blocks 3.5M and 13M
parameters each (centers, Psi factor and kernel are each K x K) and double the width of
the convolutions after them; the K x K Psi factor is kept in any case, since the full
Mahalanobis Psi is the method.
Pass `rbf_kwargs={"num_centers": None, "units": None}` for P = units = K.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import keras
from keras import layers

from keras_rbf.models._common import check_positive_int, check_shared, default_name, maybe_rbf

__all__ = [
    "build_inception_resnet_v2",
    "ResidualScale",
    "RBF_PLACEMENTS",
    "load_imagenet_weights",
    "transfer_weights",
]

RBF_PLACEMENTS = ("stem", "block35", "block17", "block8", "head")
DEFAULT_NUM_CENTERS = 128
DEFAULT_UNITS = 64
DEFAULT_RBF_KWARGS = {"scale_by_dim": True, "epsilon": 0.25}
MIN_SIZE = 75  # smallest input side the stem and the two reductions allow (as keras.applications)


@keras.saving.register_keras_serializable(package="keras_rbf")
class ResidualScale(keras.layers.Layer):
    """`shortcut + scale * residual`: the scaled residual sum of Inception-ResNet blocks.

    The same computation as `keras.applications`' unexported `CustomScaleLayer`,
    registered here so that `.keras` files of these models load.

    Args:
        scale: factor of the residual branch (0.17, 0.1, 0.2 or 1.0 in the network).
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: list `[shortcut, residual]` of equal shapes.
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


class _Namer:
    """Reproduces Keras's automatic names (`conv2d`, `conv2d_1`, ...) from a fresh session.

    Explicit names make the graph's names independent of what else the session built.
    """

    def __init__(self):
        self.counts: dict[str, int] = defaultdict(int)

    def __call__(self, prefix: str) -> str:
        n = self.counts[prefix]
        self.counts[prefix] += 1
        return prefix if n == 0 else f"{prefix}_{n}"


def _conv_bn(
    namer,
    x,
    filters,
    kernel_size,
    strides=1,
    padding="same",
    activation="relu",
    use_bias=False,
    name=None,
):
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        name=name or namer("conv2d"),
    )(x)
    if not use_bias:
        x = layers.BatchNormalization(
            axis=3, scale=False, name=f"{name}_bn" if name else namer("batch_normalization")
        )(x)
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_ac" if name else namer("activation"))(x)
    return x


def _residual_block(namer, x, scale, block_type, block_idx, activation="relu"):
    c = lambda *a, **k: _conv_bn(namer, *a, **k)  # noqa: E731 - local shorthand
    if block_type == "block35":
        b0 = c(x, 32, 1)
        b1 = c(c(x, 32, 1), 32, 3)
        b2 = c(c(c(x, 32, 1), 48, 3), 64, 3)
        branches = [b0, b1, b2]
    elif block_type == "block17":
        b0 = c(x, 192, 1)
        b1 = c(c(c(x, 128, 1), 160, [1, 7]), 192, [7, 1])
        branches = [b0, b1]
    else:  # block8
        b0 = c(x, 192, 1)
        b1 = c(c(c(x, 192, 1), 224, [1, 3]), 256, [3, 1])
        branches = [b0, b1]
    block_name = f"{block_type}_{block_idx}"
    mixed = layers.Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
    up = c(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = ResidualScale(scale, name=namer("custom_scale_layer"))([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


def _rbf_kwargs_for(channels: int, rbf_kwargs: dict | None) -> dict:
    kwargs = {
        "num_centers": min(channels, DEFAULT_NUM_CENTERS),
        "units": min(channels, DEFAULT_UNITS),
        **DEFAULT_RBF_KWARGS,
    }
    kwargs.update(rbf_kwargs or {})
    return kwargs


def build_inception_resnet_v2(
    input_shape: Sequence[int] = (299, 299, 1),
    num_classes: int = 2,
    *,
    rbf: bool = False,
    rbf_kwargs: dict[str, Any] | None = None,
    rbf_normalize: bool = True,
    classifier_activation: str | None = None,
    name: str | None = None,
    rbf_placement: Sequence[str] = RBF_PLACEMENTS,
    input_rescaling: bool = True,
    stage_blocks: Sequence[int] = (10, 20, 10),
) -> keras.Model:
    """Inception-ResNet-v2 classifier, with RBF blocks if `rbf` (see the module docstring).

    Args:
        input_shape: `(H, W, C)`, H and W >= 75; C = 1 (grayscale X-rays) or 3 (RGB).
        num_classes: outputs of the classifier (2 for the paper's CHEST task).
        rbf: whether to add RBF blocks at `rbf_placement`.
        rbf_kwargs: `RBFMapping` arguments for every block, updating the defaults
            `num_centers = min(K, 128)`, `units = min(K, 64)` (for a block on K
            channels), `scale_by_dim=True`, `epsilon=0.25`.
        rbf_normalize: give each RBF branch layer-normalized features (see `rbf_block`).
        classifier_activation: activation of `predictions`; None (default) gives logits.
        name: model name; default "inception_resnet_v2" or "inception_resnet_v2_rbf".
        rbf_placement: subset of `RBF_PLACEMENTS` ("stem", "block35", "block17",
            "block8", "head"); ignored unless `rbf`.
        input_rescaling: if True, the model takes images in [0, 1] and maps them to the
            [-1, 1] range of `keras.applications.inception_resnet_v2.preprocess_input`
            with a `Rescaling` layer named `input_rescaling` (so attacks and squeezers work
            in [0, 1] pixel space); if False the model is exactly keras.applications'
            layer list and expects [-1, 1] inputs.
        stage_blocks: repeats of the Inception-ResNet-A, -B and -C blocks (one count per
            stage); (10, 20, 10) is the network of the paper. Fewer repeats give a
            smaller model (used by the tests).

    Returns:
        A functional `keras.Model` mapping `(B, H, W, C)` images to `(B, num_classes)`.
    """
    # Why this function is long: the architecture stem to head in one place, as keras.applications
    # writes it, so it can be read against the paper's figure
    builder = "build_inception_resnet_v2"
    input_shape, num_classes, rbf_kwargs = check_shared(
        builder, input_shape, num_classes, rbf_kwargs
    )
    if any(d is None for d in input_shape):
        raise ValueError(f"{builder}: `input_shape` must be fully known, got {input_shape}")
    if min(input_shape[:2]) < MIN_SIZE:
        raise ValueError(
            f"{builder}: Inception-ResNet-v2 needs images of at least {MIN_SIZE}x{MIN_SIZE}, "
            f"got input_shape {input_shape}"
        )
    blocks = tuple(check_positive_int(builder, "stage_blocks", b) for b in stage_blocks)
    if len(blocks) != 3:
        raise ValueError(
            f"{builder}: `stage_blocks` must be three positive repeat counts, got {stage_blocks}"
        )
    placement = tuple(rbf_placement) if rbf else ()
    unknown = set(placement) - set(RBF_PLACEMENTS)
    if unknown:
        raise ValueError(
            f"{builder}: unknown `rbf_placement` {sorted(unknown)}; choose from "
            f"{', '.join(RBF_PLACEMENTS)}"
        )

    namer = _Namer()
    c = lambda *a, **k: _conv_bn(namer, *a, **k)  # noqa: E731 - local shorthand

    def rbf_at(x, point):
        kw = _rbf_kwargs_for(int(x.shape[-1]), rbf_kwargs)
        return maybe_rbf(x, point in placement, f"rbf_{point}", rbf_normalize, kw)

    inputs = layers.Input(shape=input_shape, name="input_layer")
    x = inputs
    if input_rescaling:
        x = layers.Rescaling(2.0, offset=-1.0, name="input_rescaling")(inputs)

    # Stem: 35 x 35 x 192 at 299 x 299.
    x = c(x, 32, 3, strides=2, padding="valid")
    x = c(x, 32, 3, padding="valid")
    x = c(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2, name=namer("max_pooling2d"))(x)
    x = c(x, 80, 1, padding="valid")
    x = c(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2, name=namer("max_pooling2d"))(x)
    x = rbf_at(x, "stem")

    # Mixed 5b (Inception-A): 35 x 35 x 320.
    b0 = c(x, 96, 1)
    b1 = c(c(x, 48, 1), 64, 5)
    b2 = c(c(c(x, 64, 1), 96, 3), 96, 3)
    bp = layers.AveragePooling2D(3, strides=1, padding="same", name=namer("average_pooling2d"))(x)
    bp = c(bp, 64, 1)
    x = layers.Concatenate(axis=3, name="mixed_5b")([b0, b1, b2, bp])

    for i in range(1, blocks[0] + 1):
        x = _residual_block(namer, x, 0.17, "block35", i)
    xr = rbf_at(x, "block35")

    # Mixed 6a (Reduction-A): 17 x 17 x 1088; the pool branch keeps the plain features.
    b0 = c(xr, 384, 3, strides=2, padding="valid")
    b1 = c(c(c(xr, 256, 1), 256, 3), 384, 3, strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, padding="valid", name=namer("max_pooling2d"))(x)
    x = layers.Concatenate(axis=3, name="mixed_6a")([b0, b1, bp])

    for i in range(1, blocks[1] + 1):
        x = _residual_block(namer, x, 0.1, "block17", i)
    xr = rbf_at(x, "block17")

    # Mixed 7a (Reduction-B): 8 x 8 x 2080.
    b0 = c(c(xr, 256, 1), 384, 3, strides=2, padding="valid")
    b1 = c(c(xr, 256, 1), 288, 3, strides=2, padding="valid")
    b2 = c(c(c(xr, 256, 1), 288, 3), 320, 3, strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, padding="valid", name=namer("max_pooling2d"))(x)
    x = layers.Concatenate(axis=3, name="mixed_7a")([b0, b1, b2, bp])

    for i in range(1, blocks[2]):
        x = _residual_block(namer, x, 0.2, "block8", i)
    x = _residual_block(namer, x, 1.0, "block8", blocks[2], activation=None)
    x = rbf_at(x, "block8")

    x = c(x, 1536, 1, name="conv_7b")  # 8 x 8 x 1536
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = rbf_at(x, "head")
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(
        inputs, outputs, name=default_name("inception_resnet_v2", bool(placement), name)
    )


def _weighted_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if layer.weights]


def transfer_weights(source: keras.Model, target: keras.Model, skip: Sequence[str] = ()) -> dict:
    """Copies weights by layer name from `source` into `target`, adapting input widths.

    For each layer of `target` that has weights and a namesake in `source`:
    equal shapes are copied; a kernel whose input-channel axis (-2) differs is adapted:
    3 -> 1 channels (RGB weights into a grayscale first conv) sums over the RGB axis
    (a gray image seen as R = G = B gives the same response); a wider target (a conv
    after an RBF block, which sees `K + units` channels) gets the source kernel in its
    first K input channels and keeps its own initialization for the rest.

    Args:
        source: model to read (e.g. `keras.applications.InceptionResNetV2`).
        target: model to write.
        skip: layer names not to touch (e.g. "predictions" for a new head).

    Returns:
        `{"copied": [...], "adapted": [...], "skipped": [...]}` lists of layer names;
        "skipped" holds target layers with no namesake or an incompatible shape (RBF
        layers, a classifier with another number of classes).
    """
    by_name = {layer.name: layer for layer in _weighted_layers(source)}
    report: dict[str, list[str]] = {"copied": [], "adapted": [], "skipped": []}
    for layer in _weighted_layers(target):
        src = by_name.get(layer.name)
        if src is None or layer.name in skip or len(src.weights) != len(layer.weights):
            report["skipped"].append(layer.name)
            continue
        new, adapted = [], False
        for w_src, w_dst in zip(src.get_weights(), layer.get_weights()):
            if w_src.shape == w_dst.shape:
                new.append(w_src)
            elif (
                w_src.ndim == w_dst.ndim == 4
                and w_src.shape[:2] == w_dst.shape[:2]
                and w_src.shape[3] == w_dst.shape[3]
            ):
                if w_src.shape[2] == 3 and w_dst.shape[2] == 1:
                    new.append(w_src.sum(axis=2, keepdims=True))
                elif w_src.shape[2] < w_dst.shape[2]:
                    w = w_dst.copy()
                    w[:, :, : w_src.shape[2], :] = w_src
                    new.append(w)
                else:
                    new = None
                    break
                adapted = True
            else:
                new = None
                break
        if new is None:
            report["skipped"].append(layer.name)
            continue
        layer.set_weights(new)
        report["adapted" if adapted else "copied"].append(layer.name)
    return report


def load_imagenet_weights(
    model: keras.Model, weights_path: str, skip: Sequence[str] = ("predictions",)
) -> dict:
    """Loads `keras.applications`' ImageNet Inception-ResNet-v2 weights from a local file.

    No download happens: `weights_path` is the file `keras.applications` would fetch,
    e.g. `inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5`. Keras
    reads that (legacy) file by layer order into a `keras.applications` model; its
    layers are then matched in order to a plain twin built by this module, which gives
    each the name this module uses, and the weights move by name into `model` with
    `transfer_weights` (grayscale and RBF-widened convolutions adapted).

    Args:
        model: a model from `build_inception_resnet_v2` (any `rbf`, 1 or 3 channels).
        weights_path: local path of the ImageNet weight file (with or without top).
        skip: target layer names to leave alone (default: the classifier).

    Returns:
        The `transfer_weights` report.
    """
    import os

    if not os.path.exists(weights_path):
        raise FileNotFoundError(f"ImageNet weight file not found: {weights_path}")
    height, width = model.input_shape[1:3]
    include_top = "notop" not in os.path.basename(weights_path)
    shape = (299, 299, 3) if include_top else (height, width, 3)
    reference = keras.applications.InceptionResNetV2(
        include_top=include_top, weights=weights_path, input_shape=shape
    )
    twin = build_inception_resnet_v2(
        shape,
        num_classes=1000,
        input_rescaling=False,
        rbf=False,
        classifier_activation="softmax",
    )
    ref_layers, twin_layers = _weighted_layers(reference), _weighted_layers(twin)
    for ref_layer, twin_layer in zip(ref_layers, twin_layers):
        ref_shapes = [w.shape for w in ref_layer.weights]
        twin_shapes = [w.shape for w in twin_layer.weights]
        if ref_shapes != twin_shapes:
            raise ValueError(
                f"keras.applications layer {ref_layer.name} {ref_shapes} does not line up "
                f"with {twin_layer.name} {twin_shapes}; the two architectures differ"
            )
        twin_layer.set_weights(ref_layer.get_weights())
    return transfer_weights(twin, model, skip=skip)
