"""Stable building blocks: exact identities, accuracy at +-1e4, finite gradients.

Reference values. Where the naive formula is safe (|a| <= 700, far from exp's
overflow at 709.78) it serves as reference; beyond, the exact asymptotic value
is used, e.g. softplus(1e4) = 1e4 + log(1 + e^-1e4) = 1e4 exactly in float64.
Tolerance 1e-12 (relative) is ~4500 ulp: generous for a handful of roundings,
tight enough to catch a lost log1p or a wrong sign.
"""
import numpy as onp
import pytest
from autograd import elementwise_grad, grad, jacobian
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinygen import functional as F
from tinygen.testing.strategies import finite_floats

RTOL = 1e-12  # see the module docstring
BIG = 1e4


def logit_arrays(bound=BIG, max_k=8):
    return st.integers(1, max_k).flatmap(lambda k: arrays(onp.float64, (k,), elements=finite_floats(bound)))


# ---- softmax, log_softmax, logsumexp ------------------------------------------------------


@settings(max_examples=50)
@given(logit_arrays())
def test_softmax_is_a_distribution(l):
    w = F.softmax(l)
    assert onp.all(w >= 0)
    # sum_i w_i = 1 up to K roundings of numbers <= 1
    assert abs(onp.sum(w) - 1.0) < 1e-12


@settings(max_examples=50)
@given(logit_arrays(bound=1e3), finite_floats(1e3))
def test_softmax_is_shift_invariant(l, shift):
    # softmax(l + s) = softmax(l). l + s rounds with absolute error <= ulp(2e3) ~ 2e-13,
    # and dw_i = w_i dl_i, so w moves by at most ~1e-12.
    onp.testing.assert_allclose(F.softmax(l + shift), F.softmax(l), rtol=0, atol=1e-11)


@settings(max_examples=50)
@given(logit_arrays(bound=700.0))
def test_logsumexp_matches_naive_where_naive_is_safe(l):
    naive = onp.log(onp.sum(onp.exp(l)))
    if onp.isfinite(naive):  # all l_j < -745 underflows the naive sum to 0
        onp.testing.assert_allclose(F.logsumexp(l), naive, rtol=RTOL, atol=1e-12)


def test_logsumexp_log_softmax_exact_at_1e4():
    l = onp.array([BIG, -BIG, 0.0])
    # log(e^1e4 + e^-1e4 + 1) = 1e4 + log(1 + e^-2e4 + e^-1e4) = 1e4 in float64
    assert F.logsumexp(l) == BIG
    assert F.logsumexp(onp.array([BIG, BIG])) == pytest.approx(BIG + onp.log(2), rel=RTOL)
    assert F.logsumexp(onp.array([-BIG, -BIG])) == pytest.approx(-BIG + onp.log(2), rel=RTOL)
    onp.testing.assert_allclose(F.log_softmax(l), [0.0, -2 * BIG, -BIG], rtol=RTOL)
    onp.testing.assert_allclose(F.softmax(l), [1.0, 0.0, 0.0], rtol=0, atol=0)


def test_logsumexp_axis_and_keepdims():
    a = onp.arange(6.0).reshape(2, 3)
    expected = onp.log(onp.exp(a).sum(axis=0))
    onp.testing.assert_allclose(F.logsumexp(a, axis=0), expected, rtol=RTOL)
    assert F.logsumexp(a, axis=1, keepdims=True).shape == (2, 1)


@settings(max_examples=30)
@given(logit_arrays(bound=100.0))
def test_grad_logsumexp_is_softmax(l):
    # d/dl_i log sum_j e^{l_j} = w_i
    onp.testing.assert_allclose(grad(F.logsumexp)(l), F.softmax(l), rtol=1e-10, atol=1e-14)


def test_gradients_finite_at_1e4():
    l = onp.array([BIG, -BIG, 0.0])
    g = grad(F.logsumexp)(l)
    onp.testing.assert_array_equal(g, [1.0, 0.0, 0.0])  # = softmax(l), exactly representable
    J = jacobian(F.log_softmax)(l)
    assert onp.all(onp.isfinite(J))
    # d log w_i / d l_j = delta_ij - w_j
    onp.testing.assert_allclose(J, onp.eye(3) - F.softmax(l)[None, :], atol=1e-15)
    assert onp.all(onp.isfinite(jacobian(F.softmax)(l)))
    rho = onp.array([BIG, -BIG])
    # d softplus / d rho = sigmoid(rho); d log s(a) / da = s(-a); e^-1e4 = 0 in float64
    onp.testing.assert_array_equal(elementwise_grad(F.softplus)(rho), [1.0, 0.0])
    onp.testing.assert_array_equal(elementwise_grad(F.log_sigmoid)(rho), [0.0, 1.0])
    onp.testing.assert_array_equal(elementwise_grad(F.sigmoid)(rho), [0.0, 0.0])
    sigma = onp.array([BIG, 1e-3])
    # d inv_softplus / d sigma = 1 / (1 - e^-sigma)
    onp.testing.assert_allclose(elementwise_grad(F.inv_softplus)(sigma), 1 / -onp.expm1(-sigma), rtol=1e-10)


