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
from .flows import check_tolerance
from .report import Report, fmt

__all__ = ["check_normalized", "tail_index"]

SUPPORTS = ("continuous", "binary", "categorical")
MAX_STATES = 2 ** 20  # enumeration beyond ~1e6 states is slow; use sampling instead
# default proposal q = (1 - WIDE) N(0, 2^2 I) + WIDE prod_d Cauchy(0, 10): the Gaussian suits data
# of roughly unit scale, the Cauchy part reaches mass far out (a tenth of its draws land beyond
# |x_d| = 60) and bounds every weight p/q of a density with lighter tails than Cauchy's
PROPOSAL_SCALE, WIDE_SCALE, WIDE = 2.0, 10.0, 0.2
MIN_ESS = 100  # an se computed from fewer effective draws is itself too noisy to lean on
MAX_TAIL = 0.7  # Pareto k above 0.7: the mean of the weights converges too slowly to trust (PSIS)


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


def _box(bounds, D):
    """bounds as a (D, 2) array of finite lo < hi; (lo, hi) alone is used on every axis. D None: from bounds."""
    b = onp.asarray(bounds, dtype=float) if not isinstance(bounds, (str, bytes)) else onp.zeros(0)
    if b.ndim not in (1, 2) or b.shape[-1] != 2:
        raise ValueError(f"bounds: expected (lo, hi) or one (lo, hi) per axis, shape (D, 2), got shape {b.shape}")
    if b.ndim == 2 and D is not None and b.shape[0] != D:
        raise ValueError(f"dim: expected {b.shape[0]} to match bounds, which give {b.shape[0]} axes, got {D}")
    if not (onp.all(onp.isfinite(b)) and onp.all(b[..., 0] < b[..., 1])):
        raise ValueError(f"bounds: expected finite lo < hi on every axis, got {b.tolist()}")
    D = (1 if b.ndim == 1 else b.shape[0]) if D is None else D
    return onp.broadcast_to(b, (D, 2))


