"""APGD (Croce & Hein, ICML 2020) in the L-inf ball, compiled with `tf.function`.

Written here rather than taken from a library: AutoAttack's TF2 adapter is broken under
Keras 3, and ART's `AutoProjectedGradientDescent` (which runs on Keras 3 models through
`TensorFlowV2Classifier`) is eager NumPy, several times slower on CPU, and checks only
the last iterate. ART stays the reference this implementation is tested against.

The algorithm follows AutoAttack's `autopgd_base.py` (norm "Linf"):
- start at `x + eps u / max|u|`, `u ~ U(-1, 1)`, step size `2 eps`;
- `z = P(x_k + eta sign(grad))`, `x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))`
  with momentum `a = 0.75` (1 on the first step), `P` the projection on the eps-ball and
  [0, 1];
- checkpoints after 22 %, then windows shrinking by 3 % of the iterations down to 6 %:
  where the loss rose in at most `rho = 75 %` of the window's steps, or the step size
  was not halved at the last checkpoint and the best loss did not improve, the step
  size is halved and the iterate goes back to the best point;
- losses: cross-entropy, DLR `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)` and targeted
  DLR `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`, targets the 2nd..(n+1)-th classes
  of the clean logits.

Differences, each deliberate: an image counts as broken at ANY iterate, and the first
misclassified iterate is kept; a broken image is dropped from the loop at once (the whole
loop and its checkpoints run inside one `tf.function`, so no step returns to Python);
the first window compares the first step's loss with the starting point's (AutoAttack
compares it with an unset zero row); images never broken come back at their
highest-loss point (AutoAttack's `best_loss` mode) rather than unchanged, so adversarial
training can use the attack. Random starts depend on `seed` and each image's bytes
only, so neither the batch size nor the other images change a result.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_rbf.attacks.base import (
    Attack,
    check_images,
    check_positive,
    check_seed,
    compiled,
    image_keys,
    logits_fn,
)

__all__ = [
    "APGD",
    "APGDCE",
    "APGDDLR",
    "APGDT",
    "ce_loss",
    "checkpoints",
    "dlr_loss",
    "dlr_targeted_loss",
    "linf_random_start",
]

LOSSES = ("ce", "dlr")


def ce_loss(logits, y, t=None):
    """Per-example cross-entropy of integer labels `y`, `(B,)`; `t` is unused."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)


def dlr_loss(logits, y, t=None):
    """Per-example DLR loss `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`, `(B,)`."""
    top = tf.sort(logits, axis=-1, direction="DESCENDING")
    z_y = tf.gather(logits, y, batch_dims=1)
    other = tf.reduce_max(
        tf.where(
            tf.one_hot(y, tf.shape(logits)[-1]) > 0, tf.fill(tf.shape(logits), -np.inf), logits
        ),
        axis=-1,
    )
    return -(z_y - other) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted_loss(logits, y, t):
    """Per-example targeted DLR `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`."""
    top = tf.sort(logits, axis=-1, direction="DESCENDING")
    z_y = tf.gather(logits, y, batch_dims=1)
    z_t = tf.gather(logits, t, batch_dims=1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def _ce_targeted_loss(logits, y, t):
    return -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits)


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


