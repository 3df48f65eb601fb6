"""Scoring a density model: test NLL with its standard error, bits/dim, the gap to a known truth.

The lecture's view of maximum likelihood: the expected NLL of a model,
E_p[-log p_theta(x)], equals H(p) + D_KL(p || p_theta). A test set estimates
it by the sample mean of -log p_theta(x^(i)); with the exact entropy H(p) of a
toy (``tinygen.data``) the remaining gap is the KL divergence itself.
"""
import inspect
import math

import numpy as onp

from ._validate import (as_examples, as_float_array, as_rng, as_rows_like, check_callable, check_positive_int,
                        check_real)

__all__ = ["bits_per_dim", "gap_to_entropy", "grid_integral", "kl_to_truth", "moons_bridge_ratio", "nll_stats",
           "test_nll"]


def _untraced_kernels():
    """``with`` this around a model's evaluation: tinygen/fast/'s untraced kernels compute it (block by
    block, same values as the model's own code; docs/fast_path.md). Under ``tinygen.fast.disabled()``
    it puts nothing in place and the model modules' code runs. Imported here, since fast/ imports
    the models."""
    from . import fast
    return fast.installed()


def _values(a, name):
    """Per-sample values as a 1-D finite float array with at least one entry."""
    a = as_float_array(a, name, ndim=1)
    if a.size < 1:
        raise ValueError(f"{name}: expected at least one value, got an empty array")
    return a


