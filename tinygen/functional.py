"""Numerically stable building blocks, differentiable by autograd.

Every function here is written with ``autograd.numpy`` so it can sit inside a
loss that ``autograd.grad`` differentiates. "Stable" means finite and accurate
for inputs as large as +-1e4, where the naive formulas overflow to inf or
round to log(0) = -inf.
"""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

__all__ = ["inv_softplus", "log_normal_pdf_log_scale", "log_sigmoid", "log_softmax", "log_softplus", "logsumexp",
           "relu", "sigmoid", "softmax", "standardize", "tanh"]


def _shifted(a, axis):
    """(m, L) with log sum_j exp(a_j) = m + L: m = max_j a_j and L = log1p(sum_{j: a_j < m} exp(a_j - m) + k - 1),
    k the number of entries equal to m.

    Subtracting the maximum keeps every exponent <= 0, so nothing overflows, and the
    largest term is exp(0) = 1, so the sum never underflows to 0. Writing L with
    log1p keeps the small terms: for a = (40, 0), L = log1p(e^-40) = 4.2e-18, where
    log(1 + e^-40) rounds to 0.
    """
    m = np.max(a, axis=axis, keepdims=True)
    # The max is only a shift; if it is -inf (all entries -inf) use 0 instead.
    m = np.where(np.isfinite(m), m, 0.0)
    is_max = getval(a) == getval(m)  # structure, not traced: which entries are the maximum
    e = np.exp(a - m)
    rest = np.sum(np.where(is_max, 0.0, e), axis=axis, keepdims=True)
    return m, np.log1p(rest + (onp.sum(is_max, axis=axis, keepdims=True) - 1.0))


def logsumexp(a, axis=-1, keepdims=False):
    """log sum_j exp(a_j), computed as m + log1p(...) with m = max_j a_j (see ``_shifted``)."""
    m, tail = _shifted(a, axis)
    out = m + tail
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(l, axis=-1):
    """log w_i = l_i - log sum_j exp(l_j): the log of the lecture's softmax.

    Computed as (l_i - m) - L (``_shifted``), so log w_i of the largest logit keeps
    its tiny size (-4.2e-18 for l = (40, 0)) instead of rounding to 40 - 40 = 0.
    """
    m, tail = _shifted(l, axis)
    return (l - m) - tail


def softmax(l, axis=-1):
    """w_i = exp(l_i) / sum_j exp(l_j) (lecture, MLE for a categorical distribution).

    w_i >= 0 and sum_i w_i = 1; computed as exp(log_softmax) to stay stable.
    """
    return np.exp(log_softmax(l, axis=axis))


@primitive
def softplus(rho):
    """sigma = log(1 + e^rho) > 0 (lecture, MLE for a normal distribution).

    Written as max(rho, 0) + log1p(exp(-|rho|)): the exponent is never
    positive, so rho = 1e4 gives 1e4 instead of inf. One autograd primitive
    (autograd pays per traced operation); its derivative is d sigma / d rho = s(rho).
    """
    # a primitive's body sees plain arrays (autograd unboxes them first): plain NumPy, no wrapper per operation
    return onp.maximum(rho, 0.0) + onp.log1p(onp.exp(-onp.abs(rho)))


# The VJP is itself written with differentiable functions, so higher derivatives still work.
defvjp(softplus, lambda sigma, rho: lambda g: g * sigmoid(rho))


def inv_softplus(sigma):
    """rho = log(e^sigma - 1), the inverse of softplus, for sigma > 0.

    For large sigma, log(e^sigma - 1) = sigma + log(1 - e^-sigma) avoids overflow.
    """
    return sigma + np.log(-np.expm1(-sigma))


def log_softplus(rho):
    """log sigma for sigma = softplus(rho) = log(1 + e^rho): exact for rho from -1e4 to 1e4.

    softplus(rho) underflows to 0 for rho < -745 (and loses digits below -708), so
    log(softplus(rho)) would be -inf there, though sigma > 0 in exact arithmetic.
    For rho <= -20 use the series softplus(rho) = log1p(e^rho) = e^rho (1 - e^rho / 2 + e^(2 rho) / 3 - ...):
        log softplus(rho) = rho + log(1 - e^rho / 2 + ...) = rho - e^rho / 2 + (5/24) e^(2 rho) - ...,
    whose e^(2 rho) term (< 1e-18 here) is below float precision of a value near rho.
    Above -20, softplus(rho) > 2e-9 and its log is accurate as it is.
    """
    small = getval(rho) <= -20.0  # structure, not traced: which entries take the series
    if not onp.any(small):
        return np.log(softplus(rho))  # the usual case (sigma > 2e-9), in two traced operations
    lo = np.where(small, rho, -20.0)  # each branch only ever sees inputs where it is exact and finite,
    hi = np.where(small, -20.0, rho)  # so the branch np.where drops cannot send a NaN gradient back
    return np.where(small, lo - 0.5 * np.exp(lo), np.log(softplus(hi)))


