"""Distributions: normalization, sample moments, entropy, KL, input checks.

Statistical tolerance. A sample mean of S i.i.d. draws has standard error
SE = std / sqrt(S) and, by the CLT, lies within 5 SE of its expectation
except with probability ~6e-7; over the few hundred comparisons a run makes,
a false failure is rarer than 1 in 1000, while a wrong formula (a factor 2 in
a variance, a missing log) moves the estimate by hundreds of SE at S = 20000.
"""
import itertools
import re

import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import distributions as dist
from tinygen.testing.strategies import dims, positive_floats, seeds, vectors

S = 20_000  # Monte Carlo sample size; 5 SE at S = 20000 is ~3.5% of one standard deviation
Z = 5.0  # number of standard errors allowed, see the module docstring


def normals(max_dim=3):
    return dims.filter(lambda d: d <= max_dim).flatmap(
        lambda d: st.builds(dist.Normal, vectors(d, 3.0), vectors(d, elements=positive_floats(0.3, 3.0)))
    )


def categoricals(bound=3.0):
    # |logits| <= 3 keeps every class probability >= e^-6 / K, so each class has hundreds of
    # expected counts in S draws and the normal approximation behind "5 SE" holds.
    return st.integers(2, 6).flatmap(lambda k: st.builds(dist.Categorical, vectors(k, bound)))


def bernoullis(bound=3.0):
    return dims.flatmap(lambda d: st.builds(dist.Bernoulli, vectors(d, bound)))


def assert_within(estimate, exact, se, what):
    # 1e-9 covers the case se = 0 (e.g. uniform Categorical: -log w_x is constant)
    assert abs(estimate - exact) <= Z * se + 1e-9, f"{what}: {estimate} vs {exact} (SE {se})"


# ---- normalization ------------------------------------------------------------------------


@settings(max_examples=20)
@given(st.floats(-3, 3), positive_floats(0.3, 3.0))
def test_normal_1d_integrates_to_one(mu, sigma):
    # +-12 sigma leaves out 4e-33 of the mass; the trapezoid rule on a Gaussian with step
    # sigma / 80 is exact to rounding (its error decays like exp(-2 pi^2 / h^2)).
    x = mu + sigma * onp.linspace(-12, 12, 1921)[:, None]
    p = onp.exp(dist.Normal(onp.array([mu]), onp.array([sigma])).log_prob(x))
    assert onp.trapezoid(p, x[:, 0]) == pytest.approx(1.0, abs=1e-10)


@settings(max_examples=20)
@given(vectors(2, 3.0), vectors(2, elements=positive_floats(0.3, 3.0)))
def test_normal_2d_integrates_to_one(mu, sigma):
    # 2-D trapezoid on a 241 x 241 grid over +-10 sigma (step sigma / 12: still exact to ~1e-12)
    t = onp.linspace(-10, 10, 241)
    g0, g1 = onp.meshgrid(mu[0] + sigma[0] * t, mu[1] + sigma[1] * t, indexing="ij")
    p = onp.exp(dist.Normal(mu, sigma).log_prob(onp.stack([g0.ravel(), g1.ravel()], axis=1))).reshape(g0.shape)
    mass = onp.trapezoid(onp.trapezoid(p, g1[0], axis=1), g0[:, 0])
    assert mass == pytest.approx(1.0, abs=1e-9)


def test_standard_normal_2d_integrates_to_one_and_matches_normal():
    t = onp.linspace(-10, 10, 241)
    g0, g1 = onp.meshgrid(t, t, indexing="ij")
    x = onp.stack([g0.ravel(), g1.ravel()], axis=1)
    base = dist.StandardNormal(2)
    p = onp.exp(base.log_prob(x)).reshape(g0.shape)
    assert onp.trapezoid(onp.trapezoid(p, t, axis=1), t) == pytest.approx(1.0, abs=1e-9)
    # its shortcut formula equals the general diagonal-Gaussian one
    onp.testing.assert_allclose(base.log_prob(x), dist.Normal(onp.zeros(2), onp.ones(2)).log_prob(x), rtol=1e-13)


@settings(max_examples=30)
@given(categoricals(bound=20.0))
def test_categorical_sums_to_one(p):
    total = onp.sum(onp.exp(p.log_prob(onp.arange(p.n_classes))))
    assert total == pytest.approx(1.0, abs=1e-12)  # K terms, each rounded once


