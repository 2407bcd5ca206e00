"""One interface for every attack of the package, in the style of ART's evasion attacks.

An attack is an object built from a model and its settings, which it validates when it
is built; `generate(x, y)` returns adversarial images as a NumPy array. Batching, the
progress bar and the input checks are written here once; a subclass implements only
`_generate_batch(x, y)` on one batch of tensors.

    attack = PGD(model, eps=0.1, nb_iter=40)
    x_adv = attack.generate(x_test, y_test)     # (N, H, W, C) float32 in [0, 1]
    attack.settings                              # {"eps": 0.1, "nb_iter": 40, ...}

`model` is a Keras model or any callable from a batch of images to logits (a squeezer
in front of a model, say).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from keras_rbf.errors import UserError

__all__ = [
    "NORMS",
    "Attack",
    "AttackInputError",
    "ALL_BACKENDS",
    "check_backend",
    "check_eps",
    "check_images",
    "check_norm",
    "check_positive",
    "check_seed",
    "eps_bound",
    "lp_norms",
    "compiled",
    "image_keys",
    "logits_fn",
    "predict",
]

# The Keras 3 backends the `keras.ops` attacks run on.
ALL_BACKENDS = ("tensorflow", "jax", "torch")

# model -> {key: compiled loop}: attack objects built anew (one per eps, per suite run,
# per adversarial-training epoch) reuse the traced loops of their model. Weak keys, and
# loops that hold the model only weakly (see `compiled`), so models can be freed.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class AttackInputError(UserError):
    """Images or labels handed to an attack are not what it can attack."""


def logits_fn(model: Callable) -> Callable:
    """`model` as a callable images -> logits (Keras models run with `training=False`)."""
    import keras

    if isinstance(model, keras.layers.Layer):
        return lambda t: model(t, training=False)
    return model


def predict(fn: Callable, x) -> np.ndarray:
    """`fn`'s outputs (e.g. logits) for images `x`, as NumPy, on any Keras backend.

    Args:
        fn: images -> outputs (see `logits_fn`); x: `(N, ...)` images.

    Returns:
        `(N, ...)` NumPy outputs.
    """
    from keras import ops

    return ops.convert_to_numpy(fn(ops.convert_to_tensor(np.asarray(x, np.float32))))


def compiled(model: Callable, key: tuple, build: Callable[[Callable], Callable]) -> Callable:
    """The compiled loop `build(fn)` for `model`, traced once per model and `key`.

    Args:
        model: the attack's model (a Keras model or callable images -> logits).
        key: everything besides the model that the loop's trace depends on.
        build: makes the loop from a logits callable `fn`; `fn` holds `model` weakly.

    Returns:
        the cached (or newly built) loop.
    """
    if inspect.ismethod(model):  # bound methods are made anew on each access: no cache
        return build(logits_fn(model))
    try:
        cache = _COMPILED.setdefault(model, {})
        ref = weakref.ref(model)
    except TypeError:  # not weak-referenceable: no cache
        return build(logits_fn(model))
    if key not in cache:
        cache[key] = build(lambda t: logits_fn(ref())(t))
    return cache[key]


def image_keys(x: np.ndarray, seed: int) -> np.ndarray:
    """One key per image from `seed` and the image's bytes.

    Attacks seed each image's random numbers with its key, so results depend neither on
    the batch size nor on which other images are attacked with it.

    Args:
        x: `(N, ...)` float32 images.
        seed: the attack's seed.

    Returns:
        `(N,)` int64 keys in [0, 2**32).
    """
    import zlib

    x = np.ascontiguousarray(x, np.float32)
    start = zlib.crc32(str(int(seed)).encode())
    return np.asarray([zlib.crc32(img.tobytes(), start) for img in x], np.int64)


def check_positive(owner: object, name: str, value, integer: bool = False) -> None:
    """Raises ValueError naming `owner`'s setting `name` unless `value` is a positive number
    (a positive integer if `integer`)."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{type(owner).__name__}: {name} must be {kind}, got {value!r}")


# The threat models attacks name with a `norm` setting, as AutoAttack spells them.
NORMS = ("Linf", "L2", "L1")


