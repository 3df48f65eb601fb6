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
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from .._validate import as_batch, as_float_array, as_rng, check_positive, check_positive_int
from ..functional import logsumexp

# ---------------------------------------------------------------- quadrature

_GL_NODES = 16                       # Gauss-Legendre nodes per panel
_XI, _W = leggauss(_GL_NODES)        # exact for polynomials of degree <= 31 on [-1, 1]
_MAX_PANELS = 2048                   # caps the work for points far outside the data
_BUDGET = 2 ** 21                    # floats per (points x nodes) block
_PANEL_WIDTH = 4.0                   # panel width in bump widths sigma / sqrt(r rho)


def _panels(lo, hi, n_panels, nodes=_XI, weights=_W, grade=0):
    """Composite Gauss-Legendre on [lo, hi]: int f = sum_j W_j f(theta_j), returns (theta, log W).

    ``grade`` > 0 splits the first and last panel geometrically (widths h/2^grade,
    ..., h/4, h/2) so an integrand that is steepest at an end of the interval,
    e^{-lambda (theta - lo)} with lambda up to 2^grade / h, is still resolved.
    """
    edges = onp.linspace(lo, hi, n_panels + 1)
    if grade > 0:
        h = (hi - lo) / n_panels
        fine = h * 2.0 ** -onp.arange(grade, 0, -1)
        edges = onp.unique(onp.concatenate([edges, lo + fine, hi - fine]))
    half = 0.5 * (edges[1:] - edges[:-1])[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (mid + half * nodes).ravel(), onp.log(half * weights).ravel()


def _gauss_hermite_2d(m):
    """Nodes eps (m*m, 2) and weights with E_{eps ~ N(0, I)}[f(eps)] ~ sum_j w_j f(eps_j)."""
    xi, w = hermegauss(m)            # int exp(-u^2/2) f(u) du ~ sum_i w_i f(xi_i)
    w = w / math.sqrt(2 * math.pi)   # now an expectation under N(0, 1)
    e1, e2 = onp.meshgrid(xi, xi)
    return onp.column_stack([e1.ravel(), e2.ravel()]), onp.outer(w, w).ravel()


def _check_noise(noise):
    return check_positive(noise, "noise")


# ------------------------------------------------------ mixtures of circle arcs

class CircleArcs:
    """Mixture of noisy circular arcs (two moons, rings).

    Component k: a point at angle theta ~ U(lo_k, hi_k) on the circle with
    centre a_k and radius r_k, blurred by N(0, sigma^2 I). Its density is

        p(x | k) = 1/(hi_k - lo_k) int N(x; a_k + r_k (cos theta, sin theta), sigma^2 I) dtheta

    With rho, phi the polar coordinates of x - a_k,
        |x - a_k - r_k u(theta)|^2 = (rho - r_k)^2 + 2 r_k rho (1 - cos(theta - phi)),
    which keeps the small distances near the arc accurate. In theta the integrand is a bump
    of width ~ sigma / sqrt(r_k rho), so the number of Gauss-Legendre panels
    grows with sqrt(rho) / sigma; the sum is taken in log space (logsumexp),
    so far points get a very negative but finite log p, never -inf.
    """

    def __init__(self, centers, radii, angles, weights, noise, bounds, name):
        self.centers = onp.asarray(centers, dtype=onp.float64).reshape(-1, 2)
        self.radii = onp.asarray(radii, dtype=onp.float64)
        self.angles = onp.asarray(angles, dtype=onp.float64).reshape(-1, 2)
        self.weights = onp.asarray(weights, dtype=onp.float64) / onp.sum(weights)
        self.sigma = _check_noise(noise)
        self.bounds = bounds
        self.name = name
        self._entropy = {}
        # Full circles about one centre: p is rotation invariant, and so is the
        # inner expectation of ``entropy``, so one angle per circle suffices there.
        self._rotation_invariant = bool(
            onp.allclose(self.angles[:, 1] - self.angles[:, 0], 2 * math.pi)
            and onp.allclose(self.centers, self.centers[0]))

    @property
    def n_components(self):
        return len(self.radii)

    def sample(self, n, rng=0, labels=False):
        """x = a_k + r_k (cos theta, sin theta) + sigma * eps; with labels, also k (n,)."""
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        k = rng.choice(self.n_components, size=n, p=self.weights)
        lo, hi = self.angles[k, 0], self.angles[k, 1]
        theta = lo + (hi - lo) * rng.uniform(size=n)
        eps = rng.standard_normal((n, 2))
        x = self.centers[k] + self.radii[k, None] * onp.column_stack([onp.cos(theta), onp.sin(theta)])
        x = x + self.sigma * eps
        return (x, k.astype(onp.int64)) if labels else x

    def _log_prob_component(self, x, k):
        """log p(x | k) by composite Gauss-Legendre in theta, shape (n,)."""
        a, r, (lo, hi), s = self.centers[k], self.radii[k], self.angles[k], self.sigma
        d = x - a
        rho = onp.hypot(d[:, 0], d[:, 1])
        u = d / onp.where(rho > 0, rho, 1.0)[:, None]        # (cos phi, sin phi)
        # Panels of ~4 bump widths sigma / sqrt(r max(rho, r)) make the 16-point
        # rule accurate to ~1e-11 relative; the count is rounded up to a power
        # of 2 so that few distinct node sets are needed.
        need = (hi - lo) * onp.sqrt(r * onp.maximum(rho, r)) / (_PANEL_WIDTH * s)
        n_panels = onp.minimum(2 ** onp.ceil(onp.log2(onp.maximum(need, 1.0))), _MAX_PANELS).astype(int)
        out = onp.empty(len(x))
        log_norm = -math.log(hi - lo) - math.log(2 * math.pi * s * s)
        for p in onp.unique(n_panels):
            idx = onp.flatnonzero(n_panels == p)
            # A point beyond an end of the arc sees exp(-r rho (theta - phi)^2 / (2 sigma^2))
            # falling at rate <= r rho (hi - lo) / sigma^2 there: grade panels down to that scale.
            grade = 0
            if hi - lo < 2 * math.pi - 1e-9:
                ratio = (hi - lo) ** 2 * r * rho[idx].max() / (p * s * s)
                grade = int(onp.clip(onp.ceil(onp.log2(max(ratio, 1.0))), 0, 60))
            theta, log_w = _panels(lo, hi, int(p), grade=grade)
            u_theta = onp.stack([onp.cos(theta), onp.sin(theta)])
            step = max(1, _BUDGET // theta.size)
            for i in range(0, len(idx), step):
                j = idx[i:i + step]
                # 1 - cos(theta - phi) as one matrix product; its rounding error
                # (~1e-16) is far below the bump's scale sigma^2 / (r rho).
                one_minus_cos = 1.0 - u[j] @ u_theta
                sq = (rho[j, None] - r) ** 2 + 2 * r * rho[j, None] * one_minus_cos
                out[j] = logsumexp(log_w - sq / (2 * s * s), axis=1) + log_norm
        return out

    def log_prob(self, x, labels=None):
        """log p(x) = logsumexp_k [log w_k + log p(x | k)]; with labels, log p(x | k = labels)."""
        x = as_batch(x, "x", 2)
        comp = onp.stack([self._log_prob_component(x, k) for k in range(self.n_components)], axis=1)
        if labels is None:
            return logsumexp(onp.log(self.weights) + comp, axis=1)
        labels = _check_labels(labels, len(x), self.n_components)
        return comp[onp.arange(len(x)), labels]

    def entropy(self, t_panel=3.0, gh_nodes=20):
        """H = -E_p[log p(x)] = -sum_k w_k 1/(hi_k - lo_k) int E_eps[log p(c_k(theta) + sigma eps)] dtheta.

        Deterministic: composite Gauss-Legendre in theta (panels ~ ``t_panel``
        sigma long along the arc, where the expectation changes fastest: at the
        ends of an arc) and 2-D Gauss-Hermite with ``gh_nodes``^2 nodes over eps,
        applied to the exact log p. Error ~1e-9 nats at two moons' noise 0.05,
        ~2e-6 at 0.1. Computed once per object and setting.
        """
        key = (t_panel, gh_nodes)
        if key not in self._entropy:
            eps, w_eps = _gauss_hermite_2d(gh_nodes)
            total = 0.0
            for k in range(self.n_components):
                (lo, hi), r = self.angles[k], self.radii[k]
                if self._rotation_invariant:
                    theta, log_w = onp.array([lo]), onp.array([math.log(hi - lo)])
                else:
                    n_panels = max(1, int(math.ceil((hi - lo) * r / (t_panel * self.sigma))))
                    theta, log_w = _panels(lo, hi, n_panels, *leggauss(8))
                c = self.centers[k] + r * onp.column_stack([onp.cos(theta), onp.sin(theta)])
                pts = (c[:, None, :] + self.sigma * eps[None]).reshape(-1, 2)
                log_p = self.log_prob(pts).reshape(len(theta), len(w_eps))
                inner = log_p @ w_eps                                     # E_eps[log p(c(theta) + sigma eps)]
                total += self.weights[k] * onp.sum(onp.exp(log_w) * inner) / (hi - lo)
            self._entropy[key] = -float(total)
        return self._entropy[key]


def _check_labels(labels, n, n_classes):
    arr = as_float_array(labels, "labels")
    if arr.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) like x, got {arr.shape}")
    if arr.size and (not onp.all(arr == onp.round(arr)) or arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"labels: expected integers in 0..{n_classes - 1}, got values {onp.unique(arr)[:5]}")
    return arr.astype(onp.int64)


MOONS_BOUNDS = ((-1.5, 2.5), (-1.0, 1.5))


def moons(noise=0.05):
    """Two moons as a ``CircleArcs``: outer arc centre (0, 0), angles 0..pi; inner centre (1, 1/2), pi..2pi.

    One object per noise (cached), so its entropy is computed once.
    """
    return _moons(_check_noise(noise))


@functools.lru_cache(maxsize=32)
def _moons(noise):
    return CircleArcs(centers=[(0.0, 0.0), (1.0, 0.5)], radii=[1.0, 1.0],
                      angles=[(0.0, math.pi), (math.pi, 2 * math.pi)], weights=[0.5, 0.5],
                      noise=noise, bounds=MOONS_BOUNDS, name="two_moons")


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
    return moons(noise).entropy()


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
