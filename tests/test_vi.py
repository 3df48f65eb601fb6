"""Reverse KL: the estimator against closed forms, the bound F >= -log Z, fitting, the one-pass log q."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.testing.strategies import seeds
from tinygen import data, vi
from tinygen.flows import IAF, Compose, ElementwiseAffine, FlowModel, LULinear, RealNVP, planar_model


def gaussian_target(m, s, shift=3.0):
    """log p_tilde(z) = log N(z; m, diag s^2) + log Z with log Z = shift (unknown to the fit)."""
    def log_p_tilde(z):
        return -0.5 * anp.sum(((z - m) / s) ** 2 + np.log(2 * np.pi * s ** 2), axis=1) + shift
    return log_p_tilde


def kl_gaussians(mu_q, s_q, mu_p, s_p):
    """D_KL(N(mu_q, diag s_q^2) || N(mu_p, diag s_p^2)), closed form."""
    return float(np.sum(np.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2) / (2 * s_p ** 2) - 0.5))


affine_q = FlowModel(ElementwiseAffine(2))  # q = N(b, diag(a^2)) with a = exp(log_a)


@settings(max_examples=20)
@given(seed=seeds, spread=st.sampled_from([0.3, 1.0, 2.0]))
def test_estimator_is_unbiased_for_gaussian_q_and_target(seed, spread):
    rng = np.random.default_rng(seed)
    q = {"log_a": spread * rng.normal(size=2), "b": spread * rng.normal(size=2)}
    m, s = rng.normal(size=2), np.exp(0.5 * rng.normal(size=2))
    exact = kl_gaussians(q["b"], np.exp(q["log_a"]), m, s)
    target = gaussian_target(m, s)
    est, se = vi.reverse_kl(affine_q, q, target, n=4000, rng=seed, log_z=3.0)
    assert abs(est - exact) < 5 * se + 1e-12  # 5 standard errors: fails by chance < 1e-6
    bound, se_b = vi.reverse_kl(affine_q, q, target, n=4000, rng=seed)  # same draws, no log Z
    assert bound == pytest.approx(est - 3.0, abs=1e-12) and se_b == se


def test_standard_error_is_the_spread_of_the_estimate():
    q = {"log_a": np.array([0.4, -0.3]), "b": np.array([1.0, -0.5])}
    target = gaussian_target(np.zeros(2), np.ones(2))
    runs = np.array([vi.reverse_kl(affine_q, q, target, n=100, rng=r, log_z=3.0) for r in range(400)])
    spread, mean_se = runs[:, 0].std(ddof=1), runs[:, 1].mean()
    # 400 repeats: the sample std is within ~7% (2 SE of a std) of the truth; allow 20%
    assert spread == pytest.approx(mean_se, rel=0.2)
    exact = kl_gaussians(q["b"], np.exp(q["log_a"]), np.zeros(2), np.ones(2))
    assert abs(runs[:, 0].mean() - exact) < 5 * spread / math.sqrt(400)  # unbiased: 5 SE of the mean


def test_exact_q_makes_every_log_weight_log_z():
    # q = p: log p_tilde(z) - log q(z) = log Z at every z, so the estimate is exact and its SE ~ 0
    m, s = np.array([0.5, -1.0]), np.array([0.8, 1.5])
    q = {"log_a": np.log(s), "b": m}
    est, se = vi.reverse_kl(affine_q, q, gaussian_target(m, s), n=1000, rng=0)
    assert est == pytest.approx(-3.0, abs=1e-12) and se < 1e-12  # round-off of O(10) sums


@pytest.mark.parametrize("name", ["U1", "U2", "U3", "U4", "two_moons"])
def test_bound_never_exceeds_minus_log_z(name):
    target = data.potential(name)
    models = [planar_model(2, 8, init_scale=1.0), RealNVP(2, n_layers=4, hidden=(8,)), affine_q]
    for i, model in enumerate(models):
        params = model.init(i)
        bound, se = vi.reverse_kl(model, params, target, n=2000, rng=i)
        # F = E_q[log q - log p_tilde] >= -log Z (D_KL >= 0): it may dip below only by MC error
        assert bound > -target.log_z - 5 * se


@pytest.mark.parametrize("make, C", [
    (lambda: FlowModel(Compose([LULinear(2), ElementwiseAffine(2)])), [[1.5, 0.6], [0.6, 0.5]]),  # any Gaussian
    (lambda: planar_model(2, 2), [[1.5, 0.0], [0.0, 0.5]]),  # the affine q_0 carries the fit
], ids=["lu_affine", "planar"])
def test_fitting_a_flow_to_a_gaussian_target_recovers_it(make, C):
    m, C = np.array([1.0, -2.0]), np.array(C)
    P = np.linalg.inv(C)
    logdet = np.linalg.slogdet(C)[1]

    def log_p_tilde(z):  # N(m, C) times e^2, a normalizer the fit never sees
        d = z - m
        return -0.5 * anp.sum(anp.dot(d, P) * d, axis=1) - 0.5 * logdet - np.log(2 * np.pi) + 2.0

    model = make()
    params, history = vi.fit_reverse_kl(model, model.init(0), log_p_tilde, steps=400, n_samples=256, rng=0,
                                        lr=2e-2, lr_schedule="cosine", progress=False)
    kl, se = vi.reverse_kl(model, params, log_p_tilde, n=20000, rng=1, log_z=2.0)
    assert kl + 3 * se < 0.01  # 400 steps reach 3e-4 (LU-affine) and 2e-3 (planar)
    assert history["beta"] == [1.0] * 400 and len(history["loss"]) == 400
    x = model.sample(params, 20000, 2)
    # KL < 0.01 keeps the moments close: mean and covariance within 0.05 and 0.1 (SE at n = 2e4 ~ 0.01)
    assert np.allclose(x.mean(0), m, atol=0.05) and np.allclose(np.cov(x.T), C, atol=0.1)


@pytest.mark.parametrize("model", [planar_model(2, 3, init_scale=1.0), RealNVP(2, n_layers=2, hidden=(8,)),
                                   IAF(2, n_layers=2, hidden=(8,))])
def test_one_pass_log_q_is_the_change_of_variables_density(model):
    params = model.init(0)
    z, log_q = vi.sample_with_log_q(model, params, 50, rng=3)
    # log p_base(eps) - log|det df/deps| from the forward pass = log_prob by the inverse g
    assert np.allclose(log_q, model.log_prob(params, z), atol=1e-8)  # planar inverse solved to round-off
    # a model seen only through sample and log_prob takes the same draws and gives the same density
    class Opaque:
        def sample(self, p, n, rng):
            return model.sample(p, n, rng)

        def log_prob(self, p, x):
            return model.log_prob(p, x)

    z2, log_q2 = vi.sample_with_log_q(Opaque(), params, 50, rng=3)
    assert np.allclose(z2, z, atol=1e-12) and np.allclose(log_q2, log_q, atol=1e-8)


def test_annealing_schedule():
    assert vi.anneal_beta(1, 0) == 1.0
    betas = [vi.anneal_beta(t, 5, 0.2) for t in range(1, 8)]
    assert betas == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0], abs=1e-15)
    target = data.potential("U1")
    model = planar_model(2, 2)
    _, history = vi.fit_reverse_kl(model, model.init(0), target, steps=20, anneal=10, rng=0, progress=False)
    assert history["beta"][0] == 0.01 and history["beta"][9:] == [1.0] * 11
    assert np.all(np.diff(history["beta"][:10]) > 0)


def test_infinite_kl_and_nan_targets():
    def half_plane(z):  # p_tilde = 0 for z_1 < 0: a Gaussian q puts mass there, so D_KL(q || p) = inf
        return anp.where(z[:, 0] > 0, 0.0, -anp.inf)

    q = {"log_a": np.zeros(2), "b": np.zeros(2)}
    assert vi.reverse_kl(affine_q, q, half_plane, n=100) == (np.inf, np.inf)
    with pytest.raises(ValueError, match=r"^log_p_tilde: "):  # the target's fault, not the learning rate's
        vi.fit_reverse_kl(affine_q, q, lambda z: anp.sum(z, axis=1) * np.nan, steps=3, progress=False)
    with pytest.raises(ValueError, match=r"^log_p_tilde: "):
        vi.reverse_kl(affine_q, q, lambda z: anp.sum(z, axis=1) * np.nan, n=10)


def test_bad_input():
    q = {"log_a": np.zeros(2), "b": np.zeros(2)}
    target = data.potential("U1")
    with pytest.raises(TypeError, match=r"^model: "):
        vi.reverse_kl(object(), q, target)
    with pytest.raises(ValueError, match=r"^model: "):
        vi.reverse_kl(RealNVP(2, n_layers=2, hidden=(4,), context_dim=1), q, target)
    with pytest.raises(TypeError, match=r"^log_p_tilde: "):
        vi.fit_reverse_kl(affine_q, q, 3.0, steps=2, progress=False)
    with pytest.raises(ValueError, match=r"^log_p_tilde: "):
        vi.fit_reverse_kl(affine_q, q, lambda z: z, steps=2, progress=False)
    with pytest.raises(TypeError, match=r"^batch_size: "):
        vi.fit_reverse_kl(affine_q, q, target, steps=2, batch_size=3)
    with pytest.raises(ValueError, match=r"^steps: "):
        vi.fit_reverse_kl(affine_q, q, target, steps=0)
    with pytest.raises(ValueError, match=r"^n_samples: "):
        vi.fit_reverse_kl(affine_q, q, target, n_samples=0)
    with pytest.raises(ValueError, match=r"^beta_start: "):
        vi.fit_reverse_kl(affine_q, q, target, anneal=10, beta_start=2.0)
    with pytest.raises(ValueError, match=r"^n: "):
        vi.reverse_kl(affine_q, q, target, n=0)
    with pytest.raises(ValueError, match=r"^log_p_tilde: expected a target over the model's 3 dimensions"):
        vi.reverse_kl(FlowModel(ElementwiseAffine(3)), {"log_a": np.zeros(3), "b": np.zeros(3)}, target)
