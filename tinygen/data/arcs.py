"""Mixtures of blurred circle arcs, the exact density behind two moons and the rings.

A ``CircleArcs`` is p(x) = sum_k w_k (1/|A_k|) int_{A_k} N(x; c_k + r_k (cos t, sin t), noise^2 I) dt:
arc k (centre c_k, radius r_k, angles A_k) is chosen with probability w_k, a point
is drawn uniformly along it, and isotropic Gaussian noise is added. The integral
over t has no closed form; it is computed by composite Gauss-Legendre quadrature
(the panels below), accurate to better than 1e-8 relative, and the entropy by
Gauss-Hermite quadrature over the noise. ``tinygen.data.toys`` builds two moons
and the rings from it.
"""
import math

import numpy as onp
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from .._validate import as_batch, as_float_array, as_rng, check_positive, check_positive_int
from ..functional import logsumexp

__all__ = ["CircleArcs"]

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

ENTROPY_T_PANEL, ENTROPY_GH_NODES = 3.0, 20  # entropy()'s defaults: panels 3 sigma long, 20^2 Hermite nodes


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

    def remember_entropy(self, value):
        """Record H at entropy()'s default settings, computed before (it takes seconds to recompute)."""
        self._entropy[(ENTROPY_T_PANEL, ENTROPY_GH_NODES)] = float(value)

    def entropy(self, t_panel=None, gh_nodes=None):
        """H = -E_p[log p(x)] = -sum_k w_k 1/(hi_k - lo_k) int E_eps[log p(c_k(theta) + sigma eps)] dtheta.

        Deterministic: composite Gauss-Legendre in theta (panels ~ ``t_panel``
        sigma long along the arc, where the expectation changes fastest: at the
        ends of an arc) and 2-D Gauss-Hermite with ``gh_nodes``^2 nodes over eps,
        applied to the exact log p. Error ~1e-9 nats at two moons' noise 0.05,
        ~2e-6 at 0.1. Computed once per object and setting.
        """
        t_panel = ENTROPY_T_PANEL if t_panel is None else t_panel
        gh_nodes = ENTROPY_GH_NODES if gh_nodes is None else gh_nodes
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
