"""Diffusion (DDPM): the closed forms of the forward process, and the bound and the ODE checked
on Gaussian data x_0 ~ N(m, s^2 I), where everything is known:

    q_t(x) = N(a m, v I),  a = sqrt(alpha_bar_t),  v = a^2 s^2 + sigma_t^2,  sigma_t^2 = 1 - alpha_bar_t
    eps*(x, t) = E[eps | x_t = x] = sigma_t (x - a m) / v        (the best noise prediction)
    score:  grad log q_t(x) = -(x - a m) / v = -eps* / sigma_t
    the probability-flow map from 0 to t:  x_t = a m + sqrt(v / s^2) (x_0 - m)   (affine, isotropic)
"""
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import fit
from tinygen.diffusion import Diffusion, Schedule
from tinygen.distributions import Normal, StandardNormal
from tinygen.testing import (
    check_diffusion_bound,
    check_normalized,
    check_schedule,
    check_score,
    perturb,
)

M, S = np.array([0.7, -0.4]), 0.6  # the Gaussian data N(M, S^2 I)


class GaussianOptimum(Diffusion):
    """A Diffusion whose eps_theta is the exact optimum eps* for N(m, s^2 I) data, plus
    ``wiggle`` times its own (random) network: wiggle = 0 is exact, > 0 a perturbed field."""

    def __init__(self, m=M, s=S, wiggle=0.0, **kw):
        super().__init__(len(m), hidden=(16,), **kw)
        self.m, self.s, self.wiggle = m, s, wiggle

    def marginal(self, t):
        """(a, v) of q_t = N(a m, v I) at real t."""
        a_bar = self.schedule.alpha_bar_at(t)
        return np.sqrt(a_bar), a_bar * self.s ** 2 + 1 - a_bar

    def _epsilon(self, params, t, x):
        a, v = (np.reshape(u, (-1, 1)) for u in self.marginal(t))
        sigma = np.reshape(self.schedule.sigma_at(t), (-1, 1))
        exact = sigma * (x - a * self.m) / v
        return exact + self.wiggle * super()._epsilon(params, t, x) if self.wiggle else exact

    def log_q(self, t, x):
        a, v = self.marginal(t)
        return Normal(a * self.m, np.sqrt(v) * np.ones(len(self.m))).log_prob(x)


def gaussian_points(n, seed):
    return M + S * np.random.default_rng(seed).standard_normal((n, 2))


# ---- the schedule and the forward process ---------------------------------------------------------
@settings(max_examples=20)
@given(T=st.integers(21, 2000), kind=st.sampled_from(["linear", "cosine"]))
def test_schedules_are_products_in_unit_interval(T, kind):
    check_schedule(Schedule(kind, T)).assert_ok()


