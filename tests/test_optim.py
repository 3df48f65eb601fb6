"""Optimizers and fit: convergence on a quadratic, NaN guard, history, held-out data, seeds, checks."""
import re

import autograd.numpy as np
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import optim
from tinygen.optim import Adam, NonFiniteLossError, SGD, fit


class MeanModel:
    """loss(theta) = (1/n) sum_i |x_i - theta|^2, minimized by the sample mean (a quadratic in theta)."""

    def init(self, rng):
        return {"theta": onp.zeros(2)}

    def loss(self, params, x, rng=None, context=None):
        shift = 0.0 if context is None else np.mean(context)  # lets tests pass a context through
        return np.mean(np.sum((x - params["theta"] - shift) ** 2, axis=1))


class LogModel:
    """loss(a) = log(a): gradient descent walks a down (a <- a - lr / a) until a < 0 and log(a) = NaN."""

    def init(self, rng):
        return {"a": onp.array(1.0)}

    def loss(self, params, x, rng=None, context=None):
        return np.log(params["a"]) + 0.0 * np.mean(x)


def data(n=64, seed=0):
    return onp.random.default_rng(seed).normal(loc=[1.0, -2.0], scale=0.5, size=(n, 2))


@pytest.mark.parametrize("opt, steps", [(SGD(lr=0.1), 200), (SGD(lr=0.05, momentum=0.9), 300), (Adam(lr=0.05), 1500)])
def test_optimizers_minimize_a_quadratic(opt, steps):
    # f(theta) = sum_k c_k (theta_k - t_k)^2 over a pytree with two leaves, ill-conditioned (c = 0.5 .. 2)
    target = {"u": onp.array([1.0, -3.0]), "v": onp.array([[2.0]])}
    c = {"u": onp.array([0.5, 2.0]), "v": onp.array([[1.0]])}

    def f_grad(p):
        return {k: 2 * c[k] * (p[k] - target[k]) for k in p}

    params = {"u": onp.zeros(2), "v": onp.zeros((1, 1))}
    state = opt.init(params)
    for _ in range(steps):
        params, state = opt.update(params, f_grad(params), state)
    # SGD contracts the error by |1 - 2 lr c| <= 0.9 per step (0.9^200 ~ 1e-9); Adam's steps shrink
    # with its bias-corrected moments, so after 1500 steps it sits within ~1e-3 of the minimum.
    for k in target:
        onp.testing.assert_allclose(params[k], target[k], atol=1e-3)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.2), ("adam", 0.05)])
def test_fit_finds_the_sample_mean(optimizer, lr):
    x = data()
    params, history = fit(MeanModel(), MeanModel().init(0), x, steps=800, batch_size=64, lr=lr,
                          optimizer=optimizer, progress=False)
    # full batch: the minimizer is exactly the sample mean; 1e-3 is far below its SE (0.5 / 8)
    onp.testing.assert_allclose(params["theta"], x.mean(axis=0), atol=1e-3)
    assert history["loss"][-1] < history["loss"][0]


def test_nan_loss_raises_with_last_finite_params():
    with pytest.raises(NonFiniteLossError) as info, onp.errstate(invalid="ignore"):
        fit(LogModel(), LogModel().init(0), onp.zeros((4, 1)), steps=100, lr=0.1, optimizer="sgd", progress=False,
            lr_schedule="constant")  # a fixed lr, so the trajectory below can be worked out by hand
    err = info.value
    a = float(err.params["a"])
    # steps 1..6 see a = 1, 0.9, 0.789, 0.662, 0.511, 0.315; then a = 0.315 - 0.1 / 0.315 < 0
    # and step 7 gets log(a) = NaN.
    # .params is the last point whose loss and gradient were finite, not the one that failed.
    assert onp.isfinite(a) and a > 0 and onp.isfinite(LogModel().loss(err.params, onp.zeros((1, 1))))
    assert a == pytest.approx(0.3149, abs=1e-3)
    assert err.history["step"] == [1, 2, 3, 4, 5, 6]
    assert "step 7" in str(err)


