"""The AutoAttack-style strong suite: per-example worst case, cumulative components,
probability models, and (slow) its agreement with ART's APGD-CE then APGD-DLR on the
zoo's MNIST models and an adversarially trained one."""

import os

import keras
import numpy as np
import pytest
from attack_models import (
    art_classifier,
    mnist,
    mnist_test,
    robust,
    small_cnn,
    trained_cnn,
)

from keras_rbf.attacks import APGD, PGD, StrongSuite, as_logits
from keras_rbf.attacks.base import lp_norms
from keras_rbf.attacks.suite import COMPONENTS, NORMS, components


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(80)
    return model, x, y


def _art_ce_then_dlr(model, x, y, eps, nb_iter=100):
    """Per-image robustness under ART's APGD-CE, then APGD-DLR on what stands (the
    reference of the issue: 100 iterations, one random start, eps_step = 2 eps)."""
    from art.attacks.evasion import AutoProjectedGradientDescent

    clf = art_classifier(model)
    standing = robust(model, x, y)
    for loss in ("cross_entropy", "difference_logits_ratio"):
        idx = np.flatnonzero(standing)
        if idx.size == 0:
            break
        attack = AutoProjectedGradientDescent(
            clf,
            norm=np.inf,
            eps=eps,
            eps_step=2 * eps,
            max_iter=nb_iter,
            nb_random_init=1,
            batch_size=500,
            loss_type=loss,
            verbose=False,
        )
        standing[idx] = robust(model, attack.generate(x[idx], y[idx]), y[idx])
    return standing


def _check_result(model, x, y, res, eps, names):
    assert list(res.components) == ["clean", *names]
    values = list(res.components.values())
    assert values == sorted(values, reverse=True)  # cumulative: never rises
    assert res.components["clean"] == pytest.approx(robust(model, x, y).mean())
    assert values[-1] == pytest.approx(res.robust.mean())
    # Every image counted broken is misclassified; every robust one is not.
    np.testing.assert_array_equal(robust(model, res.x_adv, y), res.robust)
    assert np.abs(res.x_adv - x).max() <= eps + 1e-6
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    assert set(res.broken_by[res.robust]) <= {""}
    assert set(res.broken_by[~res.robust]) <= {"clean", *names}
    for name in names:  # each component's share matches the images it broke
        before = values[list(res.components).index(name) - 1]
        assert np.sum(res.broken_by == name) == round((before - res.components[name]) * len(x))


def test_cpu_suite_is_at_most_art_and_consistent(setup):
    model, x, y = setup
    eps = 0.1
    res = StrongSuite(model, eps=eps).run(x, y)
    _check_result(model, x, y, res, eps, ["apgd-ce", "apgd-dlr", "square"])
    art = _art_ce_then_dlr(model, x, y, eps).mean()
    assert res.components["square"] <= art + 0.02, (res.components, art)
    assert abs(res.components["apgd-dlr"] - art) <= 0.06, (res.components, art)
    assert res.note == "" and res.notes == []
    assert list(res.seconds) == ["apgd-ce", "apgd-dlr", "square"]
    assert all(v >= 0 for v in res.seconds.values())


def test_standard_suite_runs_its_components_in_order(setup):
    model, x, y = setup
    x, y = x[:30], y[:30]
    suite = StrongSuite(model, eps=0.3, suite="standard")
    names = [c["name"] for c in suite.settings["components"]]
    assert names == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert suite.settings["components"][3]["n_queries"] == 5000
    res = suite.run(x, y)
    ran = [n for n in names if n in res.components]
    _check_result(model, x, y, res, 0.3, ran)
    assert all(f"{n} left out" in res.note for n in names if n not in ran)
    assert res.robust.mean() == 0.0  # eps 0.3 breaks this undefended model


