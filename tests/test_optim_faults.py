"""Training faults keep their promise: NonFiniteLossError with the last finite params,
whatever inside the model noticed; a diverging loss is stopped; callbacks get snapshots."""
import numpy as np
import pytest

import tinygen
from tinygen import flows
from tinygen._validate import NonFiniteError, value_of
from tinygen.arm import MADE
from tinygen.optim import SGD, LossDivergedError, NonFiniteLossError, fit, minimize
from tinygen.tree import flatten as tree_flatten
from tinygen.vae import VAE

X3 = np.random.default_rng(0).normal(size=(256, 3))

FAULTY = {  # model, data, a learning rate at which plain SGD overflows within a few steps
    "maf": (flows.MAF(3, n_layers=2, hidden=(16,)), X3, 1e3),
    "elementwise_affine": (flows.FlowModel(flows.ElementwiseAffine(3)), X3, 1e3),
    "actnorm": (flows.FlowModel(flows.ActNorm(3)), X3, 1e3),
    "lu_linear": (flows.FlowModel(flows.LULinear(3)), X3, 1e3),
    "made": (MADE(3, hidden=(16,)), X3, 1e3),
    "vae": (VAE(3, 2, hidden=(16,)), X3, 1e3),
}


@pytest.mark.parametrize("name", sorted(FAULTY))
def test_overflow_inside_the_model_is_a_nonfinite_loss_error(name):
    # max_growth=None switches the divergence rule off, so the run goes on until
    # something inside the model (a latent z = g(x), a scale) is NaN or inf.
    model, x, lr = FAULTY[name]
    params = model.init(0)
    with pytest.raises(NonFiniteLossError) as info, np.errstate(all="ignore"):
        fit(model, params, x, steps=200, optimizer=SGD(lr=lr), progress=False, max_growth=None)
    err = info.value
    assert not isinstance(err, LossDivergedError)
    kept = tree_flatten(err.params)
    assert np.all(np.isfinite(kept))
    assert np.isfinite(model.loss(err.params, x, 0))  # the kept params do give a finite loss
    steps_done = len(err.history["loss"])
    assert steps_done >= 1 and np.all(np.isfinite(err.history["loss"]))
    if steps_done > 1:  # after at least one update the kept params are not the initial ones
        assert not np.array_equal(kept, tree_flatten(params))


@pytest.mark.parametrize("name", ["maf", "elementwise_affine", "actnorm"])
def test_a_nonfinite_error_raised_inside_is_converted_and_chained(name):
    # In these runs (seed 0, SGD at lr = 1e3) the latent z = g(x) overflows before the
    # loss does, and it is the base density's input check that notices (FlowModel says so).
    model, x, lr = FAULTY[name]
    with pytest.raises(NonFiniteLossError, match=r"^minimize: a non-finite value inside the model") as info, \
            np.errstate(all="ignore"):
        fit(model, model.init(0), x, steps=200, optimizer=SGD(lr=lr), progress=False, max_growth=None)
    cause = info.value.__cause__
    assert isinstance(cause, NonFiniteError) and str(cause).startswith("x: the latent z = g(x) is NaN or inf")


@pytest.mark.parametrize("name", ["elementwise_affine", "actnorm", "maf"])
def test_sgd_at_lr_50_ends_with_a_divergence_error(name):
    model, x, _ = FAULTY[name]
    with pytest.raises(LossDivergedError) as info, np.errstate(all="ignore"):
        fit(model, model.init(0), x, steps=300, optimizer=SGD(lr=50.0), progress=False)
    err = info.value
    assert isinstance(err, NonFiniteLossError)  # a kind of it: one except clause catches both
    losses = err.history["loss"]
    limit = tinygen.optim.MAX_GROWTH * max(1.0, abs(losses[0]))
    assert all(abs(v) <= limit for v in losses)  # the rule fired at the first loss above the limit
    assert str(err).startswith("minimize: the loss diverged")
    assert np.all(np.isfinite(tree_flatten(err.params)))


