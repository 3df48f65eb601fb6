"""Unnormalized 2-D targets p(z) = exp(-U(z)) / Z, with their normalizer Z by quadrature.

Reverse-KL fitting (``tinygen.vi``) needs only log p_tilde(z) = -U(z); the
normalizer Z = int exp(-U(z)) dz is unknown to the fit. Here it is computed by
quadrature, so a fit can be scored by the exact divergence

    D_KL(q || p) = E_q[log q(z) + U(z)] + log Z,

not only by the bound E_q[log q(z) + U(z)] >= -log Z.

The four potentials of Rezende & Mohamed (2015, Table 1), with
w_1(z) = sin(2 pi z_1 / 4), w_2(z) = 3 exp(-((z_1 - 1) / 0.6)^2 / 2),
w_3(z) = 3 sigmoid((z_1 - 1) / 0.3):

    U1(z) = ((|z| - 2) / 0.4)^2 / 2 - log(exp(-((z_1 - 2) / 0.6)^2 / 2) + exp(-((z_1 + 2) / 0.6)^2 / 2))
    U2(z) = ((z_2 - w_1) / 0.4)^2 / 2
    U3(z) = -log(exp(-((z_2 - w_1) / 0.35)^2 / 2) + exp(-((z_2 - w_1 + w_2) / 0.35)^2 / 2))
    U4(z) = -log(exp(-((z_2 - w_1) / 0.4)^2 / 2) + exp(-((z_2 - w_1 + w_3) / 0.35)^2 / 2))

U1 (a ring with two lobes) decays in every direction. U2-U4 do not decay along
z_1 at all: exp(-U) is a band with the same mass per unit of z_1 everywhere, so
int exp(-U) dz = infinity and there is no density p to fit, and a flow with full
support (a Gaussian base pushed through an invertible map) puts mass at every
z_1, where the reverse KL would weigh it against log p = -infinity. As written
in the paper they are only drawn on [-4, 4]^2. Here U2-U4 carry the envelope

    U(z) <- U(z) + z_1^2 / (2 s^2),   s = ENVELOPE_SCALE = 2,

a N(0, s^2) factor along z_1 that keeps 95% of the mass inside the paper's
box and makes Z finite.
"""
import math

import autograd.numpy as np
import numpy as onp
from numpy.polynomial.legendre import leggauss

from .._validate import (as_batch, as_float_array, check_callable, check_finite_number, check_positive,
                         check_positive_int, check_size, value_of)
from ..functional import logsumexp, sigmoid
from .toys import MOONS_BOUNDS

__all__ = ["DEFAULT_PANEL", "PAPER_BOUNDS", "Potential", "gauss_legendre_panels", "potential", "quadrature_log_z",
           "two_moons_log_p"]

ENVELOPE_SCALE = 2.0    # s of the N(0, s^2) envelope along z_1 on U2-U4
PAPER_BOUNDS = ((-4.0, 4.0), (-4.0, 4.0))
_GL = leggauss(8)       # 8 Gauss-Legendre nodes per panel: exact for degree <= 15
DEFAULT_PANEL = 0.125   # panel width of quadrature_log_z


def gauss_legendre_panels(lo, hi, n_panels, offset=0.0):
    """Composite 8-point Gauss-Legendre on [lo, hi]: nodes t_j and weights W_j, int f ~ sum_j W_j f(t_j).

    offset in [0, 1): the panel edges inside [lo, hi] move right by ``offset`` panel widths h,
    lo, lo + (offset + k) h (k = 0, ..., n_panels - 1), hi: still a rule on all of [lo, hi],
    with n_panels + 1 panels, the first and last narrower (no panel wider than h).
    """
    if not (isinstance(offset, (int, float, onp.floating)) and 0 <= offset < 1):
        raise ValueError(f"offset: expected a number in [0, 1), got {offset!r}")
    edges = onp.linspace(lo, hi, n_panels + 1)
    if offset > 0:
        edges = onp.concatenate([[lo], lo + (offset + onp.arange(n_panels)) * (hi - lo) / n_panels, [hi]])
    half, mid = 0.5 * onp.diff(edges)[:, None], 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (mid + half * _GL[0]).ravel(), (half * _GL[1]).ravel()


