"""2-D toys with known truth: two moons, mixtures, a checkerboard, rings, each with its exact log density.

Because the true density p(x) of every 2-D toy is known, a trained model can
be scored against it: the expected NLL E_p[-log p_theta(x)] is never below the
entropy H(p) = E_p[-log p(x)], and the gap is D_KL(p || p_theta) (lecture,
"MLE as KL divergence minimization"). Nothing is downloaded.

Two moons, as a generative process (the one of scikit-learn's make_moons,
with the arc and the angle drawn at random):

    k ~ {0, 1} with probability 1/2 each     (0: outer arc, 1: inner arc)
    t ~ U(0, pi)
    c_0(t) = (cos t, sin t),  c_1(t) = (1 - cos t, 1/2 - sin t)
    x = c_k(t) + noise * eps,  eps ~ N(0, I)

so p(x) = 1/2 sum_k (1/pi) int_0^pi N(x; c_k(t), noise^2 I) dt. Both arcs are
half circles of radius 1 (the inner one centred at (1, 1/2), angles pi..2pi),
and so are the rings of ``rings``: all of them are ``CircleArcs``.
"""
import functools
import math

import numpy as onp

from .._validate import as_batch, as_float_array, as_rng, check_positive, check_positive_int
from ..functional import logsumexp
from .arcs import CircleArcs, _check_noise, _gauss_hermite_2d

__all__ = ["Checkerboard", "GaussianMixture", "KNOWN_ENTROPY", "MOONS_BOUNDS", "Standardizer", "TOYS",
           "eight_gaussians", "moon_arcs", "moons", "rings", "standardize", "toy", "two_moons", "two_moons_entropy",
           "two_moons_log_prob"]


MOONS_BOUNDS = ((-1.5, 2.5), (-1.0, 1.5))


# H(p) of two moons at the noises the recipes and demos use, as CircleArcs.entropy computes it
# (Gauss-Legendre over the arcs, Gauss-Hermite over the noise): kept here because a fresh process
# (every notebook kernel) would spend seconds recomputing it. tests/test_data.py recomputes each
# value and requires the same float.
KNOWN_ENTROPY = {0.05: 0.28923373675525393, 0.1: 1.0075831564708932}


def moons(noise=0.05):
    """Two moons as a ``CircleArcs``: outer arc centre (0, 0), angles 0..pi; inner centre (1, 1/2), pi..2pi.

    One object per noise (cached), so its entropy is computed once.
    """
    return _moons(_check_noise(noise))


def moon_arcs(noise):
    """A new ``CircleArcs`` of two moons (nothing cached: ``moons`` is the cached one)."""
    return CircleArcs(centers=[(0.0, 0.0), (1.0, 0.5)], radii=[1.0, 1.0],
                      angles=[(0.0, math.pi), (math.pi, 2 * math.pi)], weights=[0.5, 0.5],
                      noise=_check_noise(noise), bounds=MOONS_BOUNDS, name="two_moons")


@functools.lru_cache(maxsize=32)
def _moons(noise):
    arcs = moon_arcs(noise)
    if noise in KNOWN_ENTROPY:
        arcs.remember_entropy(KNOWN_ENTROPY[noise])
    return arcs


def two_moons(n, noise=0.05, rng=None, labels=False):
    """n points of two moons, (n, 2) float64 (and int labels (n,), 0 outer / 1 inner, if ``labels``).

    rng: Generator or int seed; None means seed 0, so two calls give the same data.
    """
    return moons(noise).sample(n, 0 if rng is None else rng, labels=labels)


def two_moons_log_prob(x, noise=0.05, labels=None):
    """Exact log p(x) of two moons, (n,); with labels (0 outer / 1 inner), log p(x | arc).

    p(x) = 1/2 sum_k (1/pi) int_0^pi N(x; c_k(t), noise^2 I) dt, by composite
    Gauss-Legendre in t, accurate to better than 1e-8 relative (see ``CircleArcs``).
    """
    return moons(noise).log_prob(x, labels=labels)




def two_moons_entropy(noise=0.05):
    """H = -E_p[log p(x)] of two moons in nats (0.28923 at noise 0.05, 1.00758 at 0.1); cached per noise."""
    return moons(noise).entropy()  # at the noises in KNOWN_ENTROPY, the stored value


