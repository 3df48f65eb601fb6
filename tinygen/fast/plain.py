"""The stable functions of tinygen/functional.py on plain arrays, for the kernels of fast/.

A kernel holds plain NumPy arrays, never autograd boxes, yet a function of functional.py
called on plain arrays still sends each NumPy operation through autograd's wrapper, a few
microseconds apiece: at a training step's sizes that is most of the cost (a Gaussian MADE's
log sigma and its derivative on 256 x 2 values took about 180 us that way, against about 25 us
here). These are the same formulas with the same operations in the same order, so they return
the same floats to the bit; tests/test_fast_plain.py checks that from -1e4 to 1e4.
The primitives of functional.py (softplus, tanh, log_normal_pdf) already compute in plain
NumPy; their bodies are used as they are.
"""
import numpy as onp

from .. import functional as F

__all__ = ["HALF_LOG_2PI", "log_normal_pdf", "log_softmax", "log_softplus", "normal_log_density", "sigmoid", "softmax",
           "softplus"]

HALF_LOG_2PI = 0.5 * onp.log(2 * onp.pi)  # the normal density's constant, log(2 pi) / 2
softplus = F.softplus.fun  # sigma = max(rho, 0) + log1p(exp(-|rho|))
log_normal_pdf = F.log_normal_pdf.fun  # -u^2 / 2 - log sigma - log(2 pi) / 2


def normal_log_density(u, log_sigma):
    """sum over the last axis of log N(x; mu, sigma^2) = -u^2 / 2 - log sigma - log(2 pi) / 2, given the
    standardized u = (x - mu) / sigma and log sigma (broadcast against u)."""
    return onp.sum(-0.5 * u * u - log_sigma, axis=-1) - u.shape[-1] * HALF_LOG_2PI


def sigmoid(a):
    """s(a) = exp(-softplus(-a)), as functional.sigmoid."""
    return onp.exp(-softplus(-a))


def log_softplus(rho):
    """log softplus(rho), exact from -1e4 to 1e4, as functional.log_softplus (the series
    rho - e^rho / 2 where rho <= -20, so that a sigma that rounds to 0 keeps its log)."""
    small = rho <= -20.0
    if not onp.any(small):
        return onp.log(softplus(rho))
    lo = onp.where(small, rho, -20.0)
    return onp.where(small, lo - 0.5 * onp.exp(lo), onp.log(softplus(onp.where(small, -20.0, rho))))


def log_softmax(l, axis=-1):
    """log w_i = (l_i - m) - log1p(sum_{j: l_j < m} e^(l_j - m) + k - 1), as functional.log_softmax
    (m the largest logit, k how many logits equal it; m = 0 where every logit is -inf)."""
    m = onp.max(l, axis=axis, keepdims=True)
    m = onp.where(onp.isfinite(m), m, 0.0)
    is_max = l == m
    rest = onp.sum(onp.where(is_max, 0.0, onp.exp(l - m)), axis=axis, keepdims=True)
    return (l - m) - onp.log1p(rest + (onp.sum(is_max, axis=axis, keepdims=True) - 1.0))


def softmax(l, axis=-1):
    """w_i = exp(log w_i), as functional.softmax."""
    return onp.exp(log_softmax(l, axis=axis))