def _check_box(box, name, dim=2):
    """A box ((lo_1, hi_1), ..., (lo_D, hi_D)) of finite numbers with lo < hi, as a (D, 2) array."""
    b = as_float_array(box, name)
    if b.shape != (dim, 2) or not onp.all(b[:, 0] < b[:, 1]):
        rows = ", ".join(f"(lo_{d + 1}, hi_{d + 1})" for d in range(dim))
        raise ValueError(f"{name}: expected ({rows}) with lo < hi, got {b.tolist()}")
    return b


def _check_log_p(log_p, n, name="log_p_tilde"):
    """n values of log p_tilde: real, no NaN, no +inf (-inf is p_tilde = 0, allowed)."""
    v = value_of(log_p)
    if v.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {v.shape}")
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {v.dtype}")
    bad = onp.isnan(v) | (v == onp.inf)
    if onp.any(bad):
        raise ValueError(f"{name}: expected values in [-inf, inf), got NaN or +inf at {int(bad.sum())} of {n} points")
    return v


def quadrature_log_z(log_p_tilde, box, panel_width=DEFAULT_PANEL):
    """(log Z, error estimate) for Z = int_box exp(log_p_tilde(z)) dz, z in 2-D.

    Tensor-product composite Gauss-Legendre (8 nodes per panel, panels about
    ``panel_width`` wide); the sum is taken in log space. The error estimate
    is |log Z - log Z'| with Z' the same rule on panels twice as wide: for a
    smooth integrand the rule converges so fast that the finer value is far
    better than this difference. Mass outside ``box`` is not counted.
    """
    check_callable(log_p_tilde, "log_p_tilde", "z (n, 2) -> log p_tilde(z) (n,)")
    b = _check_box(box, "box")
    panel_width = check_positive(panel_width, "panel_width")
    # nodes of the finer rule; a box too large even at the default width is the box's fault
    for width, name, value in ((DEFAULT_PANEL, "box", b.tolist()), (panel_width, "panel_width", panel_width)):
        n_nodes = math.prod(len(_GL[0]) * int(math.ceil((hi - lo) / width)) for lo, hi in b)
        check_size(n_nodes, name, value, f"the grid of quadrature nodes (panels {width} wide over the box)")
    estimates = []
    for width in (2 * panel_width, panel_width):
        (t1, w1), (t2, w2) = (gauss_legendre_panels(lo, hi, max(1, int(math.ceil((hi - lo) / width)))) for lo, hi in b)
        g1, g2 = onp.meshgrid(t1, t2, indexing="ij")
        log_w = onp.log(onp.outer(w1, w2)).ravel()
        pts = onp.column_stack([g1.ravel(), g2.ravel()])
        log_p = onp.concatenate([_check_log_p(log_p_tilde(pts[i:i + 2 ** 18]), len(pts[i:i + 2 ** 18]))
                                 for i in range(0, len(pts), 2 ** 18)])
        estimates.append(float(logsumexp(log_p + log_w, axis=0)))
    if estimates[1] == -onp.inf:
        raise ValueError("log_p_tilde: expected some mass inside box, got p_tilde = 0 at every node (log Z = -inf)")
    return estimates[1], abs(estimates[1] - estimates[0])