def test_batch_size_does_not_change_the_suite(setup):
    model, x, y = setup
    x, y = x[:24], y[:24]
    a = StrongSuite(model, eps=0.08, batch_size=5).run(x, y)
    b = StrongSuite(model, eps=0.08, batch_size=24).run(x, y)
    np.testing.assert_array_equal(a.robust, b.robust)
    np.testing.assert_array_equal(a.broken_by, b.broken_by)
    assert a.components == b.components


def test_probability_models_are_attacked_through_their_log(setup):
    model, x, y = setup
    x, y = x[:30], y[:30]
    probs = keras.Sequential([model, keras.layers.Softmax()])
    fn, note = as_logits(probs, x[:8])
    assert "probabilities" in note and "logarithm" in note
    z = np.asarray(model(x))
    log_softmax = (
        z
        - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
        - z.max(1, keepdims=True)
    )
    np.testing.assert_allclose(np.asarray(fn(x)), log_softmax, atol=1e-4)
    assert as_logits(model, x[:8])[1] == ""
    res = StrongSuite(probs, eps=0.08).run(x, y)
    ref = StrongSuite(model, eps=0.08).run(x, y)
    assert "probabilities" in res.note
    assert abs(res.robust.mean() - ref.robust.mean()) <= 0.1
    with pytest.raises(ValueError, match="classes"):
        as_logits(lambda t: t[:, :1, 0, 0], x[:2])


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"eps": 0}, "eps"),
        ({"suite": "fast"}, "suite"),
        ({"norm": "L3"}, "norm"),
        ({"norm": "linf"}, "norm"),
        ({"eps": 1.5}, "eps"),
        ({"seed": 1.5}, "seed"),
        ({"n_queries": 10}, "unknown setting"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        StrongSuite(lambda t: t, **settings)


def test_suites_are_autoattacks():
    """The table is AutoAttack's set_version (autoattack/autoattack.py), norm by norm."""
    assert set(COMPONENTS) == {"cpu", "standard", "plus", "rand"}
    assert all(set(by_norm) == set(NORMS) for by_norm in COMPONENTS.values())
    assert [c.name for c in components("cpu")] == ["apgd-ce", "apgd-dlr", "square"]
    for norm in ("Linf", "L2"):
        std = {c.name: c.kwargs for c in components("standard", norm)}
        assert list(std) == ["apgd-ce", "apgd-t", "fab-t", "square"]
        assert std["apgd-t"]["n_target_classes"] == 9 and std["fab-t"]["n_target_classes"] == 9
        assert std["square"]["n_queries"] == 5000 and "n_restarts" not in std["apgd-ce"]
    l1 = {c.name: c.kwargs for c in components("standard", "L1")}
    assert l1["apgd-ce"] == {"nb_iter": 100, "n_restarts": 5, "use_largereps": True}
    assert l1["apgd-t"]["n_target_classes"] == 5 and l1["apgd-t"]["use_largereps"]
    assert [c.name for c in components("plus")] == [
        "apgd-ce",
        "apgd-dlr",
        "fab",
        "square",
        "apgd-t",
        "fab-t",
    ]
    assert all(c.kwargs["eot_iter"] == 20 for c in components("rand"))
    with pytest.raises(ValueError, match="unknown suite"):
        components("fast")
    with pytest.raises(ValueError, match="unknown norm"):
        components("cpu", "L0")


def test_lp_norms_match_numpy_linalg():
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(7, 4, 4, 3)).astype("float32")
    adv = rng.uniform(size=x.shape).astype("float32")
    d = (adv.astype(np.float64) - x).reshape(7, -1)
    for norm, order in (("Linf", np.inf), ("L2", 2), ("L1", 1)):
        np.testing.assert_allclose(
            lp_norms(d, norm, np.float64), np.linalg.norm(d, ord=order, axis=1), rtol=1e-12
        )


