"""AffineCoupling's density direction g as one traced operation (``Coupling._couple`` is the reference).

Forward, with theta = (a, mu) = NN(x_{1:d}, c) and alpha = s_max tanh(a / s_max):
    z_{1:d} = x_{1:d},   z_{d+1:D} = (x_{d+1:D} - mu) * exp(-alpha),   log|det dg/dx| = -sum alpha
Backward from gz = dL/dz and gl = dL/dlog_det:
    dL/dx_{d+1:D} = gz_t * exp(-alpha),   dL/dmu = -gz_t * exp(-alpha),
    dL/dalpha = -gz_t * z_{d+1:D} - gl,   dL/da = dL/dalpha * (1 - (alpha / s_max)^2),
then through the conditioner to x_{1:d} (added to the copied part's gz_c), c and its weights.
"""
import numpy as onp

from ..flows.coupling import AffineCoupling, Coupling
from .core import fused
from .mlp import mlp_backward, mlp_forward
from .registry import accelerate, traced_once, whole_or_plain


def density_forward(layer, net, x, context):
    """Plain-NumPy (z, log|det dg/dx|) of one AffineCoupling, and the residuals for ``density_backward``."""
    x_cond, x_trans = x[:, layer.idx_cond], x[:, layer.idx_trans]
    h = x_cond if context is None else onp.concatenate([x_cond, context], axis=1)
    out, mlp_res = mlp_forward(layer.conditioner, net, h)
    theta = out.reshape(x.shape[0], layer.idx_trans.size, 2)
    alpha = layer.s_max * onp.tanh(theta[..., 0] / layer.s_max)  # soft clamp
    scale = onp.exp(-alpha)
    z_trans = (x_trans - theta[..., 1]) * scale
    z = onp.empty_like(x)
    z[:, layer.idx_cond], z[:, layer.idx_trans] = x_cond, z_trans
    return (z, -alpha.sum(axis=1)), (mlp_res, alpha, scale, z_trans)


def density_backward(layer, residuals, gz, gl, want_params=True):
    """(dL/dx, dL/dcontext or None, dL/dnet or None) of one AffineCoupling's density direction."""
    mlp_res, alpha, scale, z_trans = residuals
    gz_t = gz[:, layer.idx_trans]
    g_x_trans = gz_t * scale
    g_a = (-gz_t * z_trans - gl[:, None]) * (1.0 - (alpha / layer.s_max) ** 2)
    g_theta = onp.stack([g_a, -g_x_trans], axis=-1).reshape(gz.shape[0], -1)
    g_h, g_net = mlp_backward(layer.conditioner, mlp_res, g_theta, want_params)
    d = layer.idx_cond.size
    g_x = onp.empty_like(gz)
    g_x[:, layer.idx_cond] = gz[:, layer.idx_cond] + g_h[:, :d]
    g_x[:, layer.idx_trans] = g_x_trans
    return g_x, (g_h[:, d:] if g_h.shape[1] > d else None), g_net


def _forward(x, context, layer, net):
    return density_forward(layer, net, x, context)


def _backward(residuals, g, argnums, x, context, layer, net):
    gz, gl = g
    g_x, g_c, g_net = density_backward(layer, residuals, gz, gl, want_params=3 in argnums)
    return tuple({0: g_x, 1: g_c, 3: g_net}[i] for i in argnums)


def _reference(x, context, layer, net):
    return Coupling._couple(layer, {"conditioner": net}, x, context, inverse=True)


coupling_fused = fused(_forward, _backward, _reference, "affine_coupling_density")


@accelerate(AffineCoupling, "_inverse")
def inverse(layer, params, x, context):
    """``AffineCoupling._inverse`` (the density direction, which training runs) as one traced operation."""
    net = params["conditioner"]
    c = context if layer.context_dim else None  # a Compose hands its context to every layer
    if not (traced_once(net, x, c) and whole_or_plain(net)):
        return NotImplemented
    out = coupling_fused(x, c, layer, net)
    return out[0], out[1]
