"""The model zoo: `list()`, `card(name)`, `results(name)`, `find(...)`, `load(name)`.

Every entry is a folder `zoo/<name>/` of the repository (installed as the data package
`keras_rbf._zoo_files`). As RobustBench keeps a model's definition apart from what was
measured on it, an entry holds two files:

- `card.json`, what defines the model (written by people and by `keras-rbf zoo publish`)::

    {
      "name": "cnn_rbf_mnist",
      "family": "cnn",                                    # training recipe
      "role": "PROP",                                     # ORIG | PROP | ADVT | ABLATION
      "variant_of": "cnn_mnist",                          # the entry it modifies, or null
      "builder": "keras_rbf.models:build_cnn",             # module:function
      "builder_kwargs": {...},
      "dataset": {"name": "mnist", "kwargs": {...}, "description": "..."},
      "input": {"shape": [28, 28, 1], "range": [0.0, 1.0], "preprocessing": "..."},
      "training": {"command": "keras-rbf train ...", "epochs": 15, ...},
      "weights": {"0": {"file": "...weights.h5", "sha256": "...", "url": null}, ...} | null
    }

  `weights` maps each training seed to its file; `load(name)` gives seed 0.
- `results.json`, what was measured on those weights: `{"training": {seed: block},
  "robustness": {seed: block}}`, each block with the `command`, `package_version`,
  `date` and `weights_sha256` that produced it (`keras_rbf.publish` writes it).

Weights of `load(name, seed=k)` are looked up in (1) the package's zoo folder,
(2) `$KERAS_RBF_WEIGHTS_DIR/<name>/<file>` or `$KERAS_RBF_WEIGHTS_DIR/<file>`, (3) the
cache `$KERAS_RBF_HOME/<name>/<file>` (default `~/.keras/keras_rbf`), then (4) the
card's URL, downloaded into that cache. Whatever the source, a file is used only if it
is a readable HDF5 file whose sha256 equals the one expected.

Zoo models take images in the range their card's `input.range` states ([0, 1] for
every entry so far: pixel values divided by 255) and output logits.

`card(name)` returns the card as the plain dict it is on disk (what callers index with
`["training"]`, and print or write back as JSON); `entry(name)` returns the same card
as a typed, frozen `Card`, which the functions here use. Each public call reads the
card it needs once, from disk: nothing is cached between calls, so a card edited on
disk is seen by the next call.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from keras_rbf.errors import UserError, did_you_mean

__all__ = [
    "list",
    "card",
    "entry",
    "Card",
    "WeightFile",
    "results",
    "find",
    "seeds",
    "load",
    "build",
    "zoo_dir",
    "cache_dir",
    "sha256",
    "resolve_weights",
    "check_weight_file",
    "weights_filename",
    "ZooError",
]

_builtin_list = list
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ZooError(UserError):
    """A zoo entry, card or weight file is unknown, missing, corrupt or does not match."""


def zoo_dir() -> Path:
    """Folder holding one sub-folder per zoo entry (the repository's `zoo/`).

    Installed, `zoo/` is the data package `keras_rbf._zoo_files`; run from a source
    checkout without installing, it is the `zoo/` folder beside `keras_rbf/`.
    """
    try:
        return Path(str(resources.files("keras_rbf._zoo_files")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "zoo"


def _card_paths() -> dict[str, Path]:
    return {p.parent.name: p for p in sorted(zoo_dir().glob("*/card.json"))}


def list() -> _builtin_list[str]:  # noqa: A001 - RobustBench's and keras-hub's verb
    """Names of all zoo entries, sorted."""
    return sorted(_card_paths())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ZooError(
            f"{path} is not valid JSON ({err}); restore it from the repository"
        ) from None


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One published weight file of a card: its name, sha256 and download URL (or None)."""

    file: str
    sha256: str
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Card:
    """A zoo card, typed: what the model is, how it was trained, which weights it has.

    Built by `Card.from_dict` from the JSON of `card.json` (the module docstring shows
    one). The dict-valued fields are the card's own sub-objects; treat them as read-only
    (`to_dict()` gives a copy to change).

    Attributes:
        name, family, role, variant_of, builder: the card's top-level values.
        builder_kwargs: the builder's arguments.
        dataset: `{"name", "kwargs", "description"}`.
        input: `{"shape", "range", "preprocessing"}`.
        training: the recipe's settings (`command`, `epochs`, ...).
        weights: published weight files by training seed; empty when none are.
        weights_note: why there are no weights and how to produce them, or "".
        raw: the card exactly as read (with the fields not typed here).
    """

    name: str
    family: str
    role: str
    builder: str
    variant_of: str | None = None
    builder_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset: dict[str, Any] = dataclasses.field(default_factory=dict)
    input: dict[str, Any] = dataclasses.field(default_factory=dict)
    training: dict[str, Any] = dataclasses.field(default_factory=dict)
    weights: dict[int, WeightFile] = dataclasses.field(default_factory=dict)
    weights_note: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "a card") -> Card:
        """The `Card` of a card's JSON object (`"weights": null` reads as no weights).

        Args:
            data: the parsed `card.json` (a zoo card or a `keras-rbf train` run record).
            source: how error messages name where `data` came from (e.g. its path).

        Raises:
            ZooError: a required key (name, family, role, builder) is missing, or a
                weights entry lacks its file or sha256.
        """
        missing = [key for key in ("name", "family", "role", "builder") if key not in data]
        if missing:
            raise ZooError(f"{source} lacks {', '.join(missing)}; restore it from the repository")
        try:
            weights = {
                int(seed): WeightFile(w["file"], w["sha256"], w.get("url"))
                for seed, w in (data.get("weights") or {}).items()
            }
        except (KeyError, TypeError, ValueError) as err:
            raise ZooError(f"{source} has a malformed weights entry ({err!r})") from None
        typed = {f.name for f in dataclasses.fields(cls)} - {"weights", "raw"}
        fields = {key: value for key, value in data.items() if key in typed}
        fields["weights_note"] = data.get("weights_note") or ""
        return cls(**fields, weights=weights, raw=data)

    @property
    def dataset_name(self) -> str | None:
        """The name of the card's data set (`datasets.load`'s first argument)."""
        return self.dataset.get("name")

    @property
    def seeds(self) -> _builtin_list[int]:
        """Training seeds with published weights, sorted (empty if none)."""
        return sorted(self.weights)

    def to_dict(self) -> dict[str, Any]:
        """The card as read from disk, a deep copy the caller may change."""
        return copy.deepcopy(self.raw)


