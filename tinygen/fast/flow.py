"""A whole stack's density direction g = g_1 o ... o g_K as ONE traced operation.

Training a flow evaluates log p_x(x) = log p_z(g(x)) + sum_k log|det dg_k|, and
traced layer by layer that is dozens of operations per layer, each paying
autograd's bookkeeping (and every ``params[k]`` look-up builds zeros for the whole
parameter list in the backward pass). Here ``Compose._inverse`` runs in plain
NumPy for stacks made of the layers below, and the backward pass walks the stack
the other way, each layer turning (dL/dz_k, dL/dlog_det) into dL/dz_{k-1} and its
parameter gradient. ``Compose._inverse`` (flows/base.py) is the reference.

Layers with a density step here: AffineCoupling, SplineCoupling, MAFLayer, Permutation,
ActNorm; with a one-pass sampling step (``Compose._forward``): IAFLayer, Permutation. A
stack holding any other layer runs the reference code, whose MLPs still use the
fused MLP.
"""
import numpy as onp

from ..flows.autoregressive import IAFLayer, MAFLayer
from ..flows.base import Compose
from ..flows.coupling import AffineCoupling, SplineCoupling
from ..flows.linear import ActNorm, Permutation
from .core import fused
from .coupling import density_backward as coupling_backward
from .coupling import density_forward as coupling_forward
from .coupling import stack_steps
from .mlp import mlp_backward, mlp_forward
from .registry import accelerate, reference_of, traced_once, whole_or_plain
from .spline import backward_step as spline_bwd
from .spline import forward_step as spline_fwd

__all__ = ["FORWARD_STEPS", "STEPS", "forward", "inverse", "stack_backward", "stack_forward"]


# ---- one layer each: forward(layer, p, x, c) -> (z, log_det, residuals); backward(layer, p, res, gz, gl)
#      -> (gx, gc or None, gp)

_coupling_fwd, _coupling_bwd = stack_steps(coupling_forward, coupling_backward)


def _maf_fwd(layer, p, x, c):
    """z_d = (x_d - mu_d(x_<d)) exp(-alpha_d(x_<d)), log|det dg/dx| = -sum_d alpha_d: one MADE pass."""
    made = layer.made
    h = x if made.context_dim == 0 else onp.concatenate([x, c], axis=1)
    out, mlp_res = mlp_forward(made.net, p["net"], h)  # a MAFLayer's MADE has no direct connections
    raw = out.reshape(x.shape[0], made.n_raw, made.dim)
    alpha = layer.s_max * onp.tanh(raw[:, 1] / layer.s_max)  # soft clamp
    scale = onp.exp(-alpha)
    z = (x - raw[:, 0]) * scale
    return z, -alpha.sum(axis=1), (mlp_res, alpha, scale, z)


def _maf_bwd(layer, p, res, gz, gl):
    made = layer.made
    mlp_res, alpha, scale, z = res
    g_mu = -gz * scale
    g_a = (-gz * z - gl[:, None]) * (1.0 - (alpha / layer.s_max) ** 2)
    g_out = onp.stack([g_mu, g_a], axis=1).reshape(gz.shape[0], -1)  # raw outputs are (mu, a) blocks
    g_h, g_net = mlp_backward(made.net, mlp_res, g_out)
    D = made.dim
    return gz * scale + g_h[:, :D], (g_h[:, D:] if made.context_dim else None), {"net": g_net}


def _permutation_fwd(layer, p, x, c):
    return x[:, layer.inv_perm], onp.zeros(x.shape[0]), None


def _permutation_bwd(layer, p, res, gz, gl):
    return gz[:, layer.perm], None, {}  # z = x[:, inv_perm]  =>  dL/dx = dL/dz[:, perm]


def _actnorm_fwd(layer, p, x, c):
    scale = onp.exp(-p["s"])
    z = (x - p["t"]) * scale  # z_d = (x_d - t_d) exp(-s_d)
    return z, -onp.sum(p["s"]) * onp.ones(x.shape[0]), (scale, z)


def _actnorm_bwd(layer, p, res, gz, gl):
    scale, z = res
    return gz * scale, None, {"s": -(gz * z).sum(axis=0) - gl.sum(), "t": -(gz * scale).sum(axis=0)}


STEPS = {
    AffineCoupling: (_coupling_fwd, _coupling_bwd),
    SplineCoupling: (spline_fwd, spline_bwd),
    MAFLayer: (_maf_fwd, _maf_bwd),
    Permutation: (_permutation_fwd, _permutation_bwd),
    ActNorm: (_actnorm_fwd, _actnorm_bwd),
}


