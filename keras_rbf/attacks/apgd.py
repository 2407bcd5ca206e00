"""APGD (Croce & Hein, ICML 2020) in the L-inf, L2 or L1 ball, on every Keras 3 backend.

Written here rather than taken from a library: AutoAttack's TF2 adapter is broken under
Keras 3, and ART's `AutoProjectedGradientDescent` (which runs on Keras 3 models through
`TensorFlowV2Classifier`) is eager NumPy, several times slower on CPU, and checks only
the last iterate. ART stays the reference this implementation is tested against.

The algorithm follows AutoAttack's `autopgd_base.py` (norms "Linf", "L2", "L1"):
- start: "Linf" at `x + eps u / max|u|`, `u ~ U(-1, 1)`; "L2" at `x + eps t / ||t||_2`,
  `t ~ N(0, 1)`; "L1" at `x + t` projected on the L1 ball and [0, 1]; clipped to [0, 1];
- "Linf" and "L2": step size `2 eps`, `z = P(x_k + eta d)` with `d = sign(grad)` or
  `grad / ||grad||_2`, `x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))` with
  momentum `a = 0.75` (1 on the first step); `P` is the clip to the eps-box and [0, 1]
  for "Linf", and for "L2" AutoAttack's `clip(x + (v - x) / ||v - x|| min(eps,
  ||v - x||), 0, 1)` (scale into the ball, then clip: inside both, though not always the
  nearest such point);
- checkpoints ("Linf", "L2") after 22 %, then windows shrinking by 3 % of the iterations
  down to 6 %: where the loss rose in at most `rho = 75 %` of the window's steps, or the
  step size was not halved at the last checkpoint and the best loss did not improve, the
  step size is halved and the iterate goes back to the best point;
- "L1" (Croce & Hein, ICML 2021, "Mind the box: l1-APGD"): step size `eps`, no momentum;
  the step moves along the signs of the gradient's largest `topk` share of coordinates
  (`topk` = 20 % at the start), spread evenly (`eta sign / #coordinates`), then projects
  on the intersection of the L1 ball and [0, 1] (`l1_projection`, AutoAttack's
  `L1_projection` in TensorFlow); every `max(4 % of the iterations, 1)` steps the
  sparsity `s` of the best point sets `topk = s / d / 1.5`, and where `s` fell by 5 %
  the step size goes back to `eps` and the iterate to the best point, else the step size
  is divided by 1.5 (kept in `[eps / 10, eps]`); `use_largereps` runs AutoAttack's
  schedule: 30 % of the iterations at 3 eps, 30 % at 2 eps, the rest at eps, each stage
  starting from the previous one's best point projected on the smaller ball;
- losses: cross-entropy, DLR `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)` and targeted
  DLR `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`, targets the 2nd..(n+1)-th classes
  of the clean logits.

Differences, each deliberate: an image counts as broken at ANY iterate, and the first
misclassified iterate is kept; a broken image is dropped from the loop at once
(`keras_rbf.attacks.standing`; each step, checkpoint included, is one compiled call of
the backend: `tf.function`, `jax.jit` or eager PyTorch, `keras_rbf.attacks.backends`);
with `use_largereps` only the last stage (at eps) counts and drops images, as in
AutoAttack; the first window compares the first step's loss with the starting point's
(AutoAttack compares it with an unset zero row); images never broken come back at their
highest-loss point (AutoAttack's `best_loss` mode) rather than unchanged, so adversarial
training can use the attack; the L1 step is clipped to [0, 1] after the projection (which
lands there up to float32 rounding). Random starts depend on `seed` and each image's bytes
only, so neither the batch size nor the other images change a result.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_rbf.attacks import backends, standing
from keras_rbf.attacks.base import (
    ALL_BACKENDS,
    NORMS,
    Attack,
    check_eps,
    check_images,
    check_positive,
    check_seed,
    compiled,
    image_keys,
    logits_fn,
    predict,
)
from keras_rbf.attacks.losses import at as _at
from keras_rbf.attacks.losses import ce_loss, ce_targeted_loss, dlr_loss, dlr_targeted_loss

__all__ = [
    "APGD",
    "APGDCE",
    "APGDDLR",
    "APGDT",
    "ce_loss",
    "checkpoints",
    "dlr_loss",
    "dlr_targeted_loss",
    "l1_checkpoints",
    "l1_projection",
    "l2_project",
    "largereps_schedule",
    "linf_random_start",
    "random_start",
]

LOSSES = ("ce", "dlr")


def checkpoints(nb_iter: int) -> list[int]:
    """AutoAttack's checkpoint iterations (0-based) for `nb_iter` steps.

    Returns:
        the iterations after which the step size may be halved, e.g. `[21, 40, 56, 69,
        79, 86, 92, 98]` for 100 steps.
    """
    k = max(int(0.22 * nb_iter), 1)
    k_min, decrease = max(int(0.06 * nb_iter), 1), max(int(0.03 * nb_iter), 1)
    out, i = [], k - 1
    while i < nb_iter:
        out.append(i)
        k = max(k - decrease, k_min)
        i += k
    return out


def linf_random_start(x: np.ndarray, eps: float, keys: np.ndarray, stream: int) -> np.ndarray:
    """AutoAttack's random start `clip(x + eps u / max|u|, 0, 1)`, one generator per image.

    Args:
        x: `(N, ...)` images; eps: radius; keys: `(N,)` from `image_keys`;
        stream: which start (restart and target index), so starts differ.

    Returns:
        `(N, ...)` float32 starting points.
    """
    u = np.empty_like(x)
    for i, key in enumerate(keys):
        u[i] = np.random.default_rng([int(key), stream]).uniform(-1.0, 1.0, x.shape[1:])
    scale = np.abs(u.reshape(len(x), -1)).max(axis=1) + 1e-12
    u /= scale.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.clip(x + eps * u, 0.0, 1.0).astype(np.float32)


def _gaussian(x: np.ndarray, keys: np.ndarray, stream: int) -> np.ndarray:
    """`(N, ...)` float32 standard normal noise, one generator per image."""
    t = np.empty_like(x)
    for i, key in enumerate(keys):
        t[i] = np.random.default_rng([int(key), stream]).standard_normal(x.shape[1:])
    return t


def random_start(norm: str, x: np.ndarray, eps: float, keys: np.ndarray, stream: int) -> np.ndarray:
    """AutoAttack's random start for `norm`, one generator per image.

    "Linf": `linf_random_start`; "L2": `clip(x + eps t / ||t||_2, 0, 1)`; "L1":
    `x + t` projected on the L1 ball of radius eps and [0, 1]; `t ~ N(0, 1)`.

    Args:
        norm: "Linf", "L2" or "L1"; x: `(N, ...)` images; eps: radius;
        keys: `(N,)` from `image_keys`; stream: which start (restart and target index).

    Returns:
        `(N, ...)` float32 starting points.
    """
    if norm == "Linf":
        return linf_random_start(x, eps, keys, stream)
    t = _gaussian(x, keys, stream)
    if norm == "L2":
        norms = np.sqrt(np.sum(t.reshape(len(x), -1) ** 2, axis=1)) + 1e-12
        t = eps * t / norms.reshape((-1,) + (1,) * (x.ndim - 1))
        return np.clip(x + t, 0.0, 1.0).astype(np.float32)
    return _l1_project_np(x, x + t, eps)


def _l1_project_np(x: np.ndarray, z: np.ndarray, eps: float) -> np.ndarray:
    """`z` projected on the L1 ball of radius eps around `x` and [0, 1] (eagerly)."""
    if len(x) == 0:
        return z.astype(np.float32)
    out = l1_project(ops.convert_to_tensor(x), ops.convert_to_tensor(z, "float32"), float(eps))
    return ops.convert_to_numpy(out)


def _axes(v) -> list[int]:
    return list(range(1, len(v.shape)))


def l2_project(x, z, eps):
    """AutoAttack's L2 projection `clip(x + (z - x) / ||z - x|| min(eps, ||z - x||), 0, 1)`.

    Scales `z - x` into the L2 ball of radius `eps`, then clips to [0, 1]; clipping only
    moves coordinates towards `x`, so the result stays in the ball.
    """
    d = z - x
    norm = ops.sqrt(ops.sum(d**2, axis=_axes(d), keepdims=True))
    return ops.clip(x + d / (norm + 1e-12) * ops.minimum(eps, norm), 0.0, 1.0)


def l1_projection(x, y, eps):
    """AutoAttack's `L1_projection` in `keras.ops`: the `delta` such that `x + y + delta`
    is the point of the L1 ball of radius `eps` around `x`, intersected with [0, 1],
    nearest to `x + y`.

    Each coordinate's magnitude becomes `clip(|y_i| - lambda, 0, room_i)` (soft
    threshold, then the box), where `room_i` is how far the box lets `x_i` move in the
    direction of `y_i`, and `lambda >= 0` is the smallest level whose magnitudes sum to at
    most eps. As in AutoAttack, `lambda` is found by sorting the `2 d` breakpoints and
    bisecting over their index (`ceil(log2(2 d))` steps).

    Args:
        x: `(B, ...)` centres in [0, 1] (static image shape).
        y: `(B, ...)` perturbations.
        eps: the radius (scalar).

    Returns:
        `(B, ...)` float32 `delta`.
    """
    shape = ops.shape(x)
    n = int(np.prod(x.shape[1:]))
    x2 = ops.reshape(ops.cast(x, "float32"), (-1, n))
    y2 = ops.reshape(ops.cast(y, "float32"), (-1, n))
    sigma = ops.sign(y2)
    u = ops.minimum(ops.minimum(1.0 - x2 - y2, x2 + y2), 0.0)
    l = -ops.abs(y2)  # noqa: E741 - AutoAttack's name
    neg = -ops.concatenate([u, l], axis=1)
    order = ops.argsort(neg, axis=1)
    bs = ops.take_along_axis(neg, order, axis=1)
    bs2 = ops.concatenate([bs[:, 1:], ops.zeros_like(bs[:, :1])], axis=1)
    size1 = ops.cumsum(2.0 * ops.cast(order < n, "float32") - 1.0, axis=1)
    s1 = -ops.sum(u, axis=1)
    c = eps - ops.sum(ops.abs(y2), axis=1)
    outside = s1 + c < 0
    s = ops.expand_dims(s1, 1) + ops.cumsum((bs2 - bs) * size1, axis=1)
    lb = ops.zeros_like(c)
    ub = ops.full_like(c, float(2 * n - 1))
    for _ in range(math.ceil(math.log2(2 * n))):
        mid = ops.floor((lb + ub) / 2.0)
        below = _at(s, mid) + c < 0
        lb, ub = ops.where(below, mid, lb), ops.where(below, ub, mid)
    alpha = (-_at(s, lb) - c) / _at(size1, lb + 1) + _at(bs2, lb)
    d = ops.where(ops.expand_dims(outside, 1), -ops.minimum(ops.maximum(-u, alpha[:, None]), -l), u)
    return ops.reshape(sigma * d, shape)


def l1_project(x, z, eps):
    """`z` projected on the L1 ball of radius `eps` around `x` and [0, 1] by
    `l1_projection`, then guarded against float32 rounding: shrunk towards `x` where its
    L1 distance exceeds eps, clipped to [0, 1]."""
    d = z - x
    d = d + l1_projection(x, d, eps)
    size = ops.sum(ops.abs(d), axis=_axes(d), keepdims=True)
    d = d * ops.minimum(1.0, eps / ops.maximum(size, 1e-30))
    return ops.clip(x + d, 0.0, 1.0)


def _linf_project(x, z, eps):
    return ops.clip(z, ops.maximum(x - eps, 0.0), ops.minimum(x + eps, 1.0))


def _per_image(v, rank):
    return ops.reshape(v, (-1,) + (1,) * (rank - 1))


def _linf_direction(grad, st):
    return ops.sign(grad)


def _l2_direction(grad, st):
    return grad / (ops.sqrt(ops.sum(grad**2, axis=_axes(grad), keepdims=True)) + 1e-12)


def _l1_direction(grad, st):
    """The signs of the `topk` share of largest gradient coordinates, spread evenly."""
    n = int(np.prod(grad.shape[1:]))
    rank = len(grad.shape)
    ranked = ops.sort(ops.reshape(ops.abs(grad), (-1, n)), axis=1)
    k = ops.clip((1.0 - st["topk"]) * n, 0.0, n - 1.0)
    level = _per_image(_at(ranked, k), rank)
    sign = ops.sign(grad * ops.cast(ops.abs(grad) >= level, grad.dtype))
    count = ops.sum(ops.abs(sign), axis=_axes(sign), keepdims=True)
    return sign / (count + 1e-10)


# norm -> (step direction from the gradient, projection, momentum, step size / eps)
_NORM_STEPS = {
    "Linf": (_linf_direction, _linf_project, True, 2.0),
    "L2": (_l2_direction, l2_project, True, 2.0),
    "L1": (_l1_direction, l1_project, False, 1.0),
}


def l1_checkpoints(nb_iter: int) -> list[int]:
    """L1-APGD's checkpoints (0-based): every `max(int(0.04 nb_iter), 1)` iterations."""
    k = max(int(0.04 * nb_iter), 1)
    return list(range(k - 1, nb_iter, k))


