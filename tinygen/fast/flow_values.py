"""A whole stack's density direction g and sampling direction f, untraced, block by block.

``Compose._inverse`` and ``Compose._forward`` (flows/base.py) are the reference. With nothing
traced (a test NLL, a density grid, ``model.sample``) and inside ``installed()``, a stack whose
every layer is one of the classes below runs here: each block of rows (fast/blocks.py) goes
through all K layers before the next block starts, so its intermediates stay in cache, and

    z = g_1(...g_K(x)),  log|det dg/dx| = sum_k log|det dg_k|   (density, layer K first)
    x = f_K(...f_1(z)),  log|det df/dz| = sum_k log|det df_k|   (sampling, layer 1 first)

with the log-determinants added into one (n,) array in place. Each step computes what its layer's
reference method computes, in plain NumPy:

    AffineCoupling   z_{d+1:D} = (x_{d+1:D} - mu) exp(-alpha)  /  x_{d+1:D} = z_{d+1:D} exp(alpha) + mu
    SplineCoupling   theta from the conditioner, then the spline with its bins first (fast/spline_values.py)
    MAF / IAF layer  one MADE pass in the direction the MADE reads, D passes in the other (the first
                     of them reads 0 on every row: without a context, it runs on one row)
    Permutation, ActNorm, LULinear   a gather, an affine map, the layer's own code

A stack holding another layer (or a subclass, which may change the math) runs the reference.
"""
import numpy as onp

from ..flows.autoregressive import IAFLayer, MAFLayer
from ..flows.base import Compose
from ..flows.coupling import AffineCoupling, SplineCoupling
from ..flows.linear import ActNorm, LULinear, Permutation
from . import flow as _traced  # noqa: F401  (its kernels are registered first: the traced case goes to them)
from .blocks import mlp_values, mlp_weights, row_blocks, serve_untraced, soft_clamp, widest
from .spline_values import rq_spline_values

__all__ = ["applies", "run", "stack_nets"]


# ---- couplings: theta = NN(u_{1:d}, c); u_{1:d} is copied, u_{d+1:D} goes through tau
def _theta(layer, weights, u, c):
    u_cond = u[:, layer.idx_cond]
    h = u_cond if layer.context_dim == 0 else onp.concatenate([u_cond, c], axis=1)
    return mlp_values(layer.conditioner, weights, h).reshape(u.shape[0], layer.idx_trans.size, layer.n_theta)


def _affine(layer, weights, u, c, log_det, inverse):
    theta = _theta(layer, weights, u, c)
    alpha = soft_clamp(theta[..., 0], layer.s_max)  # alpha = s_max tanh(a / s_max)
    v = u[:, layer.idx_trans]
    if inverse:  # z_{d+1:D} = (x_{d+1:D} - mu) * exp(-alpha),  log|det| = -sum alpha
        v -= theta[..., 1]
        v *= onp.exp(-alpha)
        log_det -= alpha.sum(axis=1)
    else:        # x_{d+1:D} = z_{d+1:D} * exp(alpha) + mu,  log|det| = sum alpha
        v *= onp.exp(alpha)
        v += theta[..., 1]
        log_det += alpha.sum(axis=1)
    out = u.copy()
    out[:, layer.idx_trans] = v
    return out


def _spline(layer, weights, u, c, log_det, inverse):
    theta = _theta(layer, weights, u, c)
    v, log_deriv = rq_spline_values(theta, u[:, layer.idx_trans], layer.bound, inverse)
    log_det += log_deriv.sum(axis=1)
    out = u.copy()
    out[:, layer.idx_trans] = v
    return out


def _coupling(tau):
    return (lambda layer, p: mlp_weights(layer.conditioner, p["conditioner"]),
            lambda layer, w, x, c, ld: tau(layer, w, x, c, ld, inverse=True),
            lambda layer, w, z, c, ld: tau(layer, w, z, c, ld, inverse=False))


# ---- MAF / IAF: one MADE gives mu_d(u_<d), alpha_d(u_<d) for every d
def _mu_alpha(layer, weights, u, c):
    made = layer.made
    h = u if made.context_dim == 0 else onp.concatenate([u, c], axis=1)
    raw = mlp_values(made.net, weights, h).reshape(u.shape[0], made.n_raw, made.dim)
    return raw[:, 0], soft_clamp(raw[:, 1], layer.s_max)


def _affine_ar(layer, weights, u, c, log_det, sign, passes):
    """v = u exp(alpha) + mu (sign +1) or (u - mu) exp(-alpha) (sign -1); the MADE reads u (1 pass)
    or v (``passes`` = D passes from v = 0, each making one more coordinate of the ordering exact)."""
    v = u if passes == 1 else onp.zeros(u.shape)
    for t in range(passes):
        # the first of D passes reads v = 0 on every row: without a context its outputs are one row's, for all
        first_only = t == 0 and passes > 1 and layer.made.context_dim == 0
        mu, alpha = _mu_alpha(layer, weights, v[:1] if first_only else v, c)
        v = u * onp.exp(alpha) + mu if sign > 0 else (u - mu) * onp.exp(-alpha)
    log_det += sign * alpha.sum(axis=1)
    return v


