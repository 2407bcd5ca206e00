"""The strong suite every report carries: AutoAttack (Croce & Hein, ICML 2020) for Keras.

The suites, as data (`COMPONENTS`), per threat model (`norm` "Linf", "L2" or "L1"):

- `suite="cpu"` (the reports' fast default): APGD-CE (100 steps) -> APGD-DLR (100 steps)
  -> Square (1,000 queries);
- `suite="standard"`: AutoAttack's standard version as its `set_version` sets it:
  L-inf and L2: APGD-CE -> APGD-T (9 targets) -> FAB-T (9 targets) -> Square (5,000
  queries); L1: APGD-CE (5 restarts, `use_largereps`) -> APGD-T (5 targets,
  `use_largereps`) -> FAB-T (9 targets) -> Square (5,000 queries);
- `suite="plus"`: APGD-CE and APGD-DLR (5 restarts each) -> FAB (5 restarts) -> Square
  (5,000 queries) -> APGD-T (9 targets) -> FAB-T (9 targets);
- `suite="rand"`, for randomized models: APGD-CE and APGD-DLR with the gradient averaged
  over 20 draws (EOT), one restart each.

Each attack runs only on the images still standing, so the result is the per-example
worst case; an image counts as broken when the model misclassifies the adversarial
image the attack returned and that image lies in the eps-ball of the threat model (both
re-checked here, so every image counted broken is). A component the package cannot run
for this norm or model (too few classes, an attack without this norm) is left out and
the result's `notes` say so: AutoAttack warns and goes on; here the note is also a flag
of the report (`keras_rbf.reports.masking`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from keras import ops
from tqdm.auto import tqdm

from keras_rbf.attacks.base import (
    ALL_BACKENDS,
    NORMS,
    Attack,
    AttackInputError,
    check_backend,
    check_eps,
    check_images,
    check_seed,
    logits_fn,
    lp_norms,
    predict,
)

__all__ = [
    "COMPONENTS",
    "NORMS",
    "SUITES",
    "Component",
    "StrongSuite",
    "SuiteResult",
    "as_logits",
    "components",
]


@dataclass(frozen=True)
class Component:
    """One attack of a suite.

    Attributes:
        name: AutoAttack's name of the component ("apgd-ce", "apgd-t", "fab-t", ...).
        attack: the key of `keras_rbf.attacks.ATTACKS` that runs it.
        settings: its settings beyond eps, norm and seed, as `(name, value)` pairs.
    """

    name: str
    attack: str
    settings: tuple[tuple[str, object], ...] = ()

    @property
    def kwargs(self) -> dict:
        """The settings as keyword arguments."""
        return dict(self.settings)


def _c(name: str, attack: str | None = None, **settings) -> Component:
    return Component(name, attack or name, tuple(sorted(settings.items())))


# suite -> norm -> components in order. "standard" is AutoAttack's `set_version("standard")`
# (autoattack/autoattack.py), "plus" and "rand" likewise; "cpu" is this package's fast one.
_SQUARE_5K = _c("square", n_queries=5000, rescale_schedule=False)
_LINF_L2_STANDARD = (
    _c("apgd-ce", nb_iter=100),
    _c("apgd-t", nb_iter=100, n_target_classes=9),
    _c("fab-t", n_target_classes=9),
    _SQUARE_5K,
)
_PLUS = (
    _c("apgd-ce", nb_iter=100, n_restarts=5),
    _c("apgd-dlr", nb_iter=100, n_restarts=5),
    _c("fab", n_restarts=5),
    _c("square", n_queries=5000, rescale_schedule=False),
    _c("apgd-t", nb_iter=100, n_target_classes=9),
    _c("fab-t", n_target_classes=9),
)
_RAND = (
    _c("apgd-ce", nb_iter=100, eot_iter=20),
    _c("apgd-dlr", nb_iter=100, eot_iter=20),
)
_CPU = (
    _c("apgd-ce", nb_iter=100),
    _c("apgd-dlr", nb_iter=100),
    _c("square", n_queries=1000),
)
COMPONENTS: dict[str, dict[str, tuple[Component, ...]]] = {
    "cpu": {norm: _CPU for norm in NORMS},
    "standard": {
        "Linf": _LINF_L2_STANDARD,
        "L2": _LINF_L2_STANDARD,
        "L1": (
            _c("apgd-ce", nb_iter=100, n_restarts=5, use_largereps=True),
            _c("apgd-t", nb_iter=100, n_target_classes=5, use_largereps=True),
            _c("fab-t", n_target_classes=9),
            _SQUARE_5K,
        ),
    },
    "plus": {norm: _PLUS for norm in NORMS},
    "rand": {norm: _RAND for norm in NORMS},
}
SUITES = tuple(COMPONENTS)


def components(suite: str, norm: str = "Linf") -> tuple[Component, ...]:
    """The components of `suite` under `norm`, in order (see `COMPONENTS`)."""
    if suite not in COMPONENTS:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    return COMPONENTS[suite][norm]


@dataclass
class SuiteResult:
    """What a suite run found.

    Attributes:
        x_adv: `(N, ...)` float32 adversarial images (misclassified ones where found).
        robust: `(N,)` bool, still classified correctly after every attack.
        components: robust accuracy over all N (clean mistakes count as broken),
            cumulative after each attack in order, e.g.
            `{"clean": .97, "apgd-ce": .05, "apgd-dlr": .04, "square": .04}`.
        broken_by: `(N,)` str, the first attack that broke each image ("clean" for a
            clean mistake, "" for a robust image).
        note: how the model was attacked when not through its raw outputs, and which
            components were left out or cut, joined ("" if none).
        seconds: wall-clock seconds of each component that ran.
        notes: the same as `note`, one entry each (the reports turn them into flags).
        zero_gradients: `{component: (images with an all-zero loss gradient at some
            iterate, images attacked)}` for the gradient attacks that count them.
    """

    x_adv: np.ndarray
    robust: np.ndarray
    components: dict[str, float]
    broken_by: np.ndarray
    note: str = field(default="")
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    zero_gradients: dict[str, tuple[int, int]] = field(default_factory=dict)


def as_logits(model: Callable, x_probe: np.ndarray) -> tuple[Callable, str]:
    """A callable images -> logits for `model`, and a note saying what was done.

    A model whose outputs on `x_probe` are probabilities (every row in [0, 1], summing
    to 1) is wrapped to return their logarithm: log-softmax differs from the logits by
    a constant per row, so argmax, margins and the cross-entropy are unchanged. Where
    the softmax saturates in float32 the log is flat and gradients vanish, which is
    gradient masking; the note says so.

    Args:
        model: a Keras model or a callable images -> scores.
        x_probe: a few `(n, ...)` images to look at the outputs.

    Returns:
        `(fn, note)`: `fn` maps images to logits; `note` is "" when the outputs were
        used as they are.
    """
    fn = logits_fn(model)
    out = np.asarray(predict(fn, x_probe), np.float64)
    if out.ndim != 2 or out.shape[-1] < 2:
        raise ValueError(
            f"the model must output (N, classes) scores with at least 2 "
            f"classes, got shape {out.shape}"
        )
    is_prob = out.min() >= 0.0 and out.max() <= 1.0 and np.allclose(out.sum(-1), 1.0, atol=1e-3)
    if not is_prob:
        return fn, ""

    def log_probabilities(x):
        return ops.log(ops.maximum(ops.cast(fn(x), "float32"), 1e-30))

    return log_probabilities, (
        "the model outputs probabilities; it was attacked through "
        "their logarithm (where softmax saturates in float32, "
        "gradients vanish and only Square still sees the model)"
    )


# An attack's own projection and float32 rounding: how far beyond eps a returned image
# may lie and still count (AutoAttack re-checks the norm the same way, without a margin).
BALL_TOL = 1e-5


class StrongSuite(Attack):
    """AutoAttack's per-example worst case over the components of a suite (`COMPONENTS`).

    Settings:
        eps: radius of the threat model (> 0; at most 1 in L-inf).
        norm: "Linf", "L2" or "L1".
        suite: "cpu", "standard", "plus" or "rand" (see the module docstring).
        seed: seed of every component's random numbers.

    Example:
        >>> result = StrongSuite(model, eps=0.3).run(x, y)
        >>> result.components   # {"clean": ..., "apgd-ce": ..., "apgd-dlr": ..., "square": ...}
        >>> result.seconds      # {"apgd-ce": ..., ...}
    """

    DEFAULTS = dict(eps=0.3, norm="Linf", suite="cpu", seed=0)
    name = "strong"
    backends = ALL_BACKENDS  # what it cannot run on this backend it leaves out, and says

    def _validate(self) -> None:
        s = self._settings
        if s["norm"] not in NORMS:
            raise ValueError(f"StrongSuite: norm must be one of {list(NORMS)}, got {s['norm']!r}")
        check_eps(self, s["norm"], s["eps"])
        if s["suite"] not in COMPONENTS:
            raise ValueError(
                f"StrongSuite: suite must be one of {list(SUITES)}, got {s['suite']!r}"
            )
        check_seed(self, s["seed"])

    @property
    def settings(self) -> dict:
        """The suite's settings and each component's, in order."""
        from keras_rbf.attacks import ATTACKS

        s = self._settings
        out = []
        for c in components(s["suite"], s["norm"]):
            defaults = ATTACKS[c.attack].DEFAULTS if c.attack in ATTACKS else {}
            out.append({"name": c.name, **defaults, **self._kwargs(c)})
        return {**s, "components": out}

    def _kwargs(self, c: Component) -> dict:
        s = self._settings
        return {**c.kwargs, "norm": s["norm"], "eps": s["eps"], "seed": s["seed"]}

    def generate(self, x, y) -> np.ndarray:
        """Adversarial images: `run(x, y).x_adv`."""
        return self.run(x, y).x_adv

    def run(self, x, y) -> SuiteResult:
        """Runs the suite's attacks in order, each on the images still standing.

        Args:
            x: `(N, ...)` images in [0, 1]; y: `(N,)` integer labels.

        Returns:
            a `SuiteResult`.
        """
        x, y = check_images(x, y)
        s = self._settings
        n = len(x)
        fn, log_note = as_logits(self.model, x[:8]) if n else (logits_fn(self.model), "")
        # The model itself where it gives logits, so its compiled loops are reused.
        stages, notes = self._stages(fn if log_note else self.model, fn, x)
        notes = [log_note, *notes] if log_note else notes
        x_adv = x.copy()
        robust = self._predict(fn, x) == y
        broken_by = np.where(robust, "", "clean").astype(object)
        components_ = {"clean": float(robust.mean()) if n else float("nan")}
        seconds, zero = {}, {}
        for name, attack in tqdm(
            stages, desc="strong suite", disable=not self.progress, leave=False
        ):
            todo = np.flatnonzero(robust)
            start = time.perf_counter()
            if todo.size:
                adv = attack.generate(x[todo], y[todo])
                delta = adv.astype(np.float64) - x[todo]
                inside = lp_norms(delta, s["norm"], np.float64) <= s["eps"] * (1 + BALL_TOL)
                if not inside.all():
                    notes.append(
                        f"{name} returned {int((~inside).sum())} images outside the "
                        f"{s['norm']} ball of radius {s['eps']:g}; they were not counted"
                    )
                hit = (self._predict(fn, adv) != y[todo]) & inside
                x_adv[todo[hit]] = adv[hit]
                robust[todo[hit]] = False
                broken_by[todo[hit]] = name
            seconds[name] = time.perf_counter() - start
            if hasattr(attack, "zero_gradient_images"):
                zero[name] = (attack.zero_gradient_images, attack.images_attacked)
            components_[name] = float(robust.mean()) if n else float("nan")
            if self.progress:
                print(
                    f"    {name}: robust accuracy {components_[name]:.4f} ({seconds[name]:.1f} s)",
                    flush=True,
                )
        return SuiteResult(
            x_adv=x_adv,
            robust=robust,
            components=components_,
            broken_by=broken_by.astype(str),
            note="; ".join(notes),
            seconds=seconds,
            notes=notes,
            zero_gradients=zero,
        )

    def _stages(
        self, model: Callable, fn: Callable, x: np.ndarray
    ) -> tuple[list[tuple[str, Attack]], list[str]]:
        """The suite's attacks, built and fitted to the model and norm, and notes on what
        was left out or cut.

        DLR divides by `z_pi1 - z_pi3` and targeted DLR by `z_pi1 - (z_pi3 + z_pi4) / 2`,
        so with fewer classes those stages are left out; targeted stages take at most
        `classes - 1` targets (as AutoAttack does). A component whose attack or setting
        this package lacks for the norm is left out, and said.
        """
        from keras_rbf.attacks import ATTACKS

        s = self._settings
        n_classes = int(predict(fn, x[:1]).shape[-1]) if len(x) else 10
        out, notes = [], []
        for c in components(s["suite"], s["norm"]):
            kwargs = self._kwargs(c)
            cls = ATTACKS.get(c.attack)
            if cls is None or s["norm"] not in cls.norms:
                notes.append(f"{c.name} left out: not implemented for {s['norm']} in this package")
                continue
            try:
                check_backend(cls)
            except AttackInputError as err:
                notes.append(f"{c.name} left out: {err}")
                continue
            missing = sorted(set(kwargs) - set(cls.DEFAULTS))
            if missing:
                notes.append(f"{c.name} left out: no setting(s) {', '.join(missing)} here")
                continue
            need = 4 if c.name == "apgd-t" else 3 if c.name == "apgd-dlr" else 2
            if n_classes < need:
                notes.append(
                    f"{c.name} left out: it needs at least {need} classes, the model has "
                    f"{n_classes}"
                )
                continue
            targets = kwargs.get("n_target_classes")
            if targets is not None and targets > n_classes - 1:
                kwargs["n_target_classes"] = n_classes - 1
                notes.append(
                    f"{c.name} runs {n_classes - 1} target classes (the model has "
                    f"{n_classes} classes)"
                )
            out.append(
                (c.name, cls(model, batch_size=self.batch_size, progress=self.progress, **kwargs))
            )
        return out, notes

    def _predict(self, fn: Callable, x: np.ndarray) -> np.ndarray:
        out = [
            np.argmax(predict(fn, x[i : i + self.batch_size]), -1)
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.int64)
