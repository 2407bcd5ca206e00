"""The report's verdicts on hand-built tables: the AutoAttack agreement (the strong
verdict), the ADVT controls' verdict, and the claims; the published numbers they use."""

import configparser
import fnmatch
from pathlib import Path

import pytest

from keras_rbf import zoo
from keras_rbf.reports import references, verdicts
from keras_rbf.reports.zoo_records import advt_verdict

ROOT = Path(__file__).resolve().parents[2]


def _table(prop_acc, ci):
    return {"models": {"P": {"strong_linf_0.3": prop_acc}}, "ci95": {"P": {"strong_linf_0.3": ci}}}


@pytest.mark.parametrize(
    "acc, ci, agrees",
    [
        (0.01, [0.002, 0.05], True),  # within TOL of the published 0.00
        (0.05, [0.0, 0.12], True),  # above TOL, but the interval reaches 0.00
        (0.30, [0.25, 0.35], False),
    ],
)
def test_autoattack_agreement(acc, ci, agrees):
    v = verdicts.autoattack_agreement(_table(acc, ci), "P")
    assert v["agrees"] is agrees and v["ours"] == acc and v["ours_ci95"] == ci
    assert v["autoattack"] == 0.0 and v["source"].startswith("Croce & Hein 2020")


def test_autoattack_agreement_without_the_strong_suite():
    v = verdicts.autoattack_agreement({"models": {"P": {}}, "ci95": {"P": {}}}, "P")
    assert v["ours"] is None and v["agrees"] is None


def _rows(plain, rbf):
    return [
        {"model": "a", "role": "ADVT", "seed": 0, "rbf": False, "strong_linf_0.1": plain},
        {"model": "b", "role": "ADVT", "seed": 0, "rbf": True, "strong_linf_0.1": rbf},
    ]


def test_advt_verdict_control_target_and_rbf_effect():
    v = advt_verdict("fashion_mnist", _rows([0.65, [0.6, 0.7]], [0.8, [0.75, 0.85]]))
    assert v["key"] == "strong_linf_0.1" and v["control_passes"] is True
    assert v["rbf_effect"] == "adds robustness"
    v = advt_verdict("fashion_mnist", _rows([0.5, [0.45, 0.55]], [0.5, [0.45, 0.55]]))
    assert v["control_passes"] is False and v["rbf_effect"] == "no difference detected"
    # A data set without a target: the control is named but not judged.
    rows = [{**r, "strong_linf_0.3": r["strong_linf_0.1"]} for r in _rows([0.7, [0, 1]], None)]
    assert advt_verdict("other", rows[:1])["control_passes"] is None


def _report(orig, prop, checklist=(), dataset="mnist"):
    return {
        "dataset": dataset,
        "table1": {"models": {"O": orig, "P": prop}},
        "checklist": list(checklist),
    }


def test_claims_when_the_paper_is_reproduced_and_the_checks_pass():
    orig = {"clean": 0.99, "fgsm": 0.1, "pgd": 0.1, "strong_linf_0.3": 0.0}
    prop = {"clean": 0.99, "fgsm": 0.9, "pgd": 0.8, "strong_linf_0.3": 0.0}
    out = verdicts.claims(_report(orig, prop, [{"model": "P", "check": "c", "pass": True}]))
    assert out[0] == "Clean accuracy: PROP 0.9900 vs ORIG 0.9900 (no drop)."
    assert (
        out[1] == "PROP is more accurate than ORIG (by > 2 pp) under: fgsm, pgd; less "
        "accurate under: none."
    )
    assert out[2] == "Strong suite: 0.3: ORIG 0.000 / PROP 0.000."
    assert out[3] == "Gradient-masking checks: all pass."
    assert " are reproduced by this run" in out[4]


def test_claims_when_the_paper_is_not_reproduced_and_a_check_fails():
    orig = {"clean": 0.99, "fgsm": 0.3, "pgd": 0.2}
    prop = {"clean": 0.95, "fgsm": 0.5, "pgd": 0.1}  # below 0.8 x the paper's 0.8157
    fail = {"model": "P", "check": "iterative (BIM)", "pass": False}
    out = verdicts.claims(_report(orig, prop, [fail]))
    assert "(a drop of 4.0 pp)" in out[0]
    assert out[1].endswith("under: fgsm; less accurate under: pgd.")
    assert not any(c.startswith("Strong suite") for c in out)
    assert "failing: P: iterative (BIM)." in out[2]
    assert "not reproduced" in out[3]
    # The paper's numbers are MNIST's: no such claim on another data set.
    assert len(verdicts.claims(_report(orig, prop, [fail], "fashion_mnist"))) == 3


def test_claims_quote_the_seeds_spread_when_recorded():
    report = _report({"clean": 0.99}, {"clean": 0.98})
    spread = {"mean": 0.98, "sd": 0.001, "seeds": 3}
    report["recorded"] = {"summary": {"O": {"clean": spread}, "P": {"clean": spread}}}
    assert any("(3 seeds): PROP - ORIG = +0.0 pp" in c for c in verdicts.claims(report))


@pytest.mark.parametrize(
    "name", ["paper_table1", "paper_table2", "paper_table3", "autoattack_mnist"]
)
def test_references_are_data_with_a_source_and_install_with_the_zoo(name):
    ref = references.load(name)
    assert ref.source and ref.values
    path = zoo.zoo_dir() / "references" / f"{name}.json"
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    globs = cfg["options.package_data"]["keras_rbf._zoo_files"].replace(",", " ").split()
    relative = path.relative_to(zoo.zoo_dir()).as_posix()
    assert any(fnmatch.fnmatch(relative, g) for g in globs), "setup.cfg would not install it"


def test_reference_numbers_as_the_paper_prints_them():
    assert references.load("paper_table1").values["PROP"]["pgd"] == 0.8157
    assert references.load("paper_table2").values["ORIG"]["calinski_harabasz"] == 1658
    assert references.load("paper_table3").values["clean"]["PROP"] == 0.74