class Potential:
    """A target known up to its normalizer: log p_tilde(z) = -U(z), with p(z) = p_tilde(z) / Z.

    log_p_tilde: a function (n, dim) -> (n,), written with ``autograd.numpy``
        (the reverse-KL gradient differentiates it with respect to z).
    bounds: the box ((lo_1, hi_1), (lo_2, hi_2)) to draw it in.
    quad_box: where exp(-U) has (practically) all its mass, for log Z by
        quadrature (2-D only; default ``bounds``).
    log_z: the normalizer if known (then no quadrature). In 2-D it is
        otherwise computed on first use, with ``log_z_error``; in other
        dimensions it stays None (then ``tinygen.vi.reverse_kl`` reports the bound).
    """

    def __init__(self, log_p_tilde, bounds=PAPER_BOUNDS, quad_box=None, log_z=None, dim=2, name="potential"):
        self._fn = check_callable(log_p_tilde, "log_p_tilde", "z -> log p_tilde(z)")
        self.dim = check_positive_int(dim, "dim")
        # the default bounds are the paper's 2-D box; bounds a user gives must have one row per dimension
        bounds = _check_box(bounds, "bounds", 2 if bounds is PAPER_BOUNDS else self.dim)
        self.bounds = tuple(map(tuple, bounds.tolist()))
        if quad_box is not None:
            quad_box = tuple(map(tuple, _check_box(quad_box, "quad_box").tolist()))  # quadrature is 2-D
        self.quad_box = self.bounds if quad_box is None else quad_box
        self.name = str(name)
        self._log_z = None if log_z is None else check_finite_number(log_z, "log_z")
        self.log_z_error = 0.0 if log_z is not None else None

    def log_p_tilde(self, z):
        """log p_tilde(z) = -U(z), shape (n,); z of shape (n, dim), traced or not."""
        z = as_batch(z, "z", self.dim)
        out = self._fn(z)
        _check_log_p(out, value_of(z).shape[0])
        return out

    def U(self, z):
        """The potential (energy) U(z) = -log p_tilde(z)."""
        return -self.log_p_tilde(z)

    @property
    def log_z(self):
        """log Z = log int exp(-U(z)) dz, by quadrature over ``quad_box`` (computed once)."""
        if self._log_z is None and self.dim == 2:
            self._log_z, self.log_z_error = quadrature_log_z(self.log_p_tilde, self.quad_box)
        return self._log_z

    def log_prob(self, z):
        """The normalized log p(z) = log p_tilde(z) - log Z (needs log Z)."""
        if self.log_z is None:
            raise ValueError(f"log_z: unknown for this {self.dim}-D target; pass log_z= to Potential")
        return self.log_p_tilde(z) - self.log_z

    def __repr__(self):
        return f"Potential({self.name!r}, dim={self.dim})"


# ---------------------------------------------------------------- Rezende & Mohamed (2015), Table 1

def _w1(z):
    return np.sin(2 * np.pi * z[:, 0] / 4)                      # w_1(z) = sin(2 pi z_1 / 4)


def _w2(z):
    return 3 * np.exp(-0.5 * ((z[:, 0] - 1) / 0.6) ** 2)        # w_2(z) = 3 exp(-((z_1 - 1) / 0.6)^2 / 2)


def _w3(z):
    return 3 * sigmoid((z[:, 0] - 1) / 0.3)                     # w_3(z) = 3 sigma((z_1 - 1) / 0.3)


def _log_two_bumps(a, b):
    """log(exp(-a^2 / 2) + exp(-b^2 / 2)), stable where both are tiny."""
    return logsumexp(np.stack([-0.5 * a ** 2, -0.5 * b ** 2]), axis=0)


def _envelope(z):
    return -0.5 * (z[:, 0] / ENVELOPE_SCALE) ** 2               # log N(z_1; 0, s^2) up to a constant


def _log_p_u1(z):
    r = np.sqrt(np.sum(z ** 2, axis=1) + 1e-300)                # |z| (the 1e-300 keeps d|z|/dz finite at 0)
    return -0.5 * ((r - 2) / 0.4) ** 2 + _log_two_bumps((z[:, 0] - 2) / 0.6, (z[:, 0] + 2) / 0.6)


def _log_p_u2(z):
    return -0.5 * ((z[:, 1] - _w1(z)) / 0.4) ** 2 + _envelope(z)


def _log_p_u3(z):
    return _log_two_bumps((z[:, 1] - _w1(z)) / 0.35, (z[:, 1] - _w1(z) + _w2(z)) / 0.35) + _envelope(z)


