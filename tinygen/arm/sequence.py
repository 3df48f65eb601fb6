"""What every autoregressive sequence model shares: the product rule over tokens.

A sequence x = (x_1, ..., x_T) of tokens in {0, ..., V-1} is modelled as

    p(x) = prod_{t=1}^T p(x_t | x_1, ..., x_{t-1}),   p(x_t = i | x_<t) = softmax(l_t)_i,

with l_t in R^V the logits a network computes from x_<t only (lecture,
"MLE for a categorical distribution" and "autoregressive models").

Teacher forcing: the network reads the sequence shifted right by one,

    u_1 = <start>,  u_t = x_{t-1}  (t = 2..T),

and its output at position t may read u_1, ..., u_t but nothing after. Then
l_t depends on x_<t only, and ONE pass over the whole sequence gives all T
conditionals (training, log p). Sampling cannot do that: x_t must be drawn
before x_{t+1} can be read, so it takes T passes. Each pass is one call of the
subclass's ``logits_onehot`` (``tinygen.testing.spy.count_calls`` counts them).

The start token is symbol V of the input alphabet (V + 1 input symbols), so
the first conditional p(x_1) is learned like every other one.

A model subclasses ``SequenceARM`` and writes ``init(rng)`` and
``logits_onehot(params, e)``: one-hot tokens e of shape (n, T, V) to logits
(n, T, V), where logits[:, t] is the conditional of x_t given x_<t. It is a
differentiable function of e, so autograd's Jacobian shows the autoregressive
property directly (tests). The base class holds every subclass to that contract:
logits that are not (n, T, V) or not finite stop with an error naming the
subclass's method, not a broadcasting error or an unnormalized p(x) later.
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._threads import in_hot_loop
from .._validate import (
    NonFiniteError,
    as_batch,
    as_rng,
    check_context,
    check_params,
    check_positive,
    check_positive_int,
    check_size,
    value_of,
)
from ..distributions import Categorical
from .made import check_values

__all__ = ["SequenceARM", "positionwise"]


def positionwise(layer, h):
    """y_t = h_t W + b at every position t: (n, T, C_in) -> (n, T, C_out).

    Written with matmul, not ``nn.dense``'s np.dot: np.dot on a 3-D array runs no
    batched BLAS and is about ten times slower at these sizes.
    """
    return np.matmul(h, layer["W"]) + layer["b"]


class SequenceARM:
    """Base of ``RNNARM``, ``CausalConvARM`` and ``TransformerARM``: vocab_size V, seq_len T."""

    def __init__(self, vocab_size, seq_len):
        self.vocab_size = check_positive_int(vocab_size, "vocab_size", minimum=2)
        self.seq_len = check_positive_int(seq_len, "seq_len")
        self.dim = self.seq_len  # like MADE's D: one variable per position

    # ---------------------------------------------------------------- shared
    def shifted(self, e):
        """Teacher forcing: u_1 = <start>, u_t = e_{t-1}, as one-hot over V + 1 symbols, (n, T, V + 1)."""
        n = e.shape[0]
        start = onp.zeros((n, 1, self.vocab_size + 1))
        start[:, :, -1] = 1.0  # the start symbol, index V
        body = np.concatenate([e[:, :-1], np.zeros((n, self.seq_len - 1, 1))], axis=2)
        return np.concatenate([start, body], axis=1)

    def one_hot(self, x, name="x"):
        """Integer tokens (n, T) -> one-hot (n, T, V) float64, after checking shape and range."""
        x = as_batch(x, name, self.seq_len)
        check_values("categorical", x, self.vocab_size)
        return (onp.asarray(x)[..., None] == onp.arange(self.vocab_size)).astype(onp.float64)

    def _contract_logits(self, params, e):
        """The subclass's ``logits_onehot(params, e)``, held to its contract: shape (n, T, V), finite.

        Logits of shape (n, T, 1) would broadcast against the one-hot e and give every
        sequence probability 1; (n, T) or (n, T - 1, V) would fail deep inside NumPy.
        Both are the subclass's mistake, so the message names its method.
        """
        logits = self.logits_onehot(params, e)
        method = f"{type(self).__name__}.logits_onehot"
        expected = (e.shape[0], self.seq_len, self.vocab_size)
        value = value_of(logits)
        if value.dtype.kind not in "biuf":  # None, a string, a dict ...
            raise TypeError(f"{method}: expected logits, an array of real numbers of shape (n, T, V) = "
                            f"{expected}, got {type(logits).__name__}")
        if value.shape != expected:
            raise ValueError(f"{method}: expected logits of shape (n, T, V) = {expected}, got {value.shape}")
        if not onp.isfinite(value).all():
            raise NonFiniteError(f"{method}: expected finite logits, got NaN or inf")
        return logits

    def logits(self, params, x):
        """One pass: all T conditionals' logits (n, T, V) for integer sequences x (n, T)."""
        return self._logits(check_params(params, self), x)

    def _logits(self, params, x):
        return self._contract_logits(params, self.one_hot(x))

    def log_prob(self, params, x, context=None):
        """log p(x) = sum_t log softmax(l_t)_{x_t}, shape (n,), from ONE pass (teacher forcing).

        context: a sequence model here is unconditional; any context but None is refused.
        """
        check_context(context, x, 0)
        return self._log_prob_onehot(check_params(params, self), self.one_hot(x))

    def _log_prob_onehot(self, params, e):
        """log p(x) from one-hot tokens e (n, T, V) and checked params (the fast path's entry point)."""
        log_w = F.log_softmax(self._contract_logits(params, e), axis=-1)  # log w_i = l_i - log sum_j e^{l_j}
        return np.sum(e * log_w, axis=(1, 2))  # the one-hot picks log w_{x_t} at every t

    def loss(self, params, x, rng=None, context=None):
        """Mean NLL -(1/n) sum_i log p(x^(i)), nats per sequence."""
        return -np.mean(self.log_prob(params, x, context))

    @in_hot_loop  # one pass per dimension or step, each small: one BLAS thread by default (tinygen/_threads.py)
    def sample(self, params, n, rng, context=None, temperature=1.0):
        """x ~ p(x), int array (n, T), in T passes: x_t ~ softmax(l_t / tau) given the x_<t drawn so far.

        temperature tau = 1 samples the model; tau < 1 sharpens each conditional
        towards its most likely token, tau > 1 flattens it. Positions not yet
        drawn hold 0: l_t cannot read them, so their value does not matter.
        """
        check_context(context, None, 0)  # unconditional: refuse a context
        params = check_params(params, self)
        n = check_positive_int(n, "n")
        check_size(n * self.seq_len * (self.vocab_size + 1), "n", n, "one pass's (n, T, V + 1) one-hot inputs")
        rng = as_rng(rng)
        tau = check_positive(temperature, "temperature")
        x = onp.zeros((n, self.seq_len), dtype=onp.int64)
        for t in range(self.seq_len):
            l_t = onp.asarray(self._logits(params, x)[:, t]) / tau
            x[:, t] = Categorical(l_t).sample(1, rng)[0]
        return x
