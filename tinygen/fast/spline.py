"""SplineCoupling's density direction g as one traced operation (``Coupling._couple`` is the reference).

Forward, as ``rq_spline(..., inverse=True)`` in flows/splines.py: theta = NN(x_{1:d}, c) holds, per
transformed coordinate, K unnormalized widths u^w, K heights u^h and K - 1 knot slopes u^delta.
Each v = x_i inside (-B, B) lies in the bin k of the y-knots with y^(k) <= v < y^(k+1), and
    xi in [0, 1] solves  y(xi) = y^(k) + h_k R(xi) = v,   R(xi) = [s_k xi^2 + delta^(k) t] / Den,
    t = xi (1 - xi),   Den = s_k + curv t,   curv = delta^(k+1) + delta^(k) - 2 s_k,
    z_i = x^(k) + xi w_k,   log|dz_i/dx_i| = -log f' = -(2 log s_k + log N - 2 log Den),
    N = delta^(k+1) xi^2 + 2 s_k t + delta^(k) (1 - xi)^2;   outside: z_i = x_i, log|dz_i/dx_i| = 0.
Backward, from gz = dL/dz and gl = dL/dlog_det, by implicit differentiation of y(xi; theta) = v:
    dxi/dv = 1 / (dy/dxi),   dy/dxi = w_k f' = h_k s_k N / Den^2,
    dxi/dp = -(dy/dp at fixed xi) / (dy/dxi)  for p in (y^(k), h_k, s_k, delta^(k), delta^(k+1)),
then s_k = h_k / w_k, w_k and h_k as knot differences, the bin pick (a scatter), the knots (a reversed
cumsum, then the softmax VJP), delta = MIN_DERIVATIVE + softplus(u^delta) (its slope is a sigmoid),
and the conditioner MLP back to x_{1:d}, c and its weights. A root that rounding pushed outside
[0, 1] is clipped and passes no gradient through xi, as in the reference.
"""
import numpy as onp

from ..flows.coupling import SplineCoupling
from ..flows.splines import MIN_BIN_HEIGHT, MIN_BIN_WIDTH, MIN_DERIVATIVE
from .coupling import (conditioner_backward, conditioner_forward, density_kernel, merge, run_density,
                       stack_steps)
from .plain import softmax, softplus
from .registry import accelerate

__all__ = ["inverse", "spline_density_backward", "spline_density_forward", "spline_inverse", "spline_inverse_backward"]


def _knots(u, bound, min_size):
    """(t^(0..K), softmax(u)), as ``flows.splines._knots`` (with one softmax for both):
    w = min + (1 - K min) softmax(u),  t^(k) = -B + 2B sum_{j<k} w_j,  t^(0) = -B,  t^(K) = B.

    The reference's own softmax (functional.py's formula, in plain NumPy: fast/plain.py) and then
    its operations in its order, so the knots are equal to the bit: an input on a knot falls in the
    same bin, with the same xi, on both paths.
    """
    K = u.shape[-1]
    p = softmax(u, axis=-1)
    inner = -bound + 2 * bound * onp.cumsum(min_size + (1 - K * min_size) * p, axis=-1)[..., :-1]
    edge = onp.full(inner.shape[:-1] + (1,), float(bound))
    return onp.concatenate([-edge, inner, edge], axis=-1), p


