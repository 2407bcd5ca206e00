"""Writing runs and zoo records: what `keras-rbf train`, `zoo publish` and `reproduce
--record-in` write, and the one rule they share: nothing is written into an installed
package.

A training run folder (`runs/<name>/` by default) holds the weights file, `card.json`
(the entry's card with this run's weights and settings) and `results.json` (this run's
measurements, each block stamped with command, package version, date and the weights'
sha256). `publish(run_dir, zoo_dir)` copies a run into a source checkout's `zoo/`:
weights, sha256 and measurements together, dropping every block measured on the
weights it replaces, so stale numbers never sit beside new weights.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import site
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from keras_rbf import zoo
from keras_rbf.errors import UserError

__all__ = [
    "stamp",
    "write_json",
    "inside_installed_package",
    "source_zoo_dir",
    "default_run_dir",
    "new_run_dir",
    "write_run",
    "publish",
    "record_results",
]


def stamp(command: str, weights_sha256: str | None = None) -> dict[str, Any]:
    """Provenance of a results block: command, package version, UTC date (and weights)."""
    from keras_rbf import __version__

    out = {
        "command": command,
        "package_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    if weights_sha256 is not None:
        out["weights_sha256"] = weights_sha256
    return out


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (a temporary file renamed over `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _site_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    dirs.update(site.getsitepackages())
    return [Path(d).resolve() for d in dirs]


def inside_installed_package(path: str | os.PathLike) -> bool:
    """Whether `path` lies inside site-packages (where an installed keras_rbf lives)."""
    path = Path(path).resolve()
    return any(path == d or d in path.parents for d in _site_dirs())


def source_zoo_dir(zoo_dir: str | os.PathLike | None) -> Path:
    """The zoo folder to write into: `zoo_dir`, or `./zoo` in a source checkout.

    Raises:
        UserError: no folder given outside a source checkout, or a folder inside an
            installed package.
    """
    if zoo_dir is None:
        here = Path.cwd()
        if not (
            (here / "setup.cfg").is_file()
            and (here / "keras_rbf").is_dir()
            and (here / "zoo").is_dir()
        ):
            raise UserError(
                "no zoo folder given and the current folder is not a keras-rbf "
                "source checkout; pass --zoo-dir PATH (a checkout's zoo/)"
            )
        zoo_dir = here / "zoo"
    zoo_dir = Path(zoo_dir)
    if inside_installed_package(zoo_dir):
        raise UserError(
            f"{zoo_dir} is inside an installed package; records go into a source "
            f"checkout's zoo/ (pass --zoo-dir PATH/TO/CHECKOUT/zoo)"
        )
    if not zoo_dir.is_dir():
        raise UserError(
            f"zoo folder {zoo_dir} does not exist; pass --zoo-dir with a checkout's zoo/ folder"
        )
    return zoo_dir


def default_run_dir(name: str, seed: int = 0) -> Path:
    """`runs/<name>` for seed 0, `runs/<name>-seed<k>` for another seed."""
    return Path("runs") / (name if seed == 0 else f"{name}-seed{seed}")


def new_run_dir(name: str, out_dir: str | os.PathLike | None, seed: int) -> Path:
    """The output folder of a training run, refusing to overwrite a finished run.

    Default `runs/<name>` (seed 0) or `runs/<name>-seed<k>`. A folder holding only an
    unfinished run (its `backup/`) is reused, so that the same command resumes.

    Raises:
        UserError: the folder already holds this run's weights, or is inside an
            installed package.
    """
    path = Path(out_dir) if out_dir else default_run_dir(name, seed)
    if inside_installed_package(path):
        raise UserError(
            f"--out-dir {path} is inside an installed package; choose a folder of your own"
        )
    weights = path / zoo.weights_filename(name, seed)
    if weights.exists():
        raise UserError(
            f"{path} already holds a finished run ({weights.name}); pass another "
            f"--out-dir or delete that folder"
        )
    return path


def write_run(run_dir: Path, info: dict, seed: int, model, training_block: dict) -> dict:
    """Writes a finished run: weights (no optimizer slots), `card.json`, `results.json`.

    Args:
        run_dir: the run's folder (see `new_run_dir`).
        info: the entry's card, with this run's `training` settings already merged.
        seed: the run's training seed.
        model: the trained model (its weights are saved through an uncompiled twin, so
            the file holds the model's weights only, not the optimizer's slots).
        training_block: measurements of this run (stamped here with the weights' sha256).

    Returns:
        The run's card as written.
    """
    name = info["name"]
    run_dir.mkdir(parents=True, exist_ok=True)
    weights_path = run_dir / zoo.weights_filename(name, seed)
    twin = zoo.build(name, **_overrides(info))
    twin.set_weights(model.get_weights())
    twin.save_weights(str(weights_path))
    digest = zoo.sha256(weights_path)
    info = {
        **info,
        "weights": {str(seed): {"file": weights_path.name, "sha256": digest, "url": None}},
    }
    info.pop("weights_note", None)
    write_json(run_dir / "card.json", info)
    block = {**training_block, "weights_sha256": digest}
    write_json(run_dir / "results.json", {"training": {str(seed): block}, "robustness": {}})
    return info


def _overrides(info: dict) -> dict:
    """Builder arguments of a run card that differ from the zoo card's."""
    published = zoo.card(info["name"]).get("builder_kwargs", {})
    return {k: v for k, v in info.get("builder_kwargs", {}).items() if published.get(k) != v}


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(
            f"cannot read {path} ({err}); is this a `keras-rbf train` run folder?"
        ) from None


def publish(run_dir: str | os.PathLike, zoo_dir: str | os.PathLike | None = None) -> Path:
    """Copies a finished training run into a source checkout's zoo.

    Weights, the card's weights entry (file and sha256 for the run's seed) and the run's
    training measurements are written together; every results block of that seed that
    was measured on other weights is dropped.

    Returns:
        The zoo entry's folder.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "card.json").is_file():
        raise UserError(
            f"{run_dir} is not a finished `keras-rbf train` run folder "
            f"(no card.json); train first, then publish that folder"
        )
    run_card, run_results = _read(run_dir / "card.json"), _read(run_dir / "results.json")
    target = source_zoo_dir(zoo_dir) / run_card["name"]
    ((seed, entry),) = run_card["weights"].items()
    source = zoo.check_weight_file(run_dir / entry["file"], entry["sha256"], f"run {run_dir}")
    target.mkdir(exist_ok=True)
    card_path, results_path = target / "card.json", target / "results.json"
    card = _read(card_path) if card_path.is_file() else {**run_card, "weights": {}}
    if seed == "0":
        card["training"] = run_card["training"]
    card["builder_kwargs"] = run_card["builder_kwargs"]
    card["weights"] = {**(card.get("weights") or {}), seed: entry}
    card.pop("weights_note", None)
    results = _read(results_path) if results_path.is_file() else {}
    results.setdefault("training", {})[seed] = run_results["training"][seed]
    results.setdefault("robustness", {}).pop(seed, None)
    shutil.copyfile(source, target / entry["file"])
    write_json(card_path, card)
    write_json(results_path, results)
    return target


def record_results(
    zoo_dir: str | os.PathLike | None, name: str, seed: int, kind: str, block: dict
) -> Path:
    """Records a measured block (e.g. a reproduce run's Table 1 row) for `name` and `seed`.

    The block must carry the `weights_sha256` it was measured on; it is refused when
    that is not the card's current weights for `seed`.
    """
    target = source_zoo_dir(zoo_dir) / name
    published = zoo.Card.from_dict(_read(target / "card.json"), str(target)).weights.get(int(seed))
    current = None if published is None else published.sha256
    if current is None or block.get("weights_sha256") != current:
        raise UserError(
            f"results for {name!r} seed {seed} were measured on weights "
            f"{block.get('weights_sha256')}, but {target} publishes {current}; "
            f"rerun on the published weights"
        )
    path = target / "results.json"
    results = _read(path) if path.is_file() else {}
    results.setdefault(kind, {})[str(seed)] = block
    write_json(path, results)
    return path
