"""The Gaussian VAE's ELBO (or with an IAF posterior) as one traced operation (``VAE._elbo`` is the reference).

For q(z | x) = N(mu, sigma^2) with closed-form KL and p(x | z) = N(m(z), s^2):
    h = act(trunk(x)),  (mu, rho) = h W + b,  sigma = softplus(rho),  z_j = mu + eps_j sigma
    reconstruction = -(1/S) sum_j log N(x; m(z_j), s^2)
    complexity = sum_d [-log sigma_d + (sigma_d^2 + mu_d^2) / 2 - 1/2]
Backward, with u = (x - m) / s and G = dL/d(log N) = -dL/dreconstruction / S:
    dL/dm = G u / s,   dL/ds = sum G (u^2 - 1) / s,   dL/dx = sum_j -G u / s (+ through the encoder)
    dL/dmu = sum_j dL/dz_j + dL/dcomplexity * mu,
    dL/drho = sum_j dL/dz_j eps_j s(rho) + dL/dcomplexity * (sigma s(rho) - dlog sigma/drho)
(log sigma and log s are computed from rho without forming a rounded sigma = 0.)

With an IAF posterior, z_0j = mu + eps_j sigma goes through the flow, z_Kj = f(z_0j; h(x)) (the stack's
sampling direction, fast/flow.py), the decoder reads z_Kj, and the KL is the Monte Carlo average
    complexity = (1/S) sum_j [log q_0(z_0j) - log|det df/dz_0|_j - log p(z_Kj)],
    log q_0(z_0j) = sum_d [-eps_jd^2 / 2 - log sigma_d] - D log(2 pi) / 2   ((z_0 - mu) / sigma = eps),
so dcomplexity/dz_Kj = z_Kj / S and dcomplexity/dlog|det|_j = -1/S start the flow's backward pass,
which returns dL/dz_0j (then dL/dmu = sum_j dL/dz_0j, dL/drho = sum_j dL/dz_0j eps_j s(rho)
- dL/dcomplexity * dlog sigma/drho) and dL/dh from the flow's context, added to the head's.
"""
import numpy as onp

from ..vae import VAE
from .core import fused
from .flow import FORWARD_STEPS, stack_backward, stack_forward
from .made import log_softplus
from .plain import HALF_LOG_2PI, normal_log_density, sigmoid
from .mlp import ACTIVATIONS_NP, BACKPROP, mlp_backward, mlp_forward
from .registry import accelerate, traced_once, whole_or_plain

__all__ = ["elbo"]


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
    flow_res = None
    if vae.flow is None:
        complexity = onp.sum(-log_sigma + 0.5 * (sigma * sigma + mu * mu) - 0.5, axis=1)
    else:  # z_K = f(z_0; h(x)) through the IAF stack, and the Monte Carlo KL
        context = onp.concatenate([h] * S, axis=0) if vae.flow.context_dim else None
        (z, log_det), flow_saved = stack_forward(FORWARD_STEPS, True, z, context, vae.flow, params["flow"])
        log_q0 = normal_log_density(eps, log_sigma)  # (z_0 - mu) / sigma = eps
        log_pz = onp.sum(-0.5 * z * z, axis=-1).reshape(S, n) - zd * HALF_LOG_2PI
        complexity = (log_q0 - log_det.reshape(S, n) - log_pz).mean(axis=0)
        flow_res = (context, flow_saved, z)
    m, dec_res = mlp_forward(vae.decoder, params["decoder"], z)
    log_s, dlog_s = _decoder_log_scale(vae, params)
    inv_s = onp.exp(-log_s)
    u = (x - m.reshape(S, n, vae.x_dim)) * inv_s
    log_px = normal_log_density(u, log_s)  # (S, n)
    reconstruction = -log_px.mean(axis=0)
    return (-reconstruction - complexity, reconstruction, complexity), \
        (trunk_res, t, h, mu, rho, sigma, dlog_sigma, dec_res, u, inv_s, dlog_s, flow_res)