def test_images_outside_the_ball_are_not_counted(setup):
    """An attack returning images beyond eps (a bug) breaks nothing in the suite's count."""
    model, x, y = setup
    x, y = x[:20], y[:20]
    suite = StrongSuite(model, eps=0.05, suite="cpu")

    class Cheat:
        def generate(self, xs, ys):
            return np.clip(
                xs + 0.3 * np.sign(np.random.default_rng(0).normal(size=xs.shape)), 0, 1
            ).astype("float32")

    suite._stages = lambda *a: ([("cheat", Cheat())], [])
    res = suite.run(x, y)
    np.testing.assert_array_equal(res.robust, robust(model, x, y))
    assert "outside the Linf ball" in res.note


def test_binary_classifiers_get_the_stages_that_fit():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(12, 6, 6, 1)).astype("float32")
    y = np.argmax(np.asarray(model(x)), -1)
    res = StrongSuite(model, eps=0.2, suite="standard").run(x, y)
    assert list(res.components) == ["clean", "apgd-ce", "fab-t", "square"]
    assert "apgd-t left out" in res.note
    assert "fab-t runs 1 target classes (the model has 2 classes)" in res.note
    np.testing.assert_array_equal(robust(model, res.x_adv, y), res.robust)
    with pytest.raises(ValueError, match="3 classes"):
        APGD(model, eps=0.1, loss="dlr").generate(x, y)


def test_a_component_this_backend_cannot_run_is_left_out_and_said(monkeypatch):
    """FAB-T is TensorFlow code: on another backend the standard suite's stage list drops
    it with the attack's own one-line reason (which `note_flags` turns into a flag)."""
    from keras_rbf.attacks import FABT, Square
    from keras_rbf.attacks.base import AttackInputError
    from keras_rbf.reports.masking import note_flags

    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]
    )
    x = np.random.default_rng(0).uniform(size=(4, 6, 6, 1)).astype("float32")
    suite = StrongSuite(model, eps=0.2, suite="standard")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    stages, notes = suite._stages(model, model, x)
    assert [name for name, _ in stages] == ["apgd-ce", "apgd-t", "square"]
    assert [n for n in notes if n.startswith("fab-t left out: FABT runs on the tensorflow")]
    left_out = [f for f in note_flags(notes) if f["flag"] == "component left out"]
    assert [f["detail"].split(":")[0] for f in left_out] == ["fab-t left out"]
    with pytest.raises(AttackInputError, match="KERAS_BACKEND=tensorflow"):
        FABT(model, eps=0.2)
    Square(model, eps=0.2)  # keras.ops attacks build on any backend


