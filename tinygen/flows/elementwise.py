"""Elementwise flows and the lecture's 1-D change-of-variables examples.

An elementwise flow transforms each coordinate on its own,
f(z) = (f_1(z_1), ..., f_D(z_D)), so its Jacobian is diagonal and
log|det df/dz| = sum_d log f_d'(z_d).

The fixed transforms ``Scale`` and ``Exp`` (no parameters) and the base
distribution ``Uniform`` reproduce the lecture's worked examples exactly:

    z ~ U(0, 2), x = 4z:        p_x(4) = p_z(4/4) * 1/4 = 1/2 * 1/4 = 1/8
    z ~ N(mu, sigma^2), x = e^z: p_x(x) = p_z(log x) / x   (log-normal)

    >>> model = FlowModel(Scale(4.0), base=Uniform(0.0, 2.0))
    >>> float(np.exp(model.log_prob({}, [[4.0]])))   # 0.125
"""
import autograd.numpy as np
import numpy as onp

from .._deprecated import sample_order
from .._validate import as_batch, as_float_array, as_rng, check_positive, check_positive_int, value_of
from .base import Flow

__all__ = ["ElementwiseAffine", "Exp", "Scale", "Uniform"]


class ElementwiseAffine(Flow):
    """x_d = a_d z_d + b_d with a_d = exp(log_a_d) > 0.

    a_d is stored as its log: any real log_a_d gives a_d > 0, so gradient
    steps can never make the map non-invertible (a_d = 0) or flip its sign,
    and log|a_d| is the parameter itself.

    inverse: z_d = (x_d - b_d) / a_d
    dg/dx = diag(1/a_1, ..., 1/a_D), so log|det dg/dx| = -sum_d log a_d
    and log|det df/dz| = +sum_d log a_d.
    params: {"log_a": (D,), "b": (D,)}
    """

    def __init__(self, dim):
        self.dim = check_positive_int(dim, "dim")

    def init(self, rng, scale=0.1):
        """Small random log_a and b: near the identity, but not exactly it."""
        rng = as_rng(rng)
        return {"log_a": scale * rng.standard_normal(self.dim), "b": scale * rng.standard_normal(self.dim)}

    def _forward(self, params, z, context):
        x = np.exp(params["log_a"]) * z + params["b"]    # x_d = a_d z_d + b_d
        log_det = np.sum(params["log_a"]) * np.ones(z.shape[0])  # sum_d log a_d, same for every sample
        return x, log_det

    def _inverse(self, params, x, context):
        z = (x - params["b"]) * np.exp(-params["log_a"])  # z_d = (x_d - b_d) / a_d
        log_det = -np.sum(params["log_a"]) * np.ones(x.shape[0])  # log prod_d 1/a_d
        return z, log_det


class Scale(Flow):
    """x = factor * z in every coordinate, a fixed map (params {}).

    g(x) = x / factor, dg/dx = 1/factor, so log|det dg/dx| = -D log(factor).
    """

    def __init__(self, factor, dim=1):
        self.factor = check_positive(factor, "factor")
        self.dim = check_positive_int(dim, "dim")

    def _forward(self, params, z, context):
        return self.factor * z, self.dim * onp.log(self.factor) * np.ones(z.shape[0])

    def _inverse(self, params, x, context):
        return x / self.factor, -self.dim * onp.log(self.factor) * np.ones(x.shape[0])


class Exp(Flow):
    """x = exp(z) elementwise, a fixed map (params {}).

    f'(z) = e^z, so log|det df/dz| = sum_d z_d.
    g(x) = log x needs x > 0; g'(x) = 1/x, so log|det dg/dx| = -sum_d log x_d.
    With z ~ N(mu, sigma^2): p_x(x) = p_z(log x) / x, the log-normal density.
    """

    def __init__(self, dim=1):
        self.dim = check_positive_int(dim, "dim")

    def _forward(self, params, z, context):
        return np.exp(z), np.sum(z, axis=1)  # x = e^z; log prod_d e^{z_d}

    def _inverse(self, params, x, context):
        v = value_of(x)
        if not onp.all(v > 0):
            raise ValueError(f"x: Exp's inverse log(x) needs x > 0, got minimum {v.min()!r}")
        log_x = np.log(x)
        return log_x, -np.sum(log_x, axis=1)  # z = log x; log prod_d 1/x_d


class Uniform:
    """Uniform base distribution p_z on the box [low, high]^D.

    p_z(z) = 1 / (high - low)^D inside the box; outside it the density is 0 and
    log_prob returns -inf (not an error: a point a flow maps outside the
    support has probability zero, e.g. the lecture's x = 4z at x = 10).
    """

    def __init__(self, low, high, dim=1):
        self.low = float(as_float_array(low, "low", ndim=0))
        self.high = float(as_float_array(high, "high", ndim=0))
        if not self.low < self.high:
            raise ValueError(f"high: expected high > low = {self.low}, got {self.high}")
        self.dim = check_positive_int(dim, "dim")

    def log_prob(self, x):
        x = as_batch(x, "x", self.dim)
        v = value_of(x)
        inside = onp.all((v >= self.low) & (v <= self.high), axis=1)
        # log p_z = -D log(high - low) inside, log 0 = -inf outside
        return np.where(inside, -self.dim * onp.log(self.high - self.low), -onp.inf)

    def sample(self, n, rng=None):
        n, rng = sample_order(n, rng, "Uniform.sample")  # the old order sample(rng, n) warns
        n = check_positive_int(n, "n")
        return as_rng(rng).uniform(self.low, self.high, size=(n, self.dim))

    def entropy(self):
        """H = D log(high - low)."""
        return self.dim * onp.log(self.high - self.low)
