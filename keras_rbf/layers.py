"""The paper's radial-basis mapping (Eq. 2-5) as a Keras 3 layer, and the Fig. 2 block.

For an input feature vector ``f`` of size ``K`` (the last axis of any input of rank >= 2)
and ``P`` centers ``c_k``::

    Psi   = A A^T + epsilon I                      positive definite by construction
    D_k   = (f - c_k)^T Psi^{-1} (f - c_k)          Eq. 3
    phi_k = exp(-beta_k D_k)                        Eq. 2
    g     = sum_k phi_k kernel[k] + bias            Eq. 4

where ``A`` is the variable ``psi_factor``. The distances are computed without ever
materializing an ``(N, P, K)`` tensor; see `squared_distances`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import keras
import numpy as np
from keras import ops

__all__ = [
    "MinValue",
    "PsiIdentity",
    "RBFMapping",
    "WEIGHTS",
    "WeightSpec",
    "live_fraction",
    "psi_matrix",
    "rbf_activations",
    "rbf_block",
    "squared_distances",
    "whitening_transpose",
]

# An activation counts as "live" when it is neither ~0 nor ~1: outside this band the unit
# passes (almost) no gradient or carries (almost) no information about the input.
LIVE_BAND = (1e-3, 0.999)


@keras.saving.register_keras_serializable(package="keras_rbf")
class MinValue(keras.constraints.Constraint):
    """Clips a weight from below, keeping it strictly positive for `min_value > 0`.

    Keras ships `NonNeg` (which allows 0) but no strict lower bound; a width
    ``beta_k = 0`` would turn an RBF unit into a constant, so this is written here.

    Args:
        min_value: the smallest value the weight may take.
    """

    def __init__(self, min_value: float = 1e-6):
        self.min_value = float(min_value)

    def __call__(self, w):
        return ops.maximum(w, ops.cast(self.min_value, w.dtype))

    def get_config(self) -> dict:
        return {"min_value": self.min_value}


@keras.saving.register_keras_serializable(package="keras_rbf")
class PsiIdentity(keras.initializers.Initializer):
    """Initializes the K x K factor ``A`` so that ``Psi = A A^T + epsilon I`` is exactly I.

    ``A = sqrt(1 - epsilon) I``. With it, `learn_psi=False` means "Psi is the identity",
    and a learned Psi starts from the Euclidean distance.

    Args:
        epsilon: the layer's `epsilon`; must lie in (0, 1).
    """

    def __init__(self, epsilon: float):
        if not 0.0 < epsilon < 1.0:
            raise ValueError(f"PsiIdentity needs 0 < epsilon < 1, got {epsilon}")
        self.epsilon = float(epsilon)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"PsiIdentity initializes a square matrix, got shape {shape}")
        return ops.eye(shape[0], dtype=dtype) * math.sqrt(1.0 - self.epsilon)

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon}


def psi_matrix(psi_factor, epsilon: float):
    """`Psi = A A^T + epsilon I`, `(K, K)`, from the factor `A` (`psi_factor`)."""
    k = ops.shape(psi_factor)[0]
    return ops.matmul(psi_factor, ops.transpose(psi_factor)) + epsilon * ops.eye(
        k, dtype=psi_factor.dtype
    )


def whitening_transpose(psi_factor, epsilon: float):
    """`T^T` with `T = L^{-1}`, `Psi = L L^T` (Cholesky), so that `f T^T` has squared norm
    `f^T Psi^{-1} f`: one K x K factorization and triangular solve, weights only."""
    k = ops.shape(psi_factor)[0]
    chol = ops.cholesky(psi_matrix(psi_factor, epsilon))
    return ops.transpose(ops.solve_triangular(chol, ops.eye(k, dtype=chol.dtype), lower=True))


def squared_distances(features, centers, psi_factor, epsilon: float, method: str = "expanded"):
    """Mahalanobis-like squared distances of Eq. 3 between feature vectors and centers.

    Args:
        features: `(N, K)` feature vectors `f`.
        centers: `(P, K)` centers `c_k`.
        psi_factor: `(K, K)` factor `A` of `Psi = A A^T + epsilon I`.
        epsilon: positive ridge that keeps Psi positive definite.
        method: "expanded" (default): with `Psi = L L^T` and `T = L^{-1}`,
            `D = |f T^T|^2 - 2 (f T^T)(C T^T)^T + |C T^T|^2`, clamped at 0: one K x K
            Cholesky factorization and triangular solve per call, one `(N, K) x (K, K + P)`
            matmul, memory O(N (K + P)). "broadcast": the textbook formula on an explicit
            `(N, P, K)` difference tensor; for tests and benchmarks only.

    Returns:
        `(N, P)` distances `D[n, k] >= 0`.
    """
    if method == "broadcast":
        diff = ops.expand_dims(features, 1) - ops.expand_dims(centers, 0)
        psi_inv = ops.inv(psi_matrix(psi_factor, epsilon))
        return ops.sum(ops.matmul(diff, psi_inv) * diff, axis=-1)
    if method != "expanded":
        raise ValueError(f"method must be 'expanded' or 'broadcast', got {method!r}")
    k = ops.shape(psi_factor)[0]
    transform_t = whitening_transpose(psi_factor, epsilon)
    z_centers = ops.matmul(centers, transform_t)  # (P, K)
    # f T^T gives z; f T^T (C T^T)^T gives the cross term: one matmul yields both.
    projection = ops.concatenate(
        [transform_t, ops.matmul(transform_t, ops.transpose(z_centers))], axis=1
    )  # (K, K + P)
    projected = ops.matmul(features, projection)
    z, cross = projected[:, :k], projected[:, k:]
    dist = (
        ops.sum(ops.square(z), axis=-1, keepdims=True)
        - 2.0 * cross
        + ops.expand_dims(ops.sum(ops.square(z_centers), axis=-1), 0)
    )
    # The expansion can go slightly negative by cancellation when f is close to a center.
    return ops.maximum(dist, 0.0)


@ops.custom_gradient
def rbf_activations(features, psi_inv, weights):
    """Eq. 2 activations `phi = exp(min(-beta D, 0))` from the weight terms of
    `RBFMapping._weight_terms`, with a hand-written gradient.

    Forward: `y = f Psi^{-1}`, `q = sum(f * y)` (`f^T Psi^{-1} f`), one
    `(N, K + 2) x (K + 2, P)` matmul of `[f, q, 1]` with `weights` (so the per-center
    constant needs no pass of its own), clamp and exp: two elementwise passes over the
    `(N, P)` result. Backward reuses `phi` and `y`: with `da = upstream * phi`,
    `s = da @ weights[K]` (= dL/dq), `df = da @ weights[:K]^T + 2 s y` (Psi^{-1} is
    symmetric), `dPsi^{-1} = f^T (s f)`, `dweights = [f, q, 1]^T da` (one matmul that
    also sums the constant's gradient over N). Autodiff would instead differentiate the
    add, clamp and exp one by one (three more `(N, P)` passes), slice the concatenation
    and push `q` back through a second `(N, K) x (K, K)` matmul; the measurements behind
    this are in issue 14 (`keras-rbf bench` prints the current ratios). Where the clamp
    is active (`-beta D > 0`, only by rounding when `f` is at a center) the gradient is
    that of the unclamped exp, i.e. the true derivative of Eq. 2 at `D ~ 0`, not the
    clamp's zero.

    Args:
        features: `(N, K)` feature vectors `f`.
        psi_inv: `(K, K)` symmetric `Psi^{-1}`.
        weights: `(K + 2, P)`: `2 b_k Psi^{-1} c_k` in the first K rows, `-b_k` in row K,
            `-b_k c_k^T Psi^{-1} c_k` in the last.

    Returns:
        `(N, P)` activations in `(0, 1]`.
    """
    y = ops.matmul(features, psi_inv)
    q = ops.sum(features * y, axis=-1, keepdims=True)
    augmented = ops.concatenate([features, q, ops.ones_like(q)], axis=-1)  # (N, K + 2)
    # Clamping -beta D at 0 is clamping D at 0 (beta > 0): cancellation in the expansion
    # can make D slightly negative when f is close to a center.
    phi = ops.exp(ops.minimum(ops.matmul(augmented, weights), 0.0))

    def grad(*args, upstream=None):  # the form keras.ops.custom_gradient takes everywhere
        upstream = args[0] if upstream is None else upstream
        da = upstream * phi
        k = ops.shape(features)[-1]
        dq = ops.matmul(da, ops.transpose(weights[k : k + 1]))  # (N, 1)
        d_features = ops.matmul(da, ops.transpose(weights[:k])) + 2.0 * dq * y
        d_psi_inv = ops.matmul(ops.transpose(features), dq * features)
        d_weights = ops.matmul(ops.transpose(augmented), da)
        return d_features, d_psi_inv, d_weights

    return phi, grad


def live_fraction(activations, band: tuple[float, float] = LIVE_BAND) -> float:
    """Fraction of RBF activations `phi` strictly inside `band` (default (1e-3, 0.999)).

    Args:
        activations: array of activations `phi` of any shape.
        band: (low, high) bounds of a live activation.

    Returns:
        A float in [0, 1]; 0 means the layer is dead (every unit saturated).
    """
    phi = np.asarray(activations)
    return float(np.mean((phi > band[0]) & (phi < band[1])))


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One variable of `RBFMapping`: how `build` creates it and which arguments set it.

    Each variable `name` has the layer arguments `{name}_initializer`,
    `{name}_regularizer` and `{name}_constraint` (stored under the same attribute names,
    serialized by `get_config`).

    Attributes:
        name: the variable's name (and the layer attribute holding it).
        shape: `(K, P, units) -> shape`, from the input's channels K, the number of
            centers P and the output size.
        default_initializer: `layer -> initializer` used in `__init__` when
            `{name}_initializer` is None; `get_config` then records what it gave.
        width_rule: `(layer, K) -> initializer` used in `build` when the initializer is
            still None: a default that depends on the input, so `get_config` keeps None.
        trainable: the layer flag that decides whether it is trained (None: always).
        created: the layer flag without which it is not created (None: always).
    """

    name: str
    shape: Callable[[int, int, int], tuple[int, ...]]
    default_initializer: Callable[[Any], Any] | None = None
    width_rule: Callable[[Any, int], Any] | None = None
    trainable: str | None = None
    created: str | None = None


def _initial_beta(layer: RBFMapping, k: int):
    # beta = 1 / (2K) puts the activations of standardized inputs around exp(-1) (see
    # the class docstring); scale_by_dim divides D by K, so beta = 1/2 does the same.
    return keras.initializers.Constant(0.5 if layer.scale_by_dim else 1.0 / (2.0 * k))


# The five variables of Eq. 2-5, in the order `build` creates them.
WEIGHTS = (
    # Standard-normal centers (Keras' "random_normal" has stddev 0.05): the scale of
    # standardized inputs that the default width rule assumes.
    WeightSpec(
        "centers", lambda k, p, u: (p, k), lambda layer: keras.initializers.RandomNormal(1.0)
    ),
    WeightSpec(
        "psi_factor",
        lambda k, p, u: (k, k),
        lambda layer: PsiIdentity(layer.epsilon),
        trainable="learn_psi",
    ),
    WeightSpec("beta", lambda k, p, u: (p,), width_rule=_initial_beta, trainable="learn_beta"),
    WeightSpec("kernel", lambda k, p, u: (p, u)),
    WeightSpec("bias", lambda k, p, u: (u,), created="use_bias"),
)
_OPTION_KINDS = {
    "initializer": keras.initializers.get,
    "regularizer": keras.regularizers.get,
    "constraint": keras.constraints.get,
}
_KIND_SUFFIXES = tuple(f"_{kind}" for kind in _OPTION_KINDS)
_FLAGS = ("learn_psi", "learn_beta", "scale_by_dim", "use_bias")


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


@keras.saving.register_keras_serializable(package="keras_rbf")
class RBFMapping(keras.layers.Layer):
    """Radial-basis mapping of the last axis (Taghanaki et al., CVPR 2019, Eq. 2-5).

    Each feature vector `f` (the last axis, size K) is mapped to
    `g = sum_k exp(-beta_k (f - c_k)^T Psi^{-1} (f - c_k)) kernel[k] + bias` with
    `Psi = psi_factor psi_factor^T + epsilon I`. Works on dense features `(B, K)`,
    2D maps `(B, H, W, K)`, 3D maps `(B, D, H, W, K)` and any other rank >= 2.

    Initialization rule: `psi_factor` starts at `sqrt(1 - epsilon) I` (so Psi = I),
    `centers` are standard normal and `beta = 1 / (2 K)` (1/2 with `scale_by_dim`).
    For standardized inputs (zero mean, unit variance per channel) and standard-normal
    centers `E[D] = 2 K`, so the initial activations sit around `exp(-1) ~ 0.37`: neither all ~0
    nor all ~1. `adapt(features)` instead places the centers by k-means on data and sets
    `beta = 1 / (2 median D)` from those data, which puts the median activation at
    `exp(-1/2) ~ 0.61`.

    Distances and exponentials are always computed in float32 (or float64 for a float64
    layer), also under a mixed-precision policy: `exp(-beta D)` underflows quickly in
    half precision. The output is cast to the layer's compute dtype.

    Args:
        units: output size (columns of `kernel`); defaults to the input size K.
        num_centers: number of centers P; defaults to K.
        epsilon: ridge added to `A A^T`, in (0, 1).
        learn_psi: if False, `psi_factor` is not trained and Psi stays the identity.
        learn_beta: if False, `beta` is not trained and stays at its initial value.
        scale_by_dim: if True, use `D_k / K` (the mean per-channel squared distance) in
            Eq. 2. This is Eq. 3 with `beta_paper = beta / K`: the same family of
            functions, but `beta` stays O(1) for any K (default 1/2 instead of 1/(2K)),
            so optimizers whose steps are ~lr per coordinate (Adam) change it by small
            relative amounts instead of multiplying it within an epoch.
        use_bias: whether to add `bias`.
        centers_initializer, psi_factor_initializer, beta_initializer,
        kernel_initializer, bias_initializer: initializers; `None` for the first three
            means the rule above.
        centers_regularizer, psi_factor_regularizer, beta_regularizer,
        kernel_regularizer, bias_regularizer: optional regularizers.
        centers_constraint, psi_factor_constraint, kernel_constraint, bias_constraint:
            optional constraints.
        beta_constraint: defaults to `MinValue(1e-6)`, which keeps every width positive;
            None trains the widths unconstrained. (Configs that name the former default
            by the string "default" still load, see `from_config`.)
        **kwargs: base `Layer` arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        `(..., K)` with rank >= 2 and K known.

    Output shape:
        `(..., units)`.
    """

    def __init__(
        self,
        units: int | None = None,
        num_centers: int | None = None,
        epsilon: float = 1e-3,
        learn_psi: bool = True,
        learn_beta: bool = True,
        scale_by_dim: bool = False,
        use_bias: bool = True,
        centers_initializer: Any = None,
        psi_factor_initializer: Any = None,
        beta_initializer: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        centers_regularizer: Any = None,
        psi_factor_regularizer: Any = None,
        beta_regularizer: Any = None,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        centers_constraint: Any = None,
        psi_factor_constraint: Any = None,
        beta_constraint: Any = MinValue(1e-6),
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs,
    ):
        # The 15 weight options by name, read before any other local exists; WEIGHTS
        # then resolves and checks them in one loop instead of 15 assignments.
        options = {arg: value for arg, value in locals().items() if arg.endswith(_KIND_SUFFIXES)}
        kwargs.setdefault("autocast", False)  # variables stay float32; see call()
        super().__init__(**kwargs)
        self.units = self._positive_int_or_none("units", units)
        self.num_centers = self._positive_int_or_none("num_centers", num_centers)
        self.epsilon = self._epsilon(epsilon)
        flags = dict(zip(_FLAGS, (learn_psi, learn_beta, scale_by_dim, use_bias)))
        for arg, value in flags.items():
            if not _is_bool(value):
                raise ValueError(
                    f"RBFMapping '{self.name}': `{arg}` must be True or False, got {value!r}"
                )
            setattr(self, arg, bool(value))
        for kind in _OPTION_KINDS:
            for spec in WEIGHTS:
                arg = f"{spec.name}_{kind}"
                value = self._get_or_raise(arg, kind, options[arg])
                if kind == "initializer" and value is None and spec.default_initializer:
                    value = spec.default_initializer(self)
                setattr(self, arg, value)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def _positive_int_or_none(self, arg: str, value: Any) -> int | None:
        # bool is a subclass of int: `units=True` would silently mean 1 unit.
        if value is None:
            return None
        if _is_bool(value) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(
                f"RBFMapping '{self.name}': `{arg}` must be a positive integer or None, "
                f"got {value!r}"
            )
        return int(value)

    def _epsilon(self, epsilon: Any) -> float:
        if _is_bool(epsilon) or not isinstance(epsilon, (int, float, np.integer, np.floating)):
            raise ValueError(
                f"RBFMapping '{self.name}': `epsilon` must be a number in (0, 1), got {epsilon!r}"
            )
        if not 0.0 < float(epsilon) < 1.0:
            raise ValueError(
                f"RBFMapping '{self.name}': `epsilon` must lie in (0, 1) so that Psi is "
                f"positive definite and can start at the identity, got {float(epsilon)}"
            )
        return float(epsilon)

    def _get_or_raise(self, arg: str, kind: str, identifier: Any):
        """Keras' getter of `kind` for `arg` (e.g. "kernel_initializer"), re-raising an
        unknown identifier as one line naming this layer and the argument."""
        try:
            return _OPTION_KINDS[kind](identifier)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"RBFMapping '{self.name}': `{arg}` could not be interpreted ({err}); pass a "
                f"Keras {kind} object, its name or its config, got {identifier!r}"
            ) from None

    def _math_dtype(self) -> str:
        return "float64" if self.variable_dtype == "float64" else "float32"

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"RBFMapping '{self.name}' needs an input of rank >= 2 (batch, ..., channels), "
                f"got shape {tuple(input_shape)}"
            )
        k = input_shape[-1]
        if k is None:
            raise ValueError(
                f"RBFMapping '{self.name}' needs a known channel dimension (last axis), "
                f"got shape {tuple(input_shape)}"
            )
        k = int(k)
        self.input_dim = k
        sizes = (k, self.num_centers or k, self.units or k)
        for spec in WEIGHTS:
            if spec.created and not getattr(self, spec.created):
                setattr(self, spec.name, None)
                continue
            initializer = getattr(self, f"{spec.name}_initializer")
            if initializer is None and spec.width_rule:
                initializer = spec.width_rule(self, k)
            variable = self.add_weight(
                name=spec.name,
                shape=spec.shape(*sizes),
                initializer=initializer,
                regularizer=getattr(self, f"{spec.name}_regularizer"),
                constraint=getattr(self, f"{spec.name}_constraint"),
                trainable=getattr(self, spec.trainable) if spec.trainable else True,
            )
            setattr(self, spec.name, variable)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: k})

    def _flat_distances(self, inputs):
        """`(N, P)` distances (divided by K under `scale_by_dim`), in the math dtype."""
        dtype = self._math_dtype()
        dist = squared_distances(
            ops.reshape(ops.cast(inputs, dtype), (-1, self.input_dim)),
            ops.cast(self.centers, dtype),
            ops.cast(self.psi_factor, dtype),
            self.epsilon,
        )
        return dist / float(self.input_dim) if self.scale_by_dim else dist

    @staticmethod
    def _unflatten(flat, inputs):
        return ops.reshape(flat, tuple(ops.shape(inputs)[:-1]) + (ops.shape(flat)[-1],))

    def distances(self, inputs):
        """Eq. 3 distances `D`, `(..., P)`, in float32 (float64 for a float64 layer)."""
        return self._unflatten(self._flat_distances(inputs), inputs)

    def activations(self, inputs):
        """Eq. 2 activations `phi = exp(-beta D)`, `(..., P)`, same dtype as `distances`."""
        return self._unflatten(self._flat_phi(inputs), inputs)

    def _weight_terms(self, dtype: str):
        """The weight-only part of Eq. 2-3, computed once per forward (+ backward) pass.

        With `b = beta` (`beta / K` under `scale_by_dim`) and `Psi^{-1} = T^T T`
        (`T = L^{-1}`, one Cholesky factorization and one triangular solve):

            -b_k D_nk = [f_n, q_n, 1] @ [[2 b_k Psi^{-1} c_k], [-b_k], [-b_k c_k^T Psi^{-1} c_k]]
            q_n = f_n^T Psi^{-1} f_n

        `distances()` computes the same D by whitening instead (`squared_distances`:
        `z = f T^T`, no `Psi^{-1}`). The two routes are kept because each is bit-for-bit
        what it has been: `adapt()` sets widths from `distances()`, and moving it onto
        this route would change those widths, and every seeded training run after them,
        in the last bits. tests/layers/test_weight_table.py holds them to 1e-6.

        Returns:
            `psi_inv (K, K)` and `weights (K + 2, P)` (the matrix above). Never cached
            across calls: the variables change between optimizer steps. ONNX export folds
            the Cholesky factorization and the triangular solve into constants
            (keras_rbf.export).
        """
        k = self.input_dim
        transform_t = whitening_transpose(ops.cast(self.psi_factor, dtype), self.epsilon)
        psi_inv = ops.matmul(transform_t, ops.transpose(transform_t))  # (K, K)
        centers = ops.cast(self.centers, dtype)
        whitened_centers = ops.matmul(psi_inv, ops.transpose(centers))  # (K, P)
        b = ops.cast(self.beta, dtype) / (float(k) if self.scale_by_dim else 1.0)
        offset = -b * ops.sum(ops.transpose(centers) * whitened_centers, axis=0)  # (P,)
        weights = ops.concatenate(
            [whitened_centers * (2.0 * b), -ops.expand_dims(b, 0), ops.expand_dims(offset, 0)],
            axis=0,
        )  # (K + 2, P)
        return psi_inv, weights

    def _flat_phi(self, inputs):
        """`(N, P)` activations `exp(-beta D)`: the hot path, see `rbf_activations`."""
        dtype = self._math_dtype()
        flat = ops.reshape(ops.cast(inputs, dtype), (-1, self.input_dim))
        return rbf_activations(flat, *self._weight_terms(dtype))

    def call(self, inputs):
        dtype = self._math_dtype()
        phi = self._flat_phi(inputs)
        outputs = ops.matmul(phi, ops.cast(self.kernel, dtype))
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, dtype)
        return ops.cast(self._unflatten(outputs, inputs), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units or input_shape[-1],)

    @property
    def psi(self):
        """The current `Psi = A A^T + epsilon I`, `(K, K)`."""
        return psi_matrix(ops.convert_to_tensor(self.psi_factor), self.epsilon)

    def adapt(
        self,
        features,
        max_samples: int = 20000,
        seed: int = 0,
        set_beta: bool = True,
    ) -> RBFMapping:
        """Places the centers by k-means on data and sets widths from the same data.

        Builds the layer if needed. Uses scikit-learn's `KMeans` on up to `max_samples`
        feature vectors drawn without replacement, then, if `set_beta`, sets every
        `beta_k = 1 / (2 median D)` with `D` the Eq. 3 distances (current Psi) between
        the sample and the new centers, so the median activation is `exp(-1/2)`.

        Args:
            features: array `(..., K)` of the layer's inputs (e.g. a batch of feature maps).
            max_samples: cap on the feature vectors used.
            seed: seed of the subsample and of k-means.
            set_beta: whether to also reset `beta`.

        Returns:
            The layer itself.
        """
        from sklearn.cluster import KMeans

        features = np.asarray(features)
        if features.ndim < 2:
            raise ValueError(
                f"RBFMapping '{self.name}'.adapt needs features of rank >= 2, "
                f"got shape {features.shape}"
            )
        if not self.built:
            self.build((None,) + features.shape[1:])
        if features.shape[-1] != self.input_dim:
            raise ValueError(
                f"RBFMapping '{self.name}'.adapt: features have {features.shape[-1]} channels, "
                f"the layer expects {self.input_dim}"
            )
        flat = features.reshape(-1, self.input_dim).astype("float64")
        num_centers = self.centers.shape[0]
        rng = np.random.RandomState(seed)
        if len(flat) > max_samples:
            flat = flat[rng.choice(len(flat), max_samples, replace=False)]
        if len(flat) < num_centers:
            raise ValueError(
                f"RBFMapping '{self.name}'.adapt needs at least num_centers={num_centers} "
                f"feature vectors, got {len(flat)}"
            )
        kmeans = KMeans(n_clusters=num_centers, n_init=1, random_state=seed).fit(flat)
        self.centers.assign(kmeans.cluster_centers_.astype(self.centers.dtype))
        if set_beta:
            dist = ops.convert_to_numpy(self.distances(flat))
            median = float(np.median(dist))
            beta = 1.0 / (2.0 * max(median, 1e-12))
            self.beta.assign(np.full(num_centers, beta, dtype=self.beta.dtype))
        return self

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("autocast", None)
        config.update({arg: getattr(self, arg) for arg in ("units", "num_centers", "epsilon")})
        config.update({arg: getattr(self, arg) for arg in _FLAGS})
        ser = keras.saving.serialize_keras_object
        for kind in _OPTION_KINDS:
            for spec in WEIGHTS:
                arg = f"{spec.name}_{kind}"
                config[arg] = ser(getattr(self, arg))
        return config

    @classmethod
    def from_config(cls, config: dict) -> RBFMapping:
        """The layer of `config`, also of one written before `beta_constraint` lost its
        "default" sentinel string (issue 21): that string meant `MinValue(1e-6)`."""
        if config.get("beta_constraint") == "default":
            config = {**config, "beta_constraint": MinValue(1e-6)}
        return super().from_config(config)


def rbf_block(x, normalize: bool = False, name: str | None = None, **rbf_kwargs):
    """The paper's Fig. 2 block: `concatenate([x, RBFMapping(**rbf_kwargs)(x)])`.

    Args:
        x: a symbolic Keras tensor `(..., K)`.
        normalize: if True, the RBF branch sees `LayerNormalization(x)` (per-vector zero
            mean, unit variance, no learned scale) instead of `x`, while `x` itself is
            concatenated unchanged. This keeps the distances on the scale the width rule
            assumes however large the conv features grow in training; without it the RBF
            units of deep blocks die (exp(-beta D) = 0 everywhere, see docs/design.md).
        name: base name; the layers are named `{name}_rbf`, `{name}_norm`, `{name}_concat`.
        **rbf_kwargs: passed to `RBFMapping`.

    Returns:
        `(..., K + units)` tensor.
    """
    prefix = f"{name}_" if name else ""
    branch = x
    if normalize:
        branch = keras.layers.LayerNormalization(
            center=False, scale=False, name=f"{prefix}norm" if name else None
        )(x)
    mapped = RBFMapping(name=f"{prefix}rbf" if name else None, **rbf_kwargs)(branch)
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}concat" if name else None)([x, mapped])
