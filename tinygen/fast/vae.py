"""The Gaussian VAE's ELBO as one traced operation (``VAE._elbo`` is the reference).

For q(z | x) = N(mu, sigma^2) with closed-form KL and p(x | z) = N(m(z), s^2):
    h = act(trunk(x)),  (mu, rho) = h W + b,  sigma = softplus(rho),  z_j = mu + eps_j sigma
    reconstruction = -(1/S) sum_j log N(x; m(z_j), s^2)
    complexity = sum_d [-log sigma_d + (sigma_d^2 + mu_d^2) / 2 - 1/2]
Backward, with u = (x - m) / s and G = dL/d(log N) = -dL/dreconstruction / S:
    dL/dm = G u / s,   dL/ds = sum G (u^2 - 1) / s,   dL/dx = sum_j -G u / s (+ through the encoder)
    dL/dmu = sum_j dL/dz_j + dL/dcomplexity * mu,
    dL/drho = sum_j dL/dz_j eps_j s(rho) + dL/dcomplexity * (sigma s(rho) - dlog sigma/drho)
(log sigma and log s are computed from rho without forming a rounded sigma = 0.)
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._validate import as_rng
from ..distributions import Normal, kl_divergence
from ..vae import VAE, reparameterize
from .core import fused
from .made import log_softplus
from .plain import sigmoid
from .mlp import ACTIVATIONS_NP, BACKPROP, mlp_backward, mlp_forward
from .registry import accelerate, traced_once, whole_or_plain

__all__ = ["elbo"]

HALF_LOG_2PI = 0.5 * onp.log(2 * onp.pi)


def _decoder_log_scale(vae, params):
    """log s and dlog s/drho_x (None for a fixed s)."""
    if vae.decoder_scale == "learned":
        return log_softplus(params["rho_x"])
    return onp.log(vae.decoder_scale) * onp.ones(vae.x_dim), None


def _forward(x, eps, vae, params):
    enc = params["encoder"]
    t, trunk_res = mlp_forward(vae.trunk, enc["trunk"], x)
    h = ACTIVATIONS_NP[vae.activation](t)
    out = h @ enc["head"]["W"] + enc["head"]["b"]
    zd = vae.z_dim
    mu, rho = out[:, :zd], out[:, zd:]
    log_sigma, dlog_sigma = log_softplus(rho)  # log sigma without a rounded sigma = 0
    sigma = onp.exp(log_sigma)
    S, n = eps.shape[:2]
    z = (mu + eps * sigma).reshape(S * n, zd)  # z_j = mu + eps_j sigma
    m, dec_res = mlp_forward(vae.decoder, params["decoder"], z)
    log_s, dlog_s = _decoder_log_scale(vae, params)
    inv_s = onp.exp(-log_s)
    u = (x - m.reshape(S, n, vae.x_dim)) * inv_s
    log_px = onp.sum(-0.5 * u * u - log_s, axis=-1) - vae.x_dim * HALF_LOG_2PI  # (S, n)
    reconstruction = -log_px.mean(axis=0)
    complexity = onp.sum(-log_sigma + 0.5 * (sigma * sigma + mu * mu) - 0.5, axis=1)
    return (-reconstruction - complexity, reconstruction, complexity), \
        (trunk_res, t, h, mu, rho, sigma, dlog_sigma, dec_res, u, inv_s, dlog_s)


def _backward(res, g, argnums, x, eps, vae, params):
    trunk_res, t, h, mu, rho, sigma, dlog_sigma, dec_res, u, inv_s, dlog_s = res
    g_elbo, g_rec, g_kl = g
    S, n = eps.shape[:2]
    G = (-(g_rec - g_elbo) / S)[None, :, None]  # dL/dlog N(x; m(z_j), s^2), broadcast over (S, n, D)
    Gu_s = G * u * inv_s
    g_z, g_dec = mlp_backward(vae.decoder, dec_res, Gu_s.reshape(S * n, -1))
    g_z = g_z.reshape(S, n, -1)
    K = (g_kl - g_elbo)[:, None]
    g_mu = g_z.sum(axis=0) + K * mu
    # dsigma/drho = s(rho); dcomplexity/drho = sigma s(rho) - dlog sigma/drho (no 1 / sigma to overflow)
    s_rho = sigmoid(rho)
    g_rho = (g_z * eps).sum(axis=0) * s_rho + K * (sigma * s_rho - dlog_sigma)
    g_out = onp.concatenate([g_mu, g_rho], axis=1)
    W = params["encoder"]["head"]["W"]
    g_t = BACKPROP[vae.activation](g_out @ W.T, t, h)
    g_x, g_trunk = mlp_backward(vae.trunk, trunk_res, g_t)
    grads = {"encoder": {"trunk": g_trunk, "head": {"W": h.T @ g_out, "b": g_out.sum(axis=0)}}, "decoder": g_dec}
    if dlog_s is not None:  # dlog N/dlog s = u^2 - 1
        grads["rho_x"] = onp.sum(G * (u * u - 1.0), axis=(0, 1)) * dlog_s
    out = {0: g_x - Gu_s.sum(axis=0), 3: grads}
    return tuple(out[i] for i in argnums)


def _reference(x, eps, vae, params):
    """The same ELBO from the model's own pieces, with the noise given."""
    mu, rho, _ = vae._encode_rho(params, x)
    z = reparameterize(mu, F.softplus(rho), eps)
    reconstruction = -np.mean(vae._decoder_dist(params, z).log_prob(x), axis=0)
    complexity = kl_divergence(Normal(mu, log_scale=F.log_softplus(rho)), vae.prior)
    return -reconstruction - complexity, reconstruction, complexity


elbo_fused = fused(_forward, _backward, _reference, "gaussian_vae_elbo")


@accelerate(VAE, "_elbo")
def elbo(vae, params, x, rng, n_samples, analytic_kl):
    """``VAE._elbo`` (on checked inputs) for a Gaussian q with the closed-form KL and a Gaussian
    decoder with a learned or fixed scale."""
    if (vae.posterior != "gaussian" or vae.likelihood != "gaussian" or vae.decoder_scale == "network"
            or vae.trunk is None or not analytic_kl):
        return NotImplemented
    if not (traced_once(params, x) and whole_or_plain(params)):
        return NotImplemented
    eps = as_rng(rng).standard_normal((n_samples, x.shape[0], vae.z_dim))  # the reference's draw, in its order
    out = elbo_fused(x, eps, vae, params)
    return {"elbo": out[0], "reconstruction": out[1], "complexity": out[2]}
