"""check_bound gives no false verdict: a correct IWAE near its posterior passes, broken bounds fail
on the property they break, an undecidable rise is reported as undecided (never a pass), bad
arguments are errors.

The model is linear-Gaussian, so everything is closed-form:

    z ~ N(0, 1),  x | z ~ N(z, 1)   =>   p(x) = N(x; 0, 2),   p(z | x) = N(x / 2, 1 / 2).

q(z | x) = N(x / 2 + delta, 1 / 2) has KL(q || p(z | x)) = delta^2 / (2 * 1/2) = delta^2 nats per point.
"""
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from tinygen.testing import Report, check_bound
from tinygen.testing.strategies import seeds

X = onp.array([-1.0, 0.3, 1.5])
S2 = 0.5  # the posterior variance, also q's
RISE = "rise of E[bound] from K=1 to K=100 (must exceed tolerance)"


def log_normal(v, mean, var):
    return -0.5 * (onp.log(2 * onp.pi * var) + (v - mean) ** 2 / var)


LOG_PX = log_normal(X, 0.0, 2.0)


def log_weights(delta, rng, k):
    """log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x), z_k ~ q, shape (K, n); z_1 drawn first."""
    m = X / 2 + delta
    z = m + onp.sqrt(S2) * rng.standard_normal((k, X.size))
    return log_normal(X, z, 1.0) + log_normal(z, 0.0, 1.0) - log_normal(z, m, S2)


def iwae(delta):
    """L_K = log (1/K) sum_k w_k: the correct bound."""
    return lambda rng, k: logsumexp(log_weights(delta, rng, k), axis=0) - onp.log(k)


def failed(report):
    return [row.property for row in report.failures]


def where(report, prop):
    return next(row.where for row in report.rows if row.property == prop)


# ---- right on the passing side ------------------------------------------------------------------
@pytest.mark.parametrize("delta", [0.5, 0.7])  # KL 0.25 and 0.49: failed 6 of 6 and 4 of 6 seeds before
@pytest.mark.parametrize("seed", range(6))
def test_an_iwae_near_its_posterior_passes(delta, seed):
    check_bound(iwae(delta), LOG_PX, k=[1, 10, 100], rng=seed).assert_ok()


@settings(max_examples=10)
@given(delta=st.floats(0.3, 2.0), seed=seeds)
def test_an_iwae_passes_for_any_q_not_too_close_to_the_posterior(delta, seed):
    # delta >= 0.3 (KL >= 0.09): the rise ~ KL is >= 8 of its standard errors at the largest
    # number of repeats (1600 paired repeats, sd of log w = delta / sqrt(1/2)), so it is decided
    check_bound(iwae(delta), LOG_PX, k=[1, 10, 100], rng=seed).assert_ok()


def test_an_iwae_at_the_exact_posterior_is_tight():
    check_bound(iwae(0.0), LOG_PX, k=[1, 10, 100], tight=True, repeats=5).assert_ok()


# ---- right on the failing side ------------------------------------------------------------------
def test_a_rise_within_monte_carlo_error_is_undecided_and_not_a_pass():
    # KL = 1e-4: L_100 - L_1 ~ 1e-4, far below the Monte Carlo error of 1600 paired repeats
    report = check_bound(iwae(0.01), LOG_PX, k=[1, 10, 100], repeats=50)
    assert not report and failed(report) == [RISE]
    assert where(report, RISE).startswith("could not decide: ")
    assert "800 paired repeats" in where(report, RISE)  # 50 doubled while within max_repeats = 16 * 50


def test_a_flat_bound_is_not_passed():
    def mean_log_weight(rng, k):  # averages log w_k instead of w_k: the ELBO at every K
        return log_weights(0.5, rng, k).mean(0)

    report = check_bound(mean_log_weight, LOG_PX, k=[1, 100], repeats=50)
    assert failed(report) == [RISE] and where(report, RISE).startswith("could not decide")


def test_a_bound_that_falls_with_k_fails_on_falling():
    def log_k_outside(rng, k):  # log (1/K) kept outside an average of log w: mean log w_k - log K
        return log_weights(0.5, rng, k).mean(0) - onp.log(k)

    report = check_bound(log_k_outside, LOG_PX, k=[1, 10, 100])
    assert failed(report) == ["E[bound] does not fall from K=1 to K=10", "E[bound] does not fall from K=10 to K=100",
                              RISE]
    assert where(report, RISE).startswith("point ")  # a definite fall, not an undecided rise
    assert "falls by 2.3" in where(report, "E[bound] does not fall from K=1 to K=10")  # log 10 = 2.303