def test_the_divergence_rule_is_what_the_docstring_says():
    # L(theta) = theta^2 / 2 with SGD at lr = 3: theta <- -2 theta, so L_t = 4^(t-1) L_1.
    # With L_1 = 2 (theta = 2) and max_growth = 1e4 the first |L_t| > 1e4 * 2 is L_8 = 32768.
    objective = lambda p, rng: 0.5 * p["theta"] ** 2  # noqa: E731
    with pytest.raises(LossDivergedError) as info:
        minimize(objective, {"theta": np.array(2.0)}, steps=50, optimizer=SGD(lr=3.0), progress=False,
                 max_growth=1e4, lr_schedule="constant")  # a fixed lr: the factor -2 at every step
    assert info.value.history["loss"] == [2.0 * 4 ** k for k in range(7)]
    assert "at step 8" in str(info.value)
    # the same run without the rule goes on to the end
    _, history = minimize(objective, {"theta": np.array(2.0)}, steps=10, optimizer=SGD(lr=3.0), progress=False,
                          max_growth=None, lr_schedule="constant")
    assert history["loss"][-1] == 2.0 * 4 ** 9


def test_other_errors_propagate_unchanged():
    def objective(p, rng):
        raise ValueError("x: expected shape (n, 2), got (3,)")

    with pytest.raises(ValueError, match=r"^x: expected shape") as info:
        minimize(objective, {"a": np.zeros(1)}, steps=3, progress=False)
    assert not isinstance(info.value, NonFiniteLossError)


def test_a_nonfinite_evaluate_stops_with_the_params_before_the_update():
    seen = []

    def objective(p, rng):
        seen.append(float(value_of(p["a"])[0]))
        return (p["a"][0] - 1.0) ** 2

    def evaluate(p):
        if p["a"][0] > 0.05:  # pretend the held-out check met a NaN after the first update
            raise NonFiniteError("x_val: expected finite values, got NaN or inf")
        return 0.0

    with pytest.raises(NonFiniteLossError) as info:
        minimize(objective, {"a": np.zeros(1)}, steps=5, lr=0.1, optimizer="sgd", progress=False,
                 evaluate=evaluate, eval_every=1)
    assert info.value.params["a"][0] == seen[-1]  # the params whose loss was finite, not the updated ones


def test_bad_initial_params_are_reported_before_training():
    with pytest.raises(NonFiniteError, match=r"^params: expected finite"):
        minimize(lambda p, r: p["a"][0], {"a": np.array([np.nan])}, steps=2, progress=False)
    with pytest.raises(TypeError, match=r'^params\["a"\]: expected an array of real numbers'):
        minimize(lambda p, r: 0.0, {"a": np.array(["1.0"])}, steps=2, progress=False)
    with pytest.raises(TypeError, match=r"^callback: "):
        minimize(lambda p, r: p["a"][0] ** 2, {"a": np.ones(1)}, steps=2, progress=False, callback=3)
    with pytest.raises(ValueError, match=r"^max_growth: "):
        minimize(lambda p, r: p["a"][0] ** 2, {"a": np.ones(1)}, steps=2, progress=False, max_growth=-1.0)


def test_callback_receives_snapshots_the_optimizer_does_not_overwrite():
    model = flows.RealNVP(2, n_layers=2, hidden=(8,))
    x = np.random.default_rng(1).normal(size=(64, 2))
    params = model.init(0)
    kept = {}

    def callback(step, p, loss):
        if step in (1, 5, 20):
            kept[step] = p

    # a constant lr: with the default cosine, step t's lr depends on the run's length
    final, _ = fit(model, params, x, steps=20, batch_size=16, progress=False, callback=callback,
                   lr_schedule="constant")
    flat = {k: tree_flatten(v) for k, v in kept.items()}
    assert not np.array_equal(flat[1], flat[5]) and not np.array_equal(flat[5], flat[20])
    np.testing.assert_array_equal(flat[20], tree_flatten(final))
    # the snapshot at step 5 is exactly the result of training for 5 steps
    after5, _ = fit(model, params, x, steps=5, batch_size=16, progress=False, lr_schedule="constant")
    np.testing.assert_array_equal(flat[5], tree_flatten(after5))


def test_a_nonfinite_held_out_loss_stops_training():
    def objective(p, rng):
        return p["a"][0] ** 2

    with pytest.raises(NonFiniteLossError, match=r"^minimize: a non-finite value in evaluate"):
        minimize(objective, {"a": np.ones(1)}, steps=3, progress=False, evaluate=lambda p: np.nan, eval_every=1)
    with pytest.raises(TypeError, match=r"^evaluate\(params\): expected an array of numbers, got str"):
        minimize(objective, {"a": np.ones(1)}, steps=3, progress=False, evaluate=lambda p: "0.5", eval_every=1)