# ---- softplus and its inverse -------------------------------------------------------------


@settings(max_examples=50)
@given(st.floats(-700.0, 700.0))
def test_softplus_matches_naive_where_naive_is_safe(rho):
    onp.testing.assert_allclose(F.softplus(rho), onp.log1p(onp.exp(rho)), rtol=RTOL)


def test_softplus_exact_at_1e4():
    assert F.softplus(BIG) == BIG  # 1e4 + log(1 + e^-1e4)
    # e^-1e4 is below the smallest float64 (~4.9e-324): the exact value rounds to 0
    assert F.softplus(-BIG) == 0.0


@settings(max_examples=50)
@given(st.floats(-745.0, BIG))
def test_softplus_is_positive_where_representable(rho):
    # softplus(rho) ~ e^rho for rho -> -inf, and e^rho underflows to 0 once rho < log(4.9e-324)
    # = -744.4: below that no float64 > 0 is near the true value, so sigma > 0 can only be
    # promised for rho >= -745 (the smallest subnormal is the correctly rounded e^-745).
    assert F.softplus(rho) > 0


@settings(max_examples=50)
@given(st.floats(-700.0, BIG))
def test_inv_softplus_inverts_softplus(rho):
    # rho -> sigma loses nothing for rho <= 36 (sigma ~ e^rho keeps relative precision);
    # beyond, sigma = rho + e^-rho rounds to rho and the inverse returns rho exactly.
    onp.testing.assert_allclose(F.inv_softplus(F.softplus(rho)), rho, rtol=RTOL, atol=1e-12)


@settings(max_examples=50)
@given(st.floats(1e-300, BIG))
def test_softplus_inverts_inv_softplus(sigma):
    onp.testing.assert_allclose(F.softplus(F.inv_softplus(sigma)), sigma, rtol=RTOL)


# ---- sigmoid and log_sigmoid --------------------------------------------------------------


@settings(max_examples=50)
@given(st.floats(-700.0, 700.0))
def test_log_sigmoid_matches_naive(a):
    onp.testing.assert_allclose(F.log_sigmoid(a), -onp.log1p(onp.exp(-a)), rtol=RTOL)
    # s(a) + s(-a) = 1
    assert F.sigmoid(a) + F.sigmoid(-a) == pytest.approx(1.0, abs=1e-15)


def test_log_sigmoid_exact_at_1e4():
    assert F.log_sigmoid(-BIG) == -BIG  # log s(-1e4) = -1e4 - log(1 + e^-1e4)
    assert F.log_sigmoid(BIG) == 0.0  # -log(1 + e^-1e4) rounds to -0
    assert F.sigmoid(BIG) == 1.0 and F.sigmoid(-BIG) == 0.0


def test_log_normal_pdf_known_value():
    # log N(0; 0, 1) = -log(2 pi) / 2; log N(3; 1, 2^2) = -1/2 - log 2 - log(2 pi) / 2
    assert F.log_normal_pdf(0.0, 0.0, 1.0) == pytest.approx(-0.5 * onp.log(2 * onp.pi), rel=RTOL)
    assert F.log_normal_pdf(3.0, 1.0, 2.0) == pytest.approx(-0.5 - onp.log(2.0) - 0.5 * onp.log(2 * onp.pi), rel=RTOL)


def test_soft_clamp_gradient_is_finite_and_exact_far_out():
    # d/da [B tanh(a / B)] = 1 - tanh^2(a / B); at |a| = 1e4 it underflows to 0 without overflow warnings.
    import warnings

    from autograd import elementwise_grad

    from tinygen.functional import soft_clamp

    a = onp.array([-1e4, -3.0, 0.0, 0.5, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail here
        g = elementwise_grad(lambda a: soft_clamp(a, 2.0))(a)
    onp.testing.assert_allclose(g, 1 - onp.tanh(a / 2.0) ** 2, rtol=1e-12, atol=1e-300)
    assert onp.all(onp.abs(soft_clamp(a, 2.0)) <= 2.0)


def test_primitive_gradients_match_finite_differences_with_broadcasting():
    # softplus and log_normal_pdf carry hand-written VJPs: check them (and their
    # broadcasting) against finite differences, to second order.
    from autograd.test_util import check_grads

    rng = onp.random.default_rng(0)
    x, mu, sigma = rng.normal(size=(4, 3)), rng.normal(size=(3,)), onp.exp(rng.normal(size=(1, 3)))
    check_grads(F.softplus, modes=["rev"], order=2)(rng.normal(size=(4, 3)) * 3)
    check_grads(F.log_normal_pdf, modes=["rev"], order=2)(x, mu, sigma)
    check_grads(lambda mu: F.log_normal_pdf(x, mu, 1.5), modes=["rev"], order=1)(0.3)  # scalar mu
