"""check_bound: an estimate that claims to bound log p(x) from below, checked against the truth.

For a latent variable model and any q(z | x), with w_k = p(x, z_k) / q(z_k | x), z_k ~ q:

    E[ELBO] = E_q[log p(x | z)] - KL(q(z | x) || p(z)) = log p(x) - KL(q(z | x) || p(z | x)) <= log p(x)
    L_K = E[log (1/K) sum_k w_k]  rises with K (L_1 = ELBO) towards log p(x)      (IWAE)
    q = p(z | x) makes every w_k = p(x): then the bound equals log p(x)            (tightness)

A single estimate is random, so each is compared with the truth within its
Monte Carlo error: the mean of R independent repeats, give or take n_se standard errors.

Differences between two K are paired: repeat r calls the bound at every K with the
same seed (common random numbers), so an IWAE that draws z_1, ..., z_K in order
reuses z_1 at K = 1 inside its K = 100 estimate, and the R differences
L_100^(r) - L_1^(r) are tested against their own standard error. The rise from
the first K to the last can be small (q near the posterior: L_100 - L_1 ~ KL(q || p(z | x))),
so when it is within Monte Carlo error the check draws more repeats, up to
``max_repeats``; if it still cannot tell a small rise from none, it says so in a
row marked undecided ("could not decide ..."), never a pass.
"""
import math
import numbers
from itertools import pairwise

import numpy as onp

from .._validate import (
    as_float_array,
    as_rng,
    check_callable,
    check_positive,
    check_positive_int,
)
from .report import Report

__all__ = ["check_bound"]


