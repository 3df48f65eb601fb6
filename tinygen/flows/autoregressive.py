"""Autoregressive flows: MAF (Papamakarios et al. 2017) and IAF (Kingma et al. 2016).

Both are the coupling flow pushed to the limit: every coordinate is an affine
function of itself, with mu_d and alpha_d computed by a MADE from the
coordinates before it in the ordering (lecture: "normalizing flows can be
constructed from autoregressive models").

    MAF:  x_d = z_d * exp(alpha_d(x_<d)) + mu_d(x_<d)    conditioner reads x
    IAF:  x_d = z_d * exp(alpha_d(z_<d)) + mu_d(z_<d)    conditioner reads z

The Jacobian of either direction is triangular in the ordering, with
diagonal exp(+-alpha_d), so

    MAF:  log|det dg/dx| = -sum_d alpha_d(x_<d)
    IAF:  log|det df/dz| = +sum_d alpha_d(z_<d)

Whichever direction reads its own input is ONE MADE pass (MAF's density, IAF's
sampling); the other must rebuild its input one position at a time: D passes.
MAF is fast to train by maximum likelihood and slow to sample; IAF the
reverse, which suits a VAE posterior (sample, then score the sample).
"""
import autograd.numpy as np

from .. import functional as F
from .._deprecated import refuse_unknown, take_renamed
from .._threads import in_hot_loop
from .._validate import as_rng, check_hidden, check_positive, check_positive_int
from ..arm.made import MADE
from .base import Flow, FlowModel
from .linear import with_reversals

__all__ = ["IAF", "IAFLayer", "MAF", "MAFLayer"]


class _AutoregressiveAffine(Flow):
    """Shared part: one MADE emitting (mu, a) for every coordinate, alpha = soft-clamped a.

    alpha = s_max * tanh(a / s_max), as in ``AffineCoupling``: alpha = a near 0, but
    |alpha| < s_max always, so one large early step cannot send exp(alpha) to inf or 0
    (and the D-pass inversion cannot blow up); s_max = 2 still lets a layer stretch
    or squeeze by ~7.4x. The MADE's output layer starts at zero: mu = alpha = 0, so
    every layer starts as the identity and deep stacks train easily.
    """

    def __init__(self, dim, hidden=(64, 64), context_dim=0, order=None, rng=0, s_max=2.0,
                 activation="relu", **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, type(self).__name__)
        refuse_unknown(renamed, type(self).__name__)
        self.dim = check_positive_int(dim, "dim")
        self.context_dim = check_positive_int(context_dim, "context_dim", minimum=0)
        self.s_max = check_positive(s_max, "s_max")
        self.made = MADE(self.dim, check_hidden(hidden), likelihood="gaussian", order=order,
                         context_dim=self.context_dim, rng=rng, activation=activation,
                         zero_last=True)
        self.order = self.made.order

    def init(self, rng):
        return self.made.init(as_rng(rng))

    def _mu_alpha(self, params, u, context):
        """mu_d(u_<d), alpha_d(u_<d) for every d in one MADE pass, each (n, D)."""
        raw = self.made.outputs(params, u, context)
        return raw[:, 0], F.soft_clamp(raw[:, 1], self.s_max)

    def _one_pass(self, params, u, context, sign):
        """v = u * exp(alpha(u)) + mu(u) (sign=+1) or v = (u - mu(u)) * exp(-alpha(u)) (sign=-1):
        the conditioner reads the input u, so one pass gives every coordinate."""
        mu, alpha = self._mu_alpha(params, u, context)
        if sign > 0:
            return u * np.exp(alpha) + mu, np.sum(alpha, axis=1)
        return (u - mu) * np.exp(-alpha), -np.sum(alpha, axis=1)

    @in_hot_loop  # D small passes: one BLAS thread by default (tinygen/_threads.py)
    def _d_passes(self, params, u, context, sign):
        """Solve v from u when the conditioner reads v (the output): D passes.

        Start from v = 0. After pass t the coordinates at positions 1..t of the
        ordering are exact, because mu_d, alpha_d only read v_<d; so after D passes
        all of v is exact, and the alpha of the last pass is the exact alpha(v_<d).
        Built by reassignment only, so autograd differentiates through it.
        """
        v = np.zeros(u.shape)
        for _ in range(self.dim):
            mu, alpha = self._mu_alpha(params, v, context)
            v = u * np.exp(alpha) + mu if sign > 0 else (u - mu) * np.exp(-alpha)
        return v, sign * np.sum(alpha, axis=1)


class MAFLayer(_AutoregressiveAffine):
    """Masked autoregressive flow layer: mu, alpha read x.

    inverse (density, 1 pass): z_d = (x_d - mu_d(x_<d)) * exp(-alpha_d(x_<d)),
                               log|det dg/dx| = -sum_d alpha_d
    forward (sampling, D passes): x_d = z_d * exp(alpha_d(x_<d)) + mu_d(x_<d),
                               log|det df/dz| = +sum_d alpha_d
    """

    def _inverse(self, params, x, context):
        return self._one_pass(params, x, context, sign=-1)

    def _forward(self, params, z, context):
        return self._d_passes(params, z, context, sign=+1)


class IAFLayer(_AutoregressiveAffine):
    """Inverse autoregressive flow layer: mu, alpha read z.

    forward (sampling, 1 pass): x_d = z_d * exp(alpha_d(z_<d)) + mu_d(z_<d),
                                log|det df/dz| = +sum_d alpha_d
    inverse (density, D passes): z_d = (x_d - mu_d(z_<d)) * exp(-alpha_d(z_<d)),
                                log|det dg/dx| = -sum_d alpha_d
    """

    def _forward(self, params, z, context):
        return self._one_pass(params, z, context, sign=+1)

    def _inverse(self, params, x, context):
        return self._d_passes(params, x, context, sign=-1)


def _stack(layer_cls, dim, n_layers, hidden, context_dim, rng, s_max, activation):
    """layer, reverse, layer, reverse, ..., layer: each layer sees the others' last coordinates first."""
    dim = check_positive_int(dim, "dim")
    n_layers = check_positive_int(n_layers, "n_layers")
    rng = as_rng(rng)  # hidden degrees of every MADE
    return with_reversals(layer_cls(dim, hidden, context_dim, rng=rng, s_max=s_max, activation=activation)
                          for _ in range(n_layers))


class MAF(FlowModel):
    """Masked autoregressive flow: n_layers ``MAFLayer`` with reversals between them.

    log p_x(x) = log N(g(x); 0, I) - sum_k sum_d alpha^(k)_d: one MADE pass per layer,
    so training is fast; sampling takes D passes per layer.
    """

    def __init__(self, dim, n_layers=5, hidden=(64, 64), context_dim=0, rng=0, s_max=2.0,
                 activation="relu", **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "MAF")
        refuse_unknown(renamed, "MAF")
        super().__init__(_stack(MAFLayer, dim, n_layers, hidden, context_dim, rng, s_max, activation))


class IAF(FlowModel):
    """Inverse autoregressive flow: n_layers ``IAFLayer`` with reversals between them.

    Sampling x = f(z) is one MADE pass per layer; log_prob needs g, D passes per layer.
    """

    def __init__(self, dim, n_layers=5, hidden=(64, 64), context_dim=0, rng=0, s_max=2.0,
                 activation="relu", **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "IAF")
        refuse_unknown(renamed, "IAF")
        super().__init__(_stack(IAFLayer, dim, n_layers, hidden, context_dim, rng, s_max, activation))
