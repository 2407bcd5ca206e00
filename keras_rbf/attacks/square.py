"""The L-inf Square attack (Andriushchenko et al., ECCV 2020), compiled with `tf.function`.

A gradient-free random search, so gradient masking does not fool it: start from vertical
stripes of +-eps, then at each query add a square window of +-2 eps (one sign per
channel) at a random place, project on the eps-ball and [0, 1], and keep it if the
margin loss `z_y - max_{i != y} z_i` went down. The window's area is a fraction `p` of
the image, halved on AutoAttack's schedule (`p_selection`).

Written here because ART's `SquareAttack` (the reference it is tested against) and
AutoAttack's draw one window and one colour per query for the whole batch and loop in
Python; here every image draws its own window and colours (as in the authors' original
code), the whole search runs in one `tf.function`, and only images still standing are
queried. Random numbers depend on `seed` and each image's bytes only, so neither the
batch size nor the other images change a result.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_rbf.attacks.base import (
    Attack,
    AttackInputError,
    check_images,
    check_positive,
    check_seed,
    compiled,
    image_keys,
)

__all__ = ["Square", "margin", "p_selection"]


def p_selection(p_init: float, it: int, n_queries: int, rescale: bool = True) -> float:
    """AutoAttack's piecewise-constant schedule of the window's share of the image.

    Args:
        p_init: share at the start.
        it: 0-based query.
        n_queries: queries in the run.
        rescale: stretch the schedule, written for 10,000 queries, to `n_queries`.

    Returns:
        the share `p` at query `it`.
    """
    if rescale:
        it = int(it / n_queries * 10000)
    bounds = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
    halvings = sum(it > b for b in bounds)
    return p_init / 2**halvings


def margin(logits, y):
    """Per-example margin `z_y - max_{i != y} z_i` (negative when misclassified)."""
    z_y = tf.gather(logits, y, batch_dims=1)
    other = tf.reduce_max(
        tf.where(
            tf.one_hot(y, tf.shape(logits)[-1]) > 0, tf.fill(tf.shape(logits), -np.inf), logits
        ),
        axis=-1,
    )
    return z_y - other


class Square(Attack):
    """Untargeted L-inf Square attack on `(N, H, W, C)` images.

    Settings:
        eps: L-inf radius (> 0).
        n_queries: queries per image after the first (1,000 in the CPU suite, 5,000 in
            AutoAttack's standard version).
        p_init: initial share of the image a window covers (0.8).
        rescale_schedule: fit the schedule of `p` to `n_queries` (AutoAttack's default;
            its standard version runs 5,000 queries without rescaling).
        seed: seed of the random search.
    """

    DEFAULTS = {"eps": 0.3, "n_queries": 1000, "p_init": 0.8, "rescale_schedule": True, "seed": 0}
    name = "square"

    def __init__(self, model, batch_size: int = 500, progress: bool = False, **settings):
        super().__init__(model, batch_size=batch_size, progress=progress, **settings)

    def _validate(self) -> None:
        s = self._settings
        check_positive(self, "eps", s["eps"])
        check_positive(self, "n_queries", s["n_queries"], integer=True)
        check_positive(self, "p_init", s["p_init"])
        if s["p_init"] > 1:
            raise ValueError(f"Square: p_init must lie in (0, 1], got {s['p_init']}")
        if not isinstance(s["rescale_schedule"], bool):
            raise ValueError("Square: rescale_schedule must be True or False")
        check_seed(self, s["seed"])

    def _generate_batch(self, x, y):
        return self.attack(x, y)[0]

    def attack(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adversarial images and which of them the model misclassifies.

        Args:
            x: `(N, H, W, C)` float32 images in [0, 1]; y: `(N,)` int64 true labels.

        Returns:
            `(x_adv, broken)`: `(N, H, W, C)` float32 (the first misclassified query
            where one was found, else the lowest-margin one); `(N,)` bool.
        """
        x, y = check_images(x, y)
        if x.ndim != 4:
            raise AttackInputError(f"Square attacks (N, H, W, C) images, got shape {x.shape}")
        if len(x) == 0:
            return x.copy(), np.zeros(0, bool)
        s = self._settings
        n, h, w, c = x.shape
        q = s["n_queries"]
        keys = image_keys(x, s["seed"])
        stripes = np.empty((n, 1, w, c), np.float32)
        draws = np.empty((q, n, 2 + c), np.float32)  # (row, column, colours) per query
        for i, key in enumerate(keys):
            rng = np.random.default_rng([int(key), 7])
            stripes[i] = np.where(rng.random((1, w, c)) < 0.5, -1.0, 1.0)
            draws[:, i] = rng.random((q, 2 + c))
        key = ("square", h, w, c, q, float(s["p_init"]), s["rescale_schedule"])
        run = compiled(self.model, key, lambda fn: self._compile(fn, h, w, c))
        adv, hit = run(
            tf.constant(x),
            tf.constant(y),
            tf.constant(stripes),
            tf.constant(draws),
            tf.constant(float(s["eps"])),
        )
        return adv.numpy(), hit.numpy()

    def _sides(self, h: int, w: int, c: int) -> np.ndarray:
        s = self._settings
        sides = [
            max(
                int(
                    round(
                        math.sqrt(
                            p_selection(s["p_init"], i, s["n_queries"], s["rescale_schedule"])
                            * h
                            * w
                        )
                    )
                ),
                1,
            )
            for i in range(s["n_queries"])
        ]
        return np.minimum(np.asarray(sides, np.int32), min(h, w))

    def _compile(self, fn, h: int, w: int, c: int):
        """The whole search as one `tf.function(x, y, stripes, draws, eps)`."""
        # Why this function is long: one tf.function body: Square's whole iteration is traced as
        # one graph (issue 20 rewrites this wing)
        sides = tf.constant(self._sides(h, w, c))
        rows = tf.range(h, dtype=tf.int32)[None, :, None, None]
        cols = tf.range(w, dtype=tf.int32)[None, None, :, None]

        def evaluate(xa, y):
            logits = fn(xa)
            hit = tf.argmax(logits, axis=-1, output_type=tf.int64) != y
            return margin(logits, y), hit

        spec = tf.TensorSpec([None, h, w, c], tf.float32)

        @tf.function(
            input_signature=[
                spec,
                tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([None, 1, w, c], tf.float32),
                tf.TensorSpec([None, None, 2 + c], tf.float32),
                tf.TensorSpec([], tf.float32),
            ]
        )
        def run(x, y, stripes, draws, eps):
            start = tf.clip_by_value(x + eps * stripes, 0.0, 1.0)
            loss, hit = evaluate(start, y)
            st = {"idx": tf.range(tf.shape(x)[0]), "x": x, "y": y, "best": start, "loss": loss}
            st = {k: tf.boolean_mask(v, ~hit) for k, v in st.items()}

            def body(i, out_x, out_hit, st):
                side = sides[i]
                u = tf.gather(draws[i], st["idx"])
                top = tf.cast(tf.floor(u[:, 0] * tf.cast(h - side, tf.float32)), tf.int32)
                left = tf.cast(tf.floor(u[:, 1] * tf.cast(w - side, tf.float32)), tf.int32)
                top, left = top[:, None, None, None], left[:, None, None, None]
                window = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
                colour = tf.where(u[:, None, None, 2:] < 0.5, -2.0 * eps, 2.0 * eps)
                x0 = st["x"]
                cand = st["best"] + tf.cast(window, tf.float32) * colour
                cand = tf.clip_by_value(cand, tf.maximum(x0 - eps, 0.0), tf.minimum(x0 + eps, 1.0))
                loss, hit = evaluate(cand, st["y"])
                where = tf.boolean_mask(st["idx"], hit)[:, None]
                out_x = tf.tensor_scatter_nd_update(out_x, where, tf.boolean_mask(cand, hit))
                out_hit = tf.tensor_scatter_nd_update(
                    out_hit, where, tf.ones_like(where[:, 0], tf.bool)
                )
                better = loss < st["loss"]
                new = dict(
                    st,
                    best=tf.where(better[:, None, None, None], cand, st["best"]),
                    loss=tf.where(better, loss, st["loss"]),
                )
                return i + 1, out_x, out_hit, {k: tf.boolean_mask(v, ~hit) for k, v in new.items()}

            def cond(i, out_x, out_hit, st):
                return (i < tf.shape(sides)[0]) & (tf.size(st["idx"]) > 0)

            invariants = {k: tf.TensorShape([None]).concatenate(v.shape[1:]) for k, v in st.items()}
            _, out_x, out_hit, st = tf.while_loop(
                cond,
                body,
                (tf.constant(0), start, hit, st),
                shape_invariants=(tf.TensorShape([]), start.shape, hit.shape, invariants),
            )
            out_x = tf.tensor_scatter_nd_update(out_x, st["idx"][:, None], st["best"])
            return out_x, out_hit

        return run
