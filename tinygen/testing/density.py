"""check_normalized: a density sums or integrates to one, and the check says how it knows.

    discrete x (binary, categorical):  sum over all K^D values of p(x) = 1        (exact enumeration)
    continuous x, D = 1 or 2:           int p(x) dx = 1 over a box                   (midpoint-rule grid)
    continuous x, any D:                E_q[p(x) / q(x)] = 1, x ~ q                  (importance sampling)

An autoregressive model is normalized when each conditional is; a flow when its
log-det is right; a model that forgot a constant (the 1/sqrt(2 pi) of a Gaussian,
a log-det term) integrates to something else, and this check sees it.
"""
import itertools
import math
import numbers

import numpy as onp

from .._validate import as_rng, check_option, check_positive, check_positive_int
from ..evaluate import grid_integral
from ..functional import logsumexp
from .report import Report, fmt

SUPPORTS = ("continuous", "binary", "categorical")
MAX_STATES = 2 ** 20  # enumeration beyond ~1e6 states is slow; use sampling instead
PROPOSAL_SCALE = 2.0  # default q = N(0, 2^2 I): wider than standardized data, yet usable weights up to D ~ 6


class _Watch:
    """log_prob wrapped to remember the first NaN it returns (and where), replacing NaN by -inf."""

    def __init__(self, log_prob):
        self.log_prob, self.nan_at, self.n = log_prob, None, 0

    def __call__(self, x):
        out = onp.asarray(self.log_prob(x), dtype=float)
        if out.shape != (x.shape[0],):
            raise ValueError(f"log_prob: expected one log-density per row, shape ({x.shape[0]},), got {out.shape}")
        bad = onp.isnan(out)
        if bad.any() and self.nan_at is None:
            self.nan_at = x[onp.flatnonzero(bad)[0]]
        self.n += x.shape[0]
        return onp.where(bad, -onp.inf, out)


def _event_shape(dim):
    shape = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    if not shape or not all(isinstance(s, numbers.Integral) and s >= 1 for s in shape):
        raise ValueError(f"dim: expected an int >= 1 or an event shape like (H, W), got {dim!r}")
    return tuple(int(s) for s in shape)


def check_normalized(log_prob, *, dim=None, support="continuous", n_classes=None, bounds=None, sampler=None,
                     n=None, rng=0, atol=None, n_se=4.0, max_se=0.02):
    """Check that exp(log_prob) is a normalized density; returns a Report.

    log_prob: maps a batch (m, D) (or (m, *shape) for an event shape ``dim=(H, W)``) to (m,).
    support: "binary" (x in {0, 1}^D) or "categorical" (x in {0..K-1}^D, K = n_classes), both
    summed exactly over all K^D values (in float, chunks of 65536); atol default 1e-9 (rounding
    of up to 2^20 terms). "continuous": with ``bounds`` in 1-D ((lo, hi)) or 2-D (((lo, hi),
    (lo, hi))), the midpoint rule with n cells per axis (default 400), and again with n / 2:
    their difference says whether the grid is fine enough; atol default 1e-4 (the rule errs by
    O(h^2) where a density has kinks, splines and ReLU nets do). Mass outside the box is not
    counted. Otherwise importance sampling: n (default 20000) draws from ``sampler(n, rng)``
    -> (x, log q(x)), or from N(0, 2^2 I) (uniform on ``bounds`` if given), which suits data of
    roughly unit scale (else pass a sampler); it passes when |Z - 1| <= n_se standard errors
    + atol (default 0), and needs se <= max_se to decide (with n_se = 4: a factor 1.08 shows).
    """
    support = check_option(support, "support", SUPPORTS)
    if not callable(log_prob):
        raise TypeError(f"log_prob: expected a function of a batch x, got {type(log_prob).__name__}")
    if dim is None:
        raise ValueError("dim: expected the dimension D (or an event shape), got None")
    shape = _event_shape(dim)
    watch = _Watch(log_prob)
    if support != "continuous":
        report = _enumerate(watch, shape, 2 if support == "binary" else
                            check_positive_int(n_classes, "n_classes", minimum=2), 1e-9 if atol is None else atol)
    elif bounds is not None and len(shape) == 1 and shape[0] <= 2 and sampler is None:
        report = _quadrature(watch, shape[0], bounds, check_positive_int(n or 400, "n", minimum=2),
                             1e-4 if atol is None else atol)
    else:
        report = _importance(watch, shape, bounds, sampler, check_positive_int(n or 20000, "n", minimum=2),
                             as_rng(rng), 0.0 if atol is None else atol, check_positive(n_se, "n_se"),
                             check_positive(max_se, "max_se"))
    report.add("log_prob is never NaN", 0 if watch.nan_at is None else 1, 0,
               where=f"NaN at x = {fmt(watch.nan_at if watch.nan_at is not None else [])}")
    return report


