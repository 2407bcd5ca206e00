"""Adversarial attacks on any Keras model or callable images -> logits, one interface.

Every attack is an object built from a model and its validated settings (see
`keras_rbf.attacks.base.Attack`):

    attack = PGD(model, eps=0.1, nb_iter=40)           # or make("pgd", model, eps=0.1)
    x_adv = attack.generate(x, y)                      # (N, ...) float32 in [0, 1]
    attack.settings                                    # what a report prints

- the paper's Table 1 set, with the paper's settings as defaults (`PAPER_SETTINGS`),
  over CleverHans 4 / Foolbox 3 (`paper.py`): FGSM, BIM, MIM, PGD, CarliniWagnerL2,
  SPSA, GaussianNoise;
- the strong suite (`suite.py`, AutoAttack-style): StrongSuite over the compiled APGD
  (`apgd.py`: APGD-CE, APGD-DLR, APGD-T) and Square (`square.py`) attacks;
- threat models: APGD and its subclasses take `norm` "Linf" (default), "L2" or "L1"
  (L1-APGD of "Mind the box", with AutoAttack's `use_largereps` schedule as a setting),
  Square takes "Linf" (default) or "L2"; each follows AutoAttack's code for that norm.
  The names are `NORMS` and eps is checked per norm by `check_eps` (in (0, 1] for
  "Linf", (0, sqrt(d)] for "L2", (0, d] for "L1" on images of d values), both in
  `base.py` for every attack to share; the strong suite takes any of them;
- FAB-T (`fab.py`), the targeted minimal-norm Fast Adaptive Boundary attack of
  AutoAttack's standard version, in the L-inf, L2 and L1 norms;
- the CHEST table's LinfBIM and L1BIM (`l1_bim.py`) and the segmentation attack DAG
  (`dag.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from keras_rbf.attacks.apgd import APGD, APGDCE, APGDDLR, APGDT
from keras_rbf.attacks.base import NORMS, Attack, AttackInputError, check_eps
from keras_rbf.attacks.dag import DAG, DAGResult
from keras_rbf.attacks.fab import FABT, FABResult
from keras_rbf.attacks.l1_bim import L1BIM, LinfBIM
from keras_rbf.attacks.paper import (
    BIM,
    FGSM,
    MIM,
    PAPER_SETTINGS,
    PGD,
    SPSA,
    CarliniWagnerL2,
    GaussianNoise,
)
from keras_rbf.attacks.square import Square
from keras_rbf.attacks.suite import StrongSuite, SuiteResult, as_logits
from keras_rbf.evaluate import accuracy, predict_labels  # re-exported for callers

__all__ = [
    "APGD",
    "ATTACKS",
    "BIM",
    "DAG",
    "FABT",
    "FGSM",
    "L1BIM",
    "MIM",
    "NORMS",
    "PAPER_SETTINGS",
    "PGD",
    "SPSA",
    "Attack",
    "AttackInputError",
    "CarliniWagnerL2",
    "DAGResult",
    "FABResult",
    "GaussianNoise",
    "LinfBIM",
    "Square",
    "StrongSuite",
    "SuiteResult",
    "accuracy",
    "as_logits",
    "check_eps",
    "make",
    "predict_labels",
]

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "bim": BIM,
    "mim": MIM,
    "pgd": PGD,
    "cw": CarliniWagnerL2,
    "spsa": SPSA,
    "gn": GaussianNoise,
    "apgd-ce": APGDCE,
    "apgd-dlr": APGDDLR,
    "apgd-t": APGDT,
    "fab-t": FABT,
    "square": Square,
    "strong": StrongSuite,
    "linf-bim": LinfBIM,
    "l1-bim": L1BIM,
    "dag": DAG,
}


def make(name: str, model: Callable, **settings) -> Attack:
    """The attack `name` of `ATTACKS` on `model`; `settings` override its defaults.

    `batch_size` and `progress` may be among `settings`.
    """
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[name](model, **settings)
