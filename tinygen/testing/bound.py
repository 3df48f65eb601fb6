"""check_bound: an estimate that claims to bound log p(x) from below, checked against the truth.

For a latent variable model and any q(z | x), with w_k = p(x, z_k) / q(z_k | x), z_k ~ q:

    E[ELBO] = E_q[log p(x | z)] - KL(q(z | x) || p(z)) = log p(x) - KL(q(z | x) || p(z | x)) <= log p(x)
    L_K = E[log (1/K) sum_k w_k]  rises with K (L_1 = ELBO) towards log p(x)      (IWAE)
    q = p(z | x) makes every w_k = p(x): then the bound equals log p(x)            (tightness)

A single estimate is random, so each is compared with the truth within its
Monte Carlo error: the mean of R independent repeats, give or take n_se standard errors.
"""
import math

import numpy as onp

from .._validate import as_float_array, as_rng, check_positive, check_positive_int
from .report import Report


def _repeat(fn, rng, repeats, n):
    """(mean, standard error) per data point over ``repeats`` independent calls fn(rng_r)."""
    values = onp.array([onp.asarray(fn(child), dtype=float) for child in rng.spawn(repeats)])
    if values.shape != (repeats, n):
        raise ValueError(f"lower_bound: expected one estimate per data point, shape ({n},), "
                         f"got {values.shape[1:]}")
    return values.mean(0), values.std(0, ddof=1) / math.sqrt(repeats)


def check_bound(lower_bound, log_evidence, *, k=None, tight=False, repeats=100, rng=0, n_se=4.0, atol=1e-9):
    """Check a stochastic lower bound on log p(x) against the exact log p(x); returns a Report.

    lower_bound: ``lower_bound(rng)`` -> (n,) estimates, one per data point (an ELBO), or with
    ``k`` a list of sample counts, ``lower_bound(rng, k)`` (an importance-weighted bound L_K).
    log_evidence: the exact log p(x), shape (n,) (or a number for one point).
    Each estimate is averaged over ``repeats`` independent calls (rng split with ``spawn``).
    Properties: the mean stays below log p(x) + n_se se + atol (for every K); with several K,
    the mean does not fall from one K to the next (beyond n_se se of the difference), and,
    unless tight, rises from the first K to the last by more than n_se se (a q equal to the
    posterior gives a flat L_K: use tight=True there). tight=True: q is the exact posterior,
    so the mean must equal log p(x) within n_se se + atol. n_se = 4: a correct bound fails
    a row by chance with probability ~3e-5 per point. atol covers float64 rounding of sums
    of O(10) log-terms when se = 0 (an exact posterior with no Monte Carlo noise).
    The report keeps ``report.estimates``: {K: (mean, se)} per data point (K None without k).
    """
    rng = as_rng(rng)
    repeats = check_positive_int(repeats, "repeats", minimum=2)
    n_se = check_positive(n_se, "n_se")
    log_px = onp.atleast_1d(as_float_array(log_evidence, "log_evidence"))
    if log_px.ndim != 1:
        raise ValueError(f"log_evidence: expected shape (n,), got {log_px.shape}")
    ks = [None] if k is None else [check_positive_int(kk, "k") for kk in onp.atleast_1d(k).tolist()]
    n = log_px.size
    report = Report(f"check_bound({getattr(lower_bound, '__name__', type(lower_bound).__name__)}, n={n})",
                    notes=[f"means of {repeats} independent estimates per point, +- {n_se:g} standard errors"])
    stats, report.estimates = [], {}
    for kk in ks:
        fn = lower_bound if kk is None else (lambda r, kk=kk: lower_bound(r, kk))
        mean, se = _repeat(fn, rng, repeats, n)
        stats.append((mean, se))
        report.estimates[kk] = (mean, se)
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
    for (k0, (m0, s0)), (k1, (m1, s1)) in zip(zip(ks, stats), zip(ks[1:], stats[1:])):
        drop = (m0 - m1) - n_se * onp.hypot(s0, s1)
        i = int(onp.argmax(drop))
        report.add(f"E[bound] does not fall from K={k0} to K={k1}", m0[i] - m1[i],
                   n_se * math.hypot(s0[i], s1[i]) + atol,
                   where=f"point {i + 1}: {m0[i]:.6g} at K={k0}, {m1[i]:.6g} at K={k1}")
    if len(ks) > 1 and not tight:
        (m0, s0), (m1, s1) = stats[0], stats[-1]
        rise = m1 - m0
        se = onp.hypot(s0, s1)
        i = int(onp.argmin(rise - n_se * se))
        report.add(f"rise of E[bound] from K={ks[0]} to K={ks[-1]} (must exceed tolerance)", rise[i],
                   n_se * se[i] + atol,
                   ok=rise[i] > n_se * se[i] + atol,
                   where=f"point {i + 1}: {m0[i]:.6g} at K={ks[0]}, {m1[i]:.6g} at K={ks[-1]} (+- {se[i]:.2g})")
    return report