# ------------------------------------------------------------- other 2-D toys

class GaussianMixture:
    """p(x) = sum_k w_k N(x; mu_k, sigma^2 I); ``eight_gaussians`` puts 8 of them on a circle."""

    def __init__(self, means, sigma, weights=None, bounds=None, name="gaussian_mixture"):
        """means: (K, 2), K >= 1. weights: K positive numbers, None for 1/K each; they are
        divided by their sum (so counts like (1, 3) mean w = (1/4, 3/4))."""
        self.means = as_float_array(means, "means", ndim=2, last_dim=2)
        self.sigma = check_positive(sigma, "sigma")
        k = len(self.means)
        if k < 1:
            raise ValueError("means: expected at least one component, got shape (0, 2)")
        w = onp.full(k, 1.0 / k) if weights is None else as_float_array(weights, "weights", ndim=1)
        if w.shape != (k,):
            raise ValueError(f"weights: expected {k} weights, one per row of means, got shape {w.shape}")
        if not onp.all(w > 0):  # log w_k of a zero or negative weight is -inf or NaN
            raise ValueError(f"weights: expected positive weights, got minimum {w.min()!r}")
        self.weights = w / w.sum()  # w_k / sum_j w_j: sum_k w_k = 1
        self.bounds = bounds
        self.name = name

    def sample(self, n, rng=0):
        """k ~ Categorical(w), x = mu_k + sigma * eps."""
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.sigma * rng.standard_normal((n, 2))

    def log_prob(self, x):
        """log p(x) = logsumexp_k [log w_k - |x - mu_k|^2 / (2 sigma^2) - log(2 pi sigma^2)]."""
        x = as_batch(x, "x", 2)
        sq = onp.sum((x[:, None, :] - self.means[None]) ** 2, axis=-1)
        return logsumexp(onp.log(self.weights) - sq / (2 * self.sigma ** 2), axis=1) \
            - math.log(2 * math.pi * self.sigma ** 2)

    def entropy(self, gh_nodes=16):
        """H = -sum_k w_k E_eps[log p(mu_k + sigma eps)], 2-D Gauss-Hermite over eps ~ N(0, I).

        Near mu_k, log p is log w_k + log N(x; mu_k, sigma^2 I) plus a term that is
        tiny unless components overlap: almost a quadratic, which Gauss-Hermite
        integrates exactly.
        """
        eps, w_eps = _gauss_hermite_2d(gh_nodes)
        pts = (self.means[:, None, :] + self.sigma * eps[None]).reshape(-1, 2)
        log_p = self.log_prob(pts).reshape(len(self.means), len(w_eps))
        return -float(self.weights @ (log_p @ w_eps))


def eight_gaussians(radius=2.0, sigma=0.15):
    """Eight equal Gaussians with centres on a circle of ``radius``, at angles 2 pi j / 8."""
    radius, sigma = check_positive(radius, "radius"), check_positive(sigma, "sigma")
    angle = 2 * math.pi * onp.arange(8) / 8
    means = radius * onp.column_stack([onp.cos(angle), onp.sin(angle)])
    lim = radius + 5 * sigma
    return GaussianMixture(means, sigma, bounds=((-lim, lim), (-lim, lim)), name="eight_gaussians")


class Checkerboard:
    """Uniform on the dark squares of a ``cells`` x ``cells`` board of unit squares centred at 0.

    Square (i, j) is dark when i + j is even; with A dark squares (A = cells^2 / 2
    for an even board) log p(x) = -log A on them and log p(x) = -inf elsewhere:
    the density is exactly zero there, so the true log p of an off-board point
    is -inf (a model's NLL on data from this toy stays finite). H = log A exactly.
    """

    def __init__(self, cells=4):
        self.cells = check_positive_int(cells, "cells", minimum=2)
        half = self.cells / 2
        self.bounds = ((-half, half), (-half, half))
        self.name = "checkerboard"
        i, j = onp.divmod(onp.arange(self.cells ** 2), self.cells)
        self.squares = onp.column_stack([i, j])[(i + j) % 2 == 0]   # lower-left corners (index units)
        self._log_area = math.log(len(self.squares))

    def sample(self, n, rng=0):
        """A dark square uniformly at random, then a uniform point inside it."""
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        corner = self.squares[rng.integers(0, len(self.squares), size=n)] - self.cells / 2
        return corner + rng.uniform(size=(n, 2))

    def log_prob(self, x):
        x = as_batch(x, "x", 2)
        ij = onp.floor(x + self.cells / 2)
        dark = onp.all((ij >= 0) & (ij < self.cells), axis=1) & (onp.sum(ij, axis=1) % 2 == 0)
        return onp.where(dark, -self._log_area, -onp.inf)

    def entropy(self):
        return self._log_area


