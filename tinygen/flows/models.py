"""Ready-made coupling flows: RealNVP and a Neural Spline Flow, as density models.

Both are ``FlowModel(Compose([...]))``: x = f(z) = f_K o ... o f_1 (z), z ~ N(0, I),

    log p_x(x) = log p_z(g(x)) + sum_k log|det dz_{k-1}/dz_k|

with forward/inverse/log_prob/sample/loss from ``FlowModel``. A single coupling
layer leaves its conditioning part unchanged, so the layers alternate which
coordinates they transform: every coordinate gets transformed, conditioned on
the others.
"""
import numpy as onp

from .._validate import check_positive, check_positive_int
from .base import Compose, FlowModel
from .coupling import AffineCoupling, SplineCoupling
from .linear import with_reversals

__all__ = ["NeuralSplineFlow", "RealNVP", "coupling_masks"]


def coupling_masks(dim, n_layers):
    """Masks (1 = conditioning part) for a stack of n_layers coupling layers.

    Pairs of layers use a split and its complement, so each coordinate is
    transformed once per pair. The split alternates between halves
    (1..1 0..0) and a checkerboard (1 0 1 0 ...), so that in D >= 4 every
    coordinate is, at some layer, conditioned on every other one. For D = 2
    both splits are [1, 0], giving [1, 0], [0, 1], [1, 0], ...
    """
    dim = check_positive_int(dim, "dim", minimum=2)
    n_layers = check_positive_int(n_layers, "n_layers")
    halves = (onp.arange(dim) < dim // 2).astype(float)
    checker = (onp.arange(dim) % 2 == 0).astype(float)
    masks = []
    for k in range(n_layers):
        m = halves if (k // 2) % 2 == 0 else checker
        masks.append(m if k % 2 == 0 else 1.0 - m)
    return masks


class RealNVP(FlowModel):
    """RealNVP: n_layers affine couplings with alternating masks (see ``coupling_masks``).

    x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d})) + mu(z_{1:d}) in every layer,
    alpha soft-clamped to (-s_max, s_max) (see ``AffineCoupling``).
    With context_dim > 0 it models p(x | c): every conditioner also sees c.
    """

    def __init__(self, dim, n_layers=8, hidden=(64, 64), context_dim=0, activation="relu", s_max=2.0):
        layers = [AffineCoupling(dim, m, hidden, context_dim, activation, s_max)
                  for m in coupling_masks(dim, n_layers)]
        super().__init__(Compose(layers))


class NeuralSplineFlow(FlowModel):
    """Neural Spline Flow (coupling version): spline couplings with a reversal between them.

    Each coupling transforms the second half of its input with rational-quadratic
    splines conditioned on the first half; the ``Permutation`` (reverse) in between
    swaps the roles. The default bound = 4 covers standardized-ish 2-D data such as
    two moons (in about [-1.2, 2.2] x [-0.7, 1.2]) and the N(0, I) base up to 4
    standard deviations; outside [-bound, bound] each spline is the identity.
    """

    def __init__(self, dim, n_layers=4, hidden=(64, 64), bins=8, bound=4.0, context_dim=0,
                 activation="relu"):
        dim = check_positive_int(dim, "dim", minimum=2)
        n_layers = check_positive_int(n_layers, "n_layers")
        bound = check_positive(bound, "bound")
        mask = coupling_masks(dim, 1)[0]
        super().__init__(with_reversals(SplineCoupling(dim, mask, hidden, bins, bound, context_dim, activation)
                                        for _ in range(n_layers)))
