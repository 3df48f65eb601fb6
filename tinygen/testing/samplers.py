"""check_sampler and check_discriminator: a sampler and a discriminator against exact 2-D densities.

check_sampler -- does an MCMC sampler draw from the density p it claims? The plane inside
``bounds`` is cut into bins x bins cells; each cell's probability P_i = int_cell p is
computed by Gauss-Legendre quadrature, and everything outside the bounds forms one more
cell. With n independent draws the counts c_i are multinomial(n, P), and Pearson's

    X^2 = sum_i (c_i - n P_i)^2 / (n P_i)

is approximately chi^2 with (cells - 1) degrees of freedom. Assumptions, which the user's
``sample_fn`` must meet: the n draws are independent (one state from each of n independent
chains, or one chain thinned far beyond its autocorrelation time) and each has been run
long enough to forget its start; ``log_prob`` is normalized. Cells whose expected count is
below ``min_expected`` are pooled, so that the chi^2 approximation holds. The check fails
when the p-value P(chi^2 >= X^2) is below ``alpha``: a correct sampler fails with
probability alpha (1e-3 by default), a wrong one almost surely once n is large.

check_discriminator -- for data p and a generator's q, the best discriminator is
D*(x) = p(x) / (p(x) + q(x)) (Goodfellow et al. 2014, Prop. 1). The check compares a user's
D with D* on a quadrature grid, in the mean |D - D*| under m = (p + q) / 2 and in the value
V(D*, G) - V(D, G) >= 0 (nats), which is 0 only at D = D*.
"""
import math

import numpy as onp

from .._validate import as_float_array, as_rng, check_callable, check_positive, check_positive_int
from ..gan.judge import quadrature_grid, value_function
from .report import Report, fmt

__all__ = ["cell_probabilities", "check_discriminator", "check_sampler", "chi_square_tail"]

NODES_PER_CELL = 2  # Gauss-Legendre panels (8 nodes each) per cell and axis


def chi_square_tail(x, k):
    """P(chi^2_k >= x) = Q(k/2, x/2), the regularized upper incomplete gamma function.

    With y = x / 2, Q(a + 1, y) = Q(a, y) + e^-y y^a / Gamma(a + 1), climbing from
    Q(1, y) = e^-y (k even) or Q(1/2, y) = erfc(sqrt(y)) (k odd) to a = k / 2.
    """
    y = x / 2.0
    a, q = (1.0, math.exp(-y)) if k % 2 == 0 else (0.5, math.erfc(math.sqrt(y)))
    while a < k / 2.0:
        if y > 0:
            q += math.exp(a * math.log(y) - y - math.lgamma(a + 1))   # e^-y y^a / Gamma(a + 1)
        a += 1.0
    return min(1.0, q)


def _bounds(bounds):
    b = as_float_array(bounds, "bounds")
    if b.shape != (2, 2) or not onp.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"bounds: expected ((lo_1, hi_1), (lo_2, hi_2)) with lo < hi, got {b.tolist()}")
    return b


def _log_density(fn, x, name):
    out = onp.asarray(fn(x), dtype=float)
    if out.shape != (len(x),) or onp.any(onp.isnan(out)):
        raise ValueError(f"{name}: expected {len(x)} non-NaN log-densities, got shape {out.shape}")
    return out


def cell_probabilities(log_prob, bounds, bins):
    """P_i = int_cell_i p(x) dx for a bins x bins grid on the bounds (flattened, row-major in x_1)."""
    b = _bounds(bounds)
    x, w = quadrature_grid(b, bins * NODES_PER_CELL)
    mass = w * onp.exp(_log_density(log_prob, x, "log_prob"))
    cell = onp.clip(((x - b[:, 0]) / (b[:, 1] - b[:, 0]) * bins).astype(int), 0, bins - 1)
    return onp.bincount(cell[:, 0] * bins + cell[:, 1], weights=mass, minlength=bins * bins)


def _pool(counts, expected, min_expected):
    """Merge cells with expected count < min_expected into one, then that one into the next
    smallest cell until it reaches min_expected. Returns the pooled (counts, expected)."""
    small = expected < min_expected
    c, e = list(counts[~small]), list(expected[~small])
    pooled_c, pooled_e = counts[small].sum(), expected[small].sum()
    while pooled_e < min_expected and e:
        i = int(onp.argmin(e))
        pooled_c, pooled_e = pooled_c + c.pop(i), pooled_e + e.pop(i)
    if pooled_e > 0 or pooled_c > 0:
        c.append(pooled_c)
        e.append(pooled_e)
    return onp.array(c, dtype=float), onp.array(e, dtype=float)