def spline_inverse(theta, v, bound):
    """z = f^-1(v) and log (f^-1)'(v) elementwise for theta (n, m, 3K - 1), v (n, m); and the residuals."""
    K = (theta.shape[-1] + 1) // 3
    u_w, u_h, u_d = theta[..., :K], theta[..., K:2 * K], theta[..., 2 * K:]
    B = bound
    x_knots, p_w = _knots(u_w, B, MIN_BIN_WIDTH)  # x^(0..K), each (n, m, K + 1)
    y_knots, p_h = _knots(u_h, B, MIN_BIN_HEIGHT)  # y^(0..K)
    one = onp.ones(u_d.shape[:-1] + (1,))
    # delta^(0..K): 1 at the ends, MIN_DERIVATIVE + softplus(u) inside
    delta = onp.concatenate([one, MIN_DERIVATIVE + softplus(u_d), one], axis=-1)

    inside = (v > -B) & (v < B)
    v_safe = onp.clip(v, -B, B)
    k = onp.sum(v_safe[..., None] >= y_knots[..., 1:-1], axis=-1)  # the bin: y^(k) <= v < y^(k+1)
    at = onp.arange(v.size) * (K + 1) + k.ravel()  # where value k of each element's K + 1 sits, flat
    # x^(k), x^(k+1), y^(k), y^(k+1), delta^(k), delta^(k+1) of each element's bin
    x_k, x_k1, y_k, y_k1, d_k, d_k1 = (a.reshape(-1)[at + j].reshape(v.shape)
                                       for a in (x_knots, y_knots, delta) for j in (0, 1))
    w_k, h_k = x_k1 - x_k, y_k1 - y_k  # w_k = x^(k+1) - x^(k),  h_k = y^(k+1) - y^(k)
    s_k = h_k / w_k                     # the bin's mean slope
    curv = d_k1 + d_k - 2 * s_k         # delta^(k+1) + delta^(k) - 2 s_k
    dy = v_safe - y_k
    a = h_k * (s_k - d_k) + dy * curv  # a xi^2 + b xi + c = 0, as in rq_spline
    b = h_k * d_k - dy * curv
    c = -s_k * dy
    # the root in [0, 1]: xi = 2c / (-b - sqrt(b^2 - 4ac)); a root pushed outside by rounding is clipped
    root = 2 * c / (-b - onp.sqrt(onp.maximum(b ** 2 - 4 * a * c, 0.0)))
    free = (root >= 0.0) & (root <= 1.0)  # not clipped: the gradient passes through xi
    xi = onp.clip(root, 0.0, 1.0)
    t = xi * (1 - xi)
    N = d_k1 * xi ** 2 + 2 * s_k * t + d_k * (1 - xi) ** 2
    Den = s_k + curv * t
    log_df = 2 * onp.log(s_k) + onp.log(N) - 2 * onp.log(Den)  # log f'(z)
    z = onp.where(inside, x_k + xi * w_k, v)  # z = x^(k) + xi w_k inside, the identity outside
    log_dz = onp.where(inside, -log_df, 0.0)
    residuals = (inside, at, p_w, p_h, u_d,
                 x_k, w_k, h_k, s_k, d_k, d_k1, xi, free, t, N, Den)
    return z, log_dz, residuals


def _unpick(at, K, g_left, g_right):
    """dL/d(values 0..K) from dL/d(value k) and dL/d(value k + 1) of each element: the pick's VJP
    (zero at the other knots; ``at`` marks value k of each element in the flat (n, m, K + 1) array)."""
    g = onp.zeros(g_left.shape + (K + 1,))
    flat = g.reshape(-1)  # a view: writing into it fills g
    flat[at] = g_left.ravel()
    flat[at + 1] += g_right.ravel()  # value k + 1 of one element is never value k of the same one
    return g


def _knots_backward(g_knots, p, bound, min_size):
    """dL/du from dL/dt^(0..K) for t^(k) = -B + 2B sum_{j<k} w_j, w = min + (1 - K min) softmax(u).

    t^(0) = -B and t^(K) = B are fixed; w_j moves t^(j+1..K-1), so dL/dw_j = 2B sum_{k>j} dL/dt^(k)
    over the interior knots (a reversed cumsum); then the softmax VJP p * (g - sum_j g_j p_j).
    """
    K = p.shape[-1]
    g_inner = onp.concatenate([g_knots[..., 1:-1], onp.zeros(p.shape[:-1] + (1,))], axis=-1)
    g_w = 2 * bound * onp.cumsum(g_inner[..., ::-1], axis=-1)[..., ::-1]
    g_p = (1 - K * min_size) * g_w
    return p * (g_p - onp.sum(g_p * p, axis=-1, keepdims=True))