def test_a_bound_above_the_evidence_fails_below_log_px():
    report = check_bound(lambda rng, k: iwae(0.5)(rng, k) + 5.0, LOG_PX, k=[1, 10, 100])
    assert failed(report) == [f"E[bound] at K={k} <= log p(x)" for k in (1, 10, 100)]


def test_a_doubled_kl_fails_tightness_at_the_exact_posterior():
    # ELBO = E_q[log p(x | z)] - KL(q || p(z)); the broken one subtracts the KL twice
    m = X / 2
    kl_prior = 0.5 * (S2 + m ** 2 - 1.0 - onp.log(S2))  # KL(N(m, s^2) || N(0, 1))

    def doubled(rng, k):
        return iwae(0.0)(rng, k) - kl_prior

    report = check_bound(doubled, LOG_PX, k=[1, 10], tight=True, repeats=5)
    assert failed(report) == ["E[bound] at K=1 = log p(x) at the exact posterior",
                              "E[bound] at K=10 = log p(x) at the exact posterior"]


def test_a_non_finite_bound_fails_and_says_where():
    # -inf (every weight underflowed) would otherwise pass "<= log p(x)"; NaN would compare as nothing
    for bad in (-onp.inf, onp.nan):
        report = check_bound(lambda rng, k, bad=bad: onp.where(X > 1.0, bad, iwae(0.5)(rng, k)), LOG_PX, k=[1, 10])
        assert failed(report) == ["every estimate is finite"] and len(report.rows) == 1
        assert "100 of 300 estimates at K=1 are NaN or inf" in where(report, "every estimate is finite")


def test_a_report_with_nothing_checked_is_not_a_pass():
    empty = Report("nothing")
    assert not empty and str(empty).startswith("nothing: no property checked")


# ---- arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k, error", [([], ValueError), ([10, 1], ValueError), ([1, 1], ValueError),
                                      ([0, 2], ValueError), (0, ValueError), ([1.5], TypeError),
                                      ("10", TypeError), ([True], TypeError), ({1, 2}, TypeError)])
def test_an_invalid_k_is_an_error_naming_k(k, error):
    with pytest.raises(error, match=r"^k: "):  # k=[] once returned "every property holds (0 checked)"
        check_bound(lambda rng, k: LOG_PX + 5.0, LOG_PX, k=k)


def test_every_argument_is_checked():
    bound = iwae(0.5)
    with pytest.raises(TypeError, match=r"^lower_bound: "):
        check_bound(LOG_PX, LOG_PX)
    with pytest.raises(ValueError, match=r"^log_evidence: "):
        check_bound(bound, [onp.nan, 0.0, 0.0], k=[1, 10])
    with pytest.raises(ValueError, match=r"^log_evidence: "):
        check_bound(bound, onp.zeros((3, 1)), k=[1, 10])
    with pytest.raises(ValueError, match=r"^lower_bound: expected one estimate per data point"):
        check_bound(bound, onp.zeros(2), k=[1, 10])
    with pytest.raises(TypeError, match=r"^tight: "):
        check_bound(bound, LOG_PX, k=[1, 10], tight="yes")
    with pytest.raises(ValueError, match=r"^atol: "):
        check_bound(bound, LOG_PX, k=[1, 10], atol=-1.0)
    with pytest.raises(ValueError, match=r"^atol: "):
        check_bound(bound, LOG_PX, k=[1, 10], atol=onp.nan)
    with pytest.raises(ValueError, match=r"^n_se: "):
        check_bound(bound, LOG_PX, k=[1, 10], n_se=0)
    with pytest.raises(ValueError, match=r"^repeats: "):
        check_bound(bound, LOG_PX, k=[1, 10], repeats=1)
    with pytest.raises(ValueError, match=r"^max_repeats: "):
        check_bound(bound, LOG_PX, k=[1, 10], repeats=10, max_repeats=5)
    with pytest.raises(TypeError, match=r"^rng: "):
        check_bound(bound, LOG_PX, k=[1, 10], rng="0")
