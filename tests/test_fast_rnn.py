"""The RNN's fused recurrence (tinygen/fast/rnn.py) equals the reference ``RNNARM.hidden_states``.

tests/test_fast.py checks values, first and second derivatives for the RNN in its generic table;
here: the same over hypothesis-drawn sizes (batch, T, hidden, vocab, T = 1 included), that the
kernel really is what a training step runs (one fused call per gradient), the cases it hands back
to the reference, and a short training run on and off the fast path.

Tolerances. The kernel does the reference's float64 arithmetic in another order (sums over t
and rows regrouped into one matrix product), so values and first derivatives agree to ~1e-15
relative on these O(1)..O(10) quantities; RTOL = 1e-9 relative to the largest entry leaves room
for growth through T steps and still catches any wrong term (a missing tanh' or a step's
W_h^T is off by O(1e-2) or more). Second derivatives step aside to the reference: RTOL too.
"""
import contextlib

import autograd.numpy as anp
import numpy as onp
from autograd import grad, hessian, value_and_grad
from autograd.misc import flatten
from fast_checks import close_to_reference
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import fast
from tinygen.arm import RNNARM
from tinygen.data import MarkovSource
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds

RTOL = 1e-9  # see the module docstring


def _close(a, b, what, rtol=RTOL):
    close_to_reference(a, b, what, rtol)


@contextlib.contextmanager
def _counting():
    """Count the fused calls inside the block (a spy hypothesis can repeat)."""
    calls, original = [], fast.rnn.rnn_fused

    def counted(*args):
        calls.append(1)
        return original(*args)
    fast.rnn.rnn_fused = counted
    try:
        yield calls
    finally:
        fast.rnn.rnn_fused = original


def _both(fn, traced=True):
    """fn() with the kernels in place (as in a training step), and on the reference path."""
    with fast.installed(), _counting() as calls:
        fast_out = fn()
    assert bool(calls) == traced, "the fused recurrence runs in a differentiation, and only there"
    return fast_out, fn()


sizes = st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(1, 8), st.integers(2, 6))  # n, T, H, V


def _case(size, seed):
    """(rng, model, params moved off their init, a batch x of tokens) for sizes (n, T, H, V)."""
    n, T, H, V = size
    rng = onp.random.default_rng(seed)
    model = RNNARM(V, T, hidden=H)
    params = perturb(model.init(rng), rng, 0.3)
    return rng, model, params, rng.integers(0, V, (n, T))


@settings(max_examples=15, deadline=None)
@given(size=sizes, seed=seeds)
def test_loss_and_its_derivatives_match_the_reference(size, seed):
    rng, model, params, x = _case(size, seed)
    n, T, H, V = size
    e = rng.standard_normal((n, T, V))  # any real input: d/de is defined beyond one-hot
    w = rng.standard_normal((n, T, H))

    def scalar(p, v):  # a random linear functional of h_1..h_T
        return anp.sum(w * model.hidden_states(p, v))

    _close(*_both(lambda: model.loss(params, x), traced=False), "loss")
    _close(*_both(lambda: flatten(grad(model.loss)(params, x))[0]), "d loss / dparams")
    _close(*_both(lambda: scalar(params, e), traced=False), "h")
    _close(*_both(lambda: value_and_grad(scalar)(params, e)[0]), "h, traced")
    _close(*_both(lambda: flatten(grad(scalar)(params, e))[0]), "dh/dparams")
    _close(*_both(lambda: grad(scalar, 1)(params, e)), "dh/de")


@settings(max_examples=5, deadline=None)
@given(size=sizes, seed=seeds)
def test_second_derivatives_match_the_reference(size, seed):
    rng, model, params, x = _case(size, seed)
    theta, unflatten = flatten(params)
    u = rng.standard_normal(theta.size)

    def hvp(th):  # d/dtheta <grad loss, u>: the backward pass is differentiated, the kernel steps aside
        return anp.dot(grad(lambda t: model.loss(unflatten(t), x))(th), u)

    with fast.installed():
        h_fast = hessian(lambda t: model.loss(unflatten(t), x))(theta)
        hv_fast = grad(hvp)(theta)
    _close(h_fast, hessian(lambda t: model.loss(unflatten(t), x))(theta), "Hessian in params")
    _close(hv_fast, grad(hvp)(theta), "Hessian-vector product")


def test_one_training_gradient_is_one_fused_call():
    model = RNNARM(4, 5, hidden=6)
    x = onp.random.default_rng(0).integers(0, 4, (8, 5))
    with fast.installed(), _counting() as calls:
        grad(model.loss)(model.init(0), x)
        assert len(calls) == 1
        model.loss(model.init(0), x)  # untraced: nothing to differentiate, the reference runs
        assert len(calls) == 1
        with fast.disabled():
            grad(model.loss)(model.init(0), x)
        assert len(calls) == 1


def test_a_subclass_and_odd_inputs_get_the_reference_code():
    class Shifted(RNNARM):  # a student's variant of the recurrence: the kernel must not replace it
        def hidden_states(self, params, e):
            return super().hidden_states(params, e) + 1.0

    x = onp.random.default_rng(0).integers(0, 3, (2, 4))
    with fast.installed(), _counting() as calls:
        grad(Shifted(3, 4, hidden=5).loss)(Shifted(3, 4, hidden=5).init(0), x)
        model = RNNARM(3, 4, hidden=5)
        params = model.init(0)
        params["W_h"] = params["W_h"].astype(onp.float32)  # not float64: the reference computes it
        grad(lambda p: anp.sum(model.hidden_states(p, model.one_hot(x))))(params)
    assert calls == []


def test_a_short_training_run_stays_close_to_the_reference_run():
    # The same arithmetic in another order at every step; over 60 Adam steps the two runs stay
    # within 1e-8 (measured ~1e-14): training this early does not amplify rounding differences.
    src = MarkovSource()
    x = src.sample(512, 0, T=8)
    model = RNNARM(src.vocab_size, 8, hidden=16)
    with _counting() as calls:
        p_fast, h_fast = tinygen.fit(model, model.init(0), x, steps=60, batch_size=64, lr=3e-3, progress=False)
    assert len(calls) >= 60  # fit put the kernel in place for every gradient
    with fast.disabled():
        p_ref, h_ref = tinygen.fit(model, model.init(0), x, steps=60, batch_size=64, lr=3e-3, progress=False)
    onp.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=0, atol=1e-8)
    _close(flatten(p_fast)[0], flatten(p_ref)[0], "params after 60 steps", rtol=1e-8)
