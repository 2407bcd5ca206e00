"""The `keras-rbf` command.

usage:
    keras-rbf reproduce DATASET [...]    reproduce the paper's tables for a data set
    keras-rbf audit MODEL.keras [...]    the strong suite on any Keras classifier
    keras-rbf train NAME [...]           train a zoo entry into runs/NAME (never the package)
    keras-rbf zoo list | card NAME | publish RUN_DIR [--zoo-dir PATH]
    keras-rbf export NAME_OR_PATH OUTDIR [...]
    keras-rbf bench [...]                the RBFMapping speed benchmark

`keras-rbf COMMAND --help` describes each. Sub-commands hand their arguments to a
`main(argv)` in the module that owns the work, imported only when used. An expected
user error (unknown name, missing data, bad file or flag, existing output) prints one
line, `keras-rbf: error: ...`, and exits 2.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

from keras_rbf.errors import UserError, did_you_mean

# DATASET of `keras-rbf reproduce` -> "module:function" taking (dataset, argv).
REPRODUCERS: dict[str, str] = {
    "mnist": "keras_rbf.reports.classification:main",
    "fashion_mnist": "keras_rbf.reports.classification:main",
    "chest": "keras_rbf.reports.chest:main",
    "synthlesion": "keras_rbf.reports.segmentation:main",
    "isic2017": "keras_rbf.reports.segmentation:main",
}

# Zoo card "family" -> "module:function" taking (name, argv).
TRAINERS: dict[str, str] = {
    "cnn": "keras_rbf.recipes.cnn:main",
    "chest": "keras_rbf.recipes.chest:main",
    "segmentation": "keras_rbf.recipes.segmentation:main",
}

# Commands taking (argv) only.
COMMANDS: dict[str, str] = {
    "audit": "keras_rbf.audit:main",
    "bench": "keras_rbf.benchmarks:main",
    "export": "keras_rbf.export:main",
}

# Errors an expected user mistake raises; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    UserError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)

ZOO_USAGE = (
    "usage: keras-rbf zoo list | keras-rbf zoo card NAME | "
    "keras-rbf zoo publish RUN_DIR [--zoo-dir PATH]"
)


def _call(target: str, *args):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)(*args)


def _usage_error(what: str, name: str, known) -> int:
    print(
        f"keras-rbf: error: unknown {what} '{name}'; known: {', '.join(known)}."
        f"{did_you_mean(name, known)} See `keras-rbf --help`.",
        file=sys.stderr,
    )
    return 2


def _reproduce(rest: list[str]) -> int:
    if not rest or rest[0] in ("-h", "--help"):
        print(
            "usage: keras-rbf reproduce DATASET [options]\n\nDATASET: "
            + ", ".join(sorted(REPRODUCERS))
            + "\n`keras-rbf reproduce DATASET --help` lists its options."
        )
        return 0 if rest else 2
    if rest[0] not in REPRODUCERS:
        return _usage_error("data set", rest[0], sorted(REPRODUCERS))
    return _call(REPRODUCERS[rest[0]], rest[0], rest[1:]) or 0


def _train(rest: list[str]) -> int:
    from keras_rbf import zoo

    if not rest or rest[0] in ("-h", "--help"):
        print(
            "usage: keras-rbf train NAME [options]\n\nTrains zoo entry NAME with its "
            "family's recipe into runs/NAME (or --out-dir); `keras-rbf zoo publish "
            "RUN_DIR` copies a finished run into a source checkout's zoo.\n"
            "`keras-rbf train NAME --help` lists its options.\nNAME: " + ", ".join(zoo.list())
        )
        return 0 if rest else 2
    family = zoo.card(rest[0]).get("family")  # ZooError names the known models
    return _call(TRAINERS[family], rest[0], rest[1:]) or 0


def _zoo(rest: list[str]) -> int:
    from keras_rbf import zoo

    if rest in ([], ["list"]):
        print("\n".join(zoo.list()))
    elif rest[:1] in (["-h"], ["--help"]):
        print(ZOO_USAGE)
    elif rest[0] == "card" and len(rest) == 2:
        print(json.dumps({"card": zoo.card(rest[1]), "results": zoo.results(rest[1])}, indent=2))
    elif rest[0] == "publish":
        return _publish(rest[1:])
    else:
        raise UserError(f"bad arguments {' '.join(rest)!r}; {ZOO_USAGE}")
    return 0


def _publish(argv: list[str]) -> int:
    from keras_rbf.cli_args import ArgumentParser
    from keras_rbf.publish import publish

    parser = ArgumentParser(
        prog="keras-rbf zoo publish",
        description="Copy a finished `keras-rbf train` run (weights, "
        "sha256, measurements) into a source checkout's zoo.",
    )
    parser.add_argument("run_dir", help="the run folder, e.g. runs/cnn_mnist")
    parser.add_argument(
        "--zoo-dir",
        default=None,
        help="a source checkout's zoo/ (default ./zoo in a checkout); never an installed package",
    )
    args = parser.parse_args(argv)
    print(f"published {args.run_dir} into {publish(args.run_dir, args.zoo_dir)}")
    return 0


def _out_dirs(argv: list[str]) -> list[Path]:
    """Output folders a command may create: `--out-dir` and the defaults."""
    out = [Path(a.split("=", 1)[1]) for a in argv if a.startswith("--out-dir=")]
    out += [Path(b) for a, b in zip(argv, argv[1:]) if a == "--out-dir"]
    if argv[:1] == ["reproduce"] and len(argv) > 1:
        out.append(Path("reports") / argv[1])
    if argv[:1] == ["train"] and len(argv) > 1:
        out.append(Path("runs") / argv[1])
    return [p for p in out if not p.exists()]


def _remove_if_empty(paths: list[Path]) -> None:
    """Removes output folders that a failed command created and left empty."""
    for path in paths:
        if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            shutil.rmtree(path)


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "reproduce":
        return _reproduce(rest)
    if command == "train":
        return _train(rest)
    if command == "zoo":
        return _zoo(rest)
    if command in COMMANDS:
        return _call(COMMANDS[command], rest) or 0
    known = ["reproduce", "train", "zoo", *COMMANDS]
    return _usage_error("command", command, known)


def main(argv: list[str] | None = None) -> int:
    """Runs `keras-rbf ARGV`; returns the exit status (2 for an expected user error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    created = _out_dirs(argv)
    try:
        return _dispatch(argv)
    except USER_ERRORS as err:
        _remove_if_empty(created)
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"keras-rbf: error: {message}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # argparse: --help (0) or a bad flag (2, one line printed)
        if exit_.code:
            _remove_if_empty(created)
        return exit_.code if isinstance(exit_.code, int) else 2
    except KeyboardInterrupt:
        _remove_if_empty(created)
        print(
            "keras-rbf: interrupted; a training run resumes when the same command is run again",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
