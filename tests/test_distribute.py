"""tf.distribute: `keras_rbf.distribute` and training an RBF model under each strategy.

The two heavy tests train the same small RBF model (Dense -> rbf_block -> Dense, SGD,
4 steps x 2 epochs of a global batch of 16, no shuffling, identical initial weights)
- under MirroredStrategy over two logical CPU devices, and
- under MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1,
and compare the trained weights with a single-device run on the same global batch.
Synchronous data parallelism is the same SGD step up to float32 summation order, so the
weights must agree to WEIGHT_TOL while having moved far more than that from the start.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WEIGHT_TOL = 1e-5  # measured: 6e-8 for both strategies (float32, 8 SGD steps)
MIN_MOVE = 1e-2  # the weights must move much more than the tolerance
TIMEOUT_S = 240

# Run as `python worker.py MODE OUT.npz`; imported by the test for the reference run.
WORKER = r"""
import json, sys, time
import numpy as np

GLOBAL_BATCH, STEPS, EPOCHS = 16, 4, 2


def build():
    import keras
    from keras_rbf.layers import rbf_block

    inp = keras.Input((6,))
    x = keras.layers.Dense(8, activation="tanh")(inp)
    x = rbf_block(x, name="block")
    return keras.Model(inp, keras.layers.Dense(3)(x))


def data():
    rng = np.random.RandomState(1)
    x = rng.randn(GLOBAL_BATCH * STEPS, 6).astype("float32")
    y = (x[:, :3] @ rng.randn(3, 3)).argmax(-1).astype("int32")
    return x, y


def train(strategy, init):
    import keras

    with strategy.scope():
        model = build()
        model.set_weights(init)
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    x, y = data()
    hist = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False,
                     validation_data=(x[:32], y[:32]), verbose=0)
    logits = model.predict(x[:32], batch_size=GLOBAL_BATCH, verbose=0)
    return model.get_weights(), hist.history, logits


def initial_weights():
    import keras

    keras.utils.set_random_seed(0)
    return build().get_weights()  # built outside any strategy scope: same in every process


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    start = time.time()
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_rbf.distribute import get_strategy, is_chief

    # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs.
    strategy = get_strategy("multiworker" if mode == "multiworker" else "default")
    init = initial_weights()
    arrays = {f"init{i}": w for i, w in enumerate(init)}
    info = {}
    if mode == "mirrored":
        ref, info["ref_history"], ref_logits = train(strategy, init)
        arrays.update({f"ref{i}": w for i, w in enumerate(ref)}, ref_logits=ref_logits)
        strategy = get_strategy("mirrored")
    got, info["history"], logits = train(strategy, init)
    arrays.update({f"w{i}": w for i, w in enumerate(got)}, logits=logits)
    info.update(replicas=strategy.num_replicas_in_sync, chief=is_chief(strategy),
                seconds=time.time() - start)
    np.savez(out, **arrays)
    with open(out + ".json", "w") as fh:
        json.dump(info, fh)
"""


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",  # the comparison is on CPU devices, also on a GPU host
        KERAS_BACKEND="tensorflow",
    )
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _stack(npz, prefix: str) -> list[np.ndarray]:
    return [npz[f"{prefix}{i}"] for i in range(sum(k.startswith("init") for k in npz.files))]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b))
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run_all(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    """Waits for every process within TIMEOUT_S; kills all of them on any way out."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"workers still running after {TIMEOUT_S} s:\n" + _tails(logs))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    bad = [p.returncode for p in procs if p.returncode != 0]
    assert not bad, f"worker exit codes {[p.returncode for p in procs]}:\n" + _tails(logs)


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())


def _start(script: Path, mode: str, out: Path, log: Path, **env) -> subprocess.Popen:
    with open(log, "w") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(script), mode, str(out)],
            cwd=out.parent,
            env=_env(**env),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def _check_training(got, ref, init, what: str) -> float:
    diff = _max_diff(got, ref)
    moved = _max_diff(ref, init)
    assert moved > MIN_MOVE, f"reference weights barely moved ({moved}); test is vacuous"
    assert diff < WEIGHT_TOL, f"{what}: max |w - w_single| = {diff} >= {WEIGHT_TOL}"
    return diff