def largereps_schedule(eps: float, nb_iter: int) -> list[tuple[float, int]]:
    """AutoAttack's `use_largereps` stages: `[(3 eps, n1), (2 eps, n2), (eps, n3)]` with
    `n1 = n2 = ceil(0.3 nb_iter)` and `n3 = nb_iter - n1 - n2`."""
    first = math.ceil(0.3 * nb_iter)
    return [(3.0 * eps, first), (2.0 * eps, first), (1.0 * eps, nb_iter - 2 * first)]


def _halving_check(st, new, check, window, rho, eps):
    """The Linf/L2 checkpoint: which images go back to their best point, and the state's
    updates (AutoAttack's oscillation and no-improvement rule)."""
    halve = check & (
        (new["n_incr"] <= rho * window)
        | (~st["reduced"] & (st["loss_last_check"] >= new["loss_best"]))
    )
    return halve, dict(
        step=ops.where(halve, st["step"] / 2.0, st["step"]),
        reduced=ops.where(check, halve, st["reduced"]),
        loss_last_check=ops.where(check, new["loss_best"], st["loss_last_check"]),
        n_incr=ops.where(check, ops.zeros_like(new["n_incr"]), new["n_incr"]),
    )


def _l0(v):
    return ops.sum(ops.cast(v != 0.0, "float32"), axis=_axes(v))


