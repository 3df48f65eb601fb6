"""Dequantization: scoring a continuous density model on discrete images, with the bound written out.

An image x has D pixels, each an integer grey level in {0, ..., K-1}. A density
p on R^D gives probability zero to any single point, so a continuous model is
scored on the discrete x through the probability of the unit cell above x:

    P(x) = integral over u in [0, 1)^D of p_v(x + u) du,     v = x + u in [0, K)^D.

The model itself sees y = v / K in [0, 1)^D. Change of variables from v to
y = v / K (a scaling by 1/K in each of D coordinates, |dy/dv| = K^-D):

    p_v(v) = p(v / K) K^-D,  so  log p_v(x + u) = log p((x + u) / K) - D log K.

Uniform dequantization (u ~ U[0, 1)^D) and Jensen's inequality (log E >= E log):

    log P(x) = log E_u[p_v(x + u)] >= E_u[log p((x + u) / K)] - D log K.

Variational dequantization (Ho et al. 2019, Flow++): u ~ q(u | x), any density
on [0, 1)^D, and the same step as the ELBO's:

    log P(x) = log E_q[p_v(x + u) / q(u | x)] >= E_q[log p((x + u) / K) - D log K - log q(u | x)],

with equality when q(u | x) = p_v(x + u) / P(x). Uniform dequantization is the
case q = 1 (log q = 0). Bits per dimension are then -log P(x) / (D log 2); a
bound on log P(x) gives an upper bound on them (``bits_per_dim``).
"""
import autograd.numpy as np
import numpy as onp

from . import functional as F
from ._validate import as_batch, as_rng, check_hidden, check_labels, check_positive_int
from .evaluate import _accepts, bits_per_dim  # noqa: F401 (bits_per_dim is part of this lesson)
from .flows.base import Compose
from .flows.coupling import AffineCoupling
from .flows.models import coupling_masks

__all__ = ["Dequantized", "VariationalDequantizer", "bits_per_dim", "uniform_dequantize"]


def uniform_dequantize(x, levels, rng):
    """y = (x + u) / K with u ~ U[0, 1)^D: integer levels x (n, D) to points of [0, 1)^D."""
    levels = check_positive_int(levels, "levels", minimum=2)
    x = check_labels(as_batch(x, "x"), levels, "x", what="grey levels")
    return (x + as_rng(rng).uniform(0.0, 1.0, size=x.shape)) / levels


class VariationalDequantizer:
    """q(u | x): a conditional flow on R^D followed by a sigmoid into (0, 1)^D.

        eps ~ N(0, I_D),  h = f(eps; c),  u = sigmoid(h),  c = x / K - 1/2 (the image, centred)

    f is a stack of affine couplings that all see the context c (zero-initialized:
    f starts as the identity). Change of variables through both maps:

        log q(u | x) = log N(eps; 0, I) - log|det df/deps| - sum_d log sigmoid'(h_d),
        log sigmoid'(h) = log sigmoid(h) + log sigmoid(-h).
    """

    def __init__(self, dim, levels, n_layers=2, hidden=(32,)):
        self.dim = check_positive_int(dim, "dim", minimum=2)
        self.levels = check_positive_int(levels, "levels", minimum=2)
        n_layers = check_positive_int(n_layers, "n_layers")
        hidden = check_hidden(hidden)
        self.flow = Compose([AffineCoupling(self.dim, m, hidden, context_dim=self.dim)
                             for m in coupling_masks(self.dim, n_layers)])

    def init(self, rng):
        return self.flow.init(as_rng(rng))

    def sample(self, params, x, rng):
        """u ~ q(u | x) and log q(u | x), shapes (n, D) and (n,), for integer levels x (n, D)."""
        eps = as_rng(rng).standard_normal(x.shape)
        h, log_det = self.flow.forward(params, eps, context=x / self.levels - 0.5)   # h = f(eps; c)
        log_n = -0.5 * np.sum(eps ** 2, axis=1) - 0.5 * self.dim * onp.log(2 * onp.pi)  # log N(eps; 0, I)
        log_sig_deriv = np.sum(F.log_sigmoid(h) + F.log_sigmoid(-h), axis=1)         # sum_d log sigmoid'(h_d)
        # u must stay in the half-open cell [0, 1): in float64 sigmoid(h) rounds to exactly 1 once
        # h > 36.7, which would put x + u on the next level's edge; the largest float below 1 is
        # 1 - 2^-53, a move of at most 1.1e-16 in u that log q (computed from h) does not see
        u = np.minimum(F.sigmoid(h), 1.0 - 2.0 ** -53)
        return u, log_n - log_det - log_sig_deriv