def _made_weights(layer, p):
    return mlp_weights(layer.made.net, p["net"])


def _actnorm(layer, p):
    return p["s"], p["t"], onp.sum(p["s"])


def _actnorm_inverse(layer, st, x, c, log_det):
    s, t, sum_s = st
    log_det -= sum_s  # log|det| = -sum_d s_d
    return (x - t) * onp.exp(-s)  # z = (x - t) * exp(-s)


def _actnorm_forward(layer, st, z, c, log_det):
    s, t, sum_s = st
    log_det += sum_s  # log|det| = sum_d s_d
    return z * onp.exp(s) + t  # x = z * exp(s) + t


STEPS = {  # class -> (prepare(layer, p), density step, sampling step); a step(layer, prep, u, c, log_det)
    AffineCoupling: _coupling(_affine),
    SplineCoupling: _coupling(_spline),
    MAFLayer: (_made_weights,
               lambda layer, w, x, c, ld: _affine_ar(layer, w, x, c, ld, -1, 1),
               lambda layer, w, z, c, ld: _affine_ar(layer, w, z, c, ld, +1, layer.dim)),
    IAFLayer: (_made_weights,
               lambda layer, w, x, c, ld: _affine_ar(layer, w, x, c, ld, -1, layer.dim),
               lambda layer, w, z, c, ld: _affine_ar(layer, w, z, c, ld, +1, 1)),
    Permutation: (lambda layer, p: None,
                  lambda layer, _, x, c, ld: x[:, layer.inv_perm],   # z_{pi(i)} = x_i
                  lambda layer, _, z, c, ld: z[:, layer.perm]),      # x_i = z_{pi(i)}
    ActNorm: (_actnorm, _actnorm_inverse, _actnorm_forward),
    LULinear: (lambda layer, p: p,  # D x D factors: the layer's own code, on one block
               lambda layer, p, x, c, ld: _own(LULinear._inverse, layer, p, x, c, ld),
               lambda layer, p, z, c, ld: _own(LULinear._forward, layer, p, z, c, ld)),
}


def _own(method, layer, p, u, c, log_det):
    v, ld = method(layer, p, u, c)
    log_det += ld
    return v


def applies(flow, params, u, context):
    """Can ``run`` take this call? Every layer of exactly a class in ``STEPS``, one params entry each,
    a MADE without direct connections and one mask set (what ``_mu_alpha`` computes)."""
    if type(flow) is not Compose or len(params) != len(flow.layers):
        return False
    for layer in flow.layers:
        if type(layer) not in STEPS:
            return False
        made = getattr(layer, "made", None)
        if made is not None and (made.direct or made.n_masks != 1):
            return False
    return True


def stack_nets(flow):
    """The networks of a stack (coupling conditioners, MADEs): their widest layer sets the rows per
    block (fast/blocks.py)."""
    nets = [getattr(layer, "conditioner", None) or getattr(getattr(layer, "made", None), "net", None)
            for layer in flow.layers]
    return [net for net in nets if net is not None]


def run(flow, params, u, context, inverse, block=None):
    """(g(u), log|det dg/du|) when ``inverse``, else (f(u), log|det df/du|), block by block."""
    layers = list(zip(flow.layers, params))
    if inverse:
        layers.reverse()  # g = g_1 o ... o g_K: layer K first
    side = 1 if inverse else 2
    prepared = [(STEPS[type(layer)][side], layer, STEPS[type(layer)][0](layer, p)) for layer, p in layers]
    out, log_det = onp.empty(u.shape), onp.zeros(u.shape[0])
    for rows in row_blocks(u.shape[0], block, widest(stack_nets(flow))):
        h, c, ld = u[rows], (None if context is None else context[rows]), log_det[rows]  # ld: a view
        for step, layer, prep in prepared:
            h = step(layer, prep, h, c, ld)
        out[rows] = h
    return out, log_det


# ---- in place inside installed(): the untraced case here, the traced one to fast/flow.py's kernels
@serve_untraced(Compose, "_inverse")
def inverse(flow, params, x, context):
    """``Compose._inverse`` (density direction) block by block, when nothing is traced."""
    return run(flow, params, x, context, True) if applies(flow, params, x, context) else NotImplemented


@serve_untraced(Compose, "_forward")
def forward(flow, params, z, context):
    """``Compose._forward`` (sampling direction) block by block, when nothing is traced."""
    return run(flow, params, z, context, False) if applies(flow, params, z, context) else NotImplemented