def _enumerate(watch, shape, K, atol):
    D = int(onp.prod(shape))
    if K ** D > MAX_STATES:
        raise ValueError(f"dim: enumerating K^D = {K}^{D} states is too many (at most {MAX_STATES}); "
                         f"check a smaller model or use support='continuous' with a sampler")
    states = itertools.product(range(K), repeat=D)
    parts = []
    for chunk in iter(lambda: list(itertools.islice(states, 65536)), []):
        with onp.errstate(divide="ignore"):
            parts.append(logsumexp(watch(onp.array(chunk, dtype=float).reshape((-1,) + shape)), axis=0))
    with onp.errstate(divide="ignore"):  # log 0 = -inf for a density that is 0 (or NaN) everywhere
        total = math.exp(float(logsumexp(onp.array(parts), axis=0)))
    report = Report(f"check_normalized({'binary' if K == 2 else 'categorical'}, D={D})",
                    notes=[f"method: exact enumeration of all {K}^{D} = {K ** D} values"])
    report.add(f"sum over all {K ** D} x of p(x) = 1", abs(total - 1.0), atol, where=f"the sum is {total:.10g}")
    return report


def _quadrature(watch, D, bounds, n, atol):
    b = onp.asarray(bounds, dtype=float)
    if D == 2 and b.shape == (2,):
        b = onp.stack([b, b])  # (lo, hi) for both axes
    if b.shape == (1, 2):
        b = b[0]
    if b.shape != ((2,) if D == 1 else (2, 2)):
        raise ValueError(f"bounds: expected {'(lo, hi)' if D == 1 else '((lo_1, hi_1), (lo_2, hi_2))'} "
                         f"for D = {D}, got shape {onp.shape(bounds)}")
    bounds = b
    total = grid_integral(watch, bounds, n)
    coarse = grid_integral(watch, bounds, n // 2)
    report = Report(f"check_normalized(continuous, D={D})",
                    notes=[f"method: midpoint rule on {n} cells per axis over {onp.asarray(bounds).tolist()}"
                           f" (and {n // 2}, to see it converged)"])
    report.add("integral of p(x) over the box = 1", abs(total - 1.0), atol, where=f"the integral is {total:.10g}")
    report.add(f"grid fine enough: |I({n}) - I({n // 2})|", abs(total - coarse), atol,
               where=f"I({n}) = {total:.10g}, I({n // 2}) = {coarse:.10g}: raise n or fix bounds")
    return report


def _importance(watch, shape, bounds, sampler, n, rng, atol, n_se, max_se):
    D = int(onp.prod(shape))
    if sampler is not None:
        x, log_q = sampler(n, rng)
        how = "the given sampler"
    elif bounds is not None:  # uniform on the box: log q = -sum_d log(hi_d - lo_d)
        b = onp.broadcast_to(onp.asarray(bounds, dtype=float), (D, 2))
        x = rng.uniform(b[:, 0], b[:, 1], (n, D))
        log_q = onp.full(n, -onp.sum(onp.log(b[:, 1] - b[:, 0])))
        how = "uniform on the box"
    else:  # q = N(0, s^2 I)
        x = PROPOSAL_SCALE * rng.standard_normal((n, D))
        log_q = -0.5 * onp.sum((x / PROPOSAL_SCALE) ** 2, 1) - D * math.log(PROPOSAL_SCALE * math.sqrt(2 * math.pi))
        how = f"q = N(0, {PROPOSAL_SCALE:g}^2 I)"
    x = onp.asarray(x, dtype=float).reshape((-1,) + shape)
    log_q = onp.asarray(log_q, dtype=float)
    if log_q.shape != (x.shape[0],):
        raise ValueError(f"sampler: expected (x, log q) with one log q per sample, got shape {log_q.shape}")
    # Z_hat = (1/n) sum_i p(x_i) / q(x_i), computed from log w_i = log p - log q without overflow
    log_w = watch(x) - log_q
    top = onp.max(log_w)
    w = onp.exp(log_w - top) if onp.isfinite(top) else onp.zeros_like(log_w)
    scale = math.exp(top) if onp.isfinite(top) else 0.0
    Z, se = scale * w.mean(), scale * w.std(ddof=1) / math.sqrt(len(w))
    report = Report(f"check_normalized(continuous, D={D})",
                    notes=[f"method: importance sampling, {len(w)} draws from {how}; Z = {Z:.5g} +- {se:.2g} (se)"])
    report.add(f"E_q[p/q] = 1 within {n_se:g} standard errors", abs(Z - 1.0), n_se * se + atol,
               where=f"Z = {Z:.6g} +- {se:.2g}")
    report.add("standard error small enough to decide", se, max_se,
               where=f"se = {se:.3g}: more draws or a sampler closer to p")
    return report