def check_norm(owner: object, norm) -> None:
    """Raises ValueError naming `owner`'s setting `norm` unless it is one of `NORMS`."""
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(
            f"{type(owner).__name__}: norm must be one of {', '.join(NORMS)}, got {norm!r}"
        )


def lp_norms(delta: np.ndarray, norm: str, dtype=np.float32) -> np.ndarray:
    """Per-image norms of `(N, ...)` perturbations `x_adv - x` in the threat model `norm`.

    Args:
        delta: `(N, ...)` differences.
        norm: "Linf", "L2" or "L1".
        dtype: the precision of the sums: float32 as FAB computes its norms; float64 where
            a norm is checked against eps (the suite).

    Returns:
        `(N,)` norms of `dtype`.
    """
    flat = np.asarray(delta, dtype).reshape(len(delta), -1)
    if norm == "Linf":
        return np.abs(flat).max(axis=1, initial=0.0)
    if norm == "L2":
        return np.sqrt((flat**2).sum(axis=1, dtype=dtype))
    return np.abs(flat).sum(axis=1, dtype=dtype)


def eps_bound(norm: str, dim: int) -> float:
    """The largest useful radius of `norm` on [0, 1] images of `dim` values: 1 (L-inf),
    `sqrt(dim)` (L2) or `dim` (L1), the norm of the largest possible perturbation."""
    return {"Linf": 1.0, "L2": float(np.sqrt(dim)), "L1": float(dim)}[norm]


def check_eps(owner: object, norm: str, eps, dim: int | None = None) -> None:
    """Raises ValueError naming `owner`'s setting `eps` unless it is a radius that makes
    sense for `norm` on [0, 1] images of `dim` values each.

    The largest perturbation of such an image has L-inf norm 1, L2 norm `sqrt(dim)` and
    L1 norm `dim`, so eps must lie in (0, 1], (0, sqrt(dim)] or (0, dim]. Without `dim`
    (before the images are seen) L2 and L1 radii are checked for being positive only.

    Args:
        owner: the attack (its class name starts the message).
        norm: one of `NORMS` (checked too).
        eps: the radius.
        dim: values per image, or None.
    """
    check_norm(owner, norm)
    check_positive(owner, "eps", eps)
    if not np.isfinite(eps):
        raise ValueError(f"{type(owner).__name__}: eps must be finite, got {eps!r}")
    if norm != "Linf" and dim is None:
        return
    bound = eps_bound(norm, dim or 1)
    what = {"Linf": "1", "L2": f"sqrt({dim}) = {bound:.4g}", "L1": f"{dim}"}[norm]
    if eps > bound:
        where = "" if norm == "Linf" else f" on images of {dim} values"
        raise ValueError(
            f"{type(owner).__name__}: eps must lie in (0, {what}] for norm {norm!r}{where}, "
            f"got {eps!r}"
        )


def check_backend(owner: object) -> None:
    """Raises AttackInputError unless `owner` (an attack or its class) runs on this
    process's Keras backend."""
    import keras

    backend = keras.backend.backend()
    if backend not in owner.backends:
        name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        raise AttackInputError(
            f"{name} runs on the {' and '.join(owner.backends)} backend(s) only, and this "
            f"process runs Keras on {backend!r}: set KERAS_BACKEND=tensorflow, or use "
            "APGD and Square, which run on every backend"
        )