def test_overflowing_update_keeps_finite_params():
    # loss = exp(theta^2): the gradient 2 theta exp(theta^2) explodes, SGD jumps to huge theta,
    # then exp overflows. The error must hand back finite parameters.
    class Explode:
        def loss(self, params, x, rng=None, context=None):
            return np.exp(params["theta"] ** 2) + 0.0 * np.mean(x)

    with pytest.raises(NonFiniteLossError) as info, onp.errstate(over="ignore", invalid="ignore"):
        fit(Explode(), {"theta": onp.array(2.0)}, onp.zeros((2, 1)), steps=50, lr=1.0, optimizer="sgd",
            progress=False)
    theta = info.value.params["theta"]
    assert onp.isfinite(theta) and onp.isfinite(Explode().loss(info.value.params, onp.zeros((1, 1))))


def test_history_and_held_out_evaluation(capsys):
    x, x_val = data(64, 0), data(32, 1)
    seen = []
    params, history = fit(MeanModel(), MeanModel().init(0), x, steps=30, batch_size=16, lr=0.05, x_val=x_val,
                          eval_every=10, log_every=15, callback=lambda s, p, l: seen.append(s))
    assert set(history) == {"step", "loss", "val_step", "val_loss", "seconds", "steps_per_s"}
    assert history["step"] == list(range(1, 31)) and len(history["loss"]) == 30
    assert history["val_step"] == [10, 20, 30]
    assert seen == list(range(1, 31))
    # the last held-out loss is the loss of the returned params on all of x_val
    assert history["val_loss"][-1] == pytest.approx(float(MeanModel().loss(params, x_val)), rel=1e-12)
    assert history["seconds"] > 0 and history["steps_per_s"] > 0
    err = capsys.readouterr().err  # progress goes to stderr every log_every steps
    assert "step     15/30" in err and "val" in err


def test_context_is_passed_through():
    x = data()
    c = onp.full((64, 3), 0.5)
    params, _ = fit(MeanModel(), MeanModel().init(0), x, steps=400, batch_size=64, lr=0.2, optimizer="sgd",
                    context=c, progress=False)
    # loss uses x - theta - mean(c): the minimizer shifts by 0.5
    onp.testing.assert_allclose(params["theta"], x.mean(axis=0) - 0.5, atol=1e-3)


def test_same_seed_same_result():
    x = data()

    def run(seed):
        return fit(MeanModel(), MeanModel().init(0), x, steps=20, batch_size=8, lr=0.05, rng=seed, progress=False)

    (p1, h1), (p2, h2), (_, h3) = run(3), run(3), run(4)
    onp.testing.assert_array_equal(p1["theta"], p2["theta"])
    assert h1["loss"] == h2["loss"]
    assert h1["loss"] != h3["loss"]  # other minibatches


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(lr=-1e-3), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(optimizer="rmsprop"), ValueError, "optimizer"),
        (dict(optimizer=3), TypeError, "optimizer"),
        (dict(x=onp.full((4, 2), onp.nan)), ValueError, "x"),
        (dict(x=onp.zeros((0, 2))), ValueError, "x"),
        (dict(context=onp.zeros((5, 1))), ValueError, "context"),
        (dict(context=onp.array([[onp.inf]] * 8)), ValueError, "context"),
        (dict(x_val=onp.zeros((4, 2)), context_val=onp.zeros((3, 1))), ValueError, "context_val"),
        (dict(rng="seed"), TypeError, "rng"),
    ],
)
def test_fit_bad_input_names_the_argument(kwargs, error, name):
    args = dict(model=MeanModel(), params=MeanModel().init(0), x=data(8), steps=2, progress=False)
    args.update(kwargs)
    with pytest.raises(error, match=rf"^{re.escape(name)}: "):
        fit(**args)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: SGD(lr=0), "lr"),
        (lambda: SGD(momentum=1.0), "momentum"),
        (lambda: Adam(lr=-1), "lr"),
        (lambda: Adam(b1=1.0), "b1"),
        (lambda: Adam(b2=-0.1), "b2"),
        (lambda: Adam(eps=0), "eps"),
    ],
)
def test_optimizer_bad_hyperparameters(make, name):
    with pytest.raises(ValueError, match=rf"^{re.escape(name)}: "):
        make()


