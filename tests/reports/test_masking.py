"""The gradient-masking checklist on hand-built numbers: each check passes and fails."""

import numpy as np
import pytest

from keras_rbf.reports import masking


def _t1(acc, ok=None, components=None):
    return {
        "models": {"m": acc},
        "correct": {"m": ok or {}},
        "strong_components": {"m": components or {}},
    }


def _curves(last):
    return {"m": {"pgd": [[0.0, 0.3, 0.5], [0.9, 0.4, last]]}}


def _by_check(rows, words):
    return next(r for r in rows if words in r["check"])


def test_as_strong_allows_tol_and_no_more():
    assert masking.as_strong(0.50, 0.50)
    assert masking.as_strong(0.50 + masking.TOL - 1e-9, 0.50)
    assert not masking.as_strong(0.50 + masking.TOL + 1e-9, 0.50)


@pytest.mark.parametrize("acc, passed", [(0.0, True), (0.05, True), (0.2, False)])
def test_falls_to_zero(acc, passed):
    row = masking.falls_to_zero(acc, 0.5, model="m")
    assert row == {
        "model": "m",
        "check": "accuracy falls to ~0 as eps grows (PGD, eps 0.5)",
        "values": f"acc {acc:.3f} at eps 0.5",
        "pass": passed,
    }


@pytest.mark.parametrize("bim, passed", [(0.10, True), (0.31, True), (0.40, False)])
def test_iterative_at_least_as_strong_as_one_step(bim, passed):
    rows = masking.classification_checklist(_t1({"bim": bim, "fgsm": 0.30}), _curves(0.0), {})
    assert _by_check(rows, "iterative (BIM)")["pass"] is passed


def test_spsa_no_stronger_than_the_strong_suite_on_the_same_images():
    ok = {"spsa": np.ones(4, bool), "strong_linf_0.3": np.array([1, 0, 0, 0, 1, 1], bool)}
    # The strong suite keeps 1 of SPSA's 4 images (0.25): SPSA at 0.5 is weaker, passes.
    acc = {"spsa": 0.5, "strong_linf_0.3": 0.5}
    row = _by_check(masking.classification_checklist(_t1(acc, ok), _curves(0.0), {}), "SPSA")
    assert row["pass"] and "same 4 images" in row["check"] and "strong 0.3 0.250" in row["values"]
    acc["spsa"] = 0.1  # SPSA, gradient-free, breaks more than the gradient suite: masking
    row = _by_check(masking.classification_checklist(_t1(acc, ok), _curves(0.0), {}), "SPSA")
    assert not row["pass"]


@pytest.mark.parametrize("after, passed", [(0.49, True), (0.40, False)])
def test_square_breaks_no_more_than_tol_beyond_the_gradient_attacks(after, passed):
    comps = {"strong_linf_0.1": {"clean": 0.9, "apgd-ce": 0.5, "square": after}}
    ok = {"strong_linf_0.1": np.ones(10, bool)}
    rows = masking.classification_checklist(_t1({}, ok, comps), _curves(0.0), {})
    assert _by_check(rows, "(Square)")["pass"] is passed


def test_square_row_only_where_square_ran_after_a_gradient_attack():
    comps = {"strong_linf_0.1": {"clean": 0.9, "apgd-ce": 0.0}}
    rows = masking.classification_checklist(_t1({}, {}, comps), _curves(0.0), {})
    assert [r["check"] for r in rows] == ["accuracy falls to ~0 as eps grows (PGD, eps 0.5)"]


@pytest.mark.parametrize("white, passed", [(0.2, True), (0.6, False)])
def test_white_box_at_least_as_strong_as_transfer(white, passed):
    transfer = {"m": {"white_box": white, "transfer": 0.5}}
    rows = masking.classification_checklist(_t1({}), _curves(0.0), transfer)
    row = rows[-1]
    assert row["model"] == "m" and "transfer from ORIG" in row["check"]
    assert row["pass"] is passed


def _dice(v):
    return {"dice": {"mean": v}}


@pytest.mark.parametrize("dice30, passed", [(0.30, True), (0.51, True), (0.60, False)])
def test_segmentation_more_iterations_hurt_at_least_as_much(dice30, passed):
    table4 = {"U-Net": {"ORIG": {"10i": _dice(0.5), "30i": _dice(dice30)}}}
    table5 = {"30i": {"U-Net": {"U-Net": _dice(dice30)}}}
    rows = masking.segmentation_checklist(table4, table5, (10, 30), {("U-Net", "ORIG"): "U-Net"})
    assert len(rows) == 1  # a model with no other source has no transfer check
    assert rows[0]["check"].startswith("U-Net ORIG: Dice after 30i") and rows[0]["pass"] is passed


