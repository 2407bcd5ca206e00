"""Errors that an expected user mistake raises: the CLI prints their message as one line.

Every message names the problem and the fix. Library code raises these (or a subclass)
for bad input it can recognize; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """An expected user error (unknown name, missing data, bad file, bad argument).

    A `ValueError` so that callers who catch `ValueError` keep working.
    """
