"""AffineCoupling's density direction g as one traced operation (``Coupling._couple`` is the reference).

Forward, with theta = (a, mu) = NN(x_{1:d}, c) and alpha = s_max tanh(a / s_max):
    z_{1:d} = x_{1:d},   z_{d+1:D} = (x_{d+1:D} - mu) * exp(-alpha),   log|det dg/dx| = -sum alpha
Backward from gz = dL/dz and gl = dL/dlog_det:
    dL/dx_{d+1:D} = gz_t * exp(-alpha),   dL/dmu = -gz_t * exp(-alpha),
    dL/dalpha = -gz_t * z_{d+1:D} - gl,   dL/da = dL/dalpha * (1 - (alpha / s_max)^2),
then through the conditioner to x_{1:d} (added to the copied part's gz_c), c and its weights.
The conditioner's passes and the kernel's registration are shared with fast/spline.py.
"""
import numpy as onp

from ..flows.coupling import AffineCoupling, Coupling
from .core import fused
from .mlp import mlp_backward, mlp_forward
from .registry import accelerate, traced_once, whole_or_plain

__all__ = ["conditioner_backward", "conditioner_forward", "density_backward", "density_forward", "density_kernel",
           "inverse", "merge", "run_density", "stack_steps"]


def conditioner_forward(layer, net, x, context):
    """theta = NN(x_{1:d}, c) of any Coupling, shape (n, D - d, n_theta), and the MLP's residuals."""
    x_cond = x[:, layer.idx_cond]
    h = x_cond if context is None else onp.concatenate([x_cond, context], axis=1)
    out, mlp_res = mlp_forward(layer.conditioner, net, h)
    return out.reshape(x.shape[0], layer.idx_trans.size, layer.n_theta), mlp_res


def merge(layer, u_cond, v_trans):
    """[u_{1:d}, v_{d+1:D}] back in coordinate order."""
    out = onp.empty((u_cond.shape[0], layer.dim))
    out[:, layer.idx_cond], out[:, layer.idx_trans] = u_cond, v_trans
    return out


def conditioner_backward(layer, mlp_res, gz, g_theta, g_x_trans, want_params):
    """(dL/dx, dL/dcontext or None, dL/dnet or None) of a Coupling's density direction, from
    gz = dL/dz, g_theta = dL/dtheta (n, D - d, n_theta) and g_x_trans = dL/dx_{d+1:D} at fixed theta."""
    g_h, g_net = mlp_backward(layer.conditioner, mlp_res, g_theta.reshape(gz.shape[0], -1), want_params)
    d = layer.idx_cond.size
    # z_{1:d} = x_{1:d}, and x_{1:d} also feeds theta
    g_x = merge(layer, gz[:, layer.idx_cond] + g_h[:, :d], g_x_trans)
    return g_x, (g_h[:, d:] if g_h.shape[1] > d else None), g_net


def density_forward(layer, net, x, context):
    """Plain-NumPy (z, log|det dg/dx|) of one AffineCoupling, and the residuals for ``density_backward``."""
    theta, mlp_res = conditioner_forward(layer, net, x, context)
    alpha = layer.s_max * onp.tanh(theta[..., 0] / layer.s_max)  # soft clamp
    scale = onp.exp(-alpha)
    z_trans = (x[:, layer.idx_trans] - theta[..., 1]) * scale
    z = merge(layer, x[:, layer.idx_cond], z_trans)
    return (z, -alpha.sum(axis=1)), (mlp_res, alpha, scale, z_trans)


def density_backward(layer, residuals, gz, gl, want_params=True):
    """(dL/dx, dL/dcontext or None, dL/dnet or None) of one AffineCoupling's density direction."""
    mlp_res, alpha, scale, z_trans = residuals
    gz_t = gz[:, layer.idx_trans]
    g_x_trans = gz_t * scale
    g_a = (-gz_t * z_trans - gl[:, None]) * (1.0 - (alpha / layer.s_max) ** 2)
    g_theta = onp.stack([g_a, -g_x_trans], axis=-1)  # dL/d(a, mu)
    return conditioner_backward(layer, mlp_res, gz, g_theta, g_x_trans, want_params)


def _reference(x, context, layer, net):
    return Coupling._couple(layer, {"conditioner": net}, x, context, inverse=True)


def density_kernel(forward, backward, name):
    """One traced operation for a Coupling's density direction, from its plain-NumPy
    ``forward(layer, net, x, context)`` and ``backward(layer, residuals, gz, gl, want_params)``."""
    def _forward(x, context, layer, net):
        return forward(layer, net, x, context)

    def _backward(residuals, g, argnums, x, context, layer, net):
        gz, gl = g
        g_x, g_c, g_net = backward(layer, residuals, gz, gl, want_params=3 in argnums)
        return tuple({0: g_x, 1: g_c, 3: g_net}[i] for i in argnums)

    return fused(_forward, _backward, _reference, name)


def run_density(kernel, layer, params, x, context):
    """``layer._inverse`` through ``kernel``, or NotImplemented (the reference runs) unless traced once."""
    net = params["conditioner"]
    c = context if layer.context_dim else None  # a Compose hands its context to every layer
    if not (traced_once(net, x, c) and whole_or_plain(net)):
        return NotImplemented
    out = kernel(x, c, layer, net)
    return out[0], out[1]


def stack_steps(forward, backward):
    """A Coupling's (forward step, backward step) in a whole stack (``STEPS`` in fast/flow.py), from its
    ``forward(layer, net, x, context)`` and ``backward(layer, residuals, gz, gl)``."""
    def forward_step(layer, p, x, c):
        (z, log_det), res = forward(layer, p["conditioner"], x, c if layer.context_dim else None)
        return z, log_det, res

    def backward_step(layer, p, res, gz, gl):
        gx, gc, gnet = backward(layer, res, gz, gl)
        return gx, gc, {"conditioner": gnet}

    return forward_step, backward_step


coupling_fused = density_kernel(density_forward, density_backward, "affine_coupling_density")


@accelerate(AffineCoupling, "_inverse")
def inverse(layer, params, x, context):
    """``AffineCoupling._inverse`` (the density direction, which training runs) as one traced operation."""
    return run_density(coupling_fused, layer, params, x, context)