@pytest.mark.parametrize("transfer, passed", [(0.35, True), (0.1, False)])
def test_segmentation_white_box_at_least_as_strong_as_the_best_transfer(transfer, passed):
    label = {("U-Net", "ORIG"): "U-Net", ("U-Net", "PROP"): "U-PROP"}
    table4 = {"U-Net": {m: {"10i": _dice(0.5), "30i": _dice(0.3)} for m in ("ORIG", "PROP")}}
    matrix = {
        "U-Net": {"U-Net": _dice(0.3), "U-PROP": _dice(transfer)},
        "U-PROP": {"U-Net": _dice(0.9), "U-PROP": _dice(0.3)},
    }
    rows = masking.segmentation_checklist(table4, {"30i": matrix}, (10, 30), label)
    row = _by_check(rows, "U-PROP: white-box")
    assert row["pass"] is passed and f"transfer {transfer:.4f}" in row["values"]


def test_markdown_renders_model_column_only_when_rows_name_models():
    plain = [masking.row("c", "v", True), masking.row("d", "w", False)]
    assert masking.markdown(plain) == [
        "| check | values | result |",
        "|---|---|---|",
        "| c | v | pass |",
        "| d | w | **FAIL** |",
    ]
    named = masking.markdown([masking.row("c", "v", True, model="m")])
    assert named[:2] == ["| model | check | values | result |", "|---|---|---|---|"]
    assert named[2] == "| m | c | v | pass |"


# ------------------------------------------------------------------ AutoAttack's flags
def test_randomized_flag_fires_on_noise_and_not_on_repeats():
    rng = np.random.default_rng(0)
    out = rng.normal(size=(16, 10))
    assert masking.randomized_flag([out, out.copy(), out.copy()]) is None
    noisy = [out + rng.normal(scale=1e-3, size=out.shape) for _ in range(5)]
    f = masking.randomized_flag(noisy)
    assert f["flag"] == "randomized outputs" and "--suite rand" in f["reason"]
    # Just below AutoAttack's threshold after normalization: no flag.
    tiny = out + 1e-7 * np.sign(out)
    assert masking.randomized_flag([out, tiny]) is None


def test_probability_flag_needs_rows_that_sum_to_one():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(8, 5))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert masking.probability_flag(p)["flag"] == "probability outputs"
    assert masking.probability_flag(z) is None
    assert masking.probability_flag(p * 0.9) is None  # in [0, 1] but not summing to 1


def test_zero_gradient_flag_names_each_component():
    assert masking.zero_gradient_flag({"apgd-ce": (0, 100), "apgd-t": (0, 40)}) is None
    f = masking.zero_gradient_flag({"apgd-ce": (3, 100), "apgd-t": (0, 40)})
    assert f["detail"] == "apgd-ce: 3 of 100 images"


@pytest.mark.parametrize(
    "components, fires",
    [
        ({"clean": 0.99, "apgd-ce": 0.50, "apgd-t": 0.40, "square": 0.40}, False),
        ({"clean": 0.99, "apgd-ce": 0.50, "apgd-t": 0.40, "square": 0.3985}, False),
        ({"clean": 0.99, "apgd-ce": 0.50, "apgd-t": 0.40, "square": 0.39}, True),
        ({"clean": 0.99, "square": 0.39}, False),  # Square alone: nothing to compare
    ],
)
def test_square_flag_uses_autoattacks_threshold(components, fires):
    assert (masking.square_flag(components) is not None) == fires


def test_note_flags_and_markdown():
    notes = [
        "the model outputs probabilities; it was attacked through their logarithm",
        "apgd-t left out: it needs at least 4 classes, the model has 2",
        "fab-t runs 2 target classes (the model has 3 classes)",
    ]
    flags = masking.note_flags(notes)
    assert [f["flag"] for f in flags] == ["component left out", "suite cut"]
    md = masking.flags_markdown(flags)
    assert md[0].startswith("**Flags**") and "apgd-t left out" in md[2]
    assert masking.flags_markdown([]) == ["No flags: none of AutoAttack's checks fired."]
