"""Typed results of the classification reports and the audit, and their JSON layout.

A result is keyed by what was measured, `Key(attack, norm, eps)`, and holds how many of
`n` images stayed correctly classified; accuracy and its 95 % Wilson interval follow.
`Key.name` is the spelling `table1.json`, `audit.json` and the CLI's `--attacks` use
("clean", "pgd", "strong_linf_0.3"): keys are written from records, never parsed back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_rbf.evaluate import wilson_interval

__all__ = [
    "BY_NAME",
    "PAPER_KEYS",
    "STRONG_EPS",
    "STRONG_KEYS",
    "TABLE1",
    "TABLE1_KEYS",
    "Key",
    "Result",
    "interval",
    "strong_key",
    "table_blocks",
]


@dataclass(frozen=True)
class Key:
    """What was measured: an attack ("clean" for none), with its norm and radius when the
    key names them (the strong suite's keys do; the paper's attacks keep theirs in their
    settings)."""

    attack: str
    norm: str | None = None
    eps: float | None = None

    @property
    def name(self) -> str:
        """The key as the reports' JSON spells it."""
        return self.attack if self.eps is None else f"{self.attack}_{self.norm}_{self.eps:g}"


def strong_key(eps: float, norm: str = "Linf") -> Key:
    """The strong suite's key at radius `eps` of the threat model `norm` ("Linf", "L2",
    "L1"): `strong_linf_0.3`, `strong_l2_1.5`."""
    return Key("strong", norm.lower(), float(eps))


PAPER = tuple(Key(a) for a in ("fgsm", "bim", "mim", "pgd", "cw", "spsa", "gn"))
STRONG_EPS = (0.1, 0.3)
TABLE1 = (Key("clean"), *PAPER, *(strong_key(e) for e in STRONG_EPS))
BY_NAME = {k.name: k for k in TABLE1}
PAPER_KEYS = [k.name for k in PAPER]
TABLE1_KEYS = [k.name for k in TABLE1]
STRONG_KEYS = [k.name for k in TABLE1 if k.attack == "strong"]


def interval(k: int, n: int) -> list[float]:
    """The 95 % Wilson interval of `k` successes in `n`, rounded as every report prints it."""
    return [round(v, 4) for v in wilson_interval(int(k), int(n))]


@dataclass(frozen=True)
class Result:
    """`correct` of `n` images classified correctly under `key`."""

    key: Key
    correct: int
    n: int

    @classmethod
    def of(cls, key: Key, ok: np.ndarray) -> Result:
        """The result of per-image correctness `ok` (`(n,)` bool)."""
        return cls(key, int(np.sum(ok)), len(ok))

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    @property
    def ci95(self) -> list[float]:
        return interval(self.correct, self.n)


def table_blocks(results: dict[str, list[Result]]) -> dict:
    """Results per model in the layout of `table1.json` and `audit.json`.

    Args:
        results: `{model: [Result, ...]}`, in the order the keys are to be written.

    Returns:
        `{"models": {model: {key: accuracy}}, "n": {key: images},
        "ci95": {model: {key: [lo, hi]}}}`.
    """
    return {
        "models": {m: {r.key.name: r.accuracy for r in rs} for m, rs in results.items()},
        "n": {r.key.name: r.n for rs in results.values() for r in rs},
        "ci95": {m: {r.key.name: r.ci95 for r in rs} for m, rs in results.items()},
    }