def _read_card(path: Path) -> Card:
    return Card.from_dict(_read_json(path), source=str(path))


def entry(name: str) -> Card:
    """The card of `name` as a typed `Card`, read from disk now.

    Raises:
        ZooError: unknown name (the message lists the known names) or unreadable card.
    """
    paths = _card_paths()
    if name not in paths:
        raise ZooError(
            f"Unknown zoo model {name!r}.{did_you_mean(name, paths)} "
            f"Known models: {', '.join(sorted(paths))}"
        )
    return _read_card(paths[name])


def card(name: str) -> dict[str, Any]:
    """The model card (definition) of `name` as a dict (a fresh copy each call).

    A dict, not a `Card`, because callers index it as the JSON it is (`["training"]`)
    and print or write it back; `entry(name)` gives the typed view.

    Raises:
        ZooError: unknown name (the message lists the known names) or unreadable card.
    """
    return entry(name).to_dict()


def results(name: str) -> dict[str, Any]:
    """What was measured on `name`'s published weights (`results.json`), or `{}`.

    Only blocks measured on the weights the card publishes now are returned: a block
    whose `weights_sha256` differs from the card's for its seed is dropped as stale.
    """
    info = entry(name)
    path = zoo_dir() / name / "results.json"
    if not path.is_file():
        return {}
    out = _read_json(path)
    current = {str(seed): w.sha256 for seed, w in info.weights.items()}
    for kind in ("training", "robustness"):
        blocks = out.get(kind, {})
        out[kind] = {s: b for s, b in blocks.items() if current.get(s) == b.get("weights_sha256")}
    out["across_seeds"] = across_seeds(out)
    return out


def across_seeds(results: dict[str, Any]) -> dict[str, Any]:
    """Mean and sample sd over seeds of each accuracy the results blocks record.

    Computed when read, from the blocks of the current weights, so it is never stale.

    Returns:
        `{"clean_test_accuracy": {"mean", "sd", "seeds"}, "robustness": {key: {...}}}`;
        `sd` is None for a single seed; keys measured on no seed are absent.
    """

    def stats(values: list[float]) -> dict[str, Any]:
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else None
        return {"mean": mean, "sd": None if var is None else var**0.5, "seeds": len(values)}

    out: dict[str, Any] = {}
    clean = [b["clean_test_accuracy"] for b in results.get("training", {}).values()
             if "clean_test_accuracy" in b]  # fmt: skip
    if clean:
        out["clean_test_accuracy"] = stats(clean)
    keys: dict[str, list[float]] = {}
    for block in results.get("robustness", {}).values():
        for key, value in (block.get("accuracy") or {}).items():
            keys.setdefault(key, []).append(value)
    if keys:
        out["robustness"] = {key: stats(values) for key, values in keys.items()}
    return out


