"""Distributions with log_prob, sample and (where closed form) entropy, and the KL divergence.

Shapes. The last axis of a Normal/Bernoulli parameter is the event (the D
coordinates of one point); ``log_prob`` sums over it, so a batch x of shape
(n, D) gives shape (n,). A Categorical is one variable with K classes; its
logits have shape (..., K) and ``log_prob`` of integer x has x's batch shape.
``sample(n, rng)`` returns shape (n,) + the parameters' shape (minus K for a
Categorical), so unbatched parameters give (n, D).

Parameters may be autograd-traced arrays, so these objects can be used inside
a loss (the VAE's encoder builds a Normal from network outputs).
"""
import autograd.numpy as np
import numpy as onp

from . import functional as F
from ._deprecated import sample_order
from ._validate import (as_rng, check_binary, check_finite, check_labels, check_positive_int, check_real_dtype,
                        value_of)

__all__ = ["Bernoulli", "Categorical", "Normal", "StandardNormal", "kl_divergence"]

LOG_2PI = onp.log(2 * onp.pi)


def _check_param(a, name, positive=False):
    v = value_of(a)
    check_real_dtype(v, name)
    check_finite(v, name)  # traced inside a loss, this NonFiniteError tells fit the params went bad
    if hasattr(a, "_value"):
        return a  # traced: keep the box (a traced scale <= 0 shows up as a non-finite loss)
    if positive and not onp.all(v > 0):
        raise ValueError(f"{name}: expected values > 0, got minimum {v.min()!r}")
    return onp.asarray(a, dtype=onp.float64)


def _check_x(x, name, event_shape, param_shape=()):
    v = value_of(x)
    check_real_dtype(v, name)
    check_finite(v, name)
    if event_shape and tuple(v.shape[-len(event_shape):]) != tuple(event_shape):
        raise ValueError(f"{name}: expected shape (..., {', '.join(map(str, event_shape))}), got {v.shape}")
    try:
        onp.broadcast_shapes(v.shape, param_shape)
    except ValueError:
        raise ValueError(f"{name}: expected a shape that broadcasts with the parameters' {param_shape}, "
                         f"got {v.shape}") from None
    return x


class Normal:
    """Diagonal Gaussian N(loc, diag(scale^2)) over the last axis.

    log N(x; mu, sigma^2) = sum_d [-(x_d - mu_d)^2 / (2 sigma_d^2) - log sigma_d - log(2 pi) / 2]

    Give the scale sigma > 0 or its logarithm ``log_scale`` = log sigma (any real), not
    both. With log_scale every formula uses log sigma itself, so a sigma too small for a
    float (sigma = softplus(rho) at rho = -800 rounds to 0) still has a finite log
    density at x = mu: log sigma = log_softplus(rho) is exact there.
    """

    def __init__(self, loc, scale=None, log_scale=None):
        self.loc = _check_param(loc, "loc")
        if (scale is None) == (log_scale is None):
            raise ValueError("scale: expected exactly one of scale and log_scale, got "
                             + ("neither" if scale is None else "both"))
        # The form not given is computed when first asked for (one traced operation
        # fewer inside a loss that never needs it).
        if log_scale is None:
            self._scale, self._log_scale = _check_param(scale, "scale", positive=True), None
        else:
            self._scale, self._log_scale = None, _check_param(log_scale, "log_scale")
        self._from_log = log_scale is not None
        given = self._scale if self._log_scale is None else self._log_scale
        shape = onp.broadcast_shapes(value_of(self.loc).shape, value_of(given).shape)
        if len(shape) == 0:
            raise ValueError("loc: expected at least one axis (the event dimension D), got a scalar")
        self.shape = shape
        self.dim = shape[-1]

    @property
    def scale(self):
        """sigma (from log sigma it may round to 0; then it is used only to draw samples)."""
        if self._scale is None:
            self._scale = np.exp(self._log_scale)
        return self._scale

    @property
    def log_scale(self):
        if self._log_scale is None:
            self._log_scale = np.log(self._scale)
        return self._log_scale

    def standardize(self, x):
        """u = (x - mu) / sigma, elementwise (from log sigma when that is what was given)."""
        if self._from_log:
            return F.standardize(x - self.loc, self.log_scale)
        return (x - self.loc) / self.scale

    def log_prob(self, x):
        x = _check_x(x, "x", (self.dim,), self.shape)
        if self._from_log:
            return np.sum(F.log_normal_pdf_log_scale(x, self.loc, self.log_scale), axis=-1)
        return np.sum(F.log_normal_pdf(x, self.loc, self.scale), axis=-1)

    def sample(self, n, rng=None):
        """Reparameterized: x = mu + sigma * eps with eps ~ N(0, I), so gradients flow to mu, sigma."""
        n, rng = sample_order(n, rng, "Normal.sample")  # the old order sample(rng, n) warns
        n = check_positive_int(n, "n")
        eps = as_rng(rng).standard_normal((n,) + self.shape)
        return self.loc + self.scale * eps

    def entropy(self):
        """H = sum_d [log sigma_d + (1 + log 2 pi) / 2]."""
        return np.sum(self.log_scale * np.ones(self.shape) + 0.5 * (1 + LOG_2PI), axis=-1)


