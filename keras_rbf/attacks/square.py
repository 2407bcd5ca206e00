"""The Square attack (Andriushchenko et al., ECCV 2020) in the L-inf or L2 ball, on every
Keras 3 backend.

A gradient-free random search, so gradient masking does not fool it; each query changes
a square window whose area is a fraction `p` of the image, halved on AutoAttack's
schedule (`p_selection`), and is kept if the margin loss `z_y - max_{i != y} z_i` went
down.
- "Linf": start from vertical stripes of +-eps, then at each query add a window of
  +-2 eps (one sign per channel) at a random place, project on the eps-ball and [0, 1].
- "L2" (AutoAttack's `square.py`, norm "L2"): start from a 5 x 5 grid of blocks of side
  `h // 5`, each a `pseudo_gaussian_pert` (the paper's `meta_pseudo_gaussian_pert`: two
  halves of opposite sign, each peaked at its centre as `sum_k 1 / (k + 1)^2` over the
  squares around it, randomly transposed) times a random sign per channel, scaled to
  L2 norm eps and clipped to [0, 1]. At each query two windows of odd side (at least 3)
  are drawn: the second's perturbation is cleared and its mass, with the budget left
  below eps, moved into the first, which becomes its old content (normalised) plus a
  fresh signed `pseudo_gaussian_pert`, rescaled per channel to
  `sqrt(max(eps^2 - ||delta||^2, 0) / c + ||delta on both windows||^2)`; the whole
  perturbation is then scaled back onto the eps sphere and clipped to [0, 1].

Written here because ART's `SquareAttack` (the reference it is tested against) and
AutoAttack's draw one window and one colour per query for the whole batch and loop in
Python; here every image draws its own window and colours (as in the authors' original
code), each query is one compiled call of the backend (`keras_rbf.attacks.backends`),
and only images still standing are queried (`keras_rbf.attacks.standing`). Random
numbers depend on `seed` and each image's bytes only, so neither the batch size nor the
other images change a result. In the L2 start, blocks are laid only where they fit
(AutoAttack lays `h // s` of them from the same offset along both axes, which fails on
images whose side is not about 5 blocks, e.g. 24 pixels, and on non-square ones); on
square images of any size AutoAttack accepts, the grid is its grid.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from keras_rbf.attacks import backends, standing
from keras_rbf.attacks.base import (
    ALL_BACKENDS,
    Attack,
    AttackInputError,
    check_eps,
    check_images,
    check_positive,
    check_seed,
    compiled,
    image_keys,
    logits_fn,
    predict,
)
from keras_rbf.attacks.losses import margin

__all__ = ["Square", "l2_init", "margin", "p_selection", "pseudo_gaussian_pert"]

SQUARE_NORMS = ("Linf", "L2")


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


def _rectangle(rows: int, cols: int) -> np.ndarray:
    """AutoAttack's `eta_rectangles` (norm "L2"): `sum_k 1 / (k + 1)^2` over the squares
    of half-side k around the centre, normalised to L2 norm 1."""
    delta = np.zeros((rows, cols))
    r, c = rows // 2, cols // 2
    for k in range(max(rows // 2 + 1, cols // 2 + 1)):
        delta[max(r, 0) : min(r + 2 * k + 1, rows), max(c, 0) : min(c + 2 * k + 1, cols)] += (
            1.0 / (k + 1) ** 2
        )
        r, c = r - 1, c - 1
    return delta / np.sqrt(np.sum(delta**2)) if delta.size else delta


def pseudo_gaussian_pert(side: int) -> np.ndarray:
    """AutoAttack's `eta(s)` for norm "L2" before its random transpose (the Square paper's
    `meta_pseudo_gaussian_pert`): a `(side, side)` float32 pattern, the top half positive
    and the bottom half negative, of L2 norm 1."""
    delta = np.zeros((side, side))
    delta[: side // 2] = _rectangle(side // 2, side)
    delta[side // 2 :] = -_rectangle(side - side // 2, side)
    return (delta / np.sqrt(np.sum(delta**2))).astype(np.float32)


def l2_init(h: int, w: int, c: int, rng: np.random.Generator) -> np.ndarray:
    """One image's unscaled L2 starting perturbation, `(h, w, c)` float32.

    A grid of blocks of side `h // 5` from the offset `(side - 5 (h // 5)) // 2` along each
    axis (AutoAttack's), each a `pseudo_gaussian_pert` transposed with probability 1/2,
    times a random sign per channel; only blocks that fit are laid.
    """
    s = h // 5
    delta = np.zeros((h, w, c), np.float32)
    block = pseudo_gaussian_pert(s)
    for top in range(max((h - 5 * s) // 2, 0), h - s + 1, s):
        for left in range(max((w - 5 * s) // 2, 0), w - s + 1, s):
            flip, signs = rng.random(), np.where(rng.random(c) < 0.5, -1.0, 1.0)
            pattern = block.T if flip > 0.5 else block
            delta[top : top + s, left : left + s] += pattern[:, :, None] * signs
    return delta


class Square(Attack):
    """Untargeted Square attack on `(N, H, W, C)` images in the L-inf or L2 ball.

    Settings:
        eps: radius: in (0, 1] for "Linf", (0, sqrt(H W C)] for "L2".
        norm: the threat model, "Linf" (default) or "L2" (images of at least 5 x 5).
        n_queries: queries per image after the first (1,000 in the CPU suite, 5,000 in
            AutoAttack's standard version).
        p_init: initial share of the image a window covers (0.8).
        rescale_schedule: fit the schedule of `p` to `n_queries` (AutoAttack's default;
            its standard version runs 5,000 queries without rescaling).
        seed: seed of the random search.
    """

    DEFAULTS = {
        "eps": 0.3,
        "norm": "Linf",
        "n_queries": 1000,
        "p_init": 0.8,
        "rescale_schedule": True,
        "seed": 0,
    }
    name = "square"
    norms = ("Linf", "L2")  # AutoAttack's L1 Square is not ported (yet)
    backends = ALL_BACKENDS

    def __init__(self, model, batch_size: int = 500, progress: bool = False, **settings):
        super().__init__(model, batch_size=batch_size, progress=progress, **settings)

    def _validate(self) -> None:
        s = self._settings
        check_eps(self, s["norm"], s["eps"])
        if s["norm"] not in SQUARE_NORMS:
            raise ValueError(
                f"Square: norm must be one of {', '.join(SQUARE_NORMS)} (no L1 version here), "
                f"got {s['norm']!r}"
            )
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
        s = self._settings
        n, h, w, c = x.shape
        check_eps(self, s["norm"], s["eps"], dim=h * w * c)
        if s["norm"] == "L2" and min(h, w) < 5:
            raise AttackInputError(
                f"Square with norm 'L2' needs images of at least 5 x 5 pixels, got {h} x {w}"
            )
        if len(x) == 0:
            return x.copy(), np.zeros(0, bool)
        init, draws = self._draws(x)
        key = ("square", s["norm"], h, w, c)
        start_fn, step = compiled(self.model, key, lambda fn: self._compile(fn, h, w, c))
        eps = np.float32(s["eps"])
        start = ops.convert_to_numpy(start_fn(*map(ops.convert_to_tensor, (x, init, eps))))
        logits = predict(logits_fn(self.model), start)
        out_x, out_hit = start.copy(), logits.argmax(-1) != y
        rows = np.flatnonzero(~out_hit)  # broken at the start: keep the start
        loss = ops.convert_to_numpy(margin(ops.convert_to_tensor(logits), y))
        state = dict(x=x, y=y.astype(np.int32), best=start, loss=loss, u=draws.swapaxes(0, 1))
        state = {k: ops.convert_to_tensor(v[rows]) for k, v in state.items()}

        def record(images, hit, outputs):
            out_x[rows[images[hit]]] = outputs["x"][hit]
            out_hit[rows[images[hit]]] = True

        fixed = backends.current().FIXED_SHAPES
        state, images, live = standing.run(step, state, self._scalars(h, w, c), record, fixed)
        out_x[rows[images[live]]] = ops.convert_to_numpy(state["best"])[live]
        return out_x, out_hit

    def _draws(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each image's random numbers, from its own generator: the start (Linf: stripes
        `(N, 1, W, C)`; L2: `l2_init`, `(N, H, W, C)`) and per query `(Q, N, k)` uniforms
        (Linf: row, column, colours; L2: two windows' rows and columns, transpose, signs).
        """
        s = self._settings
        n, h, w, c = x.shape
        q = s["n_queries"]
        keys = image_keys(x, s["seed"])
        if s["norm"] == "Linf":
            stripes = np.empty((n, 1, w, c), np.float32)
            draws = np.empty((q, n, 2 + c), np.float32)  # (row, column, colours) per query
            for i, key in enumerate(keys):
                rng = np.random.default_rng([int(key), 7])
                stripes[i] = np.where(rng.random((1, w, c)) < 0.5, -1.0, 1.0)
                draws[:, i] = rng.random((q, 2 + c))
            return stripes, draws
        init = np.empty((n, h, w, c), np.float32)
        draws = np.empty((q, n, 5 + c), np.float32)
        for i, key in enumerate(keys):
            rng = np.random.default_rng([int(key), 8])
            init[i] = l2_init(h, w, c, rng)
            draws[:, i] = rng.random((q, 5 + c))
        return init, draws

    def _sides(self, h: int, w: int, c: int) -> np.ndarray:
        """The window's side at each query; for "L2" odd and at least 3 (AutoAttack's)."""
        s = self._settings
        l2 = s["norm"] == "L2"
        sides = []
        for i in range(s["n_queries"]):
            p = p_selection(s["p_init"], i, s["n_queries"], s["rescale_schedule"])
            side = max(int(round(math.sqrt(p * h * w))), 3 if l2 else 1)
            sides.append(side + 1 if l2 and side % 2 == 0 else side)
        return np.minimum(np.asarray(sides, np.int32), min(h, w))

    def _scalars(self, h: int, w: int, c: int) -> list[dict]:
        """Each query's scalars: its index, the window's side and (L2) the side's
        `pseudo_gaussian_pert` padded with zeros to `(max(h, w), max(h, w))` (a shape
        known when the step is traced)."""
        sides = self._sides(h, w, c)
        eps = np.float32(self._settings["eps"])
        out = [dict(i=np.int32(i), side=side, eps=eps) for i, side in enumerate(sides)]
        if self._settings["norm"] == "L2":
            big = max(h, w)
            padded = {}
            for side in set(sides.tolist()):
                padded[side] = np.zeros((big, big), np.float32)
                padded[side][:side, :side] = pseudo_gaussian_pert(side)
            for values in out:
                values["pattern"] = padded[int(values["side"])]
        return out

    def _compile(self, fn, h: int, w: int, c: int):
        """`(start, step)`: `start(x, init, eps)`, the first query, and, compiled by the
        backend, the search step `step(scalars, state) -> (state, hit, {"x"})` for
        `keras_rbf.attacks.standing.run`."""
        l2 = self._settings["norm"] == "L2"
        start_fn, candidate = _l2_steps(h, w, c) if l2 else _linf_steps(h, w)

        def step(sc, st):
            u = ops.take(st["u"], sc["i"], axis=1)
            cand = candidate(sc, st["x"], st["best"], u, sc["eps"])
            logits = fn(cand)
            loss = margin(logits, st["y"])
            hit = ops.cast(ops.argmax(logits, axis=-1), "int32") != st["y"]
            better = loss < st["loss"]
            new = dict(
                st,
                best=ops.where(better[:, None, None, None], cand, st["best"]),
                loss=ops.where(better, loss, st["loss"]),
            )
            return new, hit, {"x": cand}

        backend = backends.current()
        return start_fn, backend.compile(step)  # the start runs once per run: eager


def _window(top, left, side, h: int, w: int):
    """`(B, h, w, 1)` bool: the square of `side` at `(top, left)`, `(B,)` int32 each."""
    rows = ops.reshape(ops.arange(h, dtype="int32"), (1, h, 1, 1))
    cols = ops.reshape(ops.arange(w, dtype="int32"), (1, 1, w, 1))
    top, left = ops.reshape(top, (-1, 1, 1, 1)), ops.reshape(left, (-1, 1, 1, 1))
    return (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)


def _corner(u, side, h: int, w: int):
    """A window's top-left corner from two uniforms: AutoAttack's `random_int(0, h - s)`
    (never the last position, as there)."""
    top = ops.cast(ops.floor(u[:, 0] * ops.cast(h - side, "float32")), "int32")
    left = ops.cast(ops.floor(u[:, 1] * ops.cast(w - side, "float32")), "int32")
    return top, left


def _linf_steps(h: int, w: int):
    """The L-inf start (stripes of +-eps) and query (a +-2 eps window, projected)."""

    def start(x, stripes, eps):
        return ops.clip(x + eps * stripes, 0.0, 1.0)

    def candidate(sc, x0, best, u, eps):
        side = sc["side"]
        top, left = _corner(u, side, h, w)
        window = _window(top, left, side, h, w)
        colour = ops.where(u[:, None, None, 2:] < 0.5, -2.0 * eps, 2.0 * eps)
        cand = best + ops.cast(window, "float32") * colour
        return ops.clip(cand, ops.maximum(x0 - eps, 0.0), ops.minimum(x0 + eps, 1.0))

    return start, candidate


def _l2_norm(v, axes):
    return ops.sqrt(ops.sum(v**2, axis=axes, keepdims=True))


def _l2_steps(h: int, w: int, c: int):
    """The L2 start (`l2_init` on the eps sphere) and query (AutoAttack's two-window
    update); each query's `pseudo_gaussian_pert` comes padded in its scalars."""

    def start(x, init, eps):
        return ops.clip(x + eps * init / (_l2_norm(init, [1, 2, 3]) + 1e-12), 0.0, 1.0)

    def candidate(sc, x0, best, u, eps):
        side, pattern, big = sc["side"], sc["pattern"], max(h, w)
        top, left = _corner(u[:, 0:2], side, h, w)
        top2, left2 = _corner(u[:, 2:4], side, h, w)
        first = ops.cast(_window(top, left, side, h, w), "float32")
        second = ops.cast(_window(top2, left2, side, h, w), "float32")
        delta = best - x0
        size_first = _l2_norm(delta * first, [1, 2])  # (B, 1, 1, c), per channel
        size_both = _l2_norm(delta * ops.maximum(first, second), [1, 2])
        size_image = _l2_norm(delta, [1, 2, 3])
        # The side's pattern, transposed where drawn so, moved to (top, left).
        flip = u[:, 4] > 0.5
        pattern = ops.where(flip[:, None, None], ops.transpose(pattern)[None], pattern[None])
        n = ops.shape(pattern)[0]
        r = ops.clip(ops.arange(h, dtype="int32")[None] - top[:, None], 0, big - 1)
        k = ops.clip(ops.arange(w, dtype="int32")[None] - left[:, None], 0, big - 1)
        pattern = ops.take_along_axis(pattern, ops.broadcast_to(r[:, :, None], (n, h, big)), 1)
        pattern = ops.take_along_axis(pattern, ops.broadcast_to(k[:, None, :], (n, h, w)), 2)
        signs = ops.where(u[:, None, None, 5:] < 0.5, -1.0, 1.0)
        new = pattern[..., None] * first * signs + delta * first / (1e-12 + size_first)
        budget = ops.maximum(eps**2 - size_image**2, 0.0) / c + size_both**2
        new = new / (1e-12 + _l2_norm(new, [1, 2])) * ops.sqrt(budget)
        delta = ops.where(first > 0, new, ops.where(second > 0, 0.0, delta))
        return ops.clip(x0 + eps * delta / (_l2_norm(delta, [1, 2, 3]) + 1e-12), 0.0, 1.0)

    return start, candidate
