"""Monotonic rational-quadratic splines (Neural Spline Flows, Durkan et al. 2019).

On [-B, B] the map x -> y is made of K pieces joined at K + 1 knots
(x^(k), y^(k)), k = 0..K, with x^(0) = y^(0) = -B and x^(K) = y^(K) = B. Each
piece is a ratio of two quadratics, increasing, and its derivative at the knots
is a chosen delta^(k) > 0. Outside [-B, B] the map is the identity; the
boundary derivatives delta^(0) = delta^(K) = 1 make the joins smooth.

Both directions and the derivative are closed form: the forward pass evaluates
the rational function, the inverse solves a quadratic, and the log-derivative
log f'(x) is the elementwise log|det| of an elementwise flow (lecture: Neural
Spline Flows, "f_d, g_d and dg_d/dx_d are all computable in closed form").
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._validate import as_rng, check_positive, check_positive_int, value_of
from .base import Flow

__all__ = ["ElementwiseSpline", "rq_spline", "spline_knots"]

MIN_BIN_WIDTH = 1e-3   # a bin never shrinks below this fraction of 2B ...
MIN_BIN_HEIGHT = 1e-3  # ... in x or in y, so no piece gets a slope near 0 or inf
MIN_DERIVATIVE = 1e-3  # knot derivatives delta^(k) >= this, so f stays strictly increasing


def _check_spline_args(x, widths, heights, derivatives):
    x_s, w_s, h_s, d_s = (value_of(a).shape for a in (x, widths, heights, derivatives))
    if len(w_s) < 2 or w_s[-1] < 1:
        raise ValueError(f"widths: expected shape (..., m, K) with K >= 1 bins, got {w_s}")
    K = w_s[-1]
    if K * max(MIN_BIN_WIDTH, MIN_BIN_HEIGHT) >= 1:
        raise ValueError(f"widths: expected fewer than {int(1 / MIN_BIN_WIDTH)} bins, got K = {K}")
    if len(h_s) < 2 or h_s[-1] != K:
        raise ValueError(f"heights: expected shape (..., m, {K}) like widths, got {h_s}")
    if len(d_s) < 2 or d_s[-1] != K - 1:
        raise ValueError(f"derivatives: expected shape (..., m, {K - 1}) (K - 1 interior knots), got {d_s}")
    for name, s in (("widths", w_s), ("heights", h_s), ("derivatives", d_s)):
        try:
            onp.broadcast_shapes(tuple(x_s) + (1,), s[:-1] + (1,))
        except ValueError:
            raise ValueError(f"{name}: expected leading shape broadcastable to x's {x_s}, got {s}") from None


def _knots(unnormalized, bound, min_size):
    """Knot positions -B = t^(0) < ... < t^(K) = B from unnormalized bin sizes.

    w_k = min + (1 - K min) softmax(u)_k    (fractions of 2B, each >= min, summing to 1)
    t^(k) = -B + 2B sum_{j<k} w_j           (the last knot is set to B exactly)
    """
    K = unnormalized.shape[-1]
    w = min_size + (1 - K * min_size) * F.softmax(unnormalized, axis=-1)
    inner = -bound + 2 * bound * np.cumsum(w, axis=-1)[..., :-1]
    edge = np.ones(inner.shape[:-1] + (1,)) * bound
    return np.concatenate([-edge, inner, edge], axis=-1)


def spline_knots(widths, heights, bound):
    """The knots (x^(0..K), y^(0..K)) of the spline with these unnormalized widths and heights."""
    return _knots(widths, bound, MIN_BIN_WIDTH), _knots(heights, bound, MIN_BIN_HEIGHT)


def _pick(one_hot, values):
    """values[..., k] at the bin k marked in one_hot (autograd has no take_along_axis gradient).

    A product, not np.where: autograd's np.where gradient does not undo broadcasting,
    and shared (m, K) parameters broadcast against the (n, m, K) one-hot mask.
    """
    return np.sum(one_hot * values, axis=-1)


def rq_spline(x, widths, heights, derivatives, bound, inverse=False):
    """Apply a monotonic rational-quadratic spline elementwise.

    x: (n, m). widths, heights: unnormalized (n, m, K) or (m, K) (broadcast
    against x); derivatives: unnormalized (..., K - 1) for the interior knots.
    bound: B > 0, the spline acts on [-B, B] and is the identity outside.
    Returns (y, log_abs_deriv), both (n, m): forward y = f(x) with log f'(x);
    inverse=True, x = f^-1(y) with log (f^-1)'(y) = -log f'(f^-1(y)).

    In bin k, with xi = (x - x^(k)) / w_k in [0, 1], w_k = x^(k+1) - x^(k),
    h_k = y^(k+1) - y^(k), s_k = h_k / w_k:
        y = y^(k) + h_k [s_k xi^2 + delta^(k) xi (1 - xi)] / [s_k + (delta^(k+1) + delta^(k) - 2 s_k) xi (1 - xi)]
    """
    _check_spline_args(x, widths, heights, derivatives)
    B = check_positive(bound, "bound")
    x_knots, y_knots = spline_knots(widths, heights, B)  # x^(0..K), y^(0..K)
    # delta^(k) = min + softplus(u_k) > 0 inside; delta^(0) = delta^(K) = 1 (identity tails)
    inner = MIN_DERIVATIVE + F.softplus(derivatives)
    one = np.ones(inner.shape[:-1] + (1,))
    delta = np.concatenate([one, inner, one], axis=-1)

    # Tails: identity. Both np.where branches are evaluated, so the spline branch
    # gets a clipped "safe" input: no NaN there that could leak into gradients.
    inside = (x > -B) & (x < B)  # at +-B both branches agree (y = +-B, f' = 1); take the exact one
    x_safe = np.clip(x, -B, B)[..., None]  # (n, m, 1)

    # Bin search by counting knots passed (searchsorted), one-hot selection.
    search = y_knots if inverse else x_knots
    k = np.sum(x_safe >= search[..., 1:-1], axis=-1)  # bin index 0..K-1
    K = widths.shape[-1]
    one_hot = k[..., None] == onp.arange(K)
    x_k, x_k1 = _pick(one_hot, x_knots[..., :-1]), _pick(one_hot, x_knots[..., 1:])
    y_k, y_k1 = _pick(one_hot, y_knots[..., :-1]), _pick(one_hot, y_knots[..., 1:])
    d_k, d_k1 = _pick(one_hot, delta[..., :-1]), _pick(one_hot, delta[..., 1:])
    w_k = x_k1 - x_k
    h_k = y_k1 - y_k
    s_k = h_k / w_k  # s_k = h_k / w_k, the bin's mean slope
    v = x_safe[..., 0]
    curv = d_k1 + d_k - 2 * s_k  # delta^(k+1) + delta^(k) - 2 s_k

    if inverse:
        # y - y^(k) = h_k [...] / [...] is a quadratic a xi^2 + b xi + c = 0 in xi:
        dy = v - y_k
        a = h_k * (s_k - d_k) + dy * curv    # a = h_k (s_k - delta^(k)) + (y - y^(k)) curv
        b = h_k * d_k - dy * curv            # b = h_k delta^(k) - (y - y^(k)) curv
        c = -s_k * dy                        # c = -s_k (y - y^(k))
        disc = np.maximum(b ** 2 - 4 * a * c, 0.0)  # >= 0 in exact arithmetic; guard rounding
        xi = 2 * c / (-b - np.sqrt(disc))    # xi = 2c / (-b - sqrt(b^2 - 4ac)): no cancellation
        # a root that rounding put just outside [0, 1] is clipped; at xi = 0 or 1 exactly (an input
        # on a knot) the gradient must still pass, which np.clip's own gradient would not do
        xi = np.where((xi < 0.0) | (xi > 1.0), np.clip(xi, 0.0, 1.0), xi)
        out = x_k + xi * w_k                 # x = x^(k) + xi w_k
    else:
        xi = (v - x_k) / w_k                 # xi = (x - x^(k)) / w_k
        t = xi * (1 - xi)
        out = y_k + h_k * (s_k * xi ** 2 + d_k * t) / (s_k + curv * t)

    t = xi * (1 - xi)
    # f'(x) = s_k^2 [delta^(k+1) xi^2 + 2 s_k xi (1 - xi) + delta^(k) (1 - xi)^2] / [s_k + curv xi (1 - xi)]^2
    log_df = (2 * np.log(s_k) + np.log(d_k1 * xi ** 2 + 2 * s_k * t + d_k * (1 - xi) ** 2)
              - 2 * np.log(s_k + curv * t))
    log_abs_deriv = -log_df if inverse else log_df  # (f^-1)'(y) = 1 / f'(x)
    return np.where(inside, out, x), np.where(inside, log_abs_deriv, 0.0)


class ElementwiseSpline(Flow):
    """x_d = f_d(z_d), one free rational-quadratic spline per dimension (not conditioned).

    log|det df/dz| = sum_d log f_d'(z_d);  log|det dg/dx| = sum_d log g_d'(x_d) = -sum_d log f_d'(z_d)
    params: {"widths": (D, K), "heights": (D, K), "derivatives": (D, K - 1)}, all unnormalized.
    """

    def __init__(self, dim, bins=8, bound=3.0):
        self.dim = check_positive_int(dim, "dim")
        self.bins = check_positive_int(bins, "bins")
        self.bound = check_positive(bound, "bound")
        if self.bins * MIN_BIN_WIDTH >= 1:
            raise ValueError(f"bins: expected fewer than {int(1 / MIN_BIN_WIDTH)}, got {bins}")

    def init(self, rng, scale=0.5):
        """Small random logits: a gently bent spline, not the identity (equal bins, delta = 1 would be)."""
        rng = as_rng(rng)
        D, K = self.dim, self.bins
        return {
            "widths": scale * rng.standard_normal((D, K)),
            "heights": scale * rng.standard_normal((D, K)),
            # softplus(u) + min = 1 at u = inv_softplus(1 - min): start near slope 1 at the knots
            "derivatives": F.inv_softplus(1 - MIN_DERIVATIVE) + scale * rng.standard_normal((D, K - 1)),
        }

    def _apply(self, params, v, inverse):
        out, log_d = rq_spline(v, params["widths"], params["heights"], params["derivatives"],
                               self.bound, inverse=inverse)
        return out, np.sum(log_d, axis=1)

    def _forward(self, params, z, context):
        return self._apply(params, z, inverse=False)

    def _inverse(self, params, x, context):
        return self._apply(params, x, inverse=True)
