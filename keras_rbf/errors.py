"""Errors that an expected user mistake raises: the CLI prints their message as one line.

Every message names the problem and the fix. Library code raises these (or a subclass)
for bad input it can recognize; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["UserError", "did_you_mean"]


class UserError(ValueError):
    """An expected user error (unknown name, missing data, bad file, bad argument).

    A `ValueError` so that callers who catch `ValueError` keep working.
    """


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`" Did you mean 'x'?"` with the known name closest to `name`, or `""`."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