def _sparsity_check(st, new, check, window, rho, eps):
    """The L1 checkpoint: `topk` follows the best point's sparsity; where it fell by 5 %
    the step size resets and the iterate goes back to the best point, else the step size
    shrinks by 1.5 (within `[eps / 10, eps]`)."""
    n = float(np.prod(st["x"].shape[1:]))
    sparsity = _l0(new["x_best"] - st["x"])
    reset = check & (sparsity / st["sp_old"] < 0.95)
    step = ops.clip(ops.where(reset, eps, st["step"] / 1.5), eps / 10.0, eps)
    return reset, dict(
        step=ops.where(check, step, st["step"]),
        topk=ops.where(check, sparsity / n / 1.5, st["topk"]),
        sp_old=ops.where(check, sparsity, st["sp_old"]),
    )


class APGD(Attack):
    """Untargeted or targeted APGD in the L-inf, L2 or L1 ball.

    Settings:
        eps: radius: in (0, 1] for "Linf", (0, sqrt(d)] for "L2", (0, d] for "L1" on
            images of d values.
        norm: the threat model, "Linf" (default), "L2" or "L1".
        nb_iter: steps per run (100 in AutoAttack).
        loss: "ce" or "dlr" (targeted: targeted CE or targeted DLR).
        targeted: run once per target class, the 2nd..(n_target_classes+1)-th class of
            the clean logits (APGD-T).
        n_target_classes: targets per image when targeted (9 in AutoAttack; 5 in its L1
            version).
        n_restarts: random starts per run; each runs on the images still standing
            (AutoAttack's L1 version runs 5).
        rho: share of loss increases below which a checkpoint halves the step (0.75;
            unused by "L1").
        use_largereps: "L1" only: AutoAttack's schedule over 3 eps, 2 eps, eps (its L1
            version turns it on).
        eot_iter: forward and backward passes whose gradients are averaged at each step
            (Expectation over Transformation, for randomized models: 20 in AutoAttack's
            "rand" version; 1 otherwise).
        seed: seed of the random starts.

    After `generate`, `zero_gradient_images` counts the images whose loss gradient was
    all zero at some iterate (AutoAttack looks at the first iterate only) and
    `images_attacked` the images attacked, over every restart and target.

    Example:
        >>> x_adv = APGD(model, eps=0.3, loss="dlr").generate(x, y)
        >>> x_adv = APGD(model, norm="L2", eps=1.5).generate(x, y)
    """

    DEFAULTS = {
        "eps": 0.3,
        "norm": "Linf",
        "nb_iter": 100,
        "loss": "ce",
        "targeted": False,
        "n_target_classes": 9,
        "n_restarts": 1,
        "rho": 0.75,
        "use_largereps": False,
        "eot_iter": 1,
        "seed": 0,
    }
    name = "apgd"
    norms = NORMS
    backends = ALL_BACKENDS

    def __init__(self, model, batch_size: int = 500, progress: bool = False, **settings):
        super().__init__(model, batch_size=batch_size, progress=progress, **settings)
        self._fn = logits_fn(model)
        self.zero_gradient_images = 0
        self.images_attacked = 0

    def _validate(self) -> None:
        s = self._settings
        check_eps(self, s["norm"], s["eps"])
        check_positive(self, "nb_iter", s["nb_iter"], integer=True)
        check_positive(self, "n_restarts", s["n_restarts"], integer=True)
        check_positive(self, "n_target_classes", s["n_target_classes"], integer=True)
        check_positive(self, "eot_iter", s["eot_iter"], integer=True)
        if s["loss"] not in LOSSES:
            raise ValueError(
                f"{type(self).__name__}: loss must be one of {LOSSES}, got {s['loss']!r}"
            )
        if not isinstance(s["targeted"], bool):
            raise ValueError(f"{type(self).__name__}: targeted must be True or False")
        if not 0.0 < float(s["rho"]) <= 1.0:
            raise ValueError(f"{type(self).__name__}: rho must lie in (0, 1], got {s['rho']}")
        if not isinstance(s["use_largereps"], bool):
            raise ValueError(f"{type(self).__name__}: use_largereps must be True or False")
        if s["use_largereps"] and s["norm"] != "L1":
            raise ValueError(
                f"{type(self).__name__}: use_largereps is for norm 'L1' only (as in "
                f"AutoAttack), got norm {s['norm']!r}"
            )
        if s["use_largereps"] and largereps_schedule(1.0, s["nb_iter"])[-1][1] < 1:
            raise ValueError(
                f"{type(self).__name__}: use_largereps needs nb_iter >= 3 with a last stage "
                f"(nb_iter - 2 ceil(0.3 nb_iter) steps at eps), got nb_iter={s['nb_iter']}"
            )
        check_seed(self, s["seed"])

    def _loss_fn(self):
        s = self._settings
        if s["targeted"]:
            return dlr_targeted_loss if s["loss"] == "dlr" else ce_targeted_loss
        return dlr_loss if s["loss"] == "dlr" else ce_loss

    def _generate_batch(self, x, y):
        x_adv, _ = self.attack(x, y)
        return x_adv

    def attack(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adversarial images and which of them the model misclassifies.

        Args:
            x: `(N, ...)` float32 images in [0, 1]; y: `(N,)` int64 true labels.

        Returns:
            `(x_adv, broken)`: `(N, ...)` float32, the first misclassified iterate where
            one was found, else the highest-loss point; `(N,)` bool.
        """
        s = self._settings
        x, y = check_images(x, y)
        check_eps(self, s["norm"], s["eps"], dim=int(np.prod(x.shape[1:])))
        clean = predict(self._fn, x)
        n_classes = clean.shape[-1]
        broken = clean.argmax(-1) != y
        x_adv = x.copy()
        targets = [None]
        if s["loss"] == "dlr" and not s["targeted"] and n_classes < 3:
            raise ValueError(
                f"{type(self).__name__}: the DLR loss needs at least 3 classes "
                f"(it divides by z_pi1 - z_pi3); the model has {n_classes}; "
                "use loss='ce'"
            )
        if s["targeted"]:
            need = 4 if s["loss"] == "dlr" else 2
            if s["n_target_classes"] > n_classes - 1 or n_classes < need:
                raise ValueError(
                    f"{type(self).__name__}: n_target_classes={s['n_target_classes']} needs "
                    f"at least {max(s['n_target_classes'] + 1, need)} classes; the model has "
                    f"{n_classes}"
                )
            ranked = np.argsort(-clean, axis=-1, kind="stable")
            targets = [ranked[:, r] for r in range(1, s["n_target_classes"] + 1)]
        keys = image_keys(x, s["seed"])
        zero = np.zeros(len(x), bool)
        self.images_attacked += int((~broken).sum())
        for j, target in enumerate(targets):
            for r in range(s["n_restarts"]):
                todo = np.flatnonzero(~broken)
                if todo.size == 0:
                    break
                t = y[todo] if target is None else target[todo]
                adv, hit, z = self._run(x[todo], y[todo], t, keys[todo], 1000 * j + r)
                # Standing images keep the latest run's highest-loss point.
                x_adv[todo] = adv
                broken[todo] = hit
                zero[todo] |= z
        self.zero_gradient_images += int(zero.sum())
        return x_adv, broken

    def _run(self, x, y, t, keys, stream):
        """One random start's run: one loop, or AutoAttack's `use_largereps` stages."""
        s = self._settings
        eps, nb_iter = float(s["eps"]), int(s["nb_iter"])
        if not s["use_largereps"]:
            start = random_start(s["norm"], x, eps, keys, stream)
            return self._loop(x, y, t, start, eps, nb_iter, warm=False, count=True)
        # AutoAttack's decr_eps_pgd: x + N(0, 1) on the largest ball, then each stage
        # starts at the previous stage's best point projected on its own ball; only the
        # last stage (at eps) may break images.
        stages = largereps_schedule(eps, nb_iter)
        point = _l1_project_np(x, x + _gaussian(x, keys, stream), stages[0][0])
        zero = np.zeros(len(x), bool)
        for i, (stage_eps, stage_iter) in enumerate(stages):
            point = _l1_project_np(x, point, stage_eps)
            last = i == len(stages) - 1
            point, hit, z = self._loop(x, y, t, point, stage_eps, stage_iter, warm=True, count=last)
            zero |= z
        return point, hit, zero

    def _loop(self, x, y, t, start, eps, nb_iter, warm, count):
        """One APGD run from `start`: `(x_adv, broken, zero_gradient)` per image, NumPy.

        `warm`: the start is a previous stage's point (L1's `topk` then follows its
        sparsity); `count`: misclassified iterates break images (False in the larger-eps
        stages of `use_largereps`).
        """
        s = self._settings
        key = ("apgd", s["norm"], s["loss"], s["targeted"], float(s["rho"]), int(s["eot_iter"]))
        evaluate, step = compiled(self.model, key + (x.shape[1:],), self._compile)
        y, t = y.astype(np.int32), np.asarray(t, np.int32)
        loss, grad, hit, zero = (
            ops.convert_to_numpy(v)
            for v in evaluate(*map(ops.convert_to_tensor, (start, y, t, np.bool_(count))))
        )
        out_x, out_hit, out_zero = start.copy(), hit.astype(bool), zero.astype(bool)
        rows = np.flatnonzero(~out_hit)  # broken at the start: keep the start
        state = self._state(x, y, t, start, loss, grad, eps, warm)
        state = {k: ops.convert_to_tensor(v[rows]) for k, v in state.items()}

        def record(images, hit, outputs):
            images = rows[images]
            out_zero[images] |= outputs["zero"].astype(bool)
            out_x[images[hit]] = outputs["x"][hit]
            out_hit[images[hit]] = True

        scalars = self._scalars(eps, nb_iter, count)
        fixed = backends.current().FIXED_SHAPES
        state, images, live = standing.run(step, state, scalars, record, fixed)
        best = ops.convert_to_numpy(state["x_best"])
        out_x[rows[images[live]]] = best[live]
        return out_x, out_hit, out_zero

    def _state(self, x, y, t, start, loss, grad, eps, warm) -> dict:
        """The per-image state of a run at its start (NumPy)."""
        s, n = self._settings, len(x)
        step = np.full(n, _NORM_STEPS[s["norm"]][3] * eps, np.float32)
        state = dict(x=x, y=y, t=t, xa=start, x_old=start, grad=grad, step=step)
        state.update(loss_prev=loss, loss_best=loss, x_best=start, grad_best=grad)
        state.update(n_incr=np.zeros(n, np.float32), reduced=np.ones(n, bool), loss_last_check=loss)
        if s["norm"] == "L1":
            # AutoAttack: topk 20 % from a random start, else the start's sparsity.
            n_values = float(np.prod(x.shape[1:]))
            sparsity = (start != x).reshape(n, -1).sum(axis=1).astype(np.float32)
            state["topk"] = np.where(warm, sparsity / n_values / 1.5, 0.2).astype(np.float32)
            state["sp_old"] = np.where(warm, sparsity, n_values).astype(np.float32)
        return state

    def _scalars(self, eps: float, nb_iter: int, count: bool) -> list[dict]:
        """Each step's scalars: momentum (1 on the first step), checkpoint and its window."""
        marks = l1_checkpoints(nb_iter) if self._settings["norm"] == "L1" else checkpoints(nb_iter)
        window = dict(zip(marks, np.diff([-1, *marks])))
        return [
            dict(
                a=np.float32(1.0 if i == 0 else 0.75),
                check=np.bool_(i in window),
                window=np.float32(window.get(i, 0)),
                eps=np.float32(eps),
                count=np.bool_(count),
            )
            for i in range(nb_iter)
        ]

    def _compile(self, fn):
        """`(evaluate, step)` compiled by the backend: `evaluate(x, y, t, count) -> (loss,
        grad, hit, zero)` and the APGD step `step(scalars, state) -> (state, hit,
        {"x", "zero"})` for `keras_rbf.attacks.standing.run`."""
        s = self._settings
        rho, eot = float(s["rho"]), int(s["eot_iter"])
        direction, project, momentum, _ = _NORM_STEPS[s["norm"]]
        checkpoint = _sparsity_check if s["norm"] == "L1" else _halving_check
        loss_fn, backend = self._loss_fn(), backends.current()

        def loss_and_logits(xa, y, t):
            logits = fn(xa)
            return loss_fn(logits, y, t), logits

        value_and_grad = backend.value_and_grad(loss_and_logits)

        def evaluate(xa, y, t, count):
            # EOT as AutoAttack: gradients averaged over the draws; the loss and the
            # prediction of the last draw. Unrolled: eot_iter is a small constant.
            grad = ops.zeros_like(xa)
            for _ in range(eot):
                loss, logits, g = value_and_grad(xa, y, t)
                grad = grad + g
            grad = grad / float(eot)
            hit = (ops.cast(ops.argmax(logits, axis=-1), "int32") != y) & count
            zero = ops.all(ops.reshape(grad == 0.0, (ops.shape(grad)[0], -1)), axis=1)
            return loss, grad, hit, zero

        def step(sc, st):
            rank, xa = len(st["x"].shape), st["xa"]
            z = project(
                st["x"], xa + _per_image(st["step"], rank) * direction(st["grad"], st), sc["eps"]
            )
            if momentum:
                a = sc["a"]
                z = project(st["x"], xa + a * (z - xa) + (1.0 - a) * (xa - st["x_old"]), sc["eps"])
            loss, grad, hit, zero = evaluate(z, st["y"], st["t"], sc["count"])
            better = loss > st["loss_best"]
            new = dict(
                st,
                x_old=xa,
                loss_prev=loss,
                n_incr=st["n_incr"] + ops.cast(loss > st["loss_prev"], "float32"),
                loss_best=ops.where(better, loss, st["loss_best"]),
                x_best=ops.where(_per_image(better, rank), z, st["x_best"]),
                grad_best=ops.where(_per_image(better, rank), grad, st["grad_best"]),
            )
            # Checkpoint (AutoAttack's rule for the norm), a no-op between checkpoints.
            back, updates = checkpoint(st, new, sc["check"], sc["window"], rho, sc["eps"])
            new.update(
                updates,
                xa=ops.where(_per_image(back, rank), new["x_best"], z),
                grad=ops.where(_per_image(back, rank), new["grad_best"], grad),
            )
            return new, hit, {"x": z, "zero": zero}

        return backend.compile(evaluate), backend.compile(step)


class APGDCE(APGD):
    """APGD with the cross-entropy loss (AutoAttack's APGD-CE)."""

    DEFAULTS = {**APGD.DEFAULTS, "loss": "ce"}
    name = "apgd-ce"


class APGDDLR(APGD):
    """APGD with the DLR loss (AutoAttack's APGD-DLR)."""

    DEFAULTS = {**APGD.DEFAULTS, "loss": "dlr"}
    name = "apgd-dlr"


class APGDT(APGD):
    """Targeted APGD with the targeted DLR loss over 9 target classes (AutoAttack's APGD-T)."""

    DEFAULTS = {**APGD.DEFAULTS, "loss": "dlr", "targeted": True}
    name = "apgd-t"
