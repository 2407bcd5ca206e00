"""The `keras-rbf` command.

usage:
    keras-rbf reproduce DATASET [...]    reproduce the paper's tables for a data set
    keras-rbf audit MODEL.keras [...]    the strong suite on any Keras classifier
    keras-rbf train NAME [...]           train a zoo entry into runs/NAME (never the package)
    keras-rbf zoo [list | card NAME | publish RUN_DIR [--zoo-dir PATH]]
    keras-rbf export NAME_OR_PATH OUTDIR [...]
    keras-rbf bench [...]                the RBFMapping speed benchmark

`keras-rbf COMMAND --help` describes each. The commands are argparse sub-parsers; the
options after `reproduce DATASET`, `train NAME`, `audit`, `export` and `bench` are
parsed by a `main(argv)` in the module that owns the work, imported only when used.
Every parser is a `cli_args.ArgumentParser`: one-line errors, no abbreviated flags, and
`--n-test`, `--out-dir`, `--batch-size` meaning the same in every command.

Errors are handled here, once: an expected user error (unknown name, missing data, bad
file or flag, existing output) prints one line, `keras-rbf COMMAND: error: ...`, and
exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from pathlib import Path

from keras_rbf.cli_args import ArgumentParser
from keras_rbf.errors import UserError

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
    "export": "keras_rbf.export:main",
    "bench": "keras_rbf.benchmarks:main",
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

# One line per command and data set in `keras-rbf --help` and `keras-rbf reproduce --help`.
HELP: dict[str, str] = {
    "reproduce": "reproduce the paper's tables for a data set",
    "train": "train a zoo entry into runs/NAME (never into the package)",
    "audit": "the strong suite and the gradient-masking checklist on any Keras classifier",
    "zoo": "list the zoo, show a card, publish a finished run into a checkout's zoo",
    "export": "a TF Serving SavedModel or an ONNX file of a zoo model",
    "bench": "the RBFMapping speed and memory benchmark",
}
DATASET_HELP: dict[str, str] = {
    "mnist": "Tables 1-2, Fig. 3, 4, 6 on MNIST",
    "fashion_mnist": "Tables 1-2, Fig. 3, 4, 6 on Fashion-MNIST",
    "chest": "Table 3 on ChestX-ray14 (needs --data-dir)",
    "synthlesion": "Tables 4-6, Fig. 5 on synthetic lesions",
    "isic2017": "Tables 4-6, Fig. 5 on ISIC 2017 (needs --data-dir)",
}
VOCABULARY = """\
Flags mean the same in every command that takes them:
  --n-test N        how many test images (the first N)
  --out-dir DIR     the output folder
  --batch-size B    the batch of the command's own work (training, attacks)
  --seed S          a random seed; each command's --help says what it seeds
