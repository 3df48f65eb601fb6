"""The sequence models' fused kernels equal their reference methods.

- tinygen/fast/rnn.py: ``RNNARM.hidden_states``, the whole recurrence;
- tinygen/fast/transformer.py: ``TransformerARM.logits_onehot``, the whole network;
- tinygen/fast/sequence.py: ``_log_prob_onehot`` of every sequence model, the log-softmax and the
  pick on top of the logits (the causal convolution's own logits stay traced).

tests/test_fast.py checks values, first and second derivatives for both in its generic table;
here: the same over hypothesis-drawn sizes (batch, T = 1 included, widths, heads, blocks), that
the kernel really is what a training step runs (one fused call per gradient), the cases it hands
back to the reference, and a short training run on and off the fast path.

Tolerances. A kernel does the reference's float64 arithmetic in another order (sums over t and
rows regrouped into one matrix product; the transformer's softmax as e^(S - M) / sum instead of
exp(log_softmax)), so values and first derivatives agree to ~1e-15 relative on these O(1)..O(10)
quantities; RTOL = 1e-9 relative to the largest entry leaves room for growth through T steps or
a few blocks and still catches any wrong term (a missing tanh' or layer-norm term is off by
O(1e-2) or more). Second derivatives step aside to the reference: RTOL too.
"""
import contextlib
from typing import NamedTuple

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad, hessian, value_and_grad
from autograd.misc import flatten
from fast_checks import close_to_reference, counting
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import fast
from tinygen.arm import CausalConvARM, RNNARM, TransformerARM
from tinygen.data import MarkovSource
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds

RTOL = 1e-9  # see the module docstring
# The whole Hessian in params up to this many parameters (every RNN drawn here, at most 182); it takes
# one backward pass per column. A transformer has 262 or more: its Hessian-vector product is the same
# second-order check in one pass.
FULL_HESSIAN_MAX = 200


class Kernel(NamedTuple):
    module: object      # the kernel's module
    fused: str          # its fused operation's name there (counted by the spy below)
    method: str         # the model method it serves
    width: object       # model -> the size of the method's output per position
    sizes: object       # hypothesis strategy: (n, T, V, arch)
    build: object       # (V, T, arch) -> model
    cls: type
    small: dict         # keyword arguments of a small model for the fixed-size tests


def _transformer(V, T, arch):
    d, heads, blocks, d_ff = arch
    return TransformerARM(V, T, d_model=d, n_heads=heads, n_layers=blocks, d_ff=d_ff)


KERNELS = {
    "rnn": Kernel(fast.rnn, "rnn_fused", "hidden_states", lambda m: m.hidden,
                  st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(2, 6), st.integers(1, 8)),
                  lambda V, T, H: RNNARM(V, T, hidden=H), RNNARM, {"hidden": 6}),
    # arch = (d_model, heads, blocks, d_ff): one head, several, d_h = 2, the default d_ff = 4 d
    "transformer": Kernel(fast.transformer, "transformer_fused", "logits_onehot", lambda m: m.vocab_size,
                          st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(2, 5),
                                    st.sampled_from([(4, 1, 1, None), (6, 2, 2, 5), (8, 4, 1, 3), (6, 3, 3, None)])),
                          _transformer, TransformerARM, {"d_model": 8, "n_heads": 2, "n_layers": 2}),
}


def _small(kind, V, T, cls=None):
    k = KERNELS[kind]
    return (cls or k.cls)(V, T, **k.small)


def _close(a, b, what, rtol=RTOL):
    close_to_reference(a, b, what, rtol)


def _counting(kind):
    """Count the kind's fused calls inside the block."""
    return counting(KERNELS[kind].module, KERNELS[kind].fused)


def _both(kind, fn, traced=True):
    """fn() with the kernels in place (as in a training step), and on the reference path."""
    with fast.installed(), _counting(kind) as calls:
        fast_out = fn()
    assert bool(calls) == traced, "the fused kernel runs in a differentiation, and only there"
    return fast_out, fn()


def _case(kind, size, seed):
    """(rng, model, params moved off their init, a batch x of tokens) for drawn sizes (n, T, V, arch)."""
    n, T, V, arch = size
    rng = onp.random.default_rng(seed)
    model = KERNELS[kind].build(V, T, arch)
    params = perturb(model.init(rng), rng, 0.3)
    return rng, model, params, rng.integers(0, V, (n, T))


def _sized(kind):
    return st.tuples(st.just(kind), KERNELS[kind].sizes)


both_kinds = st.one_of(_sized("rnn"), _sized("transformer"))


@settings(max_examples=20, deadline=None)
@given(kind_size=both_kinds, seed=seeds)
def test_loss_and_its_derivatives_match_the_reference(kind_size, seed):
    kind, size = kind_size
    rng, model, params, x = _case(kind, size, seed)
    name = KERNELS[kind].method
    n, T = x.shape
    e = rng.standard_normal((n, T, model.vocab_size))  # any real input: d/de is defined beyond one-hot
    w = rng.standard_normal((n, T, KERNELS[kind].width(model)))

    def scalar(p, v):  # a random linear functional of the kernel's output (the method looked up at
        return anp.sum(w * getattr(model, name)(p, v))  # call time: it is the kernel's only when installed

    _close(*_both(kind, lambda: model.loss(params, x), traced=False), "loss")
    _close(*_both(kind, lambda: flatten(grad(model.loss)(params, x))[0]), "d loss / dparams")
    _close(*_both(kind, lambda: scalar(params, e), traced=False), "output")
    _close(*_both(kind, lambda: value_and_grad(scalar)(params, e)[0]), "output, traced")
    _close(*_both(kind, lambda: flatten(grad(scalar)(params, e))[0]), "d output / dparams")
    _close(*_both(kind, lambda: grad(scalar, 1)(params, e)), "d output / de")