@settings(max_examples=30)
@given(bernoullis(bound=20.0))
def test_bernoulli_sums_to_one_over_all_binary_vectors(p):
    x = onp.array(list(itertools.product([0.0, 1.0], repeat=p.dim)))  # all 2^D vectors
    assert onp.sum(onp.exp(p.log_prob(x))) == pytest.approx(1.0, abs=1e-12)


# ---- samples, entropy ---------------------------------------------------------------------


@settings(max_examples=20)
@given(normals(), seeds)
def test_normal_sample_moments(p, seed):
    x = p.sample(S, seed)
    assert x.shape == (S, p.dim)
    for d in range(p.dim):
        mu, sigma = p.loc[d], p.scale[d]
        assert_within(x[:, d].mean(), mu, sigma / onp.sqrt(S), "mean")
        # SE of the sample variance of a Gaussian: sigma^2 sqrt(2 / (S - 1))
        assert_within(x[:, d].var(ddof=1), sigma**2, sigma**2 * onp.sqrt(2 / (S - 1)), "variance")


@settings(max_examples=20)
@given(categoricals(), seeds)
def test_categorical_sample_frequencies(p, seed):
    x = p.sample(S, seed)
    assert x.shape == (S,)
    w = p.probs
    freq = onp.bincount(x, minlength=p.n_classes) / S
    for k in range(p.n_classes):
        assert_within(freq[k], w[k], onp.sqrt(w[k] * (1 - w[k]) / S), f"frequency of class {k}")


@settings(max_examples=20)
@given(bernoullis(), seeds)
def test_bernoulli_sample_frequencies(p, seed):
    x = p.sample(S, seed)
    assert x.shape == (S, p.dim) and set(onp.unique(x)) <= {0.0, 1.0}
    for d, q in enumerate(p.probs):
        assert_within(x[:, d].mean(), q, onp.sqrt(q * (1 - q) / S), "frequency of ones")


@settings(max_examples=20)
@given(st.one_of(normals(), categoricals(), bernoullis()), seeds)
def test_entropy_matches_monte_carlo(p, seed):
    # H(p) = E_p[-log p(x)]; estimate it by the mean of -log p over S samples
    nll = -p.log_prob(p.sample(S, seed))
    assert_within(nll.mean(), float(p.entropy()), nll.std() / onp.sqrt(S), "entropy")


def test_normal_entropy_known_value():
    # H(N(0, sigma^2)) = log sigma + (1 + log 2 pi) / 2, summed over D = 2 coordinates
    h = dist.Normal(onp.zeros(2), onp.array([1.0, 3.0])).entropy()
    assert h == pytest.approx(onp.log(3.0) + (1 + onp.log(2 * onp.pi)), rel=1e-14)


def test_normal_sample_is_reparameterized():
    # x = mu + sigma * eps: d mean(x) / d mu = 1, so gradients reach the parameters
    g = grad(lambda mu: onp.mean(dist.Normal(mu, onp.ones(1)).sample(10, 0)))(onp.zeros(1))
    onp.testing.assert_allclose(g, [1.0])


# ---- KL divergence ------------------------------------------------------------------------


def pairs(make):
    return st.tuples(make, make).filter(lambda pq: _same_event(*pq))


def _same_event(p, q):
    return getattr(p, "dim", None) == getattr(q, "dim", None) and getattr(p, "n_classes", None) == getattr(
        q, "n_classes", None
    )


@settings(max_examples=40)
@given(st.one_of(pairs(normals()), pairs(categoricals()), pairs(bernoullis())), seeds)
def test_kl_nonnegative_zero_on_itself_and_matches_monte_carlo(pq, seed):
    p, q = pq
    kl = float(dist.kl_divergence(p, q))
    # >= 0 up to the rounding of a few O(1) terms (p and q may be nearly equal)
    assert kl >= -1e-12
    assert abs(float(dist.kl_divergence(p, p))) <= 1e-12
    x = p.sample(S, seed)
    ratio = p.log_prob(x) - q.log_prob(x)  # log p(x) - log q(x), x ~ p
    mc = float(dist.kl_divergence(p, q, rng=seed, n_samples=S))
    assert mc == pytest.approx(ratio.mean(), rel=1e-12, abs=1e-12)  # same seed, same samples
    assert_within(mc, kl, ratio.std() / onp.sqrt(S), "KL")


