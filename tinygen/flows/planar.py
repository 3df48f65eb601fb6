"""Planar flow (Rezende & Mohamed 2015): one hyperplane's worth of bending.

    x = f(z) = z + u_hat * h(w^T z + b),           h = tanh
    psi(z) = h'(w^T z + b) w = (1 - tanh^2(w^T z + b)) w
    log|det df/dz| = log|1 + u_hat^T psi(z)|        (matrix determinant lemma)

f moves every point along the single direction u_hat, by an amount that only
depends on a = w^T z + b. It is invertible iff w^T u_hat >= -1; the raw
parameter u is mapped to a u_hat that satisfies it:

    u_hat = u + (m(w^T u) - w^T u) w / |w|^2,       m(a) = -1 + softplus(a)

so that w^T u_hat = m(w^T u) > -1 for every u.

The inverse has no closed form, but it is a 1-D problem. Writing y = w^T x + b
and c = w^T u_hat, f(z) = x gives along w

    y = a + c * tanh(a),                            a = w^T z + b,

whose left side is strictly increasing in a (derivative 1 + c (1 - tanh^2 a)
> 0 as c > -1), and |c tanh a| <= |c| brackets the root in [y - |c|, y + |c|].
``_inverse`` finds a by vectorized bisection plus Newton polishing, then
z = x - u_hat tanh(a) and log|det dg/dx| = -log|1 + c (1 - tanh^2 a)|.

``planar_forward`` is the forward map on its own, for one layer shared by
every z or for one layer per row (the VAE's amortized posterior, whose encoder
emits u, w, b for each x). ``planar_model`` stacks K layers on a learned
Gaussian, the flow that ``tinygen.vi`` fits to U1-U4 as in the paper.
"""
import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from .. import functional as F
from .._validate import as_float_array, as_rng, check_positive, check_positive_int
from .base import Compose, Flow, FlowModel
from .elementwise import ElementwiseAffine

__all__ = ["PlanarFlow", "constrained_u", "one_plus_c", "planar_forward", "planar_model", "solve_along_w"]

BISECTION_STEPS = 60  # halves a bracket of width 2|c| to 2|c| / 2^60: below float64 spacing
NEWTON_STEPS = 3  # from a bisected start, quadratic convergence reaches round-off in 1-2 steps


TINY = onp.finfo(onp.float64).tiny  # w = 0 has no direction to correct along: then u_hat = u


def _constraint(u, w):
    """(u_hat, 1 + w^T u_hat) from one w^T u and one |w|^2; u, w of shape (D,) or (..., D).

    u_hat = u + (m(w^T u) - w^T u) w / |w|^2,  m(a) = -1 + softplus(a),
    1 + w^T u_hat = 1 + m(w^T u) = softplus(w^T u) > 0, written without the
    cancellation of 1 + (-1 + softplus), which rounds to exactly 0 once w^T u < -37.
    For w = 0 there is no direction to correct along: u_hat = u and 1 + w^T u_hat = 1.
    """
    wu = np.sum(w * u, axis=-1, keepdims=True)
    ww = np.sum(w ** 2, axis=-1, keepdims=True)
    s = F.softplus(wu)  # 1 + m(w^T u)
    u_hat = u + (s - 1.0 - wu) * w / np.maximum(ww, TINY)
    return u_hat, np.where(ww > 0, s, 1.0)[..., 0]


def constrained_u(u, w):
    """u_hat = u + (m(w^T u) - w^T u) w / |w|^2 with m(a) = -1 + softplus(a), so w^T u_hat > -1.

    u, w of shape (D,), or (..., D) for one layer per row (the amortized VAE posterior).
    """
    return _constraint(*_check_uw(u, w))[0]


def one_plus_c(u, w):
    """1 + w^T u_hat (= softplus(w^T u) > 0, or 1 for w = 0), shape (...,) for u, w (..., D)."""
    return _constraint(*_check_uw(u, w))[1]


def _check_uw(u, w):
    """Plain inputs are checked (real, finite, the same shape); traced ones come from a checked model."""
    if hasattr(u, "_value") or hasattr(w, "_value"):
        return u, w
    u, w = as_float_array(u, "u"), as_float_array(w, "w")
    if u.ndim == 0 or u.shape != w.shape:
        raise ValueError(f"w: expected the shape of u {u.shape} (at least one axis), got {w.shape}")
    return u, w


def _log_slope(t, one_plus_wu_hat):
    """log(1 + (1 - t^2) w^T u_hat) = log(t^2 + (1 - t^2)(1 + w^T u_hat)), both terms >= 0."""
    return np.log(t ** 2 + (1.0 - t ** 2) * one_plus_wu_hat)


