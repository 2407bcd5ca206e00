"""`keras-rbf bench` in quick mode: the structure of its output, never its timings."""

import json
import math
import re

import pytest

from keras_rbf import benchmarks


def test_quick_bench_prints_every_shape_with_ratios_floor_and_machine(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    assert benchmarks.main(["--quick", "--no-memory", "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert any(line.startswith("machine: ") and "cores" in line for line in lines)
    names = list(benchmarks.SHAPES)
    for name in names:  # one row per shape in each of the two tables
        assert sum(line.startswith(f"| {name} |") for line in lines) == 2, name
        assert f"{name} " in captured.err  # progress lines on stderr
    top = next(line for line in lines if line.startswith("| irv2_top | ("))
    # measured ratio beside its weight-only floor, e.g. "| 84.12x (80.03x) |"
    assert re.search(r"\| \d+\.\d\dx \(\d+\.\d\dx\) \|", top), top
    data = json.loads(out_json.read_text())
    assert [r["shape"] for r in data["rows"]] == names
    for row in data["rows"]:
        assert set(row["seconds"]) >= {"rbf", "dense", "weights", "gemm"}
        assert row["arithmetic_ratio"] > 1.0 and 0.0 < row["weight_only_share"]
        assert row["n"] * row["k"] == math.prod(row["input"])
    ranks = {len(r["input"]) for r in data["rows"]}
    assert ranks == {2, 4, 5}  # flat, 2D and 3D feature maps


def test_flop_counts_follow_the_matmul_shapes():
    # Large N, K = P = units: input-dependent arithmetic -> 16 N K^2 against Dense's 6 N K^2.
    n, k = 10**6, 64
    rbf_in, rbf_w = benchmarks.rbf_flops(n, k, k, k)
    assert abs(rbf_in / benchmarks.dense_flops(n, k, k) - 16 / 6) < 0.05
    assert rbf_w == 3 * (2 * k**3 + k**3 // 3 + k**3 + 2 * k**3 + 2 * k**3)
    # At the Inception top the weight-only part dominates.
    top_in, top_w = benchmarks.rbf_flops(32, 1536, 1536, 1536)
    assert top_w > 10 * top_in


def test_peak_memory_of_one_case_is_a_number():
    got = benchmarks.peak_memory("rbf", (2, 4, 4, 8))
    assert got["peak_mb"] >= 0.0


def test_the_attack_benchmark_is_its_own_module_behind_the_same_entry():
    pytest.importorskip("art")
    from evaluation import bench_attacks
    from keras_rbf import attack_benchmark

    assert bench_attacks.main is attack_benchmark.main
    args = attack_benchmark._parser().parse_args([])
    assert (args.against, args.model, args.n_test, args.eps, args.nb_iter) == (
        "torchattacks",
        None,  # defaults per reference, resolved in main
        None,
        None,
        100,
    )
    assert not hasattr(benchmarks, "attack_main")


@pytest.mark.slow
def test_standard_autoattack_comparison_runs_both_sides():
    """Both standard suites on a small model and 8 images: they agree on what stands."""
    pytest.importorskip("torchattacks")
    import keras

    from keras_rbf.autoattack_benchmark import compare
    from keras_rbf.evaluate import load_test_split

    x, y = load_test_split("mnist")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[5000:7000], y[5000:7000], epochs=2, verbose=0)
    r = compare(model, x[:8], y[:8], "Linf", 0.05)
    assert r["ours"]["seconds"] > 0 and r["torchattacks"]["seconds"] > 0
    assert abs(r["ours"]["robust"] - r["torchattacks"]["robust"]) <= 0.25
    assert list(r["ours"]["components"]) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