def test_kl_standard_normal_known_value():
    # KL(N(mu, s^2) || N(0, 1)) = (s^2 + mu^2 - 1) / 2 - log s, per coordinate
    p = dist.Normal(onp.array([1.0, 0.0]), onp.array([1.0, 2.0]))
    expected = 0.5 + (4.0 - 1) / 2 - onp.log(2.0)
    assert float(dist.kl_divergence(p, dist.StandardNormal(2))) == pytest.approx(expected, rel=1e-14)


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: dist.Normal(onp.zeros(2), onp.array([1.0, 0.0])), ValueError, "scale"),
        (lambda: dist.Normal(onp.zeros(2), -onp.ones(2)), ValueError, "scale"),
        (lambda: dist.Normal(onp.array([0.0, onp.nan]), onp.ones(2)), ValueError, "loc"),
        (lambda: dist.Normal(onp.zeros(1), "wide"), TypeError, "scale"),
        (lambda: dist.Normal(0.0, 1.0), ValueError, "loc"),
        (lambda: dist.StandardNormal(0), ValueError, "dim"),
        (lambda: dist.Normal(onp.zeros(2), onp.ones(2)).log_prob(onp.zeros((3, 3))), ValueError, "x"),
        (lambda: dist.Normal(onp.zeros(2), onp.ones(2)).log_prob(onp.full((3, 2), onp.nan)), ValueError, "x"),
        (lambda: dist.Normal(onp.zeros(2), onp.ones(2)).sample(0, 0), ValueError, "n"),
        (lambda: dist.Normal(onp.zeros(2), onp.ones(2)).sample(3, "seed"), TypeError, "rng"),
        (lambda: dist.Categorical(onp.zeros(3)).log_prob(onp.array([0, 3])), ValueError, "x"),
        (lambda: dist.Categorical(onp.zeros(3)).log_prob(onp.array([-1])), ValueError, "x"),
        (lambda: dist.Categorical(onp.zeros(3)).log_prob(onp.array([0.5])), ValueError, "x"),
        (lambda: dist.Categorical(onp.zeros((4, 3))).log_prob(onp.zeros((4, 1))), ValueError, "x"),
        (lambda: dist.Categorical(onp.array([0.0, onp.inf])), ValueError, "logits"),
        (lambda: dist.Categorical(onp.float64(1.0)), ValueError, "logits"),
        (lambda: dist.Bernoulli(onp.zeros(2)).log_prob(onp.array([[0.0, 0.5]])), ValueError, "x"),
        (lambda: dist.Bernoulli(onp.zeros(2)).log_prob(onp.zeros((1, 3))), ValueError, "x"),
        (lambda: dist.kl_divergence(dist.StandardNormal(1), dist.StandardNormal(3)), ValueError, "q"),
        (lambda: dist.kl_divergence(dist.StandardNormal(1), "normal"), TypeError, "q"),
        (lambda: dist.kl_divergence(dist.StandardNormal(1), dist.Bernoulli(onp.zeros(1))), ValueError, "rng"),
        (lambda: dist.Normal(onp.zeros(1)), ValueError, "scale"),
        (lambda: dist.Normal(onp.zeros(1), onp.ones(1), log_scale=onp.zeros(1)), ValueError, "scale"),
        (lambda: dist.Normal(onp.zeros(1), log_scale=onp.array([onp.nan])), ValueError, "log_scale"),
        (lambda: dist.Normal(onp.zeros(1), log_scale=onp.array(["0"])), TypeError, "log_scale"),
        (lambda: dist.Normal(onp.array([1j]), onp.ones(1)), TypeError, "loc"),
        (lambda: dist.Normal(onp.zeros(1), onp.ones(1)).log_prob(onp.array([[1 + 1j]])), TypeError, "x"),
        (lambda: dist.Categorical(onp.zeros(3)).log_prob(onp.array(["1"])), TypeError, "x"),
        (lambda: dist.Bernoulli(onp.array(["1.0"])), TypeError, "logits"),
    ],
)
def test_bad_input_names_the_argument(make, error, name):
    with pytest.raises(error, match=rf"^{re.escape(name)}: "):
        make()


# ---- extremes, against mpmath (60 digits, the float inputs taken as exact) ---------------------
EPS = onp.finfo(float).eps


def _mp():
    import mpmath

    mpmath.mp.dps = 60
    return mpmath


def _kl_normal_ref(m1, s1, m2, s2):
    # The closed form adds terms near 1/2 to one of size 1e-600 and subtracts 1/2 again:
    # 1000 digits keep the small one
    mp = _mp()
    with mp.workdps(1000):
        m1, s1, m2, s2 = map(mp.mpf, (m1, s1, m2, s2))
        return float(mp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - mp.mpf(1) / 2)


