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


# ---- log sigma for a softplus scale, and the normal density from log sigma --------------------
# References computed with mpmath at 60 significant digits from the float inputs taken as exact.
EPS = onp.finfo(float).eps


def _mp():
    import mpmath

    mpmath.mp.dps = 60
    return mpmath


def _ref_log_softplus(rho):
    mp = _mp()
    return float(mp.log(mp.log1p(mp.exp(mp.mpf(float(rho))))))


EXTREMES = [-1e4, -5e3, -800.0, -745.5, -708.5, -40.0, -20.0, -19.999, -1.0, 0.0, 0.5413, 1.0, 20.0, 40.0,
            800.0, 1e4]


@pytest.mark.parametrize("rho", EXTREMES)
def test_log_softplus_exact_at_the_extremes(rho):
    # log(softplus(rho)) is -inf below rho = -745 (softplus underflows to 0), though sigma > 0.
    # Absolute error <= 4 eps max(1, |value|): the log of a softplus that is exact to
    # ~1 ulp is exact to ~1 eps absolute, which near the value's root at rho = log(e - 1) is
    # all that any float formula can promise (measured worst: 1.0 eps over [-1e4, 1e4]).
    want = _ref_log_softplus(rho)
    got = float(F.log_softplus(onp.array(rho)))
    assert abs(got - want) <= 4 * EPS * max(1.0, abs(want))


@settings(max_examples=200)
@given(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False))
def test_log_softplus_matches_mpmath(rho):
    want = _ref_log_softplus(rho)
    assert abs(float(F.log_softplus(onp.array(rho))) - want) <= 4 * EPS * max(1.0, abs(want))


@pytest.mark.parametrize("rho", EXTREMES)
def test_log_softplus_gradient_is_exact_and_finite(rho):
    # d/drho log softplus(rho) = s(rho) / softplus(rho) -> 1 as rho -> -inf; relative 1e-13 allows
    # the few ulps of the two branches (measured worst 9 eps).
    mp = _mp()
    r = mp.mpf(rho)
    want = float(1 / (1 + mp.exp(-r)) / mp.log1p(mp.exp(r)))
    got = float(elementwise_grad(F.log_softplus)(onp.array(rho)))
    assert got == pytest.approx(want, rel=1e-13)


def test_normal_log_density_finite_where_sigma_rounds_to_zero():
    # sigma = softplus(-1e4) = e^-1e4 is 0 in float64; log N(mu; mu, sigma^2) = -log sigma - log(2 pi)/2.
    rho = onp.array([-1e4, -800.0, -30.0])
    log_sigma = F.log_softplus(rho)
    mu = onp.array([0.5, -2.0, 3.0])
    got = F.log_normal_pdf_log_scale(mu, mu, log_sigma)
    want = [-_ref_log_softplus(r) - 0.5 * onp.log(2 * onp.pi) for r in rho]
    onp.testing.assert_allclose(got, want, rtol=4 * EPS)
    g = grad(lambda ls: onp.sum(F.log_normal_pdf_log_scale(mu, mu, ls)))(log_sigma)
    onp.testing.assert_array_equal(g, -1.0)  # d/d log sigma at x = mu is exactly -1
    # away from the mean the exact value is below -1e308: -inf, never NaN
    with onp.errstate(over="ignore"):  # exp(1e4) overflows: that is the point
        far = F.log_normal_pdf_log_scale(mu + 1.0, mu, log_sigma)
    assert far[0] == -onp.inf and far[1] == -onp.inf and onp.isfinite(far[2])


@settings(max_examples=100)
@given(st.floats(-30, 30), st.floats(-5, 5), st.floats(-300, 300))
def test_log_normal_pdf_log_scale_matches_mpmath(x, mu, log_sigma):
    mp = _mp()
    u = (mp.mpf(x) - mp.mpf(mu)) / mp.exp(mp.mpf(log_sigma))
    want = float(-u ** 2 / 2 - mp.mpf(log_sigma) - mp.log(2 * mp.pi) / 2)
    got = float(F.log_normal_pdf_log_scale(onp.array(x), onp.array(mu), onp.array(log_sigma)))
    if not onp.isfinite(want):
        assert got == want
    else:
        # exp(-log sigma) is exact to |log sigma| eps relative; squared, twice that
        assert got == pytest.approx(want, rel=1e-12 * (1 + abs(log_sigma)), abs=1e-12 * (1 + abs(log_sigma)))


