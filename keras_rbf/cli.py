"""The `keras-rbf` command.

Sub-commands hand their remaining arguments to a `main(argv)` in the module that owns
the work, imported only when used (TensorFlow start-up is slow enough):

    keras-rbf reproduce DATASET [...]   reproduce the paper's tables for a data set
    keras-rbf train NAME [...]          train a zoo entry with its family's recipe
    keras-rbf export NAME_OR_PATH OUTDIR [...]
    keras-rbf bench [...]               the RBFMapping speed/memory benchmark
    keras-rbf zoo list | card NAME
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

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

COMMANDS: dict[str, str] = {
    "audit": "keras_rbf.audit:main",
    "bench": "keras_rbf.benchmarks:main",
    "export": "keras_rbf.export:main",
}


def _call(target: str, *args):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)(*args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="keras-rbf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["reproduce", "train", "zoo", *COMMANDS])
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    if args.command == "reproduce":
        if not rest or rest[0] not in REPRODUCERS:
            parser.error(f"reproduce needs a data set, one of: {', '.join(sorted(REPRODUCERS))}")
        return _call(REPRODUCERS[rest[0]], rest[0], rest[1:]) or 0
    if args.command == "train":
        from keras_rbf import zoo

        if not rest:
            parser.error(f"train needs a zoo model name, one of: {', '.join(zoo.list())}")
        family = zoo.card(rest[0]).get("family")
        if family not in TRAINERS:
            parser.error(f"no training recipe for family {family!r} of {rest[0]!r}")
        return _call(TRAINERS[family], rest[0], rest[1:]) or 0
    if args.command == "zoo":
        from keras_rbf import zoo

        if rest[:1] == ["list"] or not rest:
            print("\n".join(zoo.list()))
        elif rest[0] == "card" and len(rest) == 2:
            print(json.dumps(zoo.card(rest[1]), indent=2))
        else:
            parser.error("usage: keras-rbf zoo list | keras-rbf zoo card NAME")
        return 0
    return _call(COMMANDS[args.command], rest) or 0


if __name__ == "__main__":
    sys.exit(main())