def find(**criteria: Any) -> _builtin_list[str]:
    """Names of the entries whose cards match every criterion, sorted.

    `dataset=` matches the card's data set name; any other key matches the card's
    top-level value, e.g. `find(dataset="mnist", family="cnn", role="PROP")`.
    """
    out = []
    for name, path in _card_paths().items():
        info = _read_card(path)
        values = {**info.raw, "dataset": info.dataset_name}
        if all(values.get(key) == value for key, value in criteria.items()):
            out.append(name)
    return out


def seeds(name: str) -> _builtin_list[int]:
    """Training seeds with published weights for `name` (empty if none)."""
    return entry(name).seeds


def weights_filename(name: str, seed: int = 0) -> str:
    """File name of the weights of `name` trained with `seed` (seed 0 has no suffix)."""
    return f"{name}.weights.h5" if seed == 0 else f"{name}.seed{seed}.weights.h5"


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


def build(name: str, **overrides):
    """The architecture of zoo entry `name`, freshly initialized (no weights loaded).

    Args:
        name: zoo entry.
        **overrides: builder arguments replacing the card's `builder_kwargs`.

    Returns:
        A `keras.Model` that outputs logits.
    """
    return _build(entry(name), overrides)


def _build(info: Card, overrides: dict[str, Any]):
    return _import(info.builder)(**{**info.builder_kwargs, **overrides})


def cache_dir() -> Path:
    """User cache of downloaded weights: `$KERAS_RBF_HOME` or `~/.keras/keras_rbf`."""
    return Path(os.environ.get("KERAS_RBF_HOME", Path.home() / ".keras" / "keras_rbf"))


def check_weight_file(path: str | os.PathLike, expected_sha256: str | None, what: str) -> Path:
    """Refuses a weight file that is empty, not HDF5, unreadable, or of another sha256.

    Args:
        path: the file.
        expected_sha256: hex digest it must have; None skips that comparison.
        what: how messages name the file's purpose (e.g. "zoo model 'cnn_mnist' seed 0").

    Returns:
        `path` as a `Path`.

    Raises:
        ZooError: the file is missing, corrupt (empty, truncated, not HDF5) or its
            sha256 differs from `expected_sha256`.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"Weight file {path} for {what} does not exist")
    fix = "delete it and download or retrain it"
    if path.stat().st_size == 0:
        raise ZooError(f"Weight file {path} for {what} is empty (0 bytes): corrupt; {fix}")
    with open(path, "rb") as fh:
        if fh.read(8) != _HDF5_SIGNATURE:
            raise ZooError(
                f"Weight file {path} for {what} is not an HDF5 .weights.h5 file "
                f"(corrupt or another format); {fix}"
            )
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as err:
        raise ZooError(
            f"Weight file {path} for {what} is corrupt or truncated ({err}); {fix}"
        ) from None
    if expected_sha256 is not None:
        actual = sha256(path)
        if actual != expected_sha256:
            raise ZooError(
                f"Weight file {path} for {what} has sha256 {actual}, expected "
                f"{expected_sha256}: the file is corrupt or was replaced; {fix}"
            )
    return path


def _weight_file(info: Card, seed: int) -> WeightFile:
    name = info.name
    if not info.weights:
        how = info.training.get("command", f"keras-rbf train {name}")
        raise ZooError(
            f"Zoo model {name!r} has no published weights. {info.weights_note}"
            f" To produce them, run `{how}` and load the result with "
            f"keras_rbf.zoo.load({name!r}, weights='runs/{name}/{name}.weights.h5'); "
            f"weights=None gives the untrained architecture.".replace(".  ", ". ")
        )
    if seed not in info.weights:
        raise ZooError(
            f"Zoo model {name!r} has no weights for seed {seed}; published "
            f"seeds: {', '.join(str(s) for s in info.seeds)}"
        )
    return info.weights[seed]


def resolve_weights(name: str, seed: int = 0, download: bool = True) -> Path:
    """Local path of the published, sha256-verified weight file of `name` and `seed`.

    Args:
        name: zoo entry.
        seed: training seed (see `seeds(name)`).
        download: whether to fall back to the card's URL.

    Raises:
        ZooError: no such weights, none found, or a file that fails `check_weight_file`.
    """
    return _resolve(entry(name), seed, download)


def _resolve(info: Card, seed: int, download: bool = True) -> Path:
    name, published = info.name, _weight_file(info, seed)
    fname, expected, url = published.file, published.sha256, published.url
    what = f"zoo model {name!r} seed {seed}"
    candidates = [zoo_dir() / name / fname]
    if os.environ.get("KERAS_RBF_WEIGHTS_DIR"):
        root = Path(os.environ["KERAS_RBF_WEIGHTS_DIR"])
        candidates += [root / name / fname, root / fname]
    candidates.append(cache_dir() / name / fname)
    for path in candidates:
        if path.is_file():
            return check_weight_file(path, expected, what)
    if not (download and url):
        raise ZooError(
            f"Weight file {fname!r} of {what} not found; looked in: "
            + ", ".join(str(c) for c in candidates)
            + (". The card has no download URL." if not url else ". Downloads are off.")
        )
    return _download(url, fname, expected, cache_dir() / name, what)


def _download(url: str, fname: str, expected: str, target: Path, what: str) -> Path:
    import keras

    target.mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=fname,
            origin=url,
            file_hash=expected,
            hash_algorithm="sha256",
            cache_dir=str(target),
            cache_subdir=".",
        )
    except Exception as err:  # get_file raises bare Exceptions on bad hashes and URLs
        raise ZooError(f"Could not fetch weights of {what} from {url}: {err}") from err
    try:
        return check_weight_file(path, expected, what)
    except ZooError:
        os.remove(path)
        raise


def _expected_for_path(info: Card, path: Path, seed: int) -> str:
    """sha256 a user-given weight file must have: the run record beside it (a
    `keras-rbf train` output folder), else the zoo card's for `seed`."""
    record = path.parent / "card.json"
    if record.is_file():
        for published in _read_card(record).weights.values():
            if published.file == path.name:
                return published.sha256
    if seed in info.weights:
        return info.weights[seed].sha256
    raise ZooError(
        f"No sha256 is known for weight file {path} of {info.name!r}: pass sha256='<hex>' "
        f"(e.g. from `sha256sum`), load it from its `keras-rbf train` run folder, or pass "
        f"verify=False to skip the check"
    )