def _as_ks(k):
    """k: None (one bound, no K), an int K, or a strictly increasing list of ints >= 1."""
    if k is None:
        return [None]
    ks = [k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k
    if isinstance(ks, (str, bytes, dict, set)) or not hasattr(ks, "__len__"):
        raise TypeError(f"k: expected an int or a list of ints >= 1, got {type(k).__name__}")
    ks = [check_positive_int(kk, "k") for kk in list(ks)]
    if not ks:
        raise ValueError("k: expected at least one sample count K, got an empty list")
    if any(b <= a for a, b in pairwise(ks)):
        raise ValueError(f"k: expected strictly increasing sample counts, got {ks}")
    return ks


def _draws(lower_bound, ks, seeds, n):
    """values[K]: (R, n) estimates, the same seed for every K in repeat r (paired draws)."""
    values = {kk: [] for kk in ks}
    for seed in seeds:
        for kk in ks:
            g = onp.random.default_rng(seed)
            out = onp.asarray(lower_bound(g) if kk is None else lower_bound(g, kk), dtype=float)
            at = "" if kk is None else f" at K={kk}"
            if out.shape != (n,):
                raise ValueError(f"lower_bound: expected one estimate per data point, shape ({n},), "
                                 f"got {out.shape}{at}")
            values[kk].append(out)
    return {kk: onp.array(v) for kk, v in values.items()}


def _finite(report, values, label=""):
    """Row "every estimate is finite": a NaN or inf estimate is a broken bound, and no mean of it decides anything."""
    bad = {kk: int((~onp.isfinite(v)).sum()) for kk, v in values.items()}
    worst = max(bad, key=lambda kk: bad[kk])
    r, i = onp.argwhere(~onp.isfinite(values[worst]))[0] if bad[worst] else (0, 0)
    at = "" if worst is None else f" at K={worst}"
    return report.add(f"every estimate is finite{label}", sum(bad.values()), 0,
                      where=f"{bad[worst]} of {values[worst].size} estimates{at} are NaN or inf, e.g. "
                            f"{values[worst][r, i]} for point {i + 1} in repeat {r + 1}").ok


def _mean_se(values):
    return values.mean(0), values.std(0, ddof=1) / math.sqrt(values.shape[0])


def check_bound(lower_bound, log_evidence, *, k=None, tight=False, repeats=100, rng=0, n_se=4.0, atol=1e-9,
                max_repeats=None):
    """Check a stochastic lower bound on log p(x) against the exact log p(x); returns a Report.

    lower_bound: ``lower_bound(rng)`` -> (n,) estimates, one per data point (an ELBO), or with
    ``k`` (an int K or a strictly increasing list of them) ``lower_bound(rng, K)`` (an
    importance-weighted bound L_K). log_evidence: the exact log p(x), shape (n,) (or a number).
    Each estimate is averaged over ``repeats`` independent calls; the calls at different K
    share their seed, so differences between K are paired (see the module docstring).
    Properties: the mean stays below log p(x) + n_se se + atol (for every K); with several K,
    the mean does not fall from one K to the next (beyond n_se se of the paired difference);
    unless tight, it rises from the first K to the last by more than n_se se. A rise within
    Monte Carlo error is redrawn with twice the repeats, up to ``max_repeats`` (default
    16 repeats); still undecided, that row is marked undecided ("could not decide: ..."), so
    the report is falsy: a flat bound and a q so close to p(z | x) that the rise is invisible look the
    same. (A q equal to the posterior gives a flat L_K: use tight=True there.)
    A NaN or infinite estimate fails the row "every estimate is finite" and ends the check.
    tight=True: q is the exact posterior, so the mean must equal log p(x) within n_se se + atol.
    n_se = 4: a correct bound fails a row by chance with probability ~3e-5 per point. atol covers
    float64 rounding of sums of O(10) log-terms when se = 0 (an exact posterior, no MC noise).
    The report keeps ``report.estimates``: {K: (mean, se)} per data point (K None without k).
    """
    check_callable(lower_bound, "lower_bound", "rng -> (n,) estimates, or (rng, K) -> (n,) with k")
    rng = as_rng(rng)
    repeats = check_positive_int(repeats, "repeats", minimum=2)
    max_repeats = 16 * repeats if max_repeats is None else check_positive_int(max_repeats, "max_repeats",
                                                                              minimum=repeats)
    n_se = check_positive(n_se, "n_se")
    if not isinstance(tight, bool):
        raise TypeError(f"tight: expected True or False, got {type(tight).__name__}")
    atol = float(as_float_array(atol, "atol", ndim=0))
    if atol < 0:
        raise ValueError(f"atol: expected a number >= 0, got {atol}")
    log_px = onp.atleast_1d(as_float_array(log_evidence, "log_evidence"))
    if log_px.ndim != 1 or log_px.size == 0:
        raise ValueError(f"log_evidence: expected shape (n,) with n >= 1, got {log_px.shape}")
    ks = _as_ks(k)
    n = log_px.size
    report = Report(f"check_bound({getattr(lower_bound, '__name__', type(lower_bound).__name__)}, n={n})",
                    notes=[f"means of {repeats} independent estimates per point, +- {n_se:g} standard errors"
                           + ("; differences between K paired (same seed at every K)" if len(ks) > 1 else "")])
    values = _draws(lower_bound, ks, rng.integers(2 ** 63, size=repeats), n)
    if not _finite(report, values):
        return report  # a non-finite bound is broken; its means would decide nothing
    report.estimates = {kk: _mean_se(v) for kk, v in values.items()}
    for kk in ks:
        mean, se = report.estimates[kk]
        label = "" if kk is None else f" at K={kk}"
        excess = (mean - log_px) - n_se * se  # > atol: above log p(x) beyond its MC error
        i = int(onp.argmax(excess))
        report.add(f"E[bound]{label} <= log p(x)", mean[i] - log_px[i], n_se * se[i] + atol,
                   where=f"point {i + 1}: bound {mean[i]:.6g} +- {se[i]:.2g}, log p(x) = {log_px[i]:.6g}")
        if tight:
            gap = onp.abs(mean - log_px) - n_se * se
            i = int(onp.argmax(gap))
            report.add(f"E[bound]{label} = log p(x) at the exact posterior", abs(mean[i] - log_px[i]),
                       n_se * se[i] + atol,
                       where=f"point {i + 1}: bound {mean[i]:.6g} +- {se[i]:.2g}, log p(x) = {log_px[i]:.6g}")
    for k0, k1 in pairwise(ks):
        diff, se = _mean_se(values[k1] - values[k0])  # paired: L_K1^(r) - L_K0^(r)
        i = int(onp.argmax(-diff - n_se * se))
        report.add(f"E[bound] does not fall from K={k0} to K={k1}", -diff[i], n_se * se[i] + atol,
                   where=f"point {i + 1}: falls by {-diff[i]:.3g} +- {se[i]:.2g} (paired), "
                         f"{report.estimates[k0][0][i]:.6g} at K={k0}, {report.estimates[k1][0][i]:.6g} at K={k1}")
    if len(ks) > 1 and not tight:
        _rise(report, lower_bound, ks[0], ks[-1], values, rng, n_se, atol, max_repeats)
    return report


def _rise(report, lower_bound, k0, k1, values, rng, n_se, atol, max_repeats):
    """The row "L_K1 - L_K0 > n_se se": more paired repeats while the rise is within MC error."""
    d = values[k1] - values[k0]
    while True:
        rise, se = _mean_se(d)
        i = int(onp.argmin(rise - n_se * se))
        decided = rise[i] > n_se * se[i] + atol or rise[i] < -n_se * se[i] - atol
        if decided or 2 * d.shape[0] > max_repeats:
            break
        more = _draws(lower_bound, [k0, k1], rng.integers(2 ** 63, size=d.shape[0]), d.shape[1])
        if not _finite(report, more, " (the extra repeats for the rise)"):
            return
        d = onp.concatenate([d, more[k1] - more[k0]])  # twice the repeats: se shrinks by sqrt(2)
    report.notes.append(f"rise from K={k0} to K={k1}: {d.shape[0]} paired repeats")
    where = f"point {i + 1}: rise {rise[i]:.3g} +- {se[i]:.2g} over {d.shape[0]} paired repeats"
    if not decided:
        where = (f"could not decide: {where} is within Monte Carlo error; q may be too close to p(z | x) "
                 f"for the rise to show (give a larger K or max_repeats, or tight=True if q is the exact "
                 f"posterior), or the bound does not use its K samples")
    report.add(f"rise of E[bound] from K={k0} to K={k1} (must exceed tolerance)", rise[i], n_se * se[i] + atol,
               ok=rise[i] > n_se * se[i] + atol, where=where, decided=decided)
