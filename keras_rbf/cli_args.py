"""The argument parser of every `keras-rbf` sub-command: errors in one line, with a fix.

`argparse` prints a usage block and an error; a misspelled flag (`--output-dir`) gets
no suggestion. This parser prints one line, `keras-rbf train: error: ...`, suggests the
closest known flag or choice, points at `--help`, and exits 2.

Flags mean the same in every command: `--n-test` (how many test images), `--out-dir`
(the output folder), `--batch-size` (the batch of the work the command does) and
`--seed` (each command's help says what it seeds). Flags are never abbreviated: with
argparse's default, the old `--n` and `--out` would pass silently as prefixes of
`--n-test` and `--out-dir`. The old spellings are refused, naming the new one.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys

__all__ = ["RENAMED", "ArgumentParser", "positive_float", "positive_int"]

# Old spelling -> the flag that replaced it (issue 21). Refused rather than kept as
# aliases, so that each flag has one name in docs, commands and recorded results.
RENAMED = {"--n": "--n-test", "--num-test": "--n-test", "--out": "--out-dir"}


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line with a suggestion.

    `allow_abbrev` defaults to False (see the module's docstring); sub-parsers made
    with `add_subparsers` are of the same class, so they inherit both.
    """

    def __init__(self, *args, allow_abbrev: bool = False, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse's
        # A renamed flag is refused first: argparse would otherwise report a missing
        # required flag (`--out-dir`) and never mention the `--out` that was given.
        flags = self._long_flags()
        for arg in sys.argv[1:] if args is None else args:
            old = str(arg).split("=")[0]
            if RENAMED.get(old) in flags and old not in flags:
                self.error(f"unrecognized arguments: {old}")
        return super().parse_known_args(args, namespace)

    def error(self, message: str):  # noqa: D102 - argparse's hook
        sys.stderr.write(f"{self.prog}: error: {message}; {self._hint(message)}\n")
        sys.exit(2)

    def _long_flags(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings if s.startswith("--")]

    def _hint(self, message: str) -> str:
        """`did you mean ...?` for unknown flags and invalid choices, else `see --help`."""
        flags = self._long_flags()
        hints = []
        unknown = re.findall(r"(--[\w-]+)", message) if "unrecognized" in message else []
        for flag in unknown:
            if RENAMED.get(flag) in flags:
                hints.append(f"did you mean {RENAMED[flag]}? ({flag} is now {RENAMED[flag]})")
                continue
            close = difflib.get_close_matches(flag, flags, n=1, cutoff=0.5)
            if close:
                hints.append(f"did you mean {close[0]}?")
        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice:
            known = [c for a in self._actions for c in (a.choices or []) if isinstance(c, str)]
            # Case first (`l2` for `L2`, `linf` for `Linf`), then spelling.
            close = [c for c in known if c.lower() == choice.group(1).lower()]
            close = close or difflib.get_close_matches(choice.group(1), known, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r}?")
        return " ".join(hints) or f"see `{self.prog} --help`"


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