Flags are never abbreviated."""


class _CommandParser(ArgumentParser):
    """A sub-command's parser; with `passthrough=True` it keeps every argument verbatim.

    A passthrough command's options are parsed by the `main(argv)` of the module that
    owns the work (in `args.argv`): its `--help` and errors name its real flags, and
    the module (reports, recipes, figures) is imported only when that command runs.
    """

    def __init__(self, *args, passthrough: bool = False, **kwargs) -> None:
        super().__init__(*args, add_help=not passthrough, **kwargs)
        self.passthrough = passthrough

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse's
        if not self.passthrough:
            namespace, extras = super().parse_known_args(args, namespace)
            if extras:  # else the top level reports them, naming its flags, not this one's
                self.error(f"unrecognized arguments: {' '.join(extras)}")
            return namespace, extras
        namespace, _ = super().parse_known_args([], namespace)  # sets the defaults (handler)
        namespace.argv = list(args or [])
        return namespace, []


def _call(target: str, *args) -> int:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)(*args) or 0


def _reproduce(args: argparse.Namespace) -> int:
    return _call(REPRODUCERS[args.dataset], args.dataset, args.argv)


def _train(args: argparse.Namespace) -> int:
    from keras_rbf import zoo

    family = zoo.card(args.name).get("family")  # ZooError names the known models
    return _call(TRAINERS[family], args.name, args.argv)


def _command(args: argparse.Namespace) -> int:
    return _call(COMMANDS[args.command], args.argv)


def _zoo_list(args: argparse.Namespace) -> int:
    from keras_rbf import zoo

    print("\n".join(zoo.list()))
    return 0


def _zoo_card(args: argparse.Namespace) -> int:
    from keras_rbf import zoo

    print(json.dumps({"card": zoo.card(args.name), "results": zoo.results(args.name)}, indent=2))
    return 0


def _zoo_publish(args: argparse.Namespace) -> int:
    from keras_rbf.publish import publish

    print(f"published {args.run_dir} into {publish(args.run_dir, args.zoo_dir)}")
    return 0


def _add_zoo(commands) -> None:
    """`keras-rbf zoo [list | card NAME | publish RUN_DIR [--zoo-dir PATH]]`."""
    parser = commands.add_parser(
        "zoo", help=HELP["zoo"], description="List the zoo, show a card, or publish a run."
    )
    parser.set_defaults(handler=_zoo_list)  # a bare `keras-rbf zoo` lists
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.add_parser("list", help="names of all zoo entries").set_defaults(handler=_zoo_list)
    card = verbs.add_parser("card", help="an entry's card and recorded results, as JSON")
    card.add_argument("name", metavar="NAME", help="a zoo entry (`keras-rbf zoo list`)")
    card.set_defaults(handler=_zoo_card)
    publish = verbs.add_parser(
        "publish",
        help="copy a finished run into a source checkout's zoo",
        description="Copy a finished `keras-rbf train` run (weights, "
        "sha256, measurements) into a source checkout's zoo.",
    )
    publish.add_argument("run_dir", help="the run folder, e.g. runs/cnn_mnist")
    publish.add_argument(
        "--zoo-dir",
        default=None,
        help="a source checkout's zoo/ (default ./zoo in a checkout); never an installed package",
    )
    publish.set_defaults(handler=_zoo_publish)


def build_parser() -> ArgumentParser:
    """The `keras-rbf` parser: a sub-parser per command, each setting its `handler`."""
    parser = ArgumentParser(
        prog="keras-rbf",
        description="The models, tables and audit of 'A Kernelized Manifold Mapping to\n"
        "Diminish the Effect of Adversarial Perturbations' (CVPR 2019).\n"
        "`keras-rbf COMMAND --help` describes each command.",
        epilog=VOCABULARY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )
    reproduce = commands.add_parser(
        "reproduce",
        help=HELP["reproduce"],
        description="Reproduce the paper's tables for a data set.",
        epilog=("`keras-rbf reproduce DATASET --help` lists its options."),
    )
    datasets = reproduce.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for name in REPRODUCERS:
        datasets.add_parser(name, help=DATASET_HELP[name], passthrough=True).set_defaults(
            handler=_reproduce
        )
    train = commands.add_parser(
        "train",
        help=HELP["train"],
        description="Trains zoo entry NAME with its family's recipe into runs/NAME (or "
        "--out-dir); `keras-rbf zoo publish RUN_DIR` copies a finished run into a source "
        "checkout's zoo.",
    )
    train.add_argument("name", metavar="NAME", help="a zoo entry (`keras-rbf zoo list`)")
    # The recipe parses the rest (`keras-rbf train NAME --help` lists it). REMAINDER
    # counts as required; none is a valid choice (the recipe's defaults).
    train.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="OPTIONS",
        help="see `keras-rbf train NAME --help`",
    ).required = False
    train.set_defaults(handler=_train)
    _add_zoo(commands)
    for name in COMMANDS:
        commands.add_parser(name, help=HELP[name], passthrough=True).set_defaults(handler=_command)
    return parser


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


def main(argv: list[str] | None = None) -> int:
    """Runs `keras-rbf ARGV`; returns the exit status (2 for an expected user error).

    The one place where errors are reported: sub-commands raise, they do not print.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    created = _out_dirs(argv)
    prog = "keras-rbf"
    try:
        args = build_parser().parse_args(argv)
        prog = f"keras-rbf {args.command}"
        return args.handler(args)
    except USER_ERRORS as err:
        _remove_if_empty(created)
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
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
