"""Coupling flows: transform one part of z with parameters computed from the other part.

A binary ``mask`` m splits the coordinates: m_i = 1 marks the conditioning part
z_{1:d} (copied unchanged), m_i = 0 the transformed part z_{d+1:D}. (The lecture
puts the d conditioning coordinates first; a mask allows any split, and the
order inside each part is kept.) Forward map f: z -> x, for an elementwise
invertible tau whose parameters theta come from a neural network:

    x_{1:d}   = z_{1:d}
    x_{d+1:D} = tau(z_{d+1:D}; theta(z_{1:d}, c))

Because theta only sees the copied part, the inverse g = f^-1 reads theta off
x_{1:d} = z_{1:d} and inverts tau elementwise, and the Jacobian is block
triangular (lecture):

    dg/dx = [[ I_d,                  0                      ],
             [ dz_{d+1:D}/dx_{1:d},  diag(dz_{d+1:D}/dx_{d+1:D}) ]]

so log|det dg/dx| is the sum of the elementwise log-derivatives of tau^-1.

``AffineCoupling`` (RealNVP) uses tau(u) = u * exp(alpha) + mu;
``SplineCoupling`` (Neural Spline Flows) uses a rational-quadratic spline.
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._validate import as_float_array, check_hidden, check_positive, check_positive_int
from ..nn import MLP
from .base import Flow
from .splines import MIN_DERIVATIVE, rq_spline

__all__ = ["AffineCoupling", "Coupling", "SplineCoupling", "check_mask"]


def check_mask(mask, dim):
    """A binary mask of length dim with at least one 1 (to condition on) and one 0 (to transform)."""
    m = as_float_array(mask, "mask", ndim=1)
    if m.shape[0] != dim:
        raise ValueError(f"mask: expected length {dim} (dim), got shape {m.shape}")
    if not onp.all((m == 0) | (m == 1)):
        raise ValueError(f"mask: expected only 0s and 1s, got {m.tolist()}")
    if not m.any():
        raise ValueError(f"mask: expected at least one 1 (a part to condition on), got {m.tolist()}")
    if m.all():
        raise ValueError(f"mask: expected at least one 0 (a part to transform), got {m.tolist()}")
    return m


class Coupling(Flow):
    """Shared machinery: the mask split, ONE conditioner network, the merge.

    The conditioner is a single MLP from (z_{1:d}, c) to all n_theta parameters
    of every transformed coordinate at once: one network call per layer (autograd
    pays per operation, so fewer, larger ops are faster). Subclasses set
    ``n_theta`` and write ``_tau(theta, u, inverse)`` -> (tau(u), elementwise
    log-derivative, shape (n, D - d)).
    """

    n_theta = None

    def __init__(self, dim, mask, hidden=(64, 64), context_dim=0, activation="relu"):
        self.dim = check_positive_int(dim, "dim")
        self.mask = check_mask(mask, self.dim)
        self.context_dim = check_positive_int(context_dim, "context_dim", minimum=0)
        self.hidden = check_hidden(hidden)
        self.idx_cond = onp.flatnonzero(self.mask == 1)   # z_{1:d}
        self.idx_trans = onp.flatnonzero(self.mask == 0)  # z_{d+1:D}
        # Column j of [z_{1:d}, x_{d+1:D}] goes back to coordinate order by this gather.
        self.unsplit = onp.argsort(onp.concatenate([self.idx_cond, self.idx_trans]))
        n_in = self.idx_cond.size + self.context_dim
        n_out = self.idx_trans.size * self.n_theta
        self.conditioner = MLP((n_in, *self.hidden, n_out), activation=activation, zero_last=True)

    def init(self, rng):
        """Conditioner weights; its last layer is zero, so theta is constant and (see
        ``_theta_at_init``) the layer starts as the identity: deep stacks train easily."""
        net = self.conditioner.init(rng)
        net[-1]["b"] = onp.tile(self._theta_at_init(), self.idx_trans.size)
        return {"conditioner": net}

    def _theta_at_init(self):
        return onp.zeros(self.n_theta)

    def _theta(self, params, z_cond, context):
        """theta(z_{1:d}, c), shape (n, D - d, n_theta)."""
        h = z_cond if self.context_dim == 0 else np.concatenate([z_cond, context], axis=1)
        out = self.conditioner.apply(params["conditioner"], h)
        return np.reshape(out, (out.shape[0], self.idx_trans.size, self.n_theta))

    def _couple(self, params, u, context, inverse):
        u_cond, u_trans = u[:, self.idx_cond], u[:, self.idx_trans]
        v_trans, log_deriv = self._tau(self._theta(params, u_cond, context), u_trans, inverse)
        out = np.concatenate([u_cond, v_trans], axis=1)[:, self.unsplit]
        return out, np.sum(log_deriv, axis=1)

    def _forward(self, params, z, context):
        # x_{1:d} = z_{1:d}, x_{d+1:D} = tau(z_{d+1:D}; theta(z_{1:d}))
        return self._couple(params, z, context, inverse=False)

    def _inverse(self, params, x, context):
        # z_{1:d} = x_{1:d}, z_{d+1:D} = tau^-1(x_{d+1:D}; theta(x_{1:d}))
        return self._couple(params, x, context, inverse=True)

    def _tau(self, theta, u, inverse):
        raise NotImplementedError(f"{type(self).__name__} must implement _tau")


class AffineCoupling(Coupling):
    """RealNVP affine coupling (Dinh et al. 2017), lecture notation:

        x_{1:d}   = z_{1:d}
        x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d})) + mu(z_{1:d})
        z_{d+1:D} = (x_{d+1:D} - mu(x_{1:d})) * exp(-alpha(x_{1:d}))
        log|det df/dz| = sum alpha,   log|det dg/dx| = -sum alpha

    One MLP emits both alpha and mu (and sees the context c if context_dim > 0).

    The log-scale is soft-clamped: alpha = s_max * tanh(a / s_max) for the raw
    network output a. Near 0 this is alpha = a (free to learn), and |alpha| < s_max
    always, so exp(alpha) lies in (e^-s_max, e^s_max): with s_max = 2 a layer can
    stretch or squeeze by up to ~7.4x, plenty for a stack of layers, while an early
    large step cannot send exp(alpha) to inf or 0. A cap that is too tight is a
    real pitfall: the released nflows 0.14 uses a sigmoid scale that can never
    exceed 1.001, and its RealNVP stalls near 1.95 nats on two moons.
    """

    n_theta = 2  # (a, mu) per transformed coordinate

    def __init__(self, dim, mask, hidden=(64, 64), context_dim=0, activation="relu", s_max=2.0):
        self.s_max = check_positive(s_max, "s_max")
        super().__init__(dim, mask, hidden, context_dim, activation)

    def _tau(self, theta, u, inverse):
        alpha = F.soft_clamp(theta[..., 0], self.s_max)  # alpha = s_max tanh(a / s_max), |alpha| < s_max
        mu = theta[..., 1]
        if inverse:
            # z_{d+1:D} = (x_{d+1:D} - mu) * exp(-alpha);  log|dz_i/dx_i| = -alpha_i
            return (u - mu) * np.exp(-alpha), -alpha
        # x_{d+1:D} = z_{d+1:D} * exp(alpha) + mu;  log|dx_i/dz_i| = alpha_i
        return u * np.exp(alpha) + mu, alpha


class SplineCoupling(Coupling):
    """Neural Spline Flow coupling (Durkan et al. 2019): tau is a monotonic
    rational-quadratic spline on [-bound, bound] (identity outside) per coordinate,

        x_{d+1:D} = RQS(z_{d+1:D}; W, H, delta = NN(z_{1:d}, c))
        log|det df/dz| = sum_i log RQS'(z_i),   log|det dg/dx| = -sum_i log RQS'(z_i)

    One MLP emits all K widths, K heights and K - 1 interior knot derivatives of
    every transformed coordinate (3K - 1 numbers each). At init its last layer is
    zero except the derivative biases, set so every delta = 1: equal bins and unit
    slopes make each spline, hence each layer, the identity.
    """

    def __init__(self, dim, mask, hidden=(64, 64), bins=8, bound=3.0, context_dim=0, activation="relu"):
        self.bins = check_positive_int(bins, "bins")
        self.bound = check_positive(bound, "bound")
        self.n_theta = 3 * self.bins - 1
        super().__init__(dim, mask, hidden, context_dim, activation)

    def _theta_at_init(self):
        # delta = MIN_DERIVATIVE + softplus(u) = 1  <=>  u = softplus^-1(1 - MIN_DERIVATIVE)
        u = float(F.inv_softplus(1.0 - MIN_DERIVATIVE))
        return onp.concatenate([onp.zeros(2 * self.bins), onp.full(self.bins - 1, u)])

    def _tau(self, theta, u, inverse):
        K = self.bins
        widths, heights, derivatives = theta[..., :K], theta[..., K:2 * K], theta[..., 2 * K:]
        return rq_spline(u, widths, heights, derivatives, self.bound, inverse=inverse)