class StandardNormal(Normal):
    """N(0, I) in D dimensions: the usual base distribution p_z and VAE prior p(z)."""

    def __init__(self, dim):
        dim = check_positive_int(dim, "dim")
        super().__init__(onp.zeros(dim), onp.ones(dim))

    def log_prob(self, x):
        # log N(x; 0, I) = -|x|^2 / 2 - D log(2 pi) / 2 (the general formula with mu = 0, sigma = 1)
        x = _check_x(x, "x", (self.dim,))
        return -0.5 * np.sum(x ** 2, axis=-1) - 0.5 * self.dim * LOG_2PI


class Categorical:
    """One variable with K classes: w = softmax(l) (lecture), -log p(x) = -log w_x."""

    def __init__(self, logits):
        self.logits = _check_param(logits, "logits")
        shape = value_of(self.logits).shape
        if len(shape) == 0:
            raise ValueError("logits: expected shape (..., K), got a scalar")
        self.n_classes = shape[-1]
        self.batch_shape = shape[:-1]

    @property
    def probs(self):
        return F.softmax(self.logits, axis=-1)

    def _check_classes(self, x):
        labels = check_labels(x, self.n_classes)
        # x of shape (n, 1) against logits (n, K) would broadcast to (n, n): refuse it.
        try:
            out = onp.broadcast_shapes(labels.shape, self.batch_shape)
        except ValueError:
            out = None
        if out not in (labels.shape, self.batch_shape):
            raise ValueError(
                f"x: expected labels of shape {self.batch_shape} (or broadcastable to it), got shape {labels.shape}"
            )
        return labels

    def log_prob(self, x):
        x = self._check_classes(x)
        # log w_x, picked by a one-hot mask (autograd has no gradient for take_along_axis)
        one_hot = x[..., None] == onp.arange(self.n_classes)
        return np.sum(np.where(one_hot, F.log_softmax(self.logits, axis=-1), 0.0), axis=-1)

    def sample(self, n, rng=None):
        """Inverse-CDF sampling: the first class whose cumulative probability exceeds u ~ U(0, 1)."""
        n, rng = sample_order(n, rng, "Categorical.sample")  # the old order sample(rng, n) warns
        n = check_positive_int(n, "n")
        p = value_of(self.probs)
        u = as_rng(rng).uniform(size=(n,) + self.batch_shape + (1,))
        return onp.minimum(onp.sum(u > onp.cumsum(p, axis=-1), axis=-1), self.n_classes - 1)

    def entropy(self):
        """H = -sum_i w_i log w_i: every term >= 0 (no cancellation), and log w_i from
        log_softmax keeps its relative accuracy when w_i is near 1 (logits like (40, 0))."""
        logw = F.log_softmax(self.logits, axis=-1)
        return -np.sum(np.exp(logw) * logw, axis=-1)


class Bernoulli:
    """Independent binary coordinates with p(x_d = 1) = sigmoid(l_d).

    log p(x) = sum_d [x_d log s(l_d) + (1 - x_d) log s(-l_d)]
    """

    def __init__(self, logits):
        self.logits = _check_param(logits, "logits")
        self.shape = value_of(self.logits).shape
        if len(self.shape) == 0:
            raise ValueError("logits: expected at least one axis (the event dimension D), got a scalar")
        self.dim = self.shape[-1]

    @property
    def probs(self):
        return F.sigmoid(self.logits)

    def log_prob(self, x):
        x = _check_x(x, "x", (self.dim,), self.shape)
        check_binary(x)
        return np.sum(x * F.log_sigmoid(self.logits) + (1 - x) * F.log_sigmoid(-self.logits), axis=-1)

    def sample(self, n, rng=None):
        n, rng = sample_order(n, rng, "Bernoulli.sample")  # the old order sample(rng, n) warns
        n = check_positive_int(n, "n")
        u = as_rng(rng).uniform(size=(n,) + self.shape)
        return (u < value_of(self.probs)).astype(onp.float64)

    def entropy(self):
        """H = sum_d [-p_d log p_d - (1 - p_d) log(1 - p_d)], p_d = s(l_d)
             = sum_d [s(l_d) softplus(-l_d) + s(-l_d) softplus(l_d)]   (log s(l) = -softplus(-l)).

        1 - p is written s(-l): for l = 40, 1 - s(40) rounds to 0 while s(-40) = 4.2e-18,
        and that term is most of H = 1.74e-16. Both terms are >= 0, so H keeps its
        relative accuracy at any logit.
        """
        l = self.logits
        return np.sum(F.sigmoid(l) * F.softplus(-l) + F.sigmoid(-l) * F.softplus(l), axis=-1)


