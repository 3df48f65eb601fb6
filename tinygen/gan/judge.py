"""Judging a generator against the exact density: the optimal discriminator and the samples.

For a generator with density q, the best discriminator is D*(x) = p(x) / (p(x) + q(x)), and
V(D*, G) = 2 JS(p || q) - log 4 (``value_function``, ``js_divergence``, by quadrature in 2-D).
A GAN has no density, so its samples are judged instead: ``sample_quality`` (the mean true
log-density of its samples) and ``coverage`` (the share of the true mass they reach, per
moon arc or per mode), each with a standard error.
"""
import numpy as onp

from .._validate import as_batch, as_rng, check_callable, check_fraction, check_positive_int
from ..data.potentials import gauss_legendre_panels
from ..functional import log_sigmoid, logsumexp

__all__ = ["coverage", "js_divergence", "optimal_logit", "quadrature_grid", "sample_quality", "value_function"]


# ------------------------------------------------------------- the optimum, by quadrature in 2-D

def quadrature_grid(box, panels):
    """Nodes (m, 2) and weights (m,) of a tensor Gauss-Legendre rule on the box, ``panels`` panels per axis."""
    (t1, w1), (t2, w2) = (gauss_legendre_panels(lo, hi, panels) for lo, hi in onp.asarray(box, dtype=float))
    g1, g2 = onp.meshgrid(t1, t2, indexing="ij")
    return onp.column_stack([g1.ravel(), g2.ravel()]), onp.outer(w1, w2).ravel()


def value_function(d_logit, log_p, log_q, box, panels=64):
    """V(D, G) = int p log D + q log(1 - D) dx over the box, for D = sigma(d_logit(x)) and G's density q."""
    x, w = quadrature_grid(box, panels)
    p, q, l = (onp.exp(log_p(x)), onp.exp(log_q(x)), onp.asarray(d_logit(x)))
    return float(onp.sum(w * (p * log_sigmoid(l) + q * log_sigmoid(-l))))


def js_divergence(log_p, log_q, box, panels=64):
    """JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, by quadrature over the box."""
    x, w = quadrature_grid(box, panels)
    lp, lq = onp.asarray(log_p(x)), onp.asarray(log_q(x))
    log_m = logsumexp(onp.stack([lp, lq]), axis=0) - onp.log(2.0)
    return float(0.5 * onp.sum(w * (onp.exp(lp) * (lp - log_m) + onp.exp(lq) * (lq - log_m))))


def optimal_logit(log_p, log_q):
    """The logit of D*(x) = p / (p + q): l*(x) = log p(x) - log q(x)."""
    return lambda x: onp.asarray(log_p(x)) - onp.asarray(log_q(x))


# ------------------------------------------------------------- judging samples against the exact density

def sample_quality(samples, log_prob_true):
    """(mean, standard error) of log p(x) over the samples, p the true density.

    Higher is better up to a point: a generator that puts every sample on the single
    most likely point scores above E_p[log p] = -H(p), so read it beside ``coverage``.
    The standard error is std / sqrt(n) (the samples are independent draws).
    """
    x = as_batch(samples, "samples")
    log_p = onp.asarray(check_callable(log_prob_true, "log_prob_true", "x (n, D) -> log p(x) (n,)")(x), dtype=float)
    if log_p.shape != (len(x),):
        raise ValueError(f"log_prob_true: expected {len(x)} values, got shape {log_p.shape}")
    if len(x) < 2:
        raise ValueError(f"samples: expected at least 2 samples for a standard error, got {len(x)}")
    return float(log_p.mean()), float(log_p.std(ddof=1) / onp.sqrt(len(x)))


def _component_log_probs(target, x):
    """log p(x | k) for every component k of a ``GaussianMixture`` or ``CircleArcs``, shape (n, K)."""
    if hasattr(target, "means"):  # N(x; mu_k, sigma^2 I)
        sq = onp.sum((x[:, None, :] - target.means[None]) ** 2, axis=-1)
        return -sq / (2 * target.sigma ** 2) - onp.log(2 * onp.pi * target.sigma ** 2)
    return onp.column_stack([target.log_prob(x, labels=onp.full(len(x), k)) for k in range(len(target.weights))])


def _component_samples(target, k, m, rng):
    if hasattr(target, "means"):
        return target.means[k] + target.sigma * rng.standard_normal((m, 2))
    x, labels = target.sample(m * len(target.weights) * 2, rng, labels=True)
    return x[labels == k][:m]


def coverage(samples, target, level=0.99, rng=0, n_boot=200, threshold=0.1):
    """The share of the true mass the samples cover, per component (moon arc or Gaussian mode).

    target: ``tinygen.data.moons(noise)`` (two arcs) or ``eight_gaussians()``: a mixture
    p = sum_k w_k p(x | k). A sample belongs to component k when k is its most probable
    component (max_k w_k p(x | k)) and it lies in k's ``level`` region, log p(x | k) >= tau_k,
    with tau_k the (1 - level) quantile of log p(x | k) under p(. | k) (from 4000 true draws):
    a perfect sampler puts a share f_k = level * w_k of its samples in component k. Then

        coverage = sum_k min(f_k, level w_k) / level    in [0, 1],

    1 when every component gets its share, and the lost weight of a dropped mode otherwise.
    The min makes a perfect sampler's coverage slightly below 1 (about the sampling error
    of the f_k). Standard errors by bootstrap over the samples (``n_boot`` resamples).
    Returns a dict: coverage, coverage_se, share (f_k), share_se, weight (w_k),
    covered (f_k >= threshold * level * w_k), n_covered, outside (the share in no region).
    """
    x = as_batch(samples, "samples", 2)
    if not (hasattr(target, "weights") and (hasattr(target, "means") or hasattr(target, "n_components"))):
        raise TypeError(f"target: expected a GaussianMixture or CircleArcs, got {type(target).__name__}")
    level, threshold = check_fraction(level, "level"), check_fraction(threshold, "threshold")
    rng, n_boot = as_rng(rng), check_positive_int(n_boot, "n_boot")
    w = onp.asarray(target.weights, dtype=float)
    k_count = len(w)
    tau = onp.array([onp.quantile(_component_log_probs(target, _component_samples(target, k, 4000, rng))[:, k],
                                  1 - level) for k in range(k_count)])   # tau_k: the level region of p(. | k)
    comp = _component_log_probs(target, x)
    best = onp.argmax(onp.log(w) + comp, axis=1)
    inside = comp[onp.arange(len(x)), best] >= tau[best]
    label = onp.where(inside, best, k_count)   # k_count: in no component's region

    def score(lab):
        f = onp.bincount(lab, minlength=k_count + 1)[:k_count] / len(lab)
        return f, onp.sum(onp.minimum(f, level * w)) / level

    share, cov = score(label)
    boot = [score(label[rng.integers(0, len(x), len(x))]) for _ in range(n_boot)]
    return {"coverage": float(cov), "coverage_se": float(onp.std([c for _, c in boot], ddof=1)),
            "share": share, "share_se": onp.std([f for f, _ in boot], axis=0, ddof=1), "weight": w,
            "covered": share >= threshold * level * w, "n_covered": int(onp.sum(share >= threshold * level * w)),
            "outside": float(onp.mean(label == k_count))}
