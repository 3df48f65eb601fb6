"""Numerically stable building blocks, differentiable by autograd.

Every function here is written with ``autograd.numpy`` so it can sit inside a
loss that ``autograd.grad`` differentiates. "Stable" means finite and accurate
for inputs as large as +-1e4, where the naive formulas overflow to inf or
round to log(0) = -inf.
"""
import autograd.numpy as np
from autograd.extend import defvjp, primitive


def logsumexp(a, axis=-1, keepdims=False):
    """log sum_j exp(a_j), computed as m + log sum_j exp(a_j - m) with m = max_j a_j.

    Subtracting the maximum keeps every exponent <= 0, so nothing overflows,
    and the largest term is exp(0) = 1, so the sum never underflows to 0.
    """
    m = np.max(a, axis=axis, keepdims=True)
    # The max is only a shift; if it is -inf (all entries -inf) use 0 instead.
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(l, axis=-1):
    """log w_i = l_i - log sum_j exp(l_j): the log of the lecture's softmax."""
    return l - logsumexp(l, axis=axis, keepdims=True)


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
    return np.maximum(rho, 0.0) + np.log1p(np.exp(-np.abs(rho)))


# The VJP is itself written with differentiable functions, so higher derivatives still work.
defvjp(softplus, lambda sigma, rho: lambda g: g * sigmoid(rho))


def inv_softplus(sigma):
    """rho = log(e^sigma - 1), the inverse of softplus, for sigma > 0.

    For large sigma, log(e^sigma - 1) = sigma + log(1 - e^-sigma) avoids overflow.
    """
    return sigma + np.log(-np.expm1(-sigma))


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
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


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
    return bound * np.tanh(a / bound)


defvjp(soft_clamp, lambda alpha, a, bound: lambda g: g * (1.0 - (alpha / bound) ** 2))