def _kl_normal(p, q):
    # KL(N(m1, s1^2) || N(m2, s2^2)) = sum_d [log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2]
    #   = sum_d [(r^2 - 1 - 2 log r) / 2 + ((m1 - m2) / s2)^2 / 2],   r = s1 / s2.
    # Only the ratio r enters, as log r = log s1 - log s2: squaring s1 = 1e160 or
    # s2 = 1e-200 on its own would overflow or underflow (inf / inf = NaN).
    # r^2 - 1 - 2 log r = expm1(2 log r) - 2 log r keeps the size of r^2 - 1 for r near 1.
    log_r = p.log_scale - q.log_scale
    u = q.standardize(p.loc)  # (m1 - m2) / s2
    return np.sum(0.5 * (np.expm1(2.0 * log_r) - 2.0 * log_r) + 0.5 * u ** 2, axis=-1)


def _kl_categorical(p, q):
    # KL(w || v) = sum_i w_i (log w_i - log v_i)
    logw = F.log_softmax(p.logits, axis=-1)
    logv = F.log_softmax(q.logits, axis=-1)
    return np.sum(np.exp(logw) * (logw - logv), axis=-1)


def _kl_bernoulli(p, q):
    # KL = sum_d [p_d (log p_d - log q_d) + (1 - p_d) (log(1 - p_d) - log(1 - q_d))],
    # with 1 - p_d = s(-l_d) (1 - s(l) rounds to 0 for l > 37, see Bernoulli.entropy)
    return np.sum(
        F.sigmoid(p.logits) * (F.log_sigmoid(p.logits) - F.log_sigmoid(q.logits))
        + F.sigmoid(-p.logits) * (F.log_sigmoid(-p.logits) - F.log_sigmoid(-q.logits)),
        axis=-1,
    )


_CLOSED_FORM = {
    (Normal, Normal): _kl_normal,
    (Categorical, Categorical): _kl_categorical,
    (Bernoulli, Bernoulli): _kl_bernoulli,
}


def _closed_form(p, q):
    for (tp, tq), fn in _CLOSED_FORM.items():
        if isinstance(p, tp) and isinstance(q, tq):
            return fn
    return None


def kl_divergence(p, q, rng=None, n_samples=None):
    """D_KL(p || q) = E_p[log p(x) - log q(x)] >= 0, zero when p = q.

    Closed form for Normal/Normal (StandardNormal included), Categorical/
    Categorical and Bernoulli/Bernoulli. With ``n_samples`` (and ``rng``), or
    for any other pair that has ``log_prob`` and ``sample``, the Monte Carlo
    estimate (1/S) sum_s [log p(x_s) - log q(x_s)], x_s ~ p, which is unbiased
    but noisy (its standard error shrinks as 1/sqrt(S)).
    """
    for name, d in (("p", p), ("q", q)):
        if not (hasattr(d, "log_prob") and hasattr(d, "sample")):
            raise TypeError(f"{name}: expected a distribution with log_prob and sample, got {type(d).__name__}")
    for attr in ("dim", "n_classes"):  # else (D=1) vs (D=3) would broadcast silently
        if hasattr(p, attr) and hasattr(q, attr) and getattr(p, attr) != getattr(q, attr):
            raise ValueError(f"q: expected {attr} = {getattr(p, attr, None)} like p, got {getattr(q, attr, None)}")
    fn = _closed_form(p, q)
    if fn is not None and n_samples is None:
        return fn(p, q)
    if rng is None:
        raise ValueError(
            f"rng: no closed form for KL({type(p).__name__} || {type(q).__name__}); "
            "pass rng= (and n_samples=) for the Monte Carlo estimate"
        )
    n_samples = check_positive_int(10_000 if n_samples is None else n_samples, "n_samples")
    x = p.sample(n_samples, as_rng(rng))
    return np.mean(p.log_prob(x) - q.log_prob(x), axis=0)
