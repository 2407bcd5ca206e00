"""FAB-T against torchattacks' FAB on the very same Keras model (loaded under the torch
backend in a child process), its projections against the torch originals and against
independent float64 NumPy solvers, and the properties of its results.

torchattacks' `FAB(multi_targeted=True)` is AutoAttack's FAB-T (`n_target_classes` =
`n_classes - 1`, targets the 2nd..(n+1)-th clean logits). Its `perturb` computes the
final norm for Linf and L2 only (L1 raises), so the child runs its per-target
`attack_single_run_targeted` in `perturb`'s own loop (images broken within eps leave the
pool), recording each image's smallest norm over the targets; for Linf and L2 the fast
test checks that this loop and torchattacks' own `FAB(...)(x, y)` break the same images.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from attack_models import mnist_test, robust, trained_cnn

from keras_rbf.attacks import FABT, make
from keras_rbf.attacks.base import lp_norms
from keras_rbf.attacks.fab import (
    projection_l1,
    projection_l2,
    projection_linf,
    random_start,
)

PROJECTIONS = {"Linf": projection_linf, "L2": projection_l2, "L1": projection_l1}
# Radii at which this small CNN is neither robust nor broken everywhere.
EPS = {"Linf": 0.1, "L2": 1.5, "L1": 10.0}

# ---------------------------------------------------------------------------------------
# Projections


def _problems(n=48, dims=50, seed=0):
    """Hyperplanes `w . x = b` and points `t` in [0, 1]^dims covering every case: steps
    that saturate no coordinate, steps that saturate some, unreachable hyperplanes; points
    on either side; exact 0/1 pixels and zero weights (as on MNIST)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, (n, dims))
    t[: n // 2, :8] = 0.0  # half the rows with pixels at the bounds
    t[: n // 2, 8:12] = 1.0
    w = rng.normal(size=(n, dims)) * rng.uniform(0.2, 3.0, (n, 1))
    w[::3, 20:24] = 0.0
    # |w . t - b| = q R on a random side, R the most the box lets w . x move that way:
    # from a tiny move (q = 0.001) to planes out of reach (q > 1).
    side = rng.choice([-1.0, 1.0], n)
    room = np.where(side[:, None] * w > 0, t, 1 - t)
    q = np.geomspace(1e-3, 2.0, n)[rng.permutation(n)]
    b = (w * t).sum(1) - side * q * (np.abs(w) * room).sum(1)
    return t, w, b


def _side(t, w, b):
    """`(direction, room, c)`: each coordinate's direction towards the hyperplane, how far
    it can go inside the box, and `|w . t - b|`."""
    c = w @ t - b
    ws = np.sign(c if c != 0 else 1.0) * w
    direction = -np.sign(ws)
    room = np.where(ws > 0, t, 1 - t) * (ws != 0)
    return direction, room, abs(c)


def _ref_linf(t, w, b):
    """Bisection on the L-inf radius: `d_i = dir_i min(lam, room_i)` with `sum |w_i| min(lam,
    room_i) = |c|` (each coordinate moves as far as `lam` allows, towards the plane)."""
    direction, room, c = _side(t, w, b)
    reach = lambda lam: np.sum(np.abs(w) * np.minimum(lam, room))  # noqa: E731
    if reach(np.inf) < c:
        return direction * room, "unreachable"
    lo, hi = 0.0, room.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if reach(mid) < c else (lo, mid)
    d = direction * np.minimum(hi, room)
    return d, "saturating" if np.any((room < hi) & (w != 0)) else "interior"


def _ref_l2(t, w, b):
    """Bisection on the KKT multiplier: `x = clip(t - mu w, 0, 1)` on the plane."""
    direction, room, c = _side(t, w, b)
    if np.sum(np.abs(w) * room) < c:
        return direction * room, "unreachable"
    ws = -direction * np.abs(w)  # the normal pointing away from the plane
    reach = lambda mu: ws @ (t - np.clip(t - mu * ws, 0, 1))  # noqa: E731
    lo, hi = 0.0, np.max(room[w != 0] / np.abs(w[w != 0]))
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if reach(mid) < c else (lo, mid)
    d = np.clip(t - hi * ws, 0, 1) - t
    return d, "saturating" if np.any(np.isclose(np.abs(d), room) & (w != 0)) else "interior"


def _ref_l1(t, w, b):
    """A linear program (HiGHS): min sum |d| s.t. w . (t + d) = b, 0 <= t + d <= 1."""
    from scipy.optimize import linprog

    direction, room, c = _side(t, w, b)
    if np.sum(np.abs(w) * room) < c:
        return direction * room, "unreachable"
    n = len(t)
    res = linprog(
        np.ones(2 * n),
        A_eq=np.concatenate([w, -w])[None],
        b_eq=[b - w @ t],
        bounds=list(zip(np.zeros(n), 1 - t)) + list(zip(np.zeros(n), t)),
        method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    assert res.status == 0, res.message
    return res.x[:n] - res.x[n:], "solved"


REFERENCES = {"Linf": _ref_linf, "L2": _ref_l2, "L1": _ref_l1}


@pytest.mark.parametrize("norm", ["Linf", "L2", "L1"])
def test_projection_matches_an_independent_float64_solver(norm):
    t, w, b = _problems()
    refs = [REFERENCES[norm](*row) for row in zip(t, w, b)]
    ref = np.stack([d for d, _ in refs])
    cases = [case for _, case in refs]
    if norm != "L1":  # every branch of the port is exercised
        for case in ("interior", "saturating", "unreachable"):
            assert cases.count(case) >= 2, (case, cases)
    else:
        assert cases.count("unreachable") >= 2 and cases.count("solved") >= 20
    d64 = PROJECTIONS[norm](t, w, b).numpy()
    np.testing.assert_allclose(d64, ref, atol=1e-7)
    d32 = PROJECTIONS[norm](*(v.astype(np.float32) for v in (t, w, b))).numpy()
    np.testing.assert_allclose(d32, ref, atol=2e-4)
    # Feasible: inside the box, and on the plane wherever the plane can be reached.
    x = t + d64
    assert x.min() >= -1e-12 and x.max() <= 1 + 1e-12
    reached = np.array([case != "unreachable" for case in cases])
    np.testing.assert_allclose(((w * x).sum(1) - b)[reached], 0, atol=1e-8)
    # Minimal: no shorter step was found by the independent solver.
    ours, theirs = lp_norms(d64, norm), lp_norms(ref, norm)
    assert np.all(ours[reached] <= theirs[reached] * (1 + 1e-5) + 1e-7)


@pytest.mark.parametrize("norm", ["Linf", "L2", "L1"])
@pytest.mark.parametrize("dims", [50, 784])
def test_projection_matches_the_torch_original_in_float64(norm, dims):
    torch = pytest.importorskip("torch")
    tfab = pytest.importorskip("torchattacks.attacks.fab")
    t, w, b = _problems(n=64, dims=dims, seed=dims)
    original = getattr(tfab, f"projection_{norm.lower()}")
    theirs = original(torch.tensor(t), torch.tensor(w), torch.tensor(b)).numpy()
    np.testing.assert_allclose(PROJECTIONS[norm](t, w, b).numpy(), theirs, atol=1e-10)


def test_projection_of_a_point_on_the_plane_is_zero():
    rng = np.random.default_rng(1)
    t, w = rng.uniform(0.2, 0.8, (4, 30)), rng.normal(size=(4, 30))
    for project in PROJECTIONS.values():
        d = project(t, w, (w * t).sum(1)).numpy()
        np.testing.assert_allclose(d, 0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Against torchattacks on the same model

TORCH_CHILD = r"""
import json, sys, time
import numpy as np
import keras
import torch
import torchattacks

torch.set_num_threads(1)  # on a busy 2-core machine, 2 threads are ~10x slower
model_path, data_path, out_path, steps, n_targets, api, runs = sys.argv[1:8]
steps, n_targets, api, runs = int(steps), int(n_targets), api == "1", json.loads(runs)
model = keras.saving.load_model(model_path)
assert isinstance(model, torch.nn.Module)
data = np.load(data_path)
x, y = torch.tensor(data["x"]), torch.tensor(data["y"]).long()
out, seconds = {}, {}

def pred(v):
    return model(v).argmax(1)

for norm, eps in runs:
    def lp(v):
        v = v.reshape(len(v), -1)
        if norm == "Linf":
            return v.abs().max(1)[0]
        if norm == "L2":
            return (v ** 2).sum(-1).sqrt()
        return v.abs().sum(-1)

    # n_classes only sets n_target_classes (= n_classes - 1) in torchattacks' FAB.
    atk = torchattacks.FAB(model, norm=norm, eps=eps, steps=steps, n_restarts=1,
                           multi_targeted=True, n_classes=n_targets + 1)
    start = time.time()
    with torch.no_grad():  # torchattacks' perturb loop, keeping each image's min norm
        acc = pred(x) == y
        norms = torch.where(acc, torch.inf, 0.0)
        adv = x.clone()
        for target_class in range(2, n_targets + 2):
            atk.target_class = target_class
            idx = acc.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            cur = atk.attack_single_run_targeted(x[idx], y[idx], use_rand_start=False)
            mis = pred(cur) != y[idx]
            res = lp(cur - x[idx])
            better = mis & (res < norms[idx])
            norms[idx[better]] = res[better]
            ok = mis & (res <= eps)
            acc[idx[ok]] = False
            adv[idx[ok]] = cur[ok]
    seconds[norm] = time.time() - start
    out[norm + "_adv"], out[norm + "_norms"] = adv.numpy(), norms.numpy()
    if api and norm in ("Linf", "L2"):
        out[norm + "_adv_api"] = atk(x, y).detach().numpy()
np.savez(out_path, **out)
print(json.dumps(seconds))
"""


def _torchattacks_fab(
    run_python, read_last_json, tmp_path, model, x, y, runs, steps, n_targets, api
):
    """torchattacks' FAB-T on `model` (saved, reloaded under the torch backend)."""
    pytest.importorskip("torch")
    pytest.importorskip("torchattacks")
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    import json

    seconds = read_last_json(
        run_python(
            TORCH_CHILD,
            tmp_path / "model.keras",
            tmp_path / "data.npz",
            tmp_path / "out.npz",
            steps,
            n_targets,
            int(api),
            json.dumps(runs),
            cwd=tmp_path,
            timeout=900,
            KERAS_BACKEND="torch",
        )
    )
    return dict(np.load(tmp_path / "out.npz")), seconds


def _compare(model, x, y, norm, eps, ours, theirs_adv, theirs_norms, tol_robust=0.03):
    """Robust accuracy within `tol_robust`, median norm over the images both attacks broke
    (clean mistakes aside) within 5 %; returns the figures."""
    ours_robust = 1.0 - ours.broken.mean()
    theirs_robust = robust(model, theirs_adv, y).mean()
    both = np.isfinite(ours.norms) & np.isfinite(theirs_norms) & (ours.norms > 0)
    med_ours, med_theirs = np.median(ours.norms[both]), np.median(theirs_norms[both])
    figures = dict(
        norm=norm,
        n=len(x),
        eps=eps,
        robust_ours=round(float(ours_robust), 4),
        robust_torchattacks=round(float(theirs_robust), 4),
        median_ours=float(med_ours),
        median_torchattacks=float(med_theirs),
        both_found=int(both.sum()),
    )
    print(figures)
    assert abs(ours_robust - theirs_robust) <= tol_robust + 1e-9, figures
    assert abs(med_ours - med_theirs) <= 0.05 * med_theirs, figures
    # Per image too: the two runs follow the same trajectory up to float rounding.
    close = np.abs(ours.norms[both] - theirs_norms[both]) <= 0.01 * theirs_norms[both]
    assert close.mean() >= 0.9, (close.mean(), figures)
    assert both.sum() >= 0.5 * len(x), figures
    return figures


def test_fab_t_matches_torchattacks_fast(run_python, read_last_json, tmp_path):
    model = trained_cnn()
    x, y = mnist_test(40)
    steps, n_targets = 20, 3
    runs = [[norm, EPS[norm]] for norm in ("Linf", "L2", "L1")]
    out, _ = _torchattacks_fab(
        run_python, read_last_json, tmp_path, model, x, y, runs, steps, n_targets, api=True
    )
    for norm, eps in runs:
        # torchattacks' own FAB(...)(x, y) breaks the images its loop above breaks.
        if norm + "_adv_api" in out:
            np.testing.assert_array_equal(
                robust(model, out[norm + "_adv_api"], y), robust(model, out[norm + "_adv"], y)
            )
        ours = FABT(model, norm=norm, eps=eps, nb_iter=steps, n_target_classes=n_targets)
        result = ours.search(x, y)
        _compare(model, x, y, norm, eps, result, out[norm + "_adv"], out[norm + "_norms"])


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["Linf", "L2", "L1"])
def test_fab_t_matches_torchattacks(run_python, read_last_json, tmp_path, norm):
    """AutoAttack's FAB-T settings (100 steps, 9 targets) on 200 images."""
    model = trained_cnn()
    x, y = mnist_test(200)
    out, seconds = _torchattacks_fab(
        run_python, read_last_json, tmp_path, model, x, y, [[norm, EPS[norm]]], 100, 9, api=False
    )
    import time

    start = time.time()
    result = FABT(model, norm=norm, eps=EPS[norm]).search(x, y)
    print({"seconds_ours": time.time() - start, "seconds_torchattacks": seconds[norm]})
    _compare(model, x, y, norm, EPS[norm], result, out[norm + "_adv"], out[norm + "_norms"])


# ---------------------------------------------------------------------------------------
# Properties


@pytest.fixture(scope="module")
def setup():
    model = trained_cnn()
    x, y = mnist_test(30)
    return model, x, y


@pytest.mark.parametrize("norm", ["Linf", "L2", "L1"])
def test_results_are_consistent(setup, norm):
    model, x, y = setup
    eps = EPS[norm]
    attack = FABT(model, norm=norm, eps=eps, nb_iter=15, n_target_classes=2)
    r = attack.search(x, y)
    found = np.isfinite(r.norms)
    assert found.mean() > 0.5
    # norms are those of x_min; x_min is misclassified wherever something was found.
    np.testing.assert_allclose(lp_norms(r.x_min - x, norm)[found], r.norms[found], rtol=1e-6)
    assert not robust(model, r.x_min, y)[found].any()
    np.testing.assert_array_equal(r.x_min[~found], x[~found])
    assert r.x_min.min() >= 0 and r.x_min.max() <= 1
    # broken: misclassified within eps; the output is x_min there, the clean image elsewhere.
    np.testing.assert_array_equal(r.broken, found & (r.norms <= eps))
    np.testing.assert_array_equal(robust(model, r.x_adv, y), ~r.broken)
    np.testing.assert_array_equal(r.x_adv[r.broken], r.x_min[r.broken])
    np.testing.assert_array_equal(r.x_adv[~r.broken], x[~r.broken])
    assert np.all(lp_norms(r.x_adv - x, norm) <= eps * (1 + 1e-6))
    # generate, attack and min_norms are views of the same run.
    np.testing.assert_array_equal(attack.generate(x, y), r.x_adv)
    np.testing.assert_array_equal(attack.attack(x, y)[1], r.broken)
    np.testing.assert_array_equal(attack.min_norms(x, y), r.norms)


def test_clean_mistakes_count_at_norm_zero_and_are_not_attacked(setup):
    model, x, y = setup
    wrong = (y + 1) % 10  # every label wrong: nothing to attack
    r = FABT(model, eps=0.1, nb_iter=5).search(x, wrong)
    mistaken = robust(model, x, y)  # correct for y, so a mistake for `wrong`
    assert np.all(r.norms[mistaken] == 0) and np.all(r.broken[mistaken])
    np.testing.assert_array_equal(r.x_adv[mistaken], x[mistaken])


def test_later_targets_leave_images_broken_by_earlier_ones_alone(setup):
    model, x, y = setup
    few = FABT(model, norm="L2", eps=100.0, nb_iter=10, n_target_classes=1).min_norms(x, y)
    more = FABT(model, norm="L2", eps=100.0, nb_iter=10, n_target_classes=3).min_norms(x, y)
    # eps = 100 breaks every found image at the first target: later targets only run on
    # the rest, so the norms of the images found at the first target do not change.
    np.testing.assert_array_equal(more[np.isfinite(few)], few[np.isfinite(few)])
    assert np.isfinite(more).sum() >= np.isfinite(few).sum()


def test_batch_size_and_order_do_not_change_results(setup):
    model, x, y = setup
    settings = dict(norm="Linf", eps=0.08, nb_iter=10, n_target_classes=2, n_restarts=2)
    a = FABT(model, batch_size=7, **settings).search(x, y)
    b = FABT(model, batch_size=30, **settings).search(x, y)
    np.testing.assert_array_equal(a.broken, b.broken)
    np.testing.assert_allclose(a.norms, b.norms, rtol=1e-5)
    perm = np.random.default_rng(0).permutation(len(x))
    c = FABT(model, batch_size=30, **settings).search(x[perm], y[perm])
    np.testing.assert_array_equal(c.broken, b.broken[perm])


def test_restarts_after_the_first_start_at_random_points(setup):
    model, x, y = setup
    settings = dict(norm="L2", eps=1.0, nb_iter=10, n_target_classes=1)
    one = FABT(model, **settings).search(x, y)
    three = FABT(model, n_restarts=3, **settings).search(x, y)
    # The first restart is the deterministic run; later ones only add broken images.
    assert np.all(three.broken[one.broken])
    seeded = FABT(model, n_restarts=3, seed=5, **settings)
    np.testing.assert_array_equal(seeded.search(x, y).norms, seeded.search(x, y).norms)


@pytest.mark.parametrize("norm", ["Linf", "L2", "L1"])
def test_random_start_lies_at_half_eps(norm):
    x = np.full((5, 6, 6, 1), 0.5, np.float32)
    keys = np.arange(5)
    start = random_start(x, norm, 0.4, keys, 1)
    np.testing.assert_allclose(lp_norms(start - x, norm), 0.2, rtol=1e-5)
    assert not np.array_equal(start, random_start(x, norm, 0.4, keys, 2))
    np.testing.assert_array_equal(start, random_start(x, norm, 0.4, keys, 1))


def test_works_on_a_model_with_rbf_layers(small_rbf_model, randomize_rbf):
    import keras

    # Seeded: the conv and dense weights are random, and for some draws (seeds 0 and 1)
    # the random model's decision boundary lies outside [0, 1]^d near these images, so
    # no attack can find an adversarial image there.
    keras.utils.set_random_seed(3)
    model = randomize_rbf(small_rbf_model())
    x = np.random.default_rng(0).uniform(0, 1, (12, 8, 8, 3)).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)  # every image classified "correctly"
    r = FABT(model, norm="L2", eps=2.0, nb_iter=20, n_target_classes=3).search(x, y)
    found = np.isfinite(r.norms)
    assert found.mean() > 0.5
    assert np.all(np.asarray(model(r.x_min)).argmax(-1)[found] != y[found])
    np.testing.assert_array_equal(np.asarray(model(r.x_adv)).argmax(-1) != y, r.broken)


def test_loops_are_traced_once_per_model_and_settings(setup):
    model, x, y = setup
    attack = FABT(model, eps=0.1, nb_iter=3, n_target_classes=2)
    attack.search(x[:5], y[:5])
    from keras_rbf.attacks import base

    keys = [k for k in base._COMPILED[model] if k[0] == "fab-t" and k[2] == 3]
    before = [base._COMPILED[model][k].experimental_get_tracing_count() for k in keys]
    FABT(model, eps=0.05, nb_iter=3, n_target_classes=2).search(x[5:17], y[5:17])
    after = [base._COMPILED[model][k].experimental_get_tracing_count() for k in keys]
    assert before == after == [1]


def test_eps_defaults_to_autoattack_s_radius_per_norm():
    assert FABT(lambda t: t).settings["eps"] == 0.3
    assert FABT(lambda t: t, norm="L2").settings["eps"] == 1.0
    assert FABT(lambda t: t, norm="L1").eps == 5.0
    assert FABT(lambda t: t).replace(norm="L2").eps == 1.0
    assert isinstance(make("fab-t", lambda t: t, norm="L1", eps=8.0), FABT)
    assert FABT(lambda t: t).settings == {
        "eps": 0.3,
        "norm": "Linf",
        "n_target_classes": 9,
        "n_restarts": 1,
        "nb_iter": 100,
        "alpha_max": 0.1,
        "eta": 1.05,
        "beta": 0.9,
        "seed": 0,
    }


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"eps": 0}, "eps"),
        ({"eps": float("inf"), "norm": "L2"}, "eps"),
        ({"eps": 8}, r"eps must lie in \(0, 1\]"),
        ({"norm": "linf"}, "norm"),
        ({"norm": "L0"}, "norm"),
        ({"nb_iter": 0}, "nb_iter"),
        ({"n_restarts": 1.5}, "n_restarts"),
        ({"n_target_classes": 0}, "n_target_classes"),
        ({"alpha_max": 1.5}, "alpha_max"),
        ({"beta": 0.0}, "beta"),
        ({"eta": -1.0}, "eta"),
        ({"seed": 0.5}, "seed"),
        ({"steps": 3}, "unknown setting"),
    ],
)
def test_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        FABT(lambda t: t, **settings)


def test_too_many_target_classes_is_a_clear_error(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="n_target_classes"):
        FABT(model, eps=0.1, n_target_classes=10).generate(x[:2], y[:2])


def test_projection_is_compiled_inside_the_loop():
    # The projections run in graph mode with an unknown batch size (as in the loop).
    spec = tf.TensorSpec([None, 20], tf.float32)
    for project in PROJECTIONS.values():
        fn = tf.function(project, input_signature=[spec, spec, tf.TensorSpec([None], tf.float32)])
        t, w, b = _problems(n=6, dims=20)
        np.testing.assert_allclose(
            fn(*(v.astype(np.float32) for v in (t, w, b))).numpy(),
            project(t, w, b).numpy(),
            atol=1e-4,
        )