def nll_stats(log_p):
    """(mean NLL, standard error) from per-sample log-probabilities log p_theta(x^(i)), shape (n,).

    NLL = (1/n) sum_i -log p_theta(x^(i)),   se = std_i(log p_theta(x^(i))) / sqrt(n)
    (sample std with n - 1 in the denominator; se = 0 for a single sample).
    """
    log_p = _values(log_p, "log_p")
    n = log_p.size
    se = float(onp.std(log_p, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return float(-onp.mean(log_p)), se


def _accepts(fn, name):
    """Does ``fn`` take a keyword ``name`` (or **kwargs)?"""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass nothing extra
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def test_nll(model, params, x, rng=None, context=None, batch_size=10000, **kwargs):
    """(mean NLL, standard error) of ``model.log_prob(params, x)`` over a test set, in batches.

    ``rng``, ``context`` and extra keywords (a VAE's ``k`` importance samples)
    are passed only if ``model.log_prob`` accepts them; rng None means seed 0
    for a log_prob that draws (a VAE's importance-sampled estimate).
    """
    if not hasattr(model, "log_prob"):
        raise TypeError(f"model: expected an object with log_prob(params, x), got {type(model).__name__}")
    x = as_examples(x, "x")
    batch_size = check_positive_int(batch_size, "batch_size")
    context = as_rows_like(context, x)
    fn = model.log_prob
    for key in kwargs:
        if not _accepts(fn, key):
            raise TypeError(f"{key}: {type(model).__name__}.log_prob does not take this argument")
    if context is not None and not _accepts(fn, "context"):
        raise TypeError(f"context: {type(model).__name__}.log_prob does not take a context")
    draws = _accepts(fn, "rng")
    rng = as_rng(0 if rng is None else rng) if draws else None
    chunks = []
    with _untraced_kernels():
        for i in range(0, x.shape[0], batch_size):
            extra = dict(kwargs)
            if draws:
                extra["rng"] = rng
            if context is not None:
                extra["context"] = context[i:i + batch_size]
            out = onp.asarray(fn(params, x[i:i + batch_size], **extra), dtype=onp.float64)
            if out.shape != (min(batch_size, x.shape[0] - i),):
                raise ValueError(f"model: log_prob returned shape {out.shape}, expected one value per example")
            chunks.append(out)
    return nll_stats(onp.concatenate(chunks))


test_nll.__test__ = False  # a library function, not a test for pytest to collect


def bits_per_dim(nll, dim):
    """NLL in bits per dimension: nll / (D ln 2) (nats to bits, averaged over the D coordinates)."""
    dim = check_positive_int(dim, "dim")
    return check_real(nll, "nll") / (dim * math.log(2))


def gap_to_entropy(nll, entropy):
    """Estimated D_KL(p || p_theta) = E_p[-log p_theta(x)] - H(p) from a test NLL and the exact entropy.

    E_p[-log p_theta] = H(p) + D_KL(p || p_theta) and D_KL >= 0 (Jensen), so the
    gap is >= 0 when the NLL is exact; a test NLL is a sample mean, so the
    gap can dip below 0 by a few standard errors of that mean.
    """
    return check_real(nll, "nll") - check_real(entropy, "entropy")


def kl_to_truth(model_log_prob_fn, true_log_prob_fn, x_from_truth):
    """(mean, se) of log p(x) - log p_theta(x) over x ~ p: a Monte Carlo D_KL(p || p_theta).

    Both functions map an (n, D) array to (n,) log-densities. Using the same
    samples for both terms cancels much of their noise, so this se is usually
    far smaller than that of ``gap_to_entropy``.
    """
    check_callable(model_log_prob_fn, "model_log_prob_fn", "x -> log p_theta(x)")
    check_callable(true_log_prob_fn, "true_log_prob_fn", "x -> log p(x)")
    x = as_examples(x_from_truth, "x_from_truth")
    values = []
    for name, fn in (("true_log_prob_fn(x)", true_log_prob_fn), ("model_log_prob_fn(x)", model_log_prob_fn)):
        with _untraced_kernels():
            v = _values(fn(x), name)
        if v.shape != (x.shape[0],):
            raise ValueError(f"{name}: expected one value per example, shape ({x.shape[0]},), got {v.shape}")
        values.append(v)
    diff = values[0] - values[1]
    return float(onp.mean(diff)), nll_stats(diff)[1]


def _interval(b, name):
    b = as_float_array(b, name, ndim=1)
    if b.shape != (2,) or not b[0] < b[1]:
        raise ValueError(f"{name}: expected a pair (lo, hi) with lo < hi, got {b.tolist()}")
    return b


def grid_integral(log_prob_fn, bounds, n=400):
    """int exp(log_prob_fn(x)) dx over a 1-D interval or a 2-D box, by the midpoint rule.

    bounds: (lo, hi) for 1-D (log_prob_fn then gets an (n, 1) array) or
    ((lo_1, hi_1), (lo_2, hi_2)) for 2-D (an (n*n, 2) array). n cells per axis.
    Midpoint rule: sum over cells of p(cell centre) * cell volume; its error is
    O(h^2) (h the cell width) for a smooth density, and it never evaluates the
    edges, where a density with a jump (a checkerboard) is ambiguous.
    Mass outside ``bounds`` is not counted, so the box must hold the density.
    """
    check_callable(log_prob_fn, "log_prob_fn", "x -> log p(x)")
    n = check_positive_int(n, "n")
    b = as_float_array(bounds, "bounds")
    if b.shape == (2, 2):
        axes = [_interval(b[0], "bounds[0]"), _interval(b[1], "bounds[1]")]
    elif b.shape == (2,):
        axes = [_interval(b, "bounds")]
    else:
        raise ValueError(f"bounds: expected (lo, hi) or ((lo_1, hi_1), (lo_2, hi_2)), got shape {b.shape}")
    centres, volume = [], 1.0
    for lo, hi in axes:
        h = (hi - lo) / n
        centres.append(lo + h * (onp.arange(n) + 0.5))
        volume *= h
    pts = onp.column_stack([g.ravel() for g in onp.meshgrid(*centres, indexing="ij")])
    with _untraced_kernels():
        log_p = log_prob_fn(pts)
    log_p = as_float_array(log_p, "log_prob_fn(x)", finite=False).reshape(-1)  # -inf is p = 0
    if log_p.shape != (pts.shape[0],) or onp.any(onp.isnan(log_p)):
        raise ValueError(f"log_prob_fn: expected {pts.shape[0]} non-NaN log-densities, got shape {log_p.shape}")
    return float(onp.sum(onp.exp(log_p)) * volume)


# Points in the gaps between the two moons (noise-free arcs as in ``data.moons``):
# above the inner moon's tip (0, 1/2), below the outer moon's tip (1, 0), each 0.25
# from the nearest arc, and the middle of the gap, about 0.44 from both arcs.
MOON_BRIDGES = onp.array([[0.0, 0.75], [1.0, -0.25], [0.5, 0.25]])


def moons_bridge_ratio(log_prob_fn, x):
    """max_b p_theta(b) / median_i p_theta(x_i), b in ``MOON_BRIDGES``, x two-moons samples.

    How much density a model leaves on a bridge between the moons, relative to its
    typical density on them: the two moons themselves give about 6e-6 at noise 0.05
    (every bridge point is 5 noise standard deviations from the arcs); a model whose
    moons are still joined gives a ratio near 1.
    """
    check_callable(log_prob_fn, "log_prob_fn", "x -> log p(x)")
    x = as_examples(x, "x")
    if x.shape[1] != 2:
        raise ValueError(f"x: expected two-moons points of shape (n, 2), got {x.shape}")
    with _untraced_kernels():
        log_p = log_prob_fn(onp.concatenate([MOON_BRIDGES, x]))
    log_p = _values(log_p, "log_prob_fn(x)")
    if log_p.shape != (x.shape[0] + len(MOON_BRIDGES),):
        raise ValueError(f"log_prob_fn: expected one value per point, got shape {log_p.shape}")
    k = len(MOON_BRIDGES)
    return float(onp.exp(onp.max(log_p[:k]) - onp.median(log_p[k:])))