def test_linear_schedule_is_ho_et_al_at_1000_steps():
    beta = Schedule("linear", 1000).beta
    np.testing.assert_allclose([beta[1], beta[1000]], [1e-4, 0.02], rtol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_marginal_matches_the_chain_by_monte_carlo(kind):
    """Run q(x_t | x_{t-1}) step by step from one x_0 and compare with the closed form at every 10th t."""
    s, rng, n = Schedule(kind, 50), np.random.default_rng(0), 20000
    x0 = np.array([[1.5, -2.0]])
    x = np.repeat(x0, n, axis=0)
    for t in range(1, s.T + 1):
        x = np.sqrt(s.alpha[t]) * x + np.sqrt(s.beta[t]) * rng.standard_normal(x.shape)
        if t % 10 == 0:
            mean, var = s.marginal(x0, [t])
            # 5 standard errors: the mean's se is sqrt(var / n); the variance's ~ var sqrt(2 / n)
            np.testing.assert_array_less(np.abs(x.mean(0) - mean[0]), 5 * np.sqrt(var[0, 0] / n))
            np.testing.assert_array_less(np.abs(x.var(0) - var[0, 0]), 5 * var[0, 0] * np.sqrt(2 / n))


@settings(max_examples=30)
@given(t=st.integers(2, 100), x0=st.floats(-3, 3), xt=st.floats(-4, 4), kind=st.sampled_from(["linear", "cosine"]))
def test_posterior_is_gaussian_conditioning_of_the_joint(t, x0, xt, kind):
    """(x_{t-1}, x_t) given x_0 is jointly Gaussian: x_{t-1} ~ N(m1, c11), x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) z.
    Conditioning: mean = m1 + c12 / c22 (x_t - m2), variance = c11 - c12^2 / c22."""
    s = Schedule(kind, 100)
    m1, c11 = np.sqrt(s.alpha_bar[t - 1]) * x0, 1 - s.alpha_bar[t - 1]
    m2, c12, c22 = np.sqrt(s.alpha[t]) * m1, np.sqrt(s.alpha[t]) * c11, s.alpha[t] * c11 + s.beta[t]
    mean, var = s.posterior(np.array([[xt]]), np.array([[x0]]), [t])
    # float64 rounding of a few products of O(1) numbers: 1e-10 relative is generous and exact enough
    np.testing.assert_allclose(mean[0, 0], m1 + c12 / c22 * (xt - m2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var[0, 0], c11 - c12 ** 2 / c22, rtol=1e-10, atol=1e-15)


# ---- Gaussian data: the exact optimum ---------------------------------------------------------------
def test_score_of_the_optimum_is_the_exact_score():
    model = GaussianOptimum()
    params, x = model.init(0), gaussian_points(8, 1)
    times = [0.5, 1.0, 7.3, 50.0, 100.0]
    check_score(lambda t, y: model.score(params, t, y), model.log_q, x, times).assert_ok()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ode_log_prob_of_the_optimum_is_exact(kind):
    model = GaussianOptimum(schedule=kind)
    params, x = model.init(0), gaussian_points(50, 2)
    got = model.log_prob(params, x, rtol=1e-8, atol=1e-8)
    # what the ODE computes: x_T = a_T m + sqrt(v_T / s^2)(x - m), log N(x_T; 0, I) + D/2 log(v_T / s^2)
    a, v = model.marginal(float(model.T))
    x_T = a * M + np.sqrt(v) / S * (x - M)
    expected = StandardNormal(2).log_prob(x_T) + np.log(v / S ** 2)
    # dopri5 at rtol = atol = 1e-8 over ~10 units of phi: a few 1e-7 at most
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # and the data's own log-density, up to the noise end being N(a m, v I) rather than N(0, I)
    mismatch = np.abs(StandardNormal(2).log_prob(x_T) - model.log_q(float(model.T), x_T))
    true = Normal(M, S * np.ones(2)).log_prob(x)
    np.testing.assert_array_less(np.abs(got - true), mismatch + 1e-6)


def test_ode_samples_of_the_optimum_are_the_inverse_map():
    model = GaussianOptimum()
    params = model.init(0)
    x = model.sample(params, 20, 3, method="ode", rtol=1e-8, atol=1e-8)
    x_T = np.random.default_rng(3).standard_normal((20, 2))  # the same draw as sample's x_T
    a, v = model.marginal(float(model.T))
    np.testing.assert_allclose(x, M + S / np.sqrt(v) * (x_T - a * M), atol=1e-6)  # solver error, as above


def test_elbo_of_the_optimum_stays_below_the_exact_log_density():
    model = GaussianOptimum()
    params, x = model.init(0), gaussian_points(10, 4)
    report = check_diffusion_bound(model, params, x, Normal(M, S * np.ones(2)).log_prob(x))
    report.assert_ok()
    mean, _ = report.estimates[None]
    assert np.all(mean < Normal(M, S * np.ones(2)).log_prob(x))  # and not by chance: below on every point


def test_ancestral_samples_of_the_optimum_have_the_data_moments():
    model = GaussianOptimum()
    x = model.sample(model.init(0), 4000, 5)
    # 5 standard errors of mean and variance; the chain with the exact eps* and beta_tilde variances
    # differs from q in its moments by far less (O(1/T) in the reverse variances)
    np.testing.assert_array_less(np.abs(x.mean(0) - M), 5 * S / np.sqrt(4000))
    np.testing.assert_array_less(np.abs(x.var(0) - S ** 2), 5 * S ** 2 * np.sqrt(2 / 4000) + 0.01)


# ---- the network model ---------------------------------------------------------------------------
def test_density_of_a_perturbed_field_integrates_to_one():
    """eps* plus a random network: a field no closed form knows, whose ODE density must still be normalized."""
    model = GaussianOptimum(wiggle=0.3)
    params = model.init(1)
    x = model.sample(params, 2000, 2, method="ode")  # where the mass is: the box is mean +- 7 std of samples
    box = tuple((c - 7 * w, c + 7 * w) for c, w in zip(x.mean(0), x.std(0)))
    # 40 x 40 midpoint cells (and 20 x 20 to show the grid is fine enough): the density is smooth,
    # so the rule's error is far below 3e-3; the solver's (rtol 1e-6) is smaller still
    report = check_normalized(lambda y: model.log_prob(params, y, rtol=1e-6, atol=1e-6), dim=2, bounds=box, n=40,
                              atol=3e-3)
    report.assert_ok()


def test_bound_below_ode_likelihood_at_random_params():
    model = Diffusion(2, hidden=(16, 16), n_steps=50)
    params, x = model.init(0), gaussian_points(20, 6)
    check_diffusion_bound(model, params, x).assert_ok()


def test_bound_below_ode_likelihood_with_fourier_features_of_x():
    model = Diffusion(2, hidden=(16, 16), n_steps=50, x_features=3)
    assert model.network.n_in == 2 * (1 + 2 * 3) + 16  # [x, sin/cos(2^k pi x_d), features(t)]
    check_diffusion_bound(model, model.init(1), gaussian_points(20, 12)).assert_ok()


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_bound_below_ode_likelihood_after_brief_training(prediction):
    model = Diffusion(2, hidden=(32, 32), n_steps=50, prediction=prediction)
    data = gaussian_points(2000, 7)
    params, _ = fit(model, model.init(0), data, steps=300, lr=3e-3, progress=False)
    loss_before, loss_after = (model.loss(p, data, 8) for p in (model.init(0), params))
    # it did learn something: it closed half the distance to the least loss any network can reach
    # (the regression target's variance left given x_t, 2 coordinates, averaged over t = 1..T; see
    # the next tests), far more than the loss's sampling error on 2000 points (~0.03)
    c2 = model.schedule.alpha_bar[1:]  # cos^2 phi_t
    s2, v = 1 - c2, c2 * S ** 2 + 1 - c2
    floor = {"eps": 2 * np.mean(c2 * S ** 2 / v),  # Var(eps | x_t) = 1 - sigma^2 / v
             "v": 2 * np.mean(c2 + s2 * S ** 2 - c2 * s2 * (1 - S ** 2) ** 2 / v)}[prediction]
    assert loss_after - floor < 0.5 * (loss_before - floor)
    check_diffusion_bound(model, params, data[:20]).assert_ok()


# ---- predicting v ---------------------------------------------------------------------------------
def v_model(**kw):
    return Diffusion(2, hidden=(16, 16), n_steps=40, prediction="v", **kw)


@settings(max_examples=10)
@given(seed=st.integers(0, 2 ** 16), phi_share=st.floats(0.0, 1.0))
def test_v_output_is_the_probability_flow_velocity(seed, phi_share):
    """dx/dphi = (eps_theta - sin(phi) x) / cos(phi) with eps_theta = sin(phi) x + cos(phi) v_theta is v_theta:
    the solver's shortcut for prediction="v" and the general formula agree, up to the noise end."""
    from tinygen.diffusion import probability_flow

    model = v_model(schedule="cosine")
    params, x = model.init(seed), gaussian_points(6, seed)
    phi = phi_share * model.schedule.phi[-1]
    t = np.full(6, model.schedule.t_at(phi))
    general = (model.epsilon(params, t, x) - np.sin(phi) * x) / np.cos(phi)
    # 1 / cos(phi) reaches ~100 at the cosine schedule's last step: its rounding, ~1e-14 absolute
    np.testing.assert_allclose(probability_flow.velocity(model, params, phi, x), general, rtol=1e-9, atol=1e-12)


def test_v_loss_is_the_noise_loss_divided_by_cos_squared():
    """|v - v_theta|^2 = |eps - eps_theta|^2 / cos^2(phi_t): the same draws, recomputed through eps_theta."""
    model = v_model(x_features=2)
    params, x = model.init(3), gaussian_points(50, 13)
    rng = np.random.default_rng(5)  # the draws loss makes from rng 5, in its order: t, then eps
    t = rng.integers(1, model.T + 1, size=50)
    eps = rng.standard_normal((50, 2))
    s = model.schedule
    x_t = np.sqrt(s.alpha_bar[t])[:, None] * x + s.sigma[t][:, None] * eps
    weighted = np.sum((eps - model.epsilon(params, t.astype(float), x_t)) ** 2, axis=1) / s.alpha_bar[t]
    np.testing.assert_allclose(model.loss(params, x, 5), np.mean(weighted), rtol=1e-10)


def test_v_model_density_integrates_to_one_and_bounds_hold():
    model = v_model()
    params = model.init(4)
    x = model.sample(params, 1000, 2, method="ode")
    box = tuple((c - 7 * w, c + 7 * w) for c, w in zip(x.mean(0), x.std(0)))
    # as for the perturbed field above: a smooth density, 30 x 30 midpoint cells are within 3e-3
    check_normalized(lambda y: model.log_prob(params, y, rtol=1e-6, atol=1e-6), dim=2, bounds=box, n=30,
                     atol=3e-3).assert_ok()
    check_diffusion_bound(model, params, gaussian_points(20, 14)).assert_ok()
    assert set(params) == {"v"}  # the params say what the network predicts


@pytest.mark.parametrize("train_times", ["steps", "continuous"])
def test_loss_at_the_optimum_is_the_noise_left_unexplained(train_times):
    # eps and x_t = a x_0 + sigma eps are jointly Gaussian, Cov(eps, x_t) = sigma I, so the
    # optimum leaves Var(eps | x_t) = 1 - sigma^2 / v = a^2 s^2 / v per coordinate: the loss's
    # expectation is D E_t[a^2 s^2 / v_t], the average over t = 1..T ("steps") or the integral
    # over (0, T) / T ("continuous": composite midpoint rule, 200 cells per step, error ~1e-7)
    model = GaussianOptimum(n_steps=30, train_times=train_times)
    if train_times == "steps":
        t = np.arange(1, model.T + 1.0)
    else:
        t = (np.arange(200 * model.T) + 0.5) / 200
    a, v = model.marginal(t)
    expected = 2 * np.mean(a ** 2 * S ** 2 / v)
    losses = [model.loss(model.init(0), gaussian_points(20_000, 30 + i), 40 + i) for i in range(20)]
    se = np.std(losses, ddof=1) / np.sqrt(len(losses))  # independent batches: their spread is the error
    assert abs(np.mean(losses) - expected) < 4 * se  # 4 standard errors
    # the two ways of drawing t differ by more than that (t in (0, 1) leaves nearly all of eps)
    other = GaussianOptimum(n_steps=30, train_times="continuous" if train_times == "steps" else "steps")
    assert abs(np.mean([other.loss(other.init(0), gaussian_points(20_000, 30 + i), 40 + i)
                        for i in range(20)]) - expected) > 4 * se


def test_loss_has_a_gradient_for_every_parameter():
    from autograd import grad

    from tinygen.testing import leaves
    model = Diffusion(2, hidden=(8,), n_steps=30)
    g = grad(model.loss)(model.init(0), gaussian_points(64, 9), 0)
    assert all(np.any(leaf != 0) for _, leaf in leaves(g))


def test_same_seed_same_numbers():
    model = Diffusion(2, hidden=(8,), n_steps=30)
    params, x = model.init(0), gaussian_points(5, 10)
    assert model.loss(params, x, 3) == model.loss(params, x, 3)
    np.testing.assert_array_equal(model.elbo(params, x, 3), model.elbo(params, x, 3))
    np.testing.assert_array_equal(model.sample(params, 4, 3), model.sample(params, 4, 3))


# ---- input checks --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, err, match", [
    ({"dim": 0}, ValueError, r"^dim"),
    ({"dim": 2, "n_steps": 10}, ValueError, r"^n_steps"),
    ({"dim": 2, "n_steps": 1, "schedule": "cosine"}, ValueError, r"^n_steps"),
    ({"dim": 2, "schedule": "quadratic"}, ValueError, r"^schedule"),
    ({"dim": 2, "schedule": [0.1, 1.5]}, ValueError, r"^schedule"),
    ({"dim": 2, "hidden": "wide"}, TypeError, r"^hidden"),
    ({"dim": 2, "activation": "swish"}, ValueError, r"^activation"),
    ({"dim": 2, "train_times": "uniform"}, ValueError, r"^train_times"),
    ({"dim": 2, "x_features": -1}, ValueError, r"^x_features"),
    ({"dim": 2, "prediction": "x0"}, ValueError, r"^prediction"),
])
def test_constructor_rejects_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        Diffusion(**kwargs)


def test_methods_reject_bad_input():
    model = Diffusion(2, hidden=(8,), n_steps=30)
    params, x = model.init(0), gaussian_points(4, 11)
    with pytest.raises(ValueError, match=r"^x"):
        model.loss(params, x[:, :1], 0)
    with pytest.raises(ValueError, match=r"^x"):
        model.elbo(params, np.array([[np.nan, 0.0]]), 0)
    with pytest.raises(ValueError, match=r"^context"):
        model.log_prob(params, x, context=x)
    with pytest.raises(ValueError, match=r"^method"):
        model.sample(params, 3, 0, method="ddim")
    with pytest.raises(ValueError, match=r"^n"):
        model.sample(params, 0, 0)
    with pytest.raises(TypeError, match=r"^rng"):
        model.loss(params, x, "seed")
    with pytest.raises(ValueError, match=r"^t"):
        model.score(params, 0.0, x)  # sigma_0 = 0: no score at the data end
    with pytest.raises(ValueError, match=r"^t"):
        model.score(params, 31.0, x)
    with pytest.raises(ValueError, match=r"^params"):
        model.loss(perturb([params], 0), x, 0)
    assert np.all(np.isfinite(anp.asarray(model.score(params, [1.0, 2.0, 3.0, 30.0], x))))
