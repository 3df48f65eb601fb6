"""The rational-quadratic spline, both directions, values only, bins first (``flows.splines.rq_spline``
is the reference; its docstring has the formulas).

The reference holds a spline's K bins on the last axis, (n, m, K): every softmax, cumulative sum,
bin count and pick is then a reduction over 8 or so contiguous numbers per element, which NumPy does
one short row at a time. Here the bins come first, (K, N) with N = n m the spline's elements: each
of those steps is a handful of whole-row operations of length N (the max over bins is K - 1
elementwise maxima, the bin count K - 1 comparisons), and a bin's knots are picked by one gather.
The arithmetic per element is the reference's (the softmax's sum of exponentials taken once), so
the values agree to rounding.
"""
import numpy as onp

from ..flows.splines import MIN_BIN_HEIGHT, MIN_BIN_WIDTH, MIN_DERIVATIVE
from .plain import softplus

__all__ = ["rq_spline_values"]


def _knots(u, bound, min_size):
    """t^(0..K), (K + 1, N), from unnormalized sizes u (K, N):
    w = min + (1 - K min) softmax(u),  t^(k) = -B + 2B sum_{j<k} w_j,  t^(0) = -B,  t^(K) = B.
    softmax(u)_j = e^(u_j - m) / sum_i e^(u_i - m), m = max_i u_i (every exponent <= 0, the largest
    term 1): functional.softmax's values to rounding, with one exp per entry instead of two."""
    K = u.shape[0]
    m = u.max(axis=0)
    e = onp.exp(u - onp.where(onp.isfinite(m), m, 0.0))
    w = e / e.sum(axis=0)
    w *= 1 - K * min_size
    w += min_size
    t = onp.empty((K + 1, u.shape[1]))
    t[0], t[K] = -bound, bound
    t[1] = w[0]
    for j in range(1, K - 1):  # the running sums, row by row (NumPy's cumsum over axis 0 is slow)
        onp.add(t[j], w[j], out=t[j + 1])
    t[1:K] *= 2 * bound
    t[1:K] += -bound
    return t


def _slopes(u_d, k, cols):
    """delta^(k) of each element's bin edge k (0..K): 1 at the ends, MIN_DERIVATIVE + softplus(u) inside;
    the softplus only where it is picked, not for all K - 1 interior knots."""
    K = u_d.shape[0] + 1
    raw = u_d[onp.clip(k - 1, 0, K - 2), cols]
    return onp.where((k == 0) | (k == K), 1.0, MIN_DERIVATIVE + softplus(raw))


def rq_spline_values(theta, u, bound, inverse):
    """(v, log|dv/du|), each shaped like u (n, m), for theta (n, m, 3K - 1) = (widths, heights, slopes):
    v = f(u) and log f'(u), or (inverse) v = f^-1(u) and log (f^-1)'(u); the identity outside [-B, B]."""
    P = theta.shape[-1]
    K = (P + 1) // 3
    th = onp.ascontiguousarray(theta.reshape(-1, P).T)  # (3K - 1, N): bins first
    x = u.reshape(-1)
    B = float(bound)
    x_knots = _knots(th[:K], B, MIN_BIN_WIDTH)
    y_knots = _knots(th[K:2 * K], B, MIN_BIN_HEIGHT)

    inside = (x > -B) & (x < B)
    v = onp.clip(x, -B, B)
    search = y_knots if inverse else x_knots
    k = (v >= search[1:K]).sum(axis=0)  # the bin: knots passed
    cols = onp.arange(x.size)
    x_k, x_k1 = x_knots[k, cols], x_knots[k + 1, cols]
    y_k, y_k1 = y_knots[k, cols], y_knots[k + 1, cols]
    d_k, d_k1 = _slopes(th[2 * K:], k, cols), _slopes(th[2 * K:], k + 1, cols)  # delta^(k), delta^(k+1)
    w_k = x_k1 - x_k
    h_k = y_k1 - y_k
    s_k = h_k / w_k
    curv = d_k1 + d_k - 2 * s_k  # delta^(k+1) + delta^(k) - 2 s_k
    if inverse:  # a xi^2 + b xi + c = 0, the root in [0, 1] without cancellation
        dy = v - y_k
        a = h_k * (s_k - d_k) + dy * curv
        b = h_k * d_k - dy * curv
        c = -s_k * dy
        xi = onp.clip(2 * c / (-b - onp.sqrt(onp.maximum(b ** 2 - 4 * a * c, 0.0))), 0.0, 1.0)
        out = x_k + xi * w_k
    else:
        xi = (v - x_k) / w_k
        t = xi * (1 - xi)
        out = y_k + h_k * (s_k * xi ** 2 + d_k * t) / (s_k + curv * t)
    t = xi * (1 - xi)
    log_df = 2 * onp.log(s_k) + onp.log(d_k1 * xi ** 2 + 2 * s_k * t + d_k * (1 - xi) ** 2) \
        - 2 * onp.log(s_k + curv * t)
    out = onp.where(inside, out, x)
    log_d = onp.where(inside, -log_df if inverse else log_df, 0.0)
    return out.reshape(u.shape), log_d.reshape(u.shape)