class APGD(Attack):
    """Untargeted or targeted APGD in the L-inf ball.

    Settings:
        eps: L-inf radius (> 0).
        nb_iter: steps per run (100 in AutoAttack).
        loss: "ce" or "dlr" (targeted: targeted CE or targeted DLR).
        targeted: run once per target class, the 2nd..(n_target_classes+1)-th class of
            the clean logits (APGD-T).
        n_target_classes: targets per image when targeted (9 in AutoAttack).
        n_restarts: random starts per run; each runs on the images still standing.
        rho: share of loss increases below which a checkpoint halves the step (0.75).
        seed: seed of the random starts.

    Example:
        >>> x_adv = APGD(model, eps=0.3, loss="dlr").generate(x, y)
    """

    DEFAULTS = {
        "eps": 0.3,
        "nb_iter": 100,
        "loss": "ce",
        "targeted": False,
        "n_target_classes": 9,
        "n_restarts": 1,
        "rho": 0.75,
        "seed": 0,
    }
    name = "apgd"

    def __init__(self, model, batch_size: int = 500, progress: bool = False, **settings):
        super().__init__(model, batch_size=batch_size, progress=progress, **settings)
        self._fn = logits_fn(model)

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "eps", s["eps"])
        check_positive(self, "nb_iter", s["nb_iter"], integer=True)
        check_positive(self, "n_restarts", s["n_restarts"], integer=True)
        check_positive(self, "n_target_classes", s["n_target_classes"], integer=True)
        if s["loss"] not in LOSSES:
            raise ValueError(
                f"{type(self).__name__}: loss must be one of {LOSSES}, got {s['loss']!r}"
            )
        if not isinstance(s["targeted"], bool):
            raise ValueError(f"{type(self).__name__}: targeted must be True or False")
        if not 0.0 < float(s["rho"]) <= 1.0:
            raise ValueError(f"{type(self).__name__}: rho must lie in (0, 1], got {s['rho']}")
        check_seed(self, s["seed"])

    def _loss_fn(self):
        s = self._settings
        if s["targeted"]:
            return dlr_targeted_loss if s["loss"] == "dlr" else _ce_targeted_loss
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
        clean = np.asarray(self._fn(tf.constant(x)))
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
        for j, target in enumerate(targets):
            for r in range(s["n_restarts"]):
                todo = np.flatnonzero(~broken)
                if todo.size == 0:
                    return x_adv, broken
                t = y[todo] if target is None else target[todo]
                start = linf_random_start(x[todo], s["eps"], keys[todo], 1000 * j + r)
                adv, hit = self._loop(x[todo], y[todo], t, start)
                # Standing images keep the latest run's highest-loss point.
                x_adv[todo] = adv
                broken[todo] = hit
        return x_adv, broken

    def _loop(self, x, y, t, start):
        s = self._settings
        key = ("apgd", s["loss"], s["targeted"], int(s["nb_iter"]), float(s["rho"]), x.shape[1:])
        run = compiled(self.model, key, lambda fn: self._compile(fn, x.shape[1:]))
        adv, hit = run(
            tf.constant(x),
            tf.constant(y),
            tf.constant(t, tf.int64),
            tf.constant(start),
            tf.constant(float(s["eps"])),
        )
        return adv.numpy(), hit.numpy()

    def _compile(self, fn, image_shape):
        """The whole APGD run as one `tf.function(x, y, t, start, eps)`."""
        # Why this function is long: one tf.function body: the whole APGD iteration is traced as
        # one graph, and helpers called from it would each need their own tracing rules (issue 20
        # rewrites this wing)
        s = self._settings
        nb_iter, rho = int(s["nb_iter"]), float(s["rho"])
        is_check = np.zeros(nb_iter, bool)
        is_check[checkpoints(nb_iter)] = True
        window = np.zeros(nb_iter, np.float32)
        last = -1
        for i in checkpoints(nb_iter):
            window[i], last = i - last, i
        loss_fn = self._loss_fn()
        rank = len(image_shape) + 1

        def evaluate(xa, y, t):
            with tf.GradientTape() as tape:
                tape.watch(xa)
                logits = fn(xa)
                loss = loss_fn(logits, y, t)
                total = tf.reduce_sum(loss)
            grad = tape.gradient(total, xa)
            hit = tf.argmax(logits, axis=-1, output_type=tf.int64) != y
            return loss, grad, hit

        def per_image(v):
            return tf.reshape(v, [-1] + [1] * (rank - 1))

        spec = tf.TensorSpec([None, *image_shape], tf.float32)
        labels = tf.TensorSpec([None], tf.int64)

        @tf.function(input_signature=[spec, labels, labels, spec, tf.TensorSpec([], tf.float32)])
        def run(x, y, t, start, eps):
            # Why this function is long: the restart loop and its bookkeeping read best in one
            # place (issue 20 rewrites this wing)
            n = tf.shape(x)[0]
            loss, grad, hit = evaluate(start, y, t)
            out_x, out_hit = start, hit  # broken at the start: keep the start
            st = {
                "idx": tf.range(n),
                "x": x,
                "y": y,
                "t": t,
                "xa": start,
                "x_old": start,
                "grad": grad,
                "step": tf.fill([n], 2.0 * eps),
                "loss_prev": loss,
                "loss_best": loss,
                "x_best": start,
                "grad_best": grad,
                "n_incr": tf.zeros([n]),
                "reduced": tf.ones([n], tf.bool),
                "loss_last_check": loss,
            }
            st = {k: tf.boolean_mask(v, ~hit) for k, v in st.items()}

            def body(i, out_x, out_hit, st):
                a = tf.where(i > 0, 0.75, 1.0)
                lo, hi = tf.maximum(st["x"] - eps, 0.0), tf.minimum(st["x"] + eps, 1.0)
                xa = st["xa"]
                z = tf.clip_by_value(xa + per_image(st["step"]) * tf.sign(st["grad"]), lo, hi)
                x_new = tf.clip_by_value(xa + a * (z - xa) + (1.0 - a) * (xa - st["x_old"]), lo, hi)
                loss, grad, hit = evaluate(x_new, st["y"], st["t"])
                where = tf.boolean_mask(st["idx"], hit)[:, None]
                out_x = tf.tensor_scatter_nd_update(out_x, where, tf.boolean_mask(x_new, hit))
                out_hit = tf.tensor_scatter_nd_update(
                    out_hit, where, tf.ones_like(where[:, 0], tf.bool)
                )
                better = loss > st["loss_best"]
                new = dict(
                    st,
                    x_old=xa,
                    loss_prev=loss,
                    n_incr=st["n_incr"] + tf.cast(loss > st["loss_prev"], tf.float32),
                    loss_best=tf.where(better, loss, st["loss_best"]),
                    x_best=tf.where(per_image(better), x_new, st["x_best"]),
                    grad_best=tf.where(per_image(better), grad, st["grad_best"]),
                )
                # Checkpoint (AutoAttack's rule), a no-op between checkpoints.
                check = tf.gather(tf.constant(is_check), i)
                k = tf.gather(tf.constant(window), i)
                halve = check & (
                    (new["n_incr"] <= rho * k)
                    | (~st["reduced"] & (st["loss_last_check"] >= new["loss_best"]))
                )
                new.update(
                    step=tf.where(halve, st["step"] / 2.0, st["step"]),
                    xa=tf.where(per_image(halve), new["x_best"], x_new),
                    grad=tf.where(per_image(halve), new["grad_best"], grad),
                    reduced=tf.where(check, halve, st["reduced"]),
                    loss_last_check=tf.where(check, new["loss_best"], st["loss_last_check"]),
                    n_incr=tf.where(check, tf.zeros_like(new["n_incr"]), new["n_incr"]),
                )
                new = {k: tf.boolean_mask(v, ~hit) for k, v in new.items()}
                return i + 1, out_x, out_hit, new

            def cond(i, out_x, out_hit, st):
                return (i < nb_iter) & (tf.size(st["idx"]) > 0)

            invariants = {k: tf.TensorShape([None]).concatenate(v.shape[1:]) for k, v in st.items()}
            _, out_x, out_hit, st = tf.while_loop(
                cond,
                body,
                (tf.constant(0), out_x, out_hit, st),
                shape_invariants=(tf.TensorShape([]), out_x.shape, out_hit.shape, invariants),
            )
            out_x = tf.tensor_scatter_nd_update(out_x, st["idx"][:, None], st["x_best"])
            return out_x, out_hit

        return run


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