def load(
    name: str,
    weights: str | os.PathLike | None = "pretrained",
    seed: int = 0,
    sha256: str | None = None,  # noqa: F811 - the argument's natural name
    verify: bool = True,
    **overrides,
):
    """Builds zoo model `name` and loads its weights.

    Args:
        name: zoo entry (see `list()`).
        weights: "pretrained" (the card's file for `seed`), None (fresh initialization)
            or a path to a `.weights.h5` file for this architecture.
        seed: which published training seed to load (see `seeds(name)`).
        sha256: the expected hex digest of a `weights` path; by default the digest
            recorded beside it by `keras-rbf train`, else the card's for `seed`.
        verify: False skips the sha256 comparison of a `weights` path (the file must
            still be a readable weight file of this architecture).
        **overrides: builder arguments replacing the card's (only with `weights=None`
            or a path: published weights fit the card's architecture only).

    Returns:
        A `keras.Model` mapping images in the card's `input.range` to logits.

    Raises:
        ZooError: unknown name, missing, corrupt or tampered weights, or weights of
            another architecture (the message names both).
    """
    info = entry(name)  # read once; everything below works from this Card
    if weights == "pretrained":
        if overrides:
            raise ZooError(
                f"Published weights of {name!r} fit the card's architecture only; "
                f"drop {sorted(overrides)} or pass weights=None"
            )
        path = _resolve(info, seed)
    elif weights is None:
        path = None
    else:
        path = Path(weights)
        expected = (
            sha256
            if sha256 is not None
            else (_expected_for_path(info, path, seed) if verify else None)
        )
        check_weight_file(path, expected, f"zoo model {name!r}")
    model = _build(info, overrides)
    if path is not None:
        _load_into(model, path, info)
    return model


def _load_into(model, path: Path, info: Card) -> None:
    try:
        # Keras only warns when parts of a file do not match the model and leaves
        # those layers freshly initialized: treat any such warning as a mismatch.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            model.load_weights(str(path))
    except Exception as err:  # Keras raises ValueError/KeyError/OSError variously
        raise ZooError(
            f"Weight file {path} does not fit zoo model {info.name!r} "
            f"(architecture {info.builder} with {info.builder_kwargs}): {err}"
        ) from err