def rings(radii=(0.6, 1.3, 2.0), noise=0.08):
    """Concentric circles blurred by N(0, noise^2 I), mass proportional to each circle's length.

    For a thin ring the isotropic noise is, to first order, radial noise. The
    exact density is the same angular integral as for two moons (``CircleArcs``).
    """
    radii = as_float_array(radii, "radii", ndim=1)
    if radii.size < 1 or not onp.all(radii > 0):
        raise ValueError(f"radii: expected positive radii, got {radii.tolist()}")
    lim = float(radii.max()) + 5 * _check_noise(noise)
    return CircleArcs(centers=onp.zeros((len(radii), 2)), radii=radii,
                      angles=[(0.0, 2 * math.pi)] * len(radii), weights=radii, noise=noise,
                      bounds=((-lim, lim), (-lim, lim)), name="rings")


TOYS = {
    "two_moons": moons,
    "eight_gaussians": eight_gaussians,
    "checkerboard": Checkerboard,
    "rings": rings,
}


def toy(name, **options):
    """A 2-D toy by name (see ``TOYS``), with ``.sample(n, rng)``, ``.log_prob(x)``, ``.entropy()``, ``.bounds``.

    ``options`` go to its constructor, e.g. ``toy("two_moons", noise=0.1)``.
    """
    if name not in TOYS:
        raise ValueError(f"name: expected one of {sorted(TOYS)}, got {name!r}")
    return TOYS[name](**options)


# ------------------------------------------------------------ standardization

class Standardizer:
    """y = (x - m) / s per dimension, with the change-of-variables correction.

    A model fitted to y gives log p_y(y); in the original units
        log p_x(x) = log p_y(y) + log|det dy/dx| = log p_y(y) - sum_d log s_d,
    so NLLs stay comparable with the exact entropy of x (``log_det``).
    """

    def __init__(self, m, s):
        self.m = as_float_array(m, "m", ndim=1)
        self.s = as_float_array(s, "s", ndim=1)
        if self.m.shape != self.s.shape:
            raise ValueError(f"s: expected shape {self.m.shape} like m, got {self.s.shape}")
        if not onp.all(self.s > 0):
            raise ValueError(f"s: expected positive scales, got {self.s.tolist()}")
        self.log_det = -float(onp.sum(onp.log(self.s)))   # log|det dy/dx|

    @classmethod
    def fit(cls, x):
        """m, s = the mean and standard deviation of each column of x (s of a constant column -> 1)."""
        x = as_batch(x, "x")
        s = x.std(axis=0)
        return cls(x.mean(axis=0), onp.where(s > 0, s, 1.0))

    def transform(self, x):
        return (as_batch(x, "x", len(self.m)) - self.m) / self.s

    def inverse(self, y):
        return as_batch(y, "y", len(self.m)) * self.s + self.m

    def log_prob_x(self, log_p_y):
        """log p_x(x) = log p_y(y) - sum_d log s_d, for log p_y(y) of shape (n,)."""
        return onp.asarray(log_p_y) + self.log_det

    def wrap(self, log_prob_y_fn):
        """x -> log p_x(x) from a function y -> log p_y(y) (e.g. a model fitted on y)."""
        return lambda x: self.log_prob_x(log_prob_y_fn(self.transform(x)))


def standardize(x):
    """(y, info): y = (x - m) / s column-wise, info the ``Standardizer`` (info.log_det, info.wrap)."""
    info = Standardizer.fit(x)
    return info.transform(x), info
