"""The model zoo: `list()`, `card(name)`, `load(name, weights=...)`.

Every entry is a folder `zoo/<name>/` in the repository (installed as the data package
`keras_rbf._zoo_files`) holding `card.json` and, once published, the weight file the
card names. A card is data::

    {
      "name": "cnn_rbf_mnist",
      "family": "cnn",                                   # training recipe to use
      "builder": "keras_rbf.models.cnn:build_cnn",        # module:function
      "builder_kwargs": {...},                           # arguments of the builder
      "dataset": {...}, "training": {"command": "...", ...},
      "weights": {"file": "...weights.h5", "sha256": "...", "url": "..." | null} | null,
      "metrics": {...}, "robustness": {...}
    }

Weights are resolved, for `weights="pretrained"`, from (1) the file shipped with the
package, (2) `$KERAS_RBF_WEIGHTS_DIR/<name>/<file>` or `$KERAS_RBF_WEIGHTS_DIR/<file>`,
(3) the user cache `$KERAS_RBF_HOME/<name>/<file>` (default `~/.keras/keras_rbf`), then
(4) the card's URL, downloaded into that cache with `keras.utils.get_file`. Whatever the
source, the file's sha256 must equal the card's before it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import keras

__all__ = ["list", "card", "load", "build", "zoo_dir", "sha256", "resolve_weights", "ZooError"]

_builtin_list = list


class ZooError(ValueError):
    """A zoo entry, card or weight file is unknown, missing or does not match."""


def zoo_dir() -> Path:
    """Folder holding one sub-folder per zoo entry (the repository's `zoo/`).

    Installed, `zoo/` is the data package `keras_rbf._zoo_files`; run from a source
    checkout without installing, it is the `zoo/` folder beside `keras_rbf/`.
    """
    try:
        return Path(str(resources.files("keras_rbf._zoo_files")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "zoo"


def _cards() -> dict[str, Path]:
    return {p.parent.name: p for p in sorted(zoo_dir().glob("*/card.json"))}


def list() -> _builtin_list[str]:  # noqa: A001 - the zoo's public verb, as in the issue
    """Names of all zoo entries, sorted."""
    return sorted(_cards())


def card(name: str) -> dict[str, Any]:
    """The model card of `name` as a dict (a fresh copy each call).

    Raises:
        ZooError: unknown name (the message lists the known names) or unreadable card.
    """
    cards = _cards()
    if name not in cards:
        raise ZooError(f"Unknown zoo model {name!r}. Known models: {', '.join(sorted(cards))}")
    try:
        return json.loads(cards[name].read_text())
    except json.JSONDecodeError as err:
        raise ZooError(f"Model card {cards[name]} is not valid JSON: {err}") from err


def card_path(name: str) -> Path:
    """Path of the card file of `name` (for the training scripts that update it)."""
    card(name)
    return _cards()[name]


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _import(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build(name: str, **overrides) -> keras.Model:
    """The architecture of zoo entry `name`, freshly initialized (no weights loaded).

    Args:
        name: zoo entry.
        **overrides: builder arguments replacing the card's `builder_kwargs`.
    """
    info = card(name)
    kwargs = {**info.get("builder_kwargs", {}), **overrides}
    return _import(info["builder"])(**kwargs)


def cache_dir() -> Path:
    """User cache of downloaded weights: `$KERAS_RBF_HOME` or `~/.keras/keras_rbf`."""
    return Path(os.environ.get("KERAS_RBF_HOME", Path.home() / ".keras" / "keras_rbf"))


def _no_weights_message(name: str, info: dict) -> str:
    training = info.get("training", {})
    how = training.get("command", f"keras-rbf train {name}")
    needs = info.get("weights_note", "")
    return (
        f"Zoo model {name!r} has no published weights. {needs}".rstrip()
        + f" To produce them, run `{how}`; then pass the file with "
        f"`keras_rbf.zoo.load({name!r}, weights='path/to/{name}.weights.h5')`, or put it "
        f"at $KERAS_RBF_WEIGHTS_DIR/{name}/{name}.weights.h5. "
        f"`weights=None` gives the untrained architecture."
    )


def resolve_weights(name: str, download: bool = True) -> Path:
    """Local path of the published, sha256-verified weight file of `name`.

    Args:
        name: zoo entry.
        download: whether to fall back to the card's URL.

    Raises:
        ZooError: the entry has no weights, none were found, or a file's sha256 differs
            from the card's (the file is then not used).
    """
    info = card(name)
    weights = info.get("weights")
    if not weights:
        raise ZooError(_no_weights_message(name, info))
    fname, expected = weights["file"], weights["sha256"]
    candidates = [zoo_dir() / name / fname]
    if os.environ.get("KERAS_RBF_WEIGHTS_DIR"):
        root = Path(os.environ["KERAS_RBF_WEIGHTS_DIR"])
        candidates += [root / name / fname, root / fname]
    candidates.append(cache_dir() / name / fname)
    for path in candidates:
        if path.is_file():
            actual = sha256(path)
            if actual != expected:
                raise ZooError(
                    f"Weight file {path} of zoo model {name!r} has sha256 {actual}, but its "
                    f"card says {expected}: the file is corrupt or was replaced. Delete it "
                    f"or retrain with `{info.get('training', {}).get('command', '')}`."
                )
            return path
    url = weights.get("url")
    if not (download and url):
        raise ZooError(
            f"Weight file {fname!r} of zoo model {name!r} not found; looked in: "
            + ", ".join(str(c) for c in candidates)
            + (". The card has no download URL." if not url else ". Downloads are off.")
        )
    target = cache_dir() / name
    target.mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=fname, origin=url, file_hash=expected, hash_algorithm="sha256",
            cache_dir=str(target), cache_subdir=".",
        )
    except Exception as err:  # get_file raises bare Exceptions on bad hashes and URLs
        raise ZooError(f"Could not fetch weights of {name!r} from {url}: {err}") from err
    if sha256(path) != expected:
        os.remove(path)
        raise ZooError(f"Downloaded weights of {name!r} from {url} fail the sha256 check")
    return Path(path)


def load(name: str, weights: str | os.PathLike | None = "pretrained", **overrides) -> keras.Model:
    """Builds zoo model `name` and loads its weights.

    Args:
        name: zoo entry (see `list()`).
        weights: "pretrained" (the card's sha256-verified file), None (fresh
            initialization) or a path to a `.weights.h5` file for this architecture.
        **overrides: builder arguments replacing the card's (only with `weights=None`
            or a path: published weights fit the card's architecture only).

    Returns:
        A `keras.Model` that outputs logits.

    Raises:
        ZooError: unknown name, missing or tampered weights, or weights of another
            architecture (the message names both).
    """
    info = card(name)
    if weights == "pretrained":
        if overrides:
            raise ZooError(
                f"Published weights of {name!r} fit the card's architecture only; "
                f"drop {sorted(overrides)} or pass weights=None"
            )
        path = resolve_weights(name)
    elif weights is None:
        path = None
    else:
        path = Path(weights)
        if not path.is_file():
            raise ZooError(f"Weight file {path} for zoo model {name!r} does not exist")
    model = build(name, **overrides)
    if path is not None:
        try:
            # Keras only warns when parts of a file do not match the model and leaves
            # those layers freshly initialized: treat any such warning as a mismatch.
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                model.load_weights(str(path))
        except Exception as err:  # Keras raises ValueError/KeyError/OSError variously
            raise ZooError(
                f"Weight file {path} does not fit zoo model {name!r} "
                f"(architecture {info['builder']} with {info.get('builder_kwargs', {})}): {err}"
            ) from err
    return model