def _iaf_fwd(layer, p, z, c):
    """x_d = z_d exp(alpha_d(z_<d)) + mu_d(z_<d), log|det df/dz| = sum_d alpha_d: one MADE pass."""
    made = layer.made
    h = z if made.context_dim == 0 else onp.concatenate([z, c], axis=1)
    out, mlp_res = mlp_forward(made.net, p["net"], h)
    raw = out.reshape(z.shape[0], made.n_raw, made.dim)
    alpha = layer.s_max * onp.tanh(raw[:, 1] / layer.s_max)  # soft clamp
    scale = onp.exp(alpha)
    x = z * scale + raw[:, 0]
    return x, alpha.sum(axis=1), (mlp_res, alpha, scale, z)


def _iaf_bwd(layer, p, res, gx, gl):
    made = layer.made
    mlp_res, alpha, scale, z = res
    # dx/dmu = 1, dx/dalpha = z exp(alpha), dlog_det/dalpha = 1, dalpha/da = 1 - (alpha / s_max)^2
    g_a = (gx * z * scale + gl[:, None]) * (1.0 - (alpha / layer.s_max) ** 2)
    g_out = onp.stack([gx, g_a], axis=1).reshape(gx.shape[0], -1)
    g_h, g_net = mlp_backward(made.net, mlp_res, g_out)
    D = made.dim
    return gx * scale + g_h[:, :D], (g_h[:, D:] if made.context_dim else None), {"net": g_net}


# The sampling direction f = f_K o ... o f_1 where it is one pass per layer (IAF; a VAE's
# IAF posterior samples, then scores, in this direction).
FORWARD_STEPS = {
    IAFLayer: (_iaf_fwd, _iaf_bwd),
    Permutation: (lambda layer, p, z, c: (z[:, layer.perm], onp.zeros(z.shape[0]), None),
                  lambda layer, p, res, gx, gl: (gx[:, layer.inv_perm], None, {})),
}


# ---- the stack
def _order(flow, forward_order):
    """Layer indices in the order they are applied: f, layer 1 first (sampling); g, layer K first (density)."""
    ks = range(len(flow.layers))
    return list(ks) if forward_order else list(reversed(ks))


def stack_forward(steps, forward_order, x, context, flow, params):
    """((h, sum_k log|det|), residuals) of a whole Compose in one direction, in plain NumPy."""
    h, log_det, saved = x, onp.zeros(x.shape[0]), []
    for k in _order(flow, forward_order):
        h, ld, res = steps[type(flow.layers[k])][0](flow.layers[k], params[k], h, context)
        log_det = log_det + ld  # the log-determinants add up
        saved.append(res)
    return (h, log_det), saved


def stack_backward(steps, forward_order, saved, gh, gl, context, flow, params):
    """(dL/dinput, dL/dcontext or None, dL/dparams) of ``stack_forward``, from dL/dh and dL/dlog_det."""
    g_context = None if context is None else onp.zeros_like(context)
    g_params = [None] * len(flow.layers)
    for k, res in zip(reversed(_order(flow, forward_order)), reversed(saved)):  # the last layer applied goes first
        gh, gc, g_params[k] = steps[type(flow.layers[k])][1](flow.layers[k], params[k], res, gh, gl)
        if gc is not None:
            g_context = g_context + gc
    return gh, g_context, g_params


def _stack(steps, forward_order, reference, name):
    """One primitive for a whole Compose in one direction, from per-layer steps."""
    def forward(x, context, flow, params):
        return stack_forward(steps, forward_order, x, context, flow, params)

    def backward(saved, g, argnums, x, context, flow, params):
        gh, g_context, g_params = stack_backward(steps, forward_order, saved, *g, context, flow, params)
        return tuple({0: gh, 1: g_context, 3: g_params}[i] for i in argnums)

    return fused(forward, backward, reference, name)


def _applies(steps, flow, params, x, context):
    return (all(type(layer) in steps for layer in flow.layers) and len(params) == len(flow.layers)
            and traced_once(params, x, context) and whole_or_plain(params))


stack_fused = _stack(STEPS, False, lambda x, c, flow, p: reference_of(Compose, "_inverse")(flow, p, x, c),
                     "flow_stack_density")
forward_stack_fused = _stack(FORWARD_STEPS, True,
                             lambda z, c, flow, p: reference_of(Compose, "_forward")(flow, p, z, c),
                             "flow_stack_sampling")


@accelerate(Compose, "_inverse")
def inverse(flow, params, x, context):
    """``Compose._inverse`` as one traced operation when every layer has a density step."""
    if not _applies(STEPS, flow, params, x, context):
        return NotImplemented
    out = stack_fused(x, context, flow, params)
    return out[0], out[1]


@accelerate(Compose, "_forward")
def forward(flow, params, z, context):
    """``Compose._forward`` as one traced operation when every layer has a one-pass sampling step."""
    if not _applies(FORWARD_STEPS, flow, params, z, context):
        return NotImplemented
    out = forward_stack_fused(z, context, flow, params)
    return out[0], out[1]