# ---------------------------------------------------------------- fast, in-process


def test_add_strategy_argument_parses_the_three_strategies():
    from keras_rbf.distribute import STRATEGIES, add_strategy_argument

    parser = add_strategy_argument(argparse.ArgumentParser())
    assert parser.parse_args([]).strategy == "default"
    for name in STRATEGIES:
        assert parser.parse_args(["--strategy", name]).strategy == name
    with pytest.raises(SystemExit):
        parser.parse_args(["--strategy", "tpu"])


def test_get_strategy_rejects_bad_names_and_configs(monkeypatch):
    import tensorflow as tf

    from keras_rbf.distribute import get_strategy, is_chief

    with pytest.raises(ValueError, match="Unknown strategy"):
        get_strategy("horovod")
    with pytest.raises(ValueError, match="devices"):
        get_strategy("default", devices=["/cpu:0"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        get_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid"):
        get_strategy("multiworker")
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}
        ),
    )
    with pytest.raises(ValueError, match="does not name an entry"):
        get_strategy("multiworker")
    default = get_strategy("default")
    assert default is tf.distribute.get_strategy() and default.num_replicas_in_sync == 1
    assert is_chief(default) and is_chief(None)


# ---------------------------------------------------------------- subprocess runs


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_single_device(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out, log = tmp_path / "mirrored.npz", tmp_path / "mirrored.log"
    _run_all([_start(script, "mirrored", out, log)], [log])
    res = np.load(out)
    info = json.loads(Path(str(out) + ".json").read_text())
    assert info["replicas"] == 2 and info["chief"]
    _check_training(_stack(res, "w"), _stack(res, "ref"), _stack(res, "init"), "mirrored")
    np.testing.assert_allclose(res["logits"], res["ref_logits"], atol=1e-4)
    np.testing.assert_allclose(info["history"]["loss"], info["ref_history"]["loss"], rtol=1e-5)


@pytest.mark.slow
def test_multiworker_two_workers_on_loopback_matches_single_device(tmp_path):
    import tensorflow as tf

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    for attempt in range(2):  # a free port can be taken between probing and binding
        cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
        start = time.monotonic()
        procs = []
        try:
            for i in range(2):
                config = {"cluster": cluster, "task": {"type": "worker", "index": i}}
                procs.append(
                    _start(script, "multiworker", outs[i], logs[i], TF_CONFIG=json.dumps(config))
                )
        except BaseException:
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        try:
            _run_all(procs, logs)  # kills every worker on any way out
            break
        except AssertionError:
            if attempt == 1 or "in use" not in _tails(logs).lower():
                raise
    wall = time.monotonic() - start
    results = [np.load(o) for o in outs]
    infos = [json.loads(Path(str(o) + ".json").read_text()) for o in outs]
    assert [i["replicas"] for i in infos] == [2, 2]
    assert [i["chief"] for i in infos] == [True, False]

    # The single-device reference, in this process, from the workers' own initial weights.
    spec = importlib.util.spec_from_file_location("rbf_dist_worker", script)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    init = _stack(results[0], "init")
    assert _max_diff(init, _stack(results[1], "init")) == 0.0
    ref, history, ref_logits = worker.train(tf.distribute.get_strategy(), init)

    diffs = [
        _check_training(_stack(r, "w"), ref, init, f"worker {i}") for i, r in enumerate(results)
    ]
    # Both workers hold the same (synchronized) weights and predictions.
    assert _max_diff(_stack(results[0], "w"), _stack(results[1], "w")) < WEIGHT_TOL
    for r in results:
        np.testing.assert_allclose(r["logits"], ref_logits, atol=1e-4)
    np.testing.assert_allclose(infos[0]["history"]["loss"], history["loss"], rtol=1e-5)
    print(
        f"two-worker MultiWorkerMirroredStrategy: wall {wall:.1f} s, "
        f"max |w - w_single| = {max(diffs):.2e} (tolerance {WEIGHT_TOL})"
    )