def check_seed(owner: object, value) -> None:
    """Raises ValueError naming `owner`'s setting `seed` unless `value` is an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{type(owner).__name__}: seed must be an integer, got {value!r}")


def check_images(x, y=None, bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, Any]:
    """Validates an attack's inputs and returns them as float32 images and int64 labels.

    Args:
        x: `(N, ...)` images.
        y: `(N,)` integer labels, or None.
        bounds: the range the images must lie in.

    Returns:
        `(x, y)` as `float32` and `int64` arrays (`y` stays None if it was).

    Raises:
        AttackInputError: images outside `bounds`, non-finite values, or labels of
            another length or of another kind than integer class indices.
    """
    x = np.asarray(x, np.float32)
    if x.ndim < 2:
        raise AttackInputError(f"attacks need a batch of images (N, ...), got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise AttackInputError("images contain NaN or infinite values")
    low, high = bounds
    if x.size and (x.min() < low or x.max() > high):
        raise AttackInputError(
            f"images must lie in [{low:g}, {high:g}], got values in "
            f"[{x.min():.4g}, {x.max():.4g}]; divide 0-255 images by 255"
        )
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise AttackInputError(
            f"labels must have shape ({len(x)},) (one integer class per image), got shape {y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise AttackInputError("labels must be integer class indices, not one-hot or scores")
    return x, y.astype(np.int64)


class Attack:
    """Base class: validated settings, batching and progress written once.

    Subclasses list their settings with defaults in `DEFAULTS`, may check them in
    `_validate()` (raise `ValueError` naming the setting), and implement
    `_generate_batch(x, y) -> adversarial batch`.

    Args:
        model: a Keras model or a callable mapping a batch of images to logits.
        batch_size: images per call of `_generate_batch`.
        progress: show a progress bar over batches.
        **settings: the attack's settings; unknown names are refused.
    """

    DEFAULTS: dict[str, Any] = {}
    name: str = "attack"
    # The threat models the attack implements (the suite leaves an attack out, and says
    # so, for a norm it lacks).
    norms: tuple[str, ...] = ("Linf",)
    # The Keras backends the attack runs on: APGD and Square are `keras.ops` with a
    # gradient module per backend (`keras_rbf.attacks.backends`); the others are
    # TensorFlow code (CleverHans' and Foolbox's attacks, and FAB-T for now).
    backends: tuple[str, ...] = ("tensorflow",)
    # True where `_generate_batch` is TensorFlow ops only, tensors in and out, with no
    # NumPy or Python state per call: `perturb` can then be compiled into a train step
    # (adversarial training); other attacks run eagerly through `generate`.
    traceable: bool = False

    def __init__(self, model: Callable, batch_size: int = 250, progress: bool = False, **settings):
        unknown = sorted(set(settings) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown setting(s) {unknown}; "
                f"known: {sorted(self.DEFAULTS)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"{type(self).__name__}: batch_size must be a positive integer, got {batch_size!r}"
            )
        check_backend(self)
        self.model = model
        self.batch_size = batch_size
        self.progress = progress
        self._settings = {**self.DEFAULTS, **settings}
        self._validate()

    @property
    def settings(self) -> dict[str, Any]:
        """The attack's settings, as reports print them (a copy)."""
        return dict(self._settings)

    def replace(self, **changes) -> Attack:
        """A new attack of the same kind on the same model with some settings changed."""
        return type(self)(
            self.model,
            batch_size=self.batch_size,
            progress=self.progress,
            **{**self._settings, **changes},
        )

    def _validate(self) -> None:
        """Checks `self._settings`; raises ValueError naming the bad setting."""

    def _generate_batch(self, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def perturb(self, x, y):
        """One batch's adversarial images as tensors, traceable inside `tf.function`.

        Args:
            x: `(B, ...)` float tensor of images in [0, 1] (unchecked: the caller's data).
            y: `(B,)` integer tensor of true labels.

        Returns:
            `(B, ...)` tensor of adversarial images. Only for `traceable` attacks; the
            others raise `TypeError` (use `generate`).
        """
        if not self.traceable:
            raise TypeError(f"{type(self).__name__} is not traceable; call generate(x, y)")
        return self._generate_batch(x, y)

    def generate(self, x, y) -> np.ndarray:
        """Adversarial versions of `x`.

        Args:
            x: `(N, ...)` images in [0, 1].
            y: `(N,)` integer true labels (untargeted attacks move away from them).

        Returns:
            `(N, ...)` float32 adversarial images in [0, 1].
        """
        x, y = check_images(x, y)
        out = np.empty_like(x)
        starts = range(0, len(x), self.batch_size)
        for start in tqdm(starts, desc=self.name, disable=not self.progress, leave=False):
            sl = slice(start, start + self.batch_size)
            out[sl] = np.asarray(self._generate_batch(x[sl], y[sl]), np.float32)
        return np.clip(out, 0.0, 1.0)