def test_log_softmax_keeps_the_tiny_log_of_the_largest_weight():
    # For l = (40, 0): log w_1 = -log(1 + e^-40) = -4.248e-18, which l - logsumexp(l) rounds to 0.
    mp = _mp()
    for l in ([40.0, 0.0], [1e3, 1e3 - 45.0, -1e3], [-1e3, -1e3 - 50.0]):
        l = onp.array(l)
        lse = mp.log(sum(mp.exp(mp.mpf(v)) for v in l))
        want = [float(mp.mpf(v) - lse) for v in l]
        onp.testing.assert_allclose(F.log_softmax(l), want, rtol=4 * EPS)
        assert float(F.logsumexp(l)) == pytest.approx(float(lse), rel=4 * EPS)


def test_log_softplus_and_log_density_agree_on_mixed_arrays():
    # An array that needs the series for some entries and the plain form for others takes
    # the np.where path; every entry must equal its own single-entry value, gradients too.
    rho = onp.array([-1e4, -745.5, -20.0, -19.0, 0.0, 30.0, 1e4])
    whole = F.log_softplus(rho)
    one_by_one = [float(F.log_softplus(onp.array([r]))[0]) for r in rho]
    onp.testing.assert_array_equal(whole, one_by_one)
    g_whole = elementwise_grad(F.log_softplus)(rho)
    g_one = [float(elementwise_grad(F.log_softplus)(onp.array([r]))[0]) for r in rho]
    onp.testing.assert_allclose(g_whole, g_one, rtol=1e-15)
    ls = onp.array([-1e4, -5.0, 0.0, 3.0])
    x, mu = onp.array([0.0, 1.0, -2.0, 4.0]), onp.array([0.0, 0.5, -1.0, 0.0])
    whole = F.log_normal_pdf_log_scale(x, mu, ls)
    # entries with log sigma > -700 go through log_normal_pdf on their own; the values agree
    # to a few ulp (exp(-log sigma) against 1 / exp(log sigma))
    one_by_one = [float(F.log_normal_pdf_log_scale(x[i:i + 1], mu[i:i + 1], ls[i:i + 1])[0]) for i in range(4)]
    onp.testing.assert_allclose(whole, one_by_one, rtol=1e-14)


@pytest.mark.parametrize("d, log_sigma", [(1e-300, -1000.0), (0.5, -710.0), (1e-200, -1400.0), (3.0, -705.0),
                                          (1e-320, -1000.0), (0.0, -1e4), (0.0, -1000.0)])
def test_log_normal_pdf_log_scale_below_the_normal_range_of_sigma(d, log_sigma):
    # sigma = e^log_sigma < 1e-304 here. Where u = d / sigma and u^2 are floats the density
    # -u^2 / 2 - log sigma - log(2 pi) / 2 must be finite and right; beyond, -inf (mpmath's
    # value rounded to a float), never NaN.
    mp = _mp()
    u = mp.mpf(d) / mp.exp(mp.mpf(log_sigma))
    want = float(-u ** 2 / 2 - mp.mpf(log_sigma) - mp.log(2 * mp.pi) / 2)
    # u = (d h) h rounds twice and h = exp(-log sigma / 2) carries |log sigma| eps / 2:
    # relative 1e-12 covers |log sigma| up to 1e4; a subnormal d (1e-320) has only 3 digits
    rel = 1e-3 if 0 < d < 1e-307 else 1e-12
    with onp.errstate(over="ignore"):  # (0.5, -710) and (3, -705): u^2 > 1e308, the exact value is -inf in floats
        got = float(F.log_normal_pdf_log_scale(onp.array([d]), onp.array([0.0]), onp.array([log_sigma]))[0])
    assert got == pytest.approx(want, rel=rel)
    # (the gradient with respect to x at d != 0 is -u / sigma, beyond 1e300 here: only the
    # value is checked; at d = 0 the gradients are tested above)


@settings(max_examples=50)
@given(a=st.floats(-30, 30))
def test_tanh_primitive_matches_numpy_to_second_order(a):
    # F.tanh's derivative is written from its output, 1 - tanh^2; the closed forms are
    # d/da tanh = sech^2 and d2/da2 tanh = -2 tanh sech^2, to rounding (1e-12 absolute: |values| <= 1)
    t, sech2 = onp.tanh(a), 1.0 / onp.cosh(a) ** 2
    assert F.tanh(a) == t
    assert abs(grad(F.tanh)(a) - sech2) < 1e-12
    assert abs(grad(grad(F.tanh))(a) - (-2.0 * t * sech2)) < 1e-12


def test_tanh_gradient_stays_finite_where_cosh_overflows():
    # autograd's np.tanh gradient is 1 / cosh(a)^2: cosh(800) overflows; 1 - tanh(800)^2 = 0 exactly
    assert grad(F.tanh)(800.0) == 0.0
    assert onp.isfinite(elementwise_grad(F.tanh)(onp.array([-800.0, 0.0, 800.0]))).all()