# ------------------------------------------------------------------------------ slow
def _adversarially_trained_cnn():
    """A small CNN trained with PGD (Madry et al.), eps ramped to 0.3: a positive
    control where eps 0.3 leaves something for the attacks to find."""
    from keras_rbf.defenses.adversarial_training import adversarial_fit

    (x, y), _ = mnist()
    model = small_cnn(seed=1)
    model.compile(
        keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    epochs = 8
    adversarial_fit(
        model,
        x,
        y,
        PGD(model, eps=0.3, nb_iter=7, eps_iter=0.1, seed=None),
        epochs=epochs,
        batch_size=64,
        adversarial_fraction=1.0,
        eps_schedule=[0.1, 0.2] + [0.3] * (epochs - 2),
    )
    return model


@pytest.mark.slow
def test_suite_matches_art_on_zoo_and_adversarially_trained_models():
    """The issue's acceptance check: on 1,000 test images (KERAS_RBF_SLOW_N overrides),
    the suite's robust accuracy is at most ART's APGD-CE then APGD-DLR + 1 pp, and the
    suite's own APGD-CE then APGD-DLR part is within 1 pp of ART's either way.

    Ours counts an image broken at any iterate (AutoAttack's rule), ART only at the last,
    so ours may find a little more: measured on the PGD-trained control, 1,000 images,
    eps 0.3: ours 0.544, ART 0.548 (eps 0.1: 0.851 both); on 100 images ours was 4 pp
    below ART, hence the wider margin below ART at small n."""
    from keras_rbf import zoo

    n = int(os.environ.get("KERAS_RBF_SLOW_N", "1000"))
    above, below = (0.01, 0.01) if n >= 1000 else (0.03, 0.05)  # pp need 1,000 images
    x, y = mnist_test(n)
    models = {
        "cnn_mnist": zoo.load("cnn_mnist"),
        "cnn_rbf_mnist": zoo.load("cnn_rbf_mnist"),
        "pgd_trained": _adversarially_trained_cnn(),
    }
    rows = []
    for name, model in models.items():
        for eps in (0.1, 0.3):
            res = StrongSuite(model, eps=eps).run(x, y)
            art = _art_ce_then_dlr(model, x, y, eps).mean()
            rows.append((name, eps, res.components, art))
            print(name, eps, res.components, "ART CE+DLR", art)
            assert res.components["square"] <= art + above, rows[-1]
            assert art - below <= res.components["apgd-dlr"] <= art + above, rows[-1]
    # The positive control must keep something standing at eps 0.3.
    assert next(r for r in rows if r[0] == "pgd_trained" and r[1] == 0.3)[2]["square"] > 0.05


# ------------------------------------------------------------- norms, EOT, zero gradients
@pytest.mark.parametrize("norm, eps", [("L2", 1.5), ("L1", 10.0)])
def test_suite_under_l2_and_l1(setup, norm, eps):
    model, x, y = setup
    x, y = x[:24], y[:24]
    res = StrongSuite(model, eps=eps, norm=norm).run(x, y)
    ran = ["apgd-ce", "apgd-dlr", "square"] if norm == "L2" else ["apgd-ce", "apgd-dlr"]
    assert list(res.components) == ["clean", *ran]
    assert lp_norms(res.x_adv.astype(np.float64) - x, norm, np.float64).max() <= eps * (1 + 1e-5)
    np.testing.assert_array_equal(robust(model, res.x_adv, y), res.robust)
    if norm == "L1":
        assert "square left out: not implemented for L1" in res.note
    assert res.robust.mean() < res.components["clean"]  # the attacks found something


def test_eot_averages_identical_draws_to_the_same_attack(setup):
    """On a deterministic model, EOT's average of identical gradients is the gradient:
    eot_iter=3 must give exactly eot_iter=1's result."""
    model, x, y = setup
    x, y = x[:16], y[:16]
    a = APGD(model, eps=0.08, nb_iter=20).generate(x, y)
    b = APGD(model, eps=0.08, nb_iter=20, eot_iter=3).generate(x, y)
    np.testing.assert_array_equal(a, b)


def test_zero_gradients_are_counted_at_every_iterate(setup):
    import tensorflow as tf

    model, x, y = setup
    x, y = x[:16], y[:16]
    attack = APGD(model, eps=0.05, nb_iter=10)
    attack.generate(x, y)
    assert attack.zero_gradient_images == 0 and attack.images_attacked > 0

    def flat(t):  # the model's logits with an all-zero input gradient
        return tf.stop_gradient(model(t)) + 0.0 * tf.reduce_sum(t)

    attack = APGD(flat, eps=0.05, nb_iter=10)
    attack.generate(x, y)
    assert attack.zero_gradient_images == attack.images_attacked > 0
    res = StrongSuite(flat, eps=0.05).run(x, y)
    z, n = res.zero_gradients["apgd-ce"]
    assert z == n > 0


def test_rand_suite_and_randomized_flag_on_a_noisy_model(setup):
    import tensorflow as tf

    from keras_rbf.evaluate import output_flags

    model, x, y = setup
    x, y = x[:12], y[:12]

    def noisy(t):  # a randomized defense: Gaussian noise on the input at every call
        return model(tf.clip_by_value(t + tf.random.normal(tf.shape(t), stddev=0.05), 0, 1))

    assert [f["flag"] for f in output_flags(noisy, x)] == ["randomized outputs"]
    assert output_flags(model, x) == []
    suite = StrongSuite(noisy, eps=0.1, suite="rand")
    assert [c["eot_iter"] for c in suite.settings["components"]] == [20, 20]
    res = suite.run(x, y)
    assert list(res.components) == ["clean", "apgd-ce", "apgd-dlr"]