def log_sigmoid(a):
    """log s(a) = log(1 / (1 + e^-a)) = -softplus(-a), stable at +-1e4."""
    return -softplus(-a)


def sigmoid(a):
    """s(a) = 1 / (1 + e^-a), via exp(log_sigmoid) to stay finite."""
    return np.exp(log_sigmoid(a))


def relu(a):
    """max(a, 0), written with np.where so its derivative at a = 0 is 0 (np.maximum's is 1/2)."""
    return np.where(a > 0, a, 0.0)


@primitive
def log_normal_pdf(x, mu, sigma):
    """log N(x; mu, sigma^2) elementwise = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2.

    One autograd primitive; with u = (x - mu) / sigma its partial derivatives are
    d/dx = -u / sigma,  d/dmu = u / sigma,  d/dsigma = (u^2 - 1) / sigma
    (each summed back to its argument's shape where the arguments were broadcast).
    """
    return -0.5 * ((x - mu) / sigma) ** 2 - onp.log(sigma) - 0.5 * onp.log(2 * onp.pi)  # plain, as softplus


def standardize(d, log_sigma):
    """u = d / sigma from log sigma, elementwise (broadcast): u = d * exp(-log sigma).

    For sigma < 1e-304 (log sigma < -700) exp(-log sigma) nears the float limit, so
    u = (d h) h with h = exp(-log sigma / 2) = 1 / sqrt(sigma), which overflows only
    for log sigma < -1419: u stays finite whenever its exact value is (d = 1e-300,
    log sigma = -1000 gives u = 2e134). Below -1419 every float d != 0 gives |u| > e^675,
    so u = +-inf is the rounded value, and d = 0 gives u = 0 (not 0 * inf = NaN).
    """
    if onp.all(getval(log_sigma) > -700.0):
        return d * np.exp(-log_sigma)  # the usual case: one multiply
    mask = (getval(d) == 0) & (getval(log_sigma) < -1400.0)  # where h overflows and u is exactly 0
    zeros = onp.zeros(mask.shape)
    safe = np.where(mask, 0.0, log_sigma + zeros)  # h = exp(-0) = 1 where the result is 0 anyway
    h = np.exp(-0.5 * safe)
    return np.where(mask, 0.0, ((d + zeros) * h) * h)


def log_normal_pdf_log_scale(x, mu, log_sigma):
    """log N(x; mu, sigma^2) from log sigma: -u^2 / 2 - log sigma - log(2 pi) / 2, u = (x - mu) / sigma.

    Finite whenever the exact value is a float, even where sigma itself rounds to 0
    (sigma = softplus(rho) at rho = -1e4: log sigma = log_softplus(rho) = -1e4).
    """
    if onp.all(getval(log_sigma) > -700.0):  # sigma > 1e-304 is a normal float: the one-primitive form
        return log_normal_pdf(x, mu, np.exp(log_sigma))
    u = standardize(x - mu, log_sigma)
    return -0.5 * u ** 2 - log_sigma - 0.5 * np.log(2 * np.pi)


def _unbroadcast(g, like):
    """Sum g over the axes that broadcasting added to, or stretched in, ``like``."""
    shape = np.shape(like)
    while np.ndim(g) > len(shape):
        g = np.sum(g, axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and np.shape(g)[axis] != 1:
            g = np.sum(g, axis=axis, keepdims=True)
    return g


def _log_normal_vjp(argnum):
    def make(ans, x, mu, sigma):
        def vjp(g):
            u = (x - mu) / sigma
            d = (-u / sigma, u / sigma, (u * u - 1.0) / sigma)[argnum]
            return _unbroadcast(g * d, (x, mu, sigma)[argnum])
        return vjp
    return make


defvjp(log_normal_pdf, _log_normal_vjp(0), _log_normal_vjp(1), _log_normal_vjp(2))


@primitive
def soft_clamp(a, bound):
    """alpha = bound * tanh(a / bound): ~a near 0, and |alpha| < bound always.

    Used for the log-scale of affine flow layers, so exp(alpha) stays in
    (e^-bound, e^bound). One primitive with the derivative written from its
    output, d alpha / d a = 1 - (alpha / bound)^2, which stays finite where
    autograd's own tanh gradient (1 / cosh^2) overflows.
    """
    return bound * onp.tanh(a / bound)  # plain NumPy in a primitive's body, as softplus


defvjp(soft_clamp, lambda alpha, a, bound: lambda g: g * (1.0 - (alpha / bound) ** 2))


@primitive
def tanh(a):
    """tanh(a), as one primitive whose derivative is written from its output: d tanh / da = 1 - tanh^2.

    autograd's own tanh gradient, 1 / cosh(a)^2, computes cosh again on every backward
    pass (most of the cost of an ODE's exact trace, which takes D backward passes per
    step) and overflows for |a| > 355; 1 - tanh^2 reuses the forward value. The
    backward pass is itself autograd code, so second derivatives stay exact.
    """
    return onp.tanh(a)  # plain NumPy in a primitive's body, as softplus


defvjp(tanh, lambda t, a: lambda g: g * (1.0 - t ** 2))
