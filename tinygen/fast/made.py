"""A Gaussian MADE's log-likelihood as one traced operation (``MADE._log_prob_e`` is the reference).

Forward, from one masked pass (mu_d, rho_d) = NN(x_<d, c) for every d:
    log sigma_d = log softplus(rho_d)   (computed without forming a rounded sigma = 0)
    u_d = (x_d - mu_d) / sigma_d,   log p(x | c) = sum_d [-u_d^2 / 2 - log sigma_d - log(2 pi) / 2]
Backward from g = dL/dlog p:
    dL/dmu_d = g u_d / sigma_d,   dL/drho_d = g (u_d^2 - 1) * dlog sigma_d/drho_d,
    dlog sigma/drho = s(rho) / softplus(rho),   dL/dx_d = -g u_d / sigma_d + (through the network)
"""
import numpy as onp

from ..arm.made import MADE
from .core import fused
from .mlp import mlp_backward, mlp_forward
from .plain import normal_log_density, sigmoid, softplus
from .plain import log_softplus as log_softplus_values
from .registry import accelerate, reference_of, traced_once, whole_or_plain

__all__ = ["log_prob_e", "log_softplus"]


def log_softplus(rho):
    """log sigma = functional.log_softplus(rho) (exact where sigma rounds to 0) and its derivative
    dlog sigma/drho = s(rho) / softplus(rho).

    Usually (every rho > -20): from sigma = softplus(rho) alone, since e^sigma = 1 + e^rho gives
    s(rho) = 1 - e^-sigma = -expm1(-sigma), accurate at both ends (expm1 keeps a small sigma's digits).
    Where some rho <= -20 the ratio is 1 - e^rho / 2 + O(e^(2 rho)) (an e^(2 rho) < 1e-17 remainder),
    which stays finite where softplus(rho) underflows.
    """
    small = rho <= -20.0
    if not onp.any(small):
        sigma = softplus(rho)
        return onp.log(sigma), -onp.expm1(-sigma) / sigma
    e = onp.exp(onp.minimum(rho, -20.0))
    dlog = onp.where(small, 1.0 - e / 2, sigmoid(rho) / softplus(onp.where(small, 0.0, rho)))
    return log_softplus_values(rho), dlog


def _forward(x, context, made, params, mask_set):
    h = x if context is None else onp.concatenate([x, context], axis=1)
    out, mlp_res = mlp_forward(made.nets[mask_set], params["net"], h)
    D = made.dim
    mu, rho = out[:, :D], out[:, D:]  # raw outputs: the mu block, then the rho block
    log_sigma, dlog = log_softplus(rho)
    inv_sigma = onp.exp(-log_sigma)
    u = (x - mu) * inv_sigma
    log_p = normal_log_density(u, log_sigma)
    return log_p, (mlp_res, u, inv_sigma, dlog)


def _backward(res, g, argnums, x, context, made, params, mask_set):
    mlp_res, u, inv_sigma, dlog = res
    g = g[:, None]
    g_mu = g * u * inv_sigma
    g_rho = g * (u * u - 1.0) * dlog
    g_h, g_net = mlp_backward(made.nets[mask_set], mlp_res, onp.concatenate([g_mu, g_rho], axis=1),
                              want_params=3 in argnums)
    D = made.dim
    grads = {0: -g_mu + g_h[:, :D], 1: g_h[:, D:] if context is not None else None, 3: {"net": g_net}}
    return tuple(grads[i] for i in argnums)


def _reference(x, context, made, params, mask_set):
    return reference_of(MADE, "_log_prob_e")(made, params, x, context, mask_set)


made_fused = fused(_forward, _backward, _reference, "gaussian_made_log_prob")


@accelerate(MADE, "_log_prob_e")
def log_prob_e(made, params, x, context, e):
    """``MADE._log_prob_e`` for a Gaussian MADE without direct connections, as one traced operation."""
    if made.likelihood != "gaussian" or made.direct:
        return NotImplemented
    # the whole params tree in one argument: its gradient {"net": ...} comes out whole, with no traced
    # params["net"] look-up (whose backward pass would build a zero tree and add into it)
    if not (traced_once(params, x, context) and whole_or_plain(params)):
        return NotImplemented
    return made_fused(x, context, made, params, e)