class Dequantized:
    """Any tinygen density model on [0, 1)^D, scored as a model of K-level images x (n, D).

    ``log_prob(params, x, rng)`` is the lower bound on log P(x) above (uniform
    dequantization, or variational with ``dequantizer``), averaged over ``n_samples``
    draws of u per image: a bound, not an exact log-likelihood; its negative mean over
    a test set, divided by D log 2, is an upper bound on the bits per dimension.
    ``loss`` is minus its mean over the batch; ``sample`` floors K y of a model sample y.
    params: {"model": the model's params, "dequantizer": q's params ({} when uniform)}.
    """

    def __init__(self, model, levels, dequantizer=None):
        for method in ("init", "log_prob", "sample"):
            if not callable(getattr(model, method, None)):
                raise TypeError(f"model: expected a density model with init, log_prob and sample, "
                                f"got {type(model).__name__}")
        self.model = model
        self.dim = check_positive_int(getattr(model, "dim", None), "model.dim")
        self.levels = check_positive_int(levels, "levels", minimum=2)
        if dequantizer is not None and not isinstance(dequantizer, VariationalDequantizer):
            raise TypeError(f"dequantizer: expected a VariationalDequantizer or None, got {type(dequantizer).__name__}")
        if dequantizer is not None and (dequantizer.dim, dequantizer.levels) != (self.dim, self.levels):
            raise ValueError(f"dequantizer: expected dim {self.dim} and levels {self.levels} like the model, "
                             f"got dim {dequantizer.dim} and levels {dequantizer.levels}")
        self.dequantizer = dequantizer

    def init(self, rng, x=None):
        """Both parts' params; with images x, the model's data-dependent init (ActNorm) on y = (x + u) / K."""
        rng = as_rng(rng)
        if x is not None and _accepts(self.model.init, "x"):
            model = self.model.init(rng, x=uniform_dequantize(x, self.levels, rng))
        else:
            model = self.model.init(rng)
        return {"model": model, "dequantizer": {} if self.dequantizer is None else self.dequantizer.init(rng)}

    def log_prob(self, params, x, rng=0, n_samples=1, context=None):
        """Per image, a lower bound on log P(x) in nats, shape (n,); see the module's equations."""
        x = check_labels(as_batch(x, "x", self.dim), self.levels, "x", what="grey levels").astype(float)
        n_samples = check_positive_int(n_samples, "n_samples")
        if context is not None:
            raise ValueError("context: Dequantized models are unconditional, got a context")
        rng = as_rng(rng)
        xs = np.concatenate([x] * n_samples, axis=0)             # every image n_samples times
        if self.dequantizer is None:
            u, log_q = rng.uniform(0.0, 1.0, size=xs.shape), 0.0   # q = U[0, 1)^D, log q = 0
        else:
            u, log_q = self.dequantizer.sample(params["dequantizer"], xs, rng)
        log_p = self.model.log_prob(params["model"], (xs + u) / self.levels)  # log p((x + u) / K)
        bound = log_p - self.dim * onp.log(self.levels) - log_q            # ... - D log K - log q(u | x)
        return np.mean(np.reshape(bound, (n_samples, x.shape[0])), axis=0)  # E over u, per image

    def loss(self, params, x, rng=None, context=None):
        """-(1/n) sum_i bound(x_i): the negative dequantized log-likelihood bound, one u per image."""
        return -np.mean(self.log_prob(params, x, 0 if rng is None else rng, context=context))

    def sample(self, params, n, rng, context=None, **kwargs):
        """x = min(floor(K y), K - 1) for y from the model (extra keywords, e.g. temperature, go to it)."""
        if context is not None:
            raise ValueError("context: Dequantized models are unconditional, got a context")
        y = self.model.sample(params["model"], n, rng, **kwargs)
        return onp.clip(onp.floor(self.levels * onp.asarray(y)), 0, self.levels - 1).astype(onp.int64)
