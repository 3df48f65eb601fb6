"""A sequence model's log-likelihood from its logits as one traced operation
(``SequenceARM._log_prob_onehot`` is the reference, around the model's own logits).

Forward, at every position t of every sequence, with the one-hot token e_t (any real e_t below):

    log w_t = l_t - log sum_j e^(l_tj)              (functional.log_softmax's formula, the same floats)
    log p(x) = sum_t sum_i e_ti log w_ti            (the one-hot picks log w_{t, x_t})

Backward from g = dL/dlog p(x), one number per sequence:

    dL/dl_ti = g (e_ti - w_ti sum_j e_tj)           (= g (e_ti - w_ti) for a one-hot e_t)
    dL/de_ti = g log w_ti

Traced, the log-softmax and the pick are about 15 small autograd operations and as many in the
backward pass; for the RNN they were about half of a training step. The logits themselves come
from the model's own kernel (fast/rnn.py, fast/transformer.py) or its reference code.
"""
import autograd.numpy as anp
import numpy as onp
from autograd.tracer import getval

from .. import functional as F
from ..arm import CausalConvARM, RNNARM, TransformerARM
from .core import fused
from .plain import log_softmax
from .registry import accelerate, traced_once

__all__ = ["log_prob_onehot", "sequence_log_likelihood"]


def _forward(logits, e):
    log_w = log_softmax(logits, axis=-1)
    return (e * log_w).sum(axis=(1, 2)), log_w


def _backward(log_w, g, argnums, logits, e):
    g = g[:, None, None]
    grads = []
    for i in argnums:
        if i == 0:  # dL/dl = g (e - w sum_j e_j)
            grads.append(g * (e - onp.exp(log_w) * e.sum(axis=-1, keepdims=True)))
        else:       # dL/de = g log w
            grads.append(g * log_w)
    return tuple(grads)


def _reference(logits, e):
    return anp.sum(e * F.log_softmax(logits, axis=-1), axis=(1, 2))


sequence_log_likelihood = fused(_forward, _backward, _reference, "sequence_log_likelihood")


def log_prob_onehot(model, params, e):
    """``SequenceARM._log_prob_onehot`` with the log-softmax and the pick as one traced operation."""
    e_val = getval(e)
    if not (traced_once(params, e) and isinstance(e_val, onp.ndarray) and e_val.dtype == onp.float64):
        return NotImplemented
    return sequence_log_likelihood(model._contract_logits(params, e), e)  # the logits' own kernel, or the model's code


for _cls in (RNNARM, CausalConvARM, TransformerARM):
    accelerate(_cls, "_log_prob_onehot")(log_prob_onehot)