def test_optimizer_names():
    assert set(optim.OPTIMIZERS) == {"adam", "sgd"}


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), steps=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999))
def test_adam_is_its_formula_to_the_bit_and_update_leaves_its_inputs_alone(n, steps, seed, lr, b1, b2):
    # the step, written out here in the order of the class docstring, against update (the same floats:
    # gradients over many scales), and update must not write into the params or state it is given
    rng = onp.random.default_rng(seed)
    opt = Adam(lr=lr, b1=b1, b2=b2)
    theta = rng.normal(size=n)
    state = opt.init(theta)
    want, m, v = theta.copy(), onp.zeros(n), onp.zeros(n)
    for t in range(1, steps + 1):
        g = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, size=n)
        before = (theta.copy(), state["m"].copy(), state["v"].copy(), state["t"])
        new_theta, new_state = opt.update(theta, g, state)
        assert onp.array_equal(theta, before[0]) and onp.array_equal(state["m"], before[1])
        assert onp.array_equal(state["v"], before[2]) and state["t"] == before[3]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        want = want - lr * (m / (1 - b1 ** t)) / (onp.sqrt(v / (1 - b2 ** t)) + opt.eps)
        assert onp.array_equal(new_theta, want)
        assert onp.array_equal(new_state["m"], m) and onp.array_equal(new_state["v"], v) and new_state["t"] == t
        theta, state = new_theta, new_state


def test_a_reordered_adam_is_told_apart_by_the_comparison():
    # the other side of the test above: folding eta / (1 - b1^t) into one factor is the same update in
    # exact arithmetic, and over 1000 coordinates it rounds differently somewhere, which array_equal sees
    rng = onp.random.default_rng(0)
    opt = Adam(lr=3e-3)
    theta, g = rng.normal(size=1000), rng.normal(size=1000)
    new, state = opt.update(theta, g, opt.init(theta))
    folded = theta - (opt.lr / (1 - opt.b1)) * state["m"] / (onp.sqrt(state["v"] / (1 - opt.b2)) + opt.eps)
    assert onp.allclose(folded, new, rtol=1e-14) and not onp.array_equal(folded, new)


def test_fit_with_adam_trains_the_same_params_as_the_functional_update():
    # fit takes update_in_place when the optimizer has one; an Adam without it (update only) gives the same run
    class FunctionalAdam:
        def __init__(self, lr):
            self.inner = Adam(lr=lr)
            self.lr = lr

        def init(self, params):
            return self.inner.init(params)

        def update(self, params, grads, state):
            self.inner.lr = self.lr  # the cosine schedule writes .lr
            return self.inner.update(params, grads, state)
    x = data()
    a, _ = fit(MeanModel(), MeanModel().init(0), x, steps=50, batch_size=16, lr=0.05, progress=False)
    b, _ = fit(MeanModel(), MeanModel().init(0), x, steps=50, batch_size=16, lr=0.05,
               optimizer=FunctionalAdam(0.05), progress=False)
    assert onp.array_equal(a["theta"], b["theta"])



def test_a_subclass_that_redefines_update_is_stepped_by_its_own_update():
    # fit steps Adam in place only where update_in_place is the in-place form of the class's update:
    # a student's variant of Adam (here, weight decay added to the gradient) keeps its own rule
    class DecayedAdam(Adam):
        def update(self, params, grads, state):
            return super().update(params, grads + 0.5 * params, state)
    x = data()
    plain, _ = fit(MeanModel(), MeanModel().init(0), x, steps=50, batch_size=16, lr=0.05, progress=False)
    decayed, _ = fit(MeanModel(), MeanModel().init(0), x, steps=50, batch_size=16, lr=0.05,
                     optimizer=DecayedAdam(lr=0.05), progress=False)
    assert not onp.allclose(decayed["theta"], plain["theta"])
    from tinygen.train import _in_place_update
    assert _in_place_update(Adam()) is not None and _in_place_update(DecayedAdam()) is None
    assert _in_place_update(SGD()) is None