def spline_inverse_backward(residuals, gz, gl, bound):
    """(dL/dtheta (n, m, 3K - 1), dL/dv (n, m)) for ``spline_inverse``; gl = dL/dlog (f^-1)' per element."""
    inside, at, p_w, p_h, u_d, x_k, w_k, h_k, s_k, d_k, d_k1, xi, free, t, N, Den = residuals
    K = p_w.shape[-1]
    g_z = onp.where(inside, gz, 0.0)  # the tails are the identity: no parameter gradient there
    g_l = onp.where(inside, gl, 0.0)
    curv = d_k1 + d_k - 2 * s_k
    # z = x^(k) + xi w_k, and log|dz/dx| = -(2 log s_k + log N - 2 log Den), each at fixed xi first:
    g_xk, g_w = g_z, g_z * xi                                          # dz/dx^(k) = 1, dz/dw_k = xi
    dN_dxi = 2 * d_k1 * xi + 2 * s_k * (1 - 2 * xi) - 2 * d_k * (1 - xi)
    g_xi = g_z * w_k - g_l * (dN_dxi / N - 2 * curv * (1 - 2 * xi) / Den)  # dDen/dxi = curv (1 - 2 xi)
    g_s = -g_l * (2 / s_k + 2 * t / N - 2 * (1 - 2 * t) / Den)         # dN/ds_k = 2t, dDen/ds_k = 1 - 2t
    g_dk = -g_l * ((1 - xi) ** 2 / N - 2 * t / Den)                    # dN/ddelta^(k) = (1 - xi)^2, dDen = t
    g_dk1 = -g_l * (xi ** 2 / N - 2 * t / Den)                         # dN/ddelta^(k+1) = xi^2, dDen = t
    # xi solves y(xi) = v: dxi/dv = 1 / (dy/dxi) = Den^2 / (h_k s_k N). A root clipped back into
    # [0, 1] (rounding) passes no gradient to xi, as in the reference.
    q = onp.where(free, g_xi, 0.0) * Den ** 2 / (h_k * s_k * N)  # dL/dv through xi
    R = (s_k * xi ** 2 + d_k * t) / Den  # (y - y^(k)) / h_k
    g_yk = -q                                               # dy/dy^(k) = 1
    g_h = -q * R                                            # dy/dh_k = R at fixed s_k
    g_s = g_s - q * h_k * (xi ** 2 - R * (1 - 2 * t)) / Den  # dy/ds_k = h_k [xi^2 - R (1 - 2t)] / Den
    g_dk = g_dk - q * h_k * t * (1 - R) / Den               # dy/ddelta^(k) = h_k t (1 - R) / Den
    g_dk1 = g_dk1 + q * h_k * t * R / Den                   # dy/ddelta^(k+1) = -h_k t R / Den
    # s_k = h_k / w_k;  w_k = x^(k+1) - x^(k);  h_k = y^(k+1) - y^(k)
    g_h = g_h + g_s / w_k
    g_w = g_w - g_s * s_k / w_k
    g_x_knots = _unpick(at, K, g_xk - g_w, g_w)
    g_y_knots = _unpick(at, K, g_yk - g_h, g_h)
    g_delta = _unpick(at, K, g_dk, g_dk1)
    g_theta = onp.concatenate([_knots_backward(g_x_knots, p_w, bound, MIN_BIN_WIDTH),
                               _knots_backward(g_y_knots, p_h, bound, MIN_BIN_HEIGHT),
                               # d softplus(u) / du = sigmoid(u) = exp(-log(1 + e^-u))
                               g_delta[..., 1:-1] * onp.exp(-onp.logaddexp(0.0, -u_d))],
                              axis=-1)
    return g_theta, onp.where(inside, q, gz)


def spline_density_forward(layer, net, x, context):
    """Plain-NumPy (z, log|det dg/dx|) of one SplineCoupling, and the residuals for the backward pass."""
    theta, mlp_res = conditioner_forward(layer, net, x, context)
    z_trans, log_dz, sp_res = spline_inverse(theta, x[:, layer.idx_trans], layer.bound)
    return (merge(layer, x[:, layer.idx_cond], z_trans), log_dz.sum(axis=1)), (mlp_res, sp_res)


def spline_density_backward(layer, residuals, gz, gl, want_params=True):
    """(dL/dx, dL/dcontext or None, dL/dnet or None) of one SplineCoupling's density direction."""
    mlp_res, sp_res = residuals
    g_theta, g_x_trans = spline_inverse_backward(sp_res, gz[:, layer.idx_trans], gl[:, None], layer.bound)
    return conditioner_backward(layer, mlp_res, gz, g_theta, g_x_trans, want_params)


# ---- a step of a whole stack (fast/flow.py): forward(layer, p, x, c), backward(layer, p, res, gz, gl)
forward_step, backward_step = stack_steps(spline_density_forward, spline_density_backward)


# ---- a single layer
spline_fused = density_kernel(spline_density_forward, spline_density_backward, "spline_coupling_density")


@accelerate(SplineCoupling, "_inverse")
def inverse(layer, params, x, context):
    """``SplineCoupling._inverse`` (the density direction, which training runs) as one traced operation."""
    return run_density(spline_fused, layer, params, x, context)
