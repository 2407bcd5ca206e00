"""The argument parser of every `keras-rbf` sub-command: errors in one line, with a fix.

`argparse` prints a usage block and an error; a misspelled flag (`--output-dir`) gets
no suggestion. This parser prints one line, `keras-rbf train: error: ...`, suggests the
closest known flag, points at `--help`, and exits 2.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys

__all__ = ["ArgumentParser", "positive_float", "positive_int"]


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line with a suggestion."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        flags = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
        unknown = re.findall(r"(--[\w-]+)", message) if "unrecognized" in message else []
        hints = []
        for flag in unknown:
            close = difflib.get_close_matches(flag.split("=")[0], flags, n=1, cutoff=0.5)
            if close:
                hints.append(f"did you mean {close[0]}?")
        hint = " ".join(hints) or f"see `{self.prog} --help`"
        sys.stderr.write(f"{self.prog}: error: {message}; {hint}\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    """argparse `type` for counts (images, epochs, steps): an integer >= 1.

    A negative count would otherwise slice from the end (`x[:-5]` is all but five
    images) and 0 would fall back to a default: both silently wrong.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count; give 1 or more")
    return value


def positive_float(text: str) -> float:
    """argparse `type` for rates and scales that must be > 0 (learning rate, rho)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value