def _kl_tolerance(m1, s1, m2, s2, want):
    """Error bound of KL = (expm1(2t) - 2t) / 2 + u^2 / 2, t = log s1 - log s2, u = (m1 - m2) / s2.

    t carries eps * max(1, |log s1|, |log s2|) from the subtraction of logs, which the KL
    feels through dKL/dt = expm1(2t); the rest is a few roundings of terms of size |t|,
    u^2 and the result. Near r = s1 / s2 = 1 this leaves a relative error of ~eps / |t|
    (4e-9 at r = 1 + 1e-8, where the squares of the scales used to lose everything).
    """
    t = onp.log(s1) - onp.log(s2)
    scale = max(1.0, want)  # every term is formed relative to it, so the bound cannot overflow
    u2 = (abs(m1 - m2) / s2 / onp.sqrt(scale)) ** 2  # u^2 / scale, at most 2 (u^2 / 2 <= KL)
    # |dKL/dt| = |expm1(2t)| is <= 1 for t <= 0 and <= 2 KL + 2t for t > 0 (KL >= (expm1(2t) - 2t) / 2)
    slope = 1.0 / scale if t <= 0 else (2 * want + 2 * t) / scale
    log_size = max(1.0, abs(onp.log(s1)), abs(onp.log(s2)))
    return 8 * EPS * (abs(t) / scale + u2 + slope * log_size + want / scale) * scale


@pytest.mark.parametrize("m1, s1, m2, s2", [
    (0.0, 1e160, 0.0, 1e160),      # used to be inf / inf = NaN; exact 0
    (0.0, 1e-200, 0.0, 2e-200),    # used to be 0 / 0 = NaN; exact 0.318147
    (1e150, 1e160, 0.0, 3e160),
    (1e-190, 1e-200, 0.0, 1e-200),
    (0.0, 1e-300, 0.0, 1e300),     # r = s1 / s2 underflows; log r must not
    (0.0, 1.0, 0.0, 1.0 + 1e-8),   # r near 1
])
def test_normal_kl_from_the_ratio_of_scales(m1, s1, m2, s2):
    got = float(dist.kl_divergence(dist.Normal([m1], [s1]), dist.Normal([m2], [s2])))
    want = _kl_normal_ref(m1, s1, m2, s2)
    assert abs(got - want) <= _kl_tolerance(m1, s1, m2, s2, want)


def test_normal_kl_matches_the_issue_values():
    assert float(dist.kl_divergence(dist.Normal([0.0], [1e160]), dist.Normal([0.0], [1e160]))) == 0.0
    got = float(dist.kl_divergence(dist.Normal([0.0], [1e-200]), dist.Normal([0.0], [2e-200])))
    assert got == pytest.approx(onp.log(2) - 0.375, rel=1e-12)  # log 2 + 1/8 - 1/2 = 0.318147...


@settings(max_examples=100)
@given(st.floats(-300, 300), st.floats(-300, 300), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))
def test_normal_kl_matches_mpmath_over_600_decades(log10_s1, log10_s2, m1, m2):
    s1, s2 = 10.0 ** log10_s1, 10.0 ** log10_s2
    want = _kl_normal_ref(m1, s1, m2, s2)
    with onp.errstate(over="ignore"):  # r^2 = 1e600 overflows: the KL is inf, as it should
        got = float(dist.kl_divergence(dist.Normal([m1], [s1]), dist.Normal([m2], [s2])))
    if want > onp.finfo(float).max:
        assert got == onp.inf  # overflow of the exact value: inf, never NaN
    else:
        assert abs(got - want) <= _kl_tolerance(m1, s1, m2, s2, want)


def test_normal_with_log_scale_where_sigma_rounds_to_zero():
    p = dist.Normal(onp.zeros(2), log_scale=onp.array([-1e4, -800.0]))
    onp.testing.assert_array_equal(p.scale, 0.0)  # sigma itself is not representable
    assert float(p.log_prob(onp.zeros((1, 2)))[0]) == pytest.approx(1e4 + 800.0 - onp.log(2 * onp.pi), rel=1e-15)
    assert float(p.entropy()) == pytest.approx(-1e4 - 800.0 + (1 + onp.log(2 * onp.pi)), rel=1e-15)
    kl = float(dist.kl_divergence(p, dist.StandardNormal(2)))  # sum_d [sigma^2 / 2 - 1/2 - log sigma]
    assert kl == pytest.approx(1e4 + 800.0 - 1.0, rel=1e-15)
    onp.testing.assert_array_equal(p.sample(3, 0), 0.0)  # x = mu + sigma eps = mu