def check_sampler(sample_fn, log_prob, bounds, n=4000, bins=8, rng=0, alpha=1e-3, min_expected=5.0):
    """Binned chi-square test that ``sample_fn(n, rng)`` (n independent draws, shape (n, 2))
    follows the normalized density exp(log_prob(x)); see the module docstring for the test
    and its assumptions. Returns a ``Report``; ``report.stats`` holds X^2, the degrees of
    freedom, the p-value and the total variation between the binned draws and the P_i."""
    check_callable(sample_fn, "sample_fn", "sample_fn(n, rng) -> (n, 2) independent draws")
    check_callable(log_prob, "log_prob", "x (n, 2) -> log p(x) (n,)")
    b = _bounds(bounds)
    n, bins, rng = check_positive_int(n, "n", minimum=2), check_positive_int(bins, "bins", minimum=2), as_rng(rng)
    alpha, min_expected = check_positive(alpha, "alpha"), check_positive(min_expected, "min_expected")
    report = Report("check_sampler", notes=[f"{n} draws, {bins} x {bins} cells on {fmt(b)}, Pearson's chi^2"])
    probs = cell_probabilities(log_prob, b, bins)
    report.add("the density's mass inside bounds is at most 1", probs.sum() - 1, 1e-6,  # quadrature rounding
               where=f"int p over the bounds = {probs.sum():.6g}: log_prob is not normalized")
    x = onp.asarray(sample_fn(n, rng), dtype=float)
    if x.shape != (n, 2) or not onp.all(onp.isfinite(x)):
        report.add("draws have shape (n, 2) and are finite", 1, 0,
                   where=f"got shape {x.shape}" + ("" if x.shape != (n, 2) else ", with NaN or inf"))
        return report
    inside = onp.all((x >= b[:, 0]) & (x < b[:, 1]), axis=1)
    cell = onp.clip(((x[inside] - b[:, 0]) / (b[:, 1] - b[:, 0]) * bins).astype(int), 0, bins - 1)
    counts = onp.append(onp.bincount(cell[:, 0] * bins + cell[:, 1], minlength=bins * bins), (~inside).sum())
    p_all = onp.append(probs, max(0.0, 1.0 - probs.sum()))   # the last cell: outside the bounds
    c, e = _pool(counts.astype(float), n * p_all, min_expected)
    terms = (c - e) ** 2 / e
    x2, dof = float(terms.sum()), len(c) - 1
    p_value = chi_square_tail(x2, dof) if dof >= 1 else 1.0
    tv = 0.5 * float(onp.abs(counts / n - p_all).sum())
    report.stats = {"chi2": x2, "dof": dof, "p_value": p_value, "total_variation": tv}
    report.notes.append(f"X^2 = {x2:.4g} on {dof} degrees of freedom; total variation {tv:.3f}")
    worst = int(onp.argmax((counts - n * p_all) ** 2 / onp.maximum(n * p_all, min_expected)))
    if worst == bins * bins:
        place = "outside the bounds"
    else:
        width = (b[:, 1] - b[:, 0]) / bins
        place = f"in the cell around {fmt(b[:, 0] + (onp.array(divmod(worst, bins)) + 0.5) * width, 3)}"
    report.add("draws follow the density (chi^2 p-value, fails below tolerance)", p_value, alpha,
               ok=p_value >= alpha, where=f"{int(counts[worst])} draws {place}, {n * p_all[worst]:.1f} expected")
    return report


def check_discriminator(d_fn, log_p, log_q, bounds, logit=False, tolerance=0.05, value_tolerance=0.01,
                        panels=48):
    """A discriminator D against D*(x) = p(x) / (p(x) + q(x)) for data p and generator density q.

    d_fn(x) -> D(x) in [0, 1], shape (n,) (or the logit l(x), D = sigma(l), with ``logit=True``).
    Rows: D in (0, 1); E_m |D - D*| <= tolerance, m = (p + q) / 2; and V(D*, G) - V(D, G) <=
    value_tolerance nats, by quadrature on the bounds (which must hold p's and q's mass).
    """
    check_callable(d_fn, "d_fn", "x (n, 2) -> D(x) (n,)")
    b = _bounds(bounds)
    tolerance, value_tolerance = check_positive(tolerance, "tolerance"), check_positive(value_tolerance,
                                                                                        "value_tolerance")
    x, w = quadrature_grid(b, check_positive_int(panels, "panels"))
    lp, lq = _log_density(log_p, x, "log_p"), _log_density(log_q, x, "log_q")
    out = onp.asarray(d_fn(x), dtype=float)
    report = Report("check_discriminator", notes=[f"{len(x)} quadrature nodes on {fmt(b)}"])
    # 0 and 1 are allowed: a probability rounds to them where D* is within 1e-16 of either
    bad = ~onp.isfinite(out) if logit else ~((out >= 0) & (out <= 1))
    if out.shape != (len(x),) or bad.any():
        shaped = out.shape == (len(x),)
        report.add("D(x) is finite and in [0, 1]", int(bad.sum()) if shaped else 1, 0,
                   where=f"D = {out[bad][0]!r} at {fmt(x[bad][0])}" if shaped else f"got shape {out.shape}")
        return report
    with onp.errstate(divide="ignore"):
        l = out if logit else onp.log(out) - onp.log1p(-out)   # l = log D - log(1 - D), +-inf at 1 and 0
    l = onp.clip(l, -700.0, 700.0)  # D = 0 or 1 costs 700 nats per unit of mass on the wrong side
    d = 1 / (1 + onp.exp(-l))
    d_star = 1 / (1 + onp.exp(lq - lp))                        # D* = p / (p + q) = sigma(log p - log q)
    m = 0.5 * w * (onp.exp(lp) + onp.exp(lq))                 # quadrature weight times m(x)
    err = float(onp.sum(m * onp.abs(d - d_star)) / onp.sum(m))
    i = int(onp.argmax(onp.where(m > 1e-3 * m.max(), onp.abs(d - d_star), -1)))
    report.add("E_m |D - D*|, m = (p + q) / 2", err, tolerance,
               where=f"worst at {fmt(x[i], 3)}: D = {d[i]:.3f}, D* = {d_star[i]:.3f}")
    # the grid is the same for every call with these bounds and panels: pass the values computed on it
    gap = value_function(lambda v: l, lambda v: lp, lambda v: lq, b, panels) \
        - value_function(lambda v: lp - lq, lambda v: lp, lambda v: lq, b, panels)
    report.add("V(D*, G) - V(D, G) (nats)", -gap, value_tolerance, where=f"D gives up {-gap:.4f} nats of the value")
    return report