def check_normalized(log_prob, *, dim=None, support="continuous", n_classes=None, bounds=None, sampler=None,
                     n=None, rng=0, atol=None, n_se=4.0, max_se=0.02):
    """Check that exp(log_prob) is a normalized density; returns a Report (truthy iff verified).

    log_prob: maps a batch (m, D) (or (m, *shape) for an event shape ``dim=(H, W)``) to (m,).
    dim: D or an event shape; optional for a continuous density when ``bounds`` (one (lo, hi)
    per axis) or ``sampler`` give it.
    support: "binary" (x in {0, 1}^D) or "categorical" (x in {0..K-1}^D, K = n_classes), both
    summed exactly over all K^D values (in float, chunks of 65536); atol default 1e-9 (rounding
    of up to 2^20 terms). "continuous": with ``bounds`` in 1-D ((lo, hi)) or 2-D (((lo, hi),
    (lo, hi))), the midpoint rule with n cells per axis (default 400), and again with n / 2:
    their difference says whether the grid is fine enough; atol default 1e-4 (the rule errs by
    O(h^2) where a density has kinks, splines and ReLU nets do). Mass outside the box is not
    counted. Otherwise importance sampling, Z = E_q[p(x) / q(x)], from n (default 20000, at
    least MIN_ESS) draws of ``sampler(n, rng)`` -> (x, log q(x)), or uniform on ``bounds`` if
    given, or by default q = 0.8 N(0, 2^2 I) + 0.2 prod_d Cauchy(0, 10): unit-scale data meet
    the Gaussian part, the Cauchy part finds mass far out (in 1-D an extra unit of mass at
    x = 30 is hit by ~50 draws) and keeps every weight bounded.

    How the sampling verdict is reached. The weights w_i = p(x_i) / q(x_i) give Z and its
    standard error se; three diagnostics say whether they can be trusted: se <= max_se, the
    effective sample size (sum w)^2 / sum w^2 >= MIN_ESS, and the right tail of the weights
    light enough, its Pareto index k <= MAX_TAIL (see ``tail_index``) (above 0.7 the average of
    the weights converges too slowly for se to mean anything). If one fails, the report says
    the estimate cannot be trusted: "could not decide", which is not a pass. If all hold, it
    passes when |Z - 1| <= n_se se + atol (default atol 0; with n_se = 4 a factor 1.08 shows).
    No finite sample sees mass that q almost never visits: far out in several dimensions,
    pass a sampler that covers it, or use a box.
    """
    support = check_option(support, "support", SUPPORTS)
    if not callable(log_prob):
        raise TypeError(f"log_prob: expected a function of a batch x, got {type(log_prob).__name__}")
    atol = None if atol is None else check_tolerance(atol, "atol")
    if dim is None and (support != "continuous" or (bounds is None and sampler is None)):
        raise ValueError("dim: expected the dimension D (or an event shape), got None "
                         "(only a continuous density with bounds or a sampler can do without)")
    shape = None if dim is None else _event_shape(dim)
    D = None if shape is None else int(onp.prod(shape))
    box = None if bounds is None or support != "continuous" else _box(bounds, D)
    shape = shape or (None if box is None else (box.shape[0],))
    if sampler is not None and not callable(sampler):
        raise TypeError(f"sampler: expected a function (n, rng) -> (x, log q(x)), got {type(sampler).__name__}")
    watch = _Watch(log_prob)
    if support != "continuous":
        report = _enumerate(watch, shape, 2 if support == "binary" else
                            check_positive_int(n_classes, "n_classes", minimum=2), 1e-9 if atol is None else atol)
    elif box is not None and len(shape) == 1 and shape[0] <= 2 and sampler is None:
        report = _quadrature(watch, box, check_positive_int(400 if n is None else n, "n", minimum=2),
                             1e-4 if atol is None else atol)
    else:
        report = _importance(watch, shape, box, sampler, check_positive_int(20000 if n is None else n, "n",
                                                                            minimum=MIN_ESS),
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


def _quadrature(watch, box, n, atol):
    D = box.shape[0]
    bounds = box[0] if D == 1 else box
    total = grid_integral(watch, bounds, n)
    coarse = grid_integral(watch, bounds, n // 2)
    report = Report(f"check_normalized(continuous, D={D})",
                    notes=[(f"method: midpoint rule on {n} cells per axis over {onp.asarray(bounds).tolist()}"
                           f" (and {n // 2}, to see it converged)")])
    report.add("integral of p(x) over the box = 1", abs(total - 1.0), atol, where=f"the integral is {total:.10g}")
    report.add(f"grid fine enough: |I({n}) - I({n // 2})|", abs(total - coarse), atol,
               where=f"I({n}) = {total:.10g}, I({n // 2}) = {coarse:.10g}: raise n or fix bounds")
    return report


def _draw(shape, box, sampler, n, rng):
    """(x, log q(x), a description of q) from the sampler, the box or the default mixture."""
    if sampler is not None:
        out = sampler(n, rng)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"sampler: expected a pair (x, log q(x)), got {type(out).__name__}")
        x, log_q = (onp.asarray(a, dtype=float) for a in out)
        shape = shape or x.shape[1:]
        if x.shape != (n,) + tuple(shape) or log_q.shape != (n,):
            raise ValueError(f"sampler: expected x of shape {(n,) + tuple(shape)} and log q of shape ({n},), "
                             f"got {x.shape} and {log_q.shape}")
        return x, log_q, "the given sampler", shape
    D = int(onp.prod(shape))
    if box is not None:  # uniform on the box: log q = -sum_d log(hi_d - lo_d)
        x = rng.uniform(box[:, 0], box[:, 1], (n, D))
        return x, onp.full(n, -onp.sum(onp.log(box[:, 1] - box[:, 0]))), "uniform on the box", shape
    # q = (1 - WIDE) N(0, s^2 I) + WIDE prod_d Cauchy(0, c): pick the component, then draw from it
    wide = rng.random(n) < WIDE
    x = onp.where(wide[:, None], WIDE_SCALE * rng.standard_cauchy((n, D)), PROPOSAL_SCALE * rng.standard_normal((n, D)))
    log_normal = -0.5 * onp.sum((x / PROPOSAL_SCALE) ** 2, 1) - D * math.log(PROPOSAL_SCALE * math.sqrt(2 * math.pi))
    log_cauchy = -onp.sum(onp.log1p((x / WIDE_SCALE) ** 2), 1) - D * math.log(math.pi * WIDE_SCALE)
    log_q = onp.logaddexp(math.log(1 - WIDE) + log_normal, math.log(WIDE) + log_cauchy)
    how = f"q = {1 - WIDE:g} N(0, {PROPOSAL_SCALE:g}^2 I) + {WIDE:g} Cauchy(0, {WIDE_SCALE:g})^D"
    return x, log_q, how, shape


def tail_index(w):
    """The index k of the weights' right tail, P(w > t) ~ t^(-1/k), by the moment estimator of
    Dekkers, Einmahl and de Haan (1989), from the M largest weights w_(1) >= ... >= w_(M+1):

        m_j = (1/M) sum_{i=1..M} (log w_(i) - log w_(M+1))^j,     k = m_1 + 1 - 1 / (2 (1 - m_1^2 / m_2))

    with M = min(n/5, 3 sqrt(n)). For a Pareto tail m_1 -> k and m_2 -> 2 k^2, so k comes out right;
    bounded weights (q wider than p) give k <= 0. The weights have a variance only for k < 1/2
    and a mean only for k < 1.
    """
    M = max(2, min(len(w) // 5, int(3 * math.sqrt(len(w)))))
    top = onp.sort(w)[::-1][:M + 1]
    if not top[M] > 0:
        return onp.inf if top[0] > 0 else 0.0  # a handful of positive weights, the rest 0
    log_ratio = onp.log(top[:M] / top[M])
    m1, m2 = onp.mean(log_ratio), onp.mean(log_ratio ** 2)
    if m2 == 0:
        return -onp.inf  # the M + 1 largest weights are equal: bounded, as flat as can be
    return float(m1 + 1 - 0.5 / (1 - m1 ** 2 / m2))


def _importance(watch, shape, box, sampler, n, rng, atol, n_se, max_se):
    x, log_q, how, shape = _draw(shape, box, sampler, n, rng)
    D = int(onp.prod(shape))
    x = x.reshape((-1,) + tuple(shape))
    # Z_hat = (1/n) sum_i p(x_i) / q(x_i), computed from log w_i = log p - log q without overflow
    log_w = watch(x) - log_q
    top = onp.max(log_w)
    w = onp.exp(log_w - top) if onp.isfinite(top) else onp.zeros_like(log_w)
    scale = math.exp(top) if onp.isfinite(top) else 0.0
    Z, se = scale * w.mean(), scale * w.std(ddof=1) / math.sqrt(len(w))
    ess = w.sum() ** 2 / onp.sum(w ** 2) if w.any() else 0.0  # (sum w)^2 / sum w^2, scale-free
    k = tail_index(w)
    report = Report(f"check_normalized(continuous, D={D})",
                    notes=[(f"method: importance sampling, {len(w)} draws from {how}; Z = {Z:.5g} +- {se:.2g} (se), "
                           f"effective sample size {ess:.0f}, tail index k = {k:.2f}")])
    trusted = se <= max_se and ess >= MIN_ESS and k <= MAX_TAIL
    report.add(f"E_q[p/q] = 1 within {n_se:g} standard errors", abs(Z - 1.0), n_se * se + atol, decided=trusted,
               where=f"Z = {Z:.6g} +- {se:.2g}" + ("" if trusted else ": the estimate cannot be trusted, see below"))
    report.add("standard error small enough to decide", se, max_se, decided=se <= max_se,
               where=f"se = {se:.3g}: more draws or a sampler closer to p")
    report.add(f"effective sample size (sum w)^2 / sum w^2 >= {MIN_ESS}", ess, MIN_ESS, ok=True, decided=ess >= MIN_ESS,
               where=f"{ess:.1f} of {len(w)} draws carry the estimate: the weight sits on a few draws")
    report.add(f"weights' right tail light enough: tail index k <= {MAX_TAIL}", k, MAX_TAIL, decided=k <= MAX_TAIL,
               where=f"k = {k:.2f}: a few huge weights p/q, where q is far thinner than p (mass q rarely visits)")
    return report