# The references form log p = -log(1 + e^-l) for l up to 2e3: 1 + e^-2000 needs ~900 digits
# before the log, so they run at 1000 digits (60 would leave e^-121 with 7 correct digits).
def _bernoulli_entropy_ref(l):
    mp = _mp()
    # |l| <= 1e3 here: 1 - p ~ e^-1000 ~ 1e-435 must survive beside p ~ 1, so 500 digits keep 65 to spare
    with mp.workdps(500):
        l = mp.mpf(l)
        p, q = 1 / (1 + mp.exp(-l)), 1 / (1 + mp.exp(l))
        return float(-p * mp.log(p) - q * mp.log(q))


def _categorical_entropy_ref(logits):
    mp = _mp()
    with mp.workdps(1000):
        ls = [mp.mpf(v) for v in logits]
        lse = mp.log(sum(mp.exp(v) for v in ls))
        return float(-sum(mp.exp(v - lse) * (v - lse) for v in ls))


def _rel_close(got, want, rtol):
    # below the normal range (1e-300) floats lose relative precision; compare absolutely there
    return abs(got - want) <= rtol * abs(want) or abs(got - want) <= 1e-300


@pytest.mark.parametrize("l", [40.0, -40.0, 37.0, 100.0, -700.0, 700.0, 1e3, -1e3, 0.0, 1e-8])
def test_bernoulli_entropy_is_accurate_in_relative_terms(l):
    # H = s(l) softplus(-l) + s(-l) softplus(l): both terms >= 0, each to a few ulp of |l| eps
    want = _bernoulli_entropy_ref(l)
    assert _rel_close(float(dist.Bernoulli([l]).entropy()), want, 1e-12)


def test_bernoulli_entropy_issue_value():
    assert float(dist.Bernoulli([40.0]).entropy()) == pytest.approx(1.7418252446695514e-16, rel=1e-12)


@settings(max_examples=100)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=4))
def test_bernoulli_entropy_and_kl_match_mpmath(logits):
    logits = onp.array(logits)
    want = [_bernoulli_entropy_ref(v) for v in logits]
    got = [float(dist.Bernoulli([v]).entropy()) for v in logits]
    # exp of an argument near 1e3 with relative error eps is exact to 1e3 eps ~ 2e-13 relative
    assert all(_rel_close(g, w, 1e-12) for g, w in zip(got, want))
    mp = _mp()
    p = dist.Bernoulli(logits)
    q = dist.Bernoulli(logits[::-1])
    def ref_kl(a, b):
        a, b = mp.mpf(a), mp.mpf(b)
        pa, pb = 1 / (1 + mp.exp(-a)), 1 / (1 + mp.exp(-b))
        return pa * (mp.log(pa) - mp.log(pb)) + (1 - pa) * (mp.log(1 - pa) - mp.log(1 - pb))
    with mp.workdps(500):  # as in _bernoulli_entropy_ref
        want_kl = float(sum(ref_kl(a, b) for a, b in zip(logits, logits[::-1])))
    got_kl = float(dist.kl_divergence(p, q))
    assert abs(got_kl - want_kl) <= 1e-12 * max(1.0, abs(want_kl)) * len(logits)


@pytest.mark.parametrize("logits", [[40.0, 0.0], [1e3, 1e3 - 40.0], [1e3, -1e3], [-1e3, -1e3 + 30.0, 0.0],
                                    [5.0, 5.0, 5.0], [1e3, 1e3, -1e3]])
def test_categorical_entropy_is_accurate_in_relative_terms(logits):
    want = _categorical_entropy_ref(logits)
    assert _rel_close(float(dist.Categorical(onp.array(logits)).entropy()), want, 1e-12)


@settings(max_examples=100)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=5))
def test_categorical_entropy_matches_mpmath(logits):
    want = _categorical_entropy_ref(logits)
    # log w_i = (l_i - m) - L carries ~|l_i - m| eps absolute, i.e. up to 2e3 eps = 4.4e-13
    # relative in w_i; every term of H is >= 0, so H has the same relative error
    assert _rel_close(float(dist.Categorical(onp.array(logits)).entropy()), want, 1e-12)