@settings(max_examples=6, deadline=None)
@given(kind_size=both_kinds, seed=seeds)
def test_second_derivatives_match_the_reference(kind_size, seed):
    kind, size = kind_size
    rng, model, params, x = _case(kind, size, seed)
    x = x[:2]  # a small Hessian
    theta, unflatten = flatten(params)
    u = rng.standard_normal(theta.size)

    def hvp(th):  # d/dtheta <grad loss, u>: the backward pass is differentiated, the kernel steps aside
        return anp.dot(grad(lambda t: model.loss(unflatten(t), x))(th), u)

    with fast.installed():
        hv_fast = grad(hvp)(theta)
    _close(hv_fast, grad(hvp)(theta), "Hessian-vector product")
    if theta.size <= FULL_HESSIAN_MAX:
        with fast.installed():
            h_fast = hessian(lambda t: model.loss(unflatten(t), x))(theta)
        _close(h_fast, hessian(lambda t: model.loss(unflatten(t), x))(theta), "Hessian in params")


@pytest.mark.parametrize("kind", KERNELS)
def test_one_training_gradient_is_one_fused_call(kind):
    model = _small(kind, 4, 5)
    x = onp.random.default_rng(0).integers(0, 4, (8, 5))
    with fast.installed(), _counting(kind) as calls:
        grad(model.loss)(model.init(0), x)
        assert len(calls) == 1
        model.loss(model.init(0), x)  # untraced: nothing to differentiate, the reference runs
        assert len(calls) == 1
        with fast.disabled():
            grad(model.loss)(model.init(0), x)
        assert len(calls) == 1


@pytest.mark.parametrize("kind", KERNELS)
def test_a_subclass_and_odd_inputs_get_the_reference_code(kind):
    cls, name = KERNELS[kind].cls, KERNELS[kind].method

    class Shifted(cls):  # a student's variant of the method: the kernel must not replace it
        pass
    setattr(Shifted, name, lambda self, params, e: getattr(cls, name)(self, params, e) + 1.0)

    x = onp.random.default_rng(0).integers(0, 3, (2, 4))
    model = _small(kind, 3, 4)
    odd = [model.init(0), model.init(0)]
    odd[0]["W_h" if kind == "rnn" else "tok"] = odd[0]["W_h" if kind == "rnn" else "tok"].astype(onp.float32)
    odd[1]["b" if kind == "rnn" else "pos"] = onp.zeros(2)  # a leaf of the wrong shape
    with fast.installed(), _counting(kind) as calls:
        student = _small(kind, 3, 4, Shifted)
        grad(student.loss)(student.init(0), x)
        for params in odd:  # not float64, or not the model's tree: the reference computes it (or fails)
            with contextlib.suppress(ValueError):
                grad(lambda p: anp.sum(getattr(model, name)(p, model.one_hot(x))))(params)
    assert calls == []


@pytest.mark.parametrize("kind", KERNELS)
def test_a_short_training_run_stays_close_to_the_reference_run(kind):
    # The same arithmetic in another order at every step; over 60 Adam steps the two runs stay
    # within 1e-8 (measured ~1e-14): training this early does not amplify rounding differences.
    src = MarkovSource()
    x = src.sample(512, 0, T=8)
    model = _small(kind, src.vocab_size, 8)
    with _counting(kind) as calls:
        p_fast, h_fast = tinygen.fit(model, model.init(0), x, steps=60, batch_size=64, lr=3e-3, progress=False)
    assert len(calls) >= 60  # fit put the kernel in place for every gradient
    with fast.disabled():
        p_ref, h_ref = tinygen.fit(model, model.init(0), x, steps=60, batch_size=64, lr=3e-3, progress=False)
    onp.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=0, atol=1e-8)
    _close(flatten(p_fast)[0], flatten(p_ref)[0], "params after 60 steps", rtol=1e-8)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 5), T=st.integers(1, 6), V=st.integers(2, 5), seed=seeds,
       cls=st.sampled_from([RNNARM, CausalConvARM, TransformerARM]))
def test_the_fused_log_likelihood_matches_the_reference_for_every_sequence_model(n, T, V, seed, cls):
    rng = onp.random.default_rng(seed)
    small = {RNNARM: {"hidden": 5}, CausalConvARM: {"n_channels": 4, "n_layers": 2},
             TransformerARM: {"d_model": 4, "n_heads": 2}}[cls]
    model = cls(V, T, **small)
    params = perturb(model.init(rng), rng, 0.3)
    x = rng.integers(0, V, (n, T))
    e = rng.standard_normal((n, T, V))  # any real input: dL/de_ti = g log w_ti beyond one-hot
    w = rng.standard_normal(n)

    def scalar(p, v):
        return anp.dot(w, model._log_prob_onehot(p, v))

    with fast.installed(), counting(fast.sequence, "sequence_log_likelihood") as calls:
        fast_out = [value_and_grad(model.loss)(params, x), grad(scalar, (0, 1))(params, e)]
        assert len(calls) == 2, "one fused log-likelihood per gradient"
    ref_out = [value_and_grad(model.loss)(params, x), grad(scalar, (0, 1))(params, e)]
    _close(fast_out[0][0], ref_out[0][0], "loss")
    _close(flatten(fast_out[0][1])[0], flatten(ref_out[0][1])[0], "d loss / dparams")
    _close(flatten(fast_out[1][0])[0], flatten(ref_out[1][0])[0], "d log p / dparams, real e")
    _close(fast_out[1][1], ref_out[1][1], "d log p / de")
