"""Published reference numbers the reports print beside their own: data, not code.

Each lives in the zoo's `references/` folder (beside the model cards, installed with them
as package data) as `{"source": where the numbers were read, "values": the numbers}`:

- `paper_table1`: the paper's Table 1 (MNIST accuracy under attack, ORIG and PROP);
- `paper_table2`: the paper's Table 2 (clustering of MNIST last-layer features);
- `paper_table3`: the paper's Table 3 (CHEST accuracy under attack);
- `autoattack_mnist`: the field's outside data point on this paper (see docs/design.md):
  the AutoAttack authors retrained its MNIST model and attacked it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Reference", "load"]


@dataclass(frozen=True)
class Reference:
    """Published numbers and where they were read."""

    source: str
    values: dict


def load(name: str) -> Reference:
    """The reference `name` (a file `references/<name>.json` of the zoo).

    Args:
        name: "paper_table1", "paper_table2", "paper_table3" or "autoattack_mnist".

    Returns:
        The numbers and their source (read afresh: callers may change their copy).
    """
    from keras_rbf import zoo

    data = json.loads((zoo.zoo_dir() / "references" / f"{name}.json").read_text())
    return Reference(source=data["source"], values=data["values"])