def _log_p_u4(z):
    return _log_two_bumps((z[:, 1] - _w1(z)) / 0.4, (z[:, 1] - _w1(z) + _w3(z)) / 0.35) + _envelope(z)


# U1 has no mass beyond |z| = 5 (exp(-U1) < 1e-12 there); U2-U4 none beyond 8 envelope
# widths along z_1 (e^-32) or beyond 8 bump widths from the curves along z_2 (|w| <= 4).
_RING_BOX = ((-5.5, 5.5), (-5.5, 5.5))
_WAVE_BOX = ((-8 * ENVELOPE_SCALE, 8 * ENVELOPE_SCALE), (-8.0, 8.0))
_PAPER = {"U1": (_log_p_u1, _RING_BOX), "U2": (_log_p_u2, _WAVE_BOX),
          "U3": (_log_p_u3, _WAVE_BOX), "U4": (_log_p_u4, _WAVE_BOX)}
_CACHE = {}


# ---------------------------------------------------------------- two moons, differentiable in z

def two_moons_log_p(noise=0.05):
    """log p(z) of two moons (``data.two_moons``) as a function written with autograd.numpy.

    p(z) = 1/2 sum_k (1/pi) int_0^pi N(z; c_k(t), noise^2 I) dt with the t-integral a fixed
    composite Gauss-Legendre rule (panels of 2 noise, 8 nodes each), so autograd can
    differentiate it in z. Each node's Gaussian integrates to 1 over the plane and the
    weights sum to pi, so this p integrates to exactly 1: log Z = 0 for any node count.
    Against ``data.two_moons_log_prob`` (adaptive panels): within 1e-8 where p > e^-20,
    within 1e-4 relative in log p further out.
    """
    noise = check_positive(noise, "noise")
    n_panels = max(1, int(math.ceil(math.pi / (2 * noise))))
    check_size(2 * len(_GL[0]) * n_panels * 2, "noise", noise, "the centres c_k(t_j) of the two arcs")
    t, w = gauss_legendre_panels(0.0, math.pi, n_panels)
    centres = onp.concatenate([onp.column_stack([onp.cos(t), onp.sin(t)]),               # c_0(t), outer arc
                               onp.column_stack([1 - onp.cos(t), 0.5 - onp.sin(t)])])    # c_1(t), inner arc
    log_w = onp.log(onp.concatenate([w, w]) / (2 * math.pi)) - math.log(2 * math.pi * noise ** 2)

    def log_p(z):
        sq = (z[:, :1] - centres[:, 0]) ** 2 + (z[:, 1:] - centres[:, 1]) ** 2          # |z - c_k(t_j)|^2, (n, J)
        return logsumexp(log_w - sq / (2 * noise ** 2), axis=1)

    return log_p


def potential(name, **options):
    """A shipped 2-D target by name: "U1".."U4" (Rezende & Mohamed 2015) or "two_moons" (``noise=``).

    Returns a ``Potential`` with ``log_p_tilde(z)`` (n,), ``log_z`` by quadrature (with
    ``log_z_error``), ``bounds`` and ``log_prob``. U2-U4 include the Gaussian envelope
    along z_1 (module docstring), without which they have no normalizer.
    """
    if name == "two_moons":
        noise = check_positive(options.pop("noise", 0.05), "noise")
        if options:
            raise TypeError(f"{sorted(options)[0]}: potential('two_moons') takes only noise=")
        key = ("two_moons", noise)
        if key not in _CACHE:
            _CACHE[key] = Potential(two_moons_log_p(noise), bounds=MOONS_BOUNDS,
                                    log_z=0.0, name="two_moons")
        return _CACHE[key]
    if name not in _PAPER:
        raise ValueError(f"name: expected one of {sorted(_PAPER) + ['two_moons']}, got {name!r}")
    if options:
        raise TypeError(f"{sorted(options)[0]}: potential({name!r}) takes no options")
    if name not in _CACHE:
        fn, box = _PAPER[name]
        _CACHE[name] = Potential(fn, bounds=PAPER_BOUNDS, quad_box=box, name=name)
    return _CACHE[name]