def _backward(res, g, argnums, x, eps, vae, params):
    trunk_res, t, h, mu, rho, sigma, dlog_sigma, dec_res, u, inv_s, dlog_s, flow_res = res
    g_elbo, g_rec, g_kl = g
    S, n = eps.shape[:2]
    G = (-(g_rec - g_elbo) / S)[None, :, None]  # dL/dlog N(x; m(z_j), s^2), broadcast over (S, n, D)
    Gu_s = G * u * inv_s
    g_z, g_dec = mlp_backward(vae.decoder, dec_res, Gu_s.reshape(S * n, -1))
    g_z = g_z.reshape(S, n, -1)
    K = (g_kl - g_elbo)[:, None]
    s_rho = sigmoid(rho)
    W = params["encoder"]["head"]["W"]
    grads = {"decoder": g_dec}
    if flow_res is None:
        g_mu = g_z.sum(axis=0) + K * mu
        # dsigma/drho = s(rho); dcomplexity/drho = sigma s(rho) - dlog sigma/drho (no 1 / sigma to overflow)
        g_rho = (g_z * eps).sum(axis=0) * s_rho + K * (sigma * s_rho - dlog_sigma)
        g_h = None
    else:
        context, flow_saved, z = flow_res
        # complexity = (1/S) sum_j [log q_0(z_0j) - log|det|_j - log p(z_Kj)]: d/dz_K = z_K / S (p = N(0, I)),
        # d/dlog|det| = -1 / S; log q_0 = sum_d [-eps_d^2 / 2 - log sigma_d] moves with rho only
        g_zK = g_z + (K / S)[None] * z.reshape(S, n, -1)
        gl = onp.broadcast_to(-(K[:, 0] / S), (S, n)).reshape(S * n)
        g_z0, g_context, grads["flow"] = stack_backward(FORWARD_STEPS, True, flow_saved, g_zK.reshape(S * n, -1), gl,
                                                        context, vae.flow, params["flow"])
        g_z0 = g_z0.reshape(S, n, -1)
        g_mu = g_z0.sum(axis=0)
        g_rho = (g_z0 * eps).sum(axis=0) * s_rho - K * dlog_sigma
        g_h = None if g_context is None else g_context.reshape(S, n, -1).sum(axis=0)  # h feeds every sample's flow
    g_out = onp.concatenate([g_mu, g_rho], axis=1)
    g_hidden = g_out @ W.T  # dL/dh through the head
    if g_h is not None:
        g_hidden += g_h  # and through the flow's context
    g_t = BACKPROP[vae.activation](g_hidden, t, h)
    g_x, g_trunk = mlp_backward(vae.trunk, trunk_res, g_t)
    grads["encoder"] = {"trunk": g_trunk, "head": {"W": h.T @ g_out, "b": g_out.sum(axis=0)}}
    if dlog_s is not None:  # dlog N/dlog s = u^2 - 1
        grads["rho_x"] = onp.sum(G * (u * u - 1.0), axis=(0, 1)) * dlog_s
    out = {0: g_x - Gu_s.sum(axis=0), 3: grads}
    return tuple(out[i] for i in argnums)


def _reference(x, eps, vae, params):
    """The same ELBO from the model's own code, with the noise given."""
    parts = vae._elbo_given(params, x, eps, analytic_kl=True)  # (the IAF posterior's KL is Monte Carlo)
    return parts["elbo"], parts["reconstruction"], parts["complexity"]


elbo_fused = fused(_forward, _backward, _reference, "vae_elbo")


@accelerate(VAE, "_elbo")
def elbo(vae, params, x, rng, n_samples, analytic_kl):
    """``VAE._elbo`` (on checked inputs) for a Gaussian q with the closed-form KL, or an IAF posterior
    (whose KL is Monte Carlo), and a Gaussian decoder with a learned or fixed scale."""
    gaussian = vae.posterior == "gaussian" and analytic_kl
    iaf = vae.posterior == "iaf" and all(type(layer) in FORWARD_STEPS for layer in vae.flow.layers)
    if not (gaussian or iaf) or vae.likelihood != "gaussian" or vae.decoder_scale == "network" or vae.trunk is None:
        return NotImplemented
    if not (traced_once(params, x) and whole_or_plain(params)):
        return NotImplemented
    eps = vae._noise(rng, n_samples, x.shape[0])  # the reference's draw
    out = elbo_fused(x, eps, vae, params)
    return {"elbo": out[0], "reconstruction": out[1], "complexity": out[2]}