def _tanh(a):
    """tanh(a); |a| is capped at 30, where tanh is +-1 to float64 precision anyway, because
    autograd's tanh gradient g / cosh(a)^2 overflows (with a warning) for |a| > ~355."""
    return np.tanh(np.clip(a, -30.0, 30.0))


def solve_along_w(y, c, steps=BISECTION_STEPS, newton=NEWTON_STEPS):
    """Solve a + c tanh(a) = y for a, elementwise (plain NumPy; c > -1, y of any shape).

    Bisection on the bracket [y - |c|, y + |c|] is safe because the left side
    is increasing in a; a few Newton steps then remove the last round-off.
    """
    y = onp.asarray(y, dtype=onp.float64)
    lo, hi = y - abs(c), y + abs(c)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        above = mid + c * onp.tanh(mid) > y  # root lies left of mid
        lo, hi = onp.where(above, lo, mid), onp.where(above, mid, hi)
    a = 0.5 * (lo + hi)
    for _ in range(newton):
        t = onp.tanh(a)
        slope = 1.0 + c * (1.0 - t ** 2)  # > 0; ~0 only if c rounds to -1 and a ~ 0
        a = onp.where(slope > 1e-12, a - (a + c * t - y) / onp.maximum(slope, 1e-12), a)
    return a


def planar_forward(u, w, b, z):
    """x = z + u_hat tanh(w^T z + b) and log|det df/dz|, for z of shape (..., D).

    One layer for every z: u, w (D,), b (). One layer per row (the amortized
    posterior, where an encoder emits the layer for each x): u, w (n, D), b (n,)
    with z (..., n, D); each row's layer keeps w^T u_hat > -1 on its own.
    """
    u_hat, one_plus_wu_hat = _constraint(u, w)
    t = _tanh(np.sum(z * w, axis=-1) + b)  # tanh(w^T z + b), shape (...,)
    x = z + t[..., None] * u_hat  # f(z) = z + u_hat h(w^T z + b)
    # log|1 + u_hat^T psi(z)| = log(1 + (1 - tanh^2) w^T u_hat), > 0 inside by the constraint
    return x, _log_slope(t, one_plus_wu_hat)


class PlanarFlow(Flow):
    """x = z + u_hat tanh(w^T z + b) in ``dim`` dimensions (no context).

    params: {"u": (D,), "w": (D,), "b": ()}. ``init_scale`` is the standard
    deviation of the random u, w (b starts at 0): small values start the layer
    near the identity.
    """

    def __init__(self, dim, init_scale=0.1):
        self.dim = check_positive_int(dim, "dim")
        self.init_scale = check_positive(init_scale, "init_scale")

    def init(self, rng):
        rng = as_rng(rng)
        return {
            "u": self.init_scale * rng.standard_normal(self.dim),
            "w": self.init_scale * rng.standard_normal(self.dim),
            "b": onp.zeros(()),
        }

    def _forward(self, params, z, context):
        return planar_forward(params["u"], params["w"], params["b"], z)

    def _inverse(self, params, x, context):
        w, b = params["w"], params["b"]
        u_hat, one_plus_wu_hat = _constraint(params["u"], w)
        c = np.dot(w, u_hat)  # w^T u_hat > -1
        y = np.dot(x, w) + b  # y = a + c tanh(a)
        a0 = solve_along_w(getval(y), float(getval(c)))
        # One Newton step written with autograd.numpy from the (constant) root a0:
        # its value is a0 (the residual is ~0) and its derivative is the implicit
        # one, da/dtheta = -(d residual/dtheta) / (d residual/da), so gradients
        # flow through the inverse as if it had a closed form.
        t0 = onp.tanh(a0)
        a = a0 - (a0 + c * t0 - y) / (1.0 + c * (1.0 - t0 ** 2))
        t = _tanh(a)
        z = x - t[:, None] * u_hat  # z = x - u_hat tanh(a)
        log_det = -_log_slope(t, one_plus_wu_hat)  # minus the forward log-det at z
        return z, log_det


def planar_model(dim, n_layers, init_scale=0.1):
    """A density model of K = ``n_layers`` planar layers on a learned Gaussian, as in a flow posterior:

        z_0 = a * eps + b, eps ~ N(0, I)    (q_0 = N(b, diag(a^2)), an ``ElementwiseAffine``)
        z_K = f_K o ... o f_1(z_0),         log q_K(z_K) = log q_0(z_0) - sum_k log|det df_k/dz_{k-1}|

    The first layer lets q_0 match the target's location and scale, which K planar
    bends alone do slowly. Its ``log_prob`` needs every planar inverse (a 1-D solve
    each); ``tinygen.vi`` samples with log q in one forward pass instead.
    """
    n_layers = check_positive_int(n_layers, "n_layers")
    return FlowModel(Compose([ElementwiseAffine(dim)] + [PlanarFlow(dim, init_scale) for _ in range(n_layers)]))
