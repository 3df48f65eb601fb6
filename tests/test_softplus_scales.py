"""Models with a softplus scale sigma = log(1 + e^rho) stay finite where sigma rounds to 0.

sigma > 0 in exact arithmetic for every rho, but softplus(rho) is 0 in float64 below
rho = -745. The models compute log sigma = log_softplus(rho) directly, so the normal
log density at its mean, -log sigma - log(2 pi) / 2, is finite and exact down to
rho = -1e4. References: mpmath at 60 digits.
"""
import contextlib

import numpy as np
import pytest

from tinygen import fast
from tinygen import functional as F
from tinygen.arm import MADE
from tinygen.mle import NormalHead
from tinygen.vae import VAE

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)
RHOS = [-30.0, -745.5, -800.0, -1e4]


def _log_sigma(rho):
    import mpmath

    mpmath.mp.dps = 60
    return float(mpmath.log(mpmath.log1p(mpmath.exp(mpmath.mpf(rho)))))


@pytest.mark.parametrize("rho", RHOS)
def test_normal_head_log_density_at_the_mean(rho):
    head = NormalHead(0)
    params = {"out": np.array([0.25, rho])}
    got = head.log_prob(params, np.array([[0.25]]))
    # log N(mu; mu, sigma^2) = -log sigma - log(2 pi) / 2; relative 1e-15: a couple of roundings
    np.testing.assert_allclose(got, [-_log_sigma(rho) - HALF_LOG_2PI], rtol=1e-15)
    mu, sigma = head.predict(params)
    assert mu[0, 0] == 0.25 and sigma[0, 0] == F.softplus(rho)  # predict reports sigma as it is (maybe 0)


@pytest.mark.parametrize("path", ["reference", "untraced fast path"])
@pytest.mark.parametrize("rho", RHOS)
def test_made_gaussian_head_at_the_mean(rho, path):
    made = MADE(2, hidden=(4,))
    params = made.init(0)
    last = params["net"][-1]
    last["W"] = np.zeros_like(last["W"])
    last["b"] = np.array([0.5, -1.0, rho, rho])  # outputs: (mu_1, mu_2, rho_1, rho_2)
    with fast.installed() if path != "reference" else contextlib.nullcontext():
        got = made.log_prob(params, np.array([[0.5, -1.0]]))
    np.testing.assert_allclose(got, [2 * (-_log_sigma(rho) - HALF_LOG_2PI)], rtol=1e-15)


def _vae_with_encoder_rho(rho, likelihood="gaussian"):
    vae = VAE(3, 2, hidden=(4,), likelihood=likelihood)
    params = vae.init(0)
    head = params["encoder"]["head"]
    head["W"] = np.zeros_like(head["W"])
    head["b"] = np.array([0.3, -0.2, rho, rho])  # (mu_1, mu_2, rho_1, rho_2) for every x
    return vae, params


@pytest.mark.parametrize("rho", RHOS)
def test_vae_encoder_with_an_underflowing_sigma(rho):
    vae, params = _vae_with_encoder_rho(rho)
    x = np.random.default_rng(0).normal(size=(5, 3))
    mu, sigma = vae.encode(params, x)  # used to fail with "scale: expected values > 0"
    np.testing.assert_array_equal(mu, [[0.3, -0.2]] * 5)
    np.testing.assert_array_equal(sigma, F.softplus(rho))
    out = vae.elbo(params, x, 0)
    # closed-form KL(N(mu, sigma^2) || N(0, I)) = sum_d [sigma^2 / 2 + mu^2 / 2 - 1/2 - log sigma]
    sigma2 = np.exp(2 * _log_sigma(rho))
    want = sum(0.5 * sigma2 + 0.5 * m ** 2 - 0.5 - _log_sigma(rho) for m in (0.3, -0.2))
    np.testing.assert_allclose(out["complexity"], want, rtol=1e-14)
    assert np.all(np.isfinite(out["elbo"]))
    log_w = vae.log_weights(params, x, 0, k=4)
    assert np.all(np.isfinite(log_w)) and np.all(np.isfinite(vae.log_prob(params, x, k=4)))
    # with sigma ~ 0 every z_k is mu, and q's density there is that of its own draw: (z_k - mu) / sigma = eps_k
    # exactly, so log q(z_k | x) = log N(eps_k; 0, I) - sum_d log sigma_d, and
    # log w_k = log p(x | mu) + log p(mu) - log q(z_k | x) (z_k - mu rounds to 0; eps_k does not)
    eps = np.random.default_rng(0).standard_normal((4, 5, 2))  # log_weights' draw: one chunk of k = 4
    z = np.array([[0.3, -0.2]])
    log_q = -0.5 * np.sum(eps ** 2, axis=-1) + 2 * (-_log_sigma(rho) - HALF_LOG_2PI)
    want_w = vae.decoder_dist(params, z).log_prob(x) + vae.prior.log_prob(z) - log_q
    if rho < -745:  # sigma is exactly 0: z = mu + sigma eps = mu
        np.testing.assert_allclose(log_w, want_w, rtol=1e-12)


def test_vae_learned_decoder_scale_with_an_underflowing_sigma():
    vae = VAE(2, 1, hidden=(4,))
    params = vae.init(0)
    params["rho_x"] = np.array([-800.0, 0.0])
    d = vae.decoder_dist(params, np.zeros((1, 1)))
    x = d.loc  # at the mean the density is finite although s_1 rounds to 0
    want = -_log_sigma(-800.0) - _log_sigma(0.0) - 2 * HALF_LOG_2PI
    np.testing.assert_allclose(d.log_prob(x), [want], rtol=1e-15)
