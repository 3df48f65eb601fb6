"""A recurrent autoregressive model: the hidden state carries x_<t.

    h_0 = 0
    h_t = tanh(u_t W_x + h_{t-1} W_h + b)      u_t = <start>, x_1, ..., x_{T-1}  (teacher forcing)
    l_t = h_t W_o + b_o,   p(x_t = i | x_<t) = softmax(l_t)_i

h_t is a function of u_1..u_t = (<start>, x_1, ..., x_{t-1}) only, so l_t sees
x_<t and nothing after: the product rule p(x) = prod_t p(x_t | x_<t) holds by
construction, with no mask. In principle h_t remembers the whole prefix; in
practice a plain tanh RNN forgets over long distances (its gradient through
h_{t-1} W_h shrinks or grows geometrically), which gated cells (LSTM, GRU) ease.

The T steps run one after the other even in training (a loop over t), but
the loop is one pass of the network over the sequence: one call of ``logits_onehot``
for all T conditionals, T for sampling.
"""
import autograd.numpy as np
import numpy as onp

from .._validate import as_rng, check_positive_int, check_size
from ..nn import init_dense
from .sequence import SequenceARM, positionwise

__all__ = ["RNNARM"]


class RNNARM(SequenceARM):
    """RNNARM(vocab_size, seq_len, hidden=64): a one-layer tanh RNN with a softmax output."""

    def __init__(self, vocab_size, seq_len, hidden=64):
        super().__init__(vocab_size, seq_len)
        self.hidden = check_positive_int(hidden, "hidden")
        check_size(self.hidden * self.hidden, "hidden", self.hidden, "the H x H recurrent weights W_h")
        check_size((self.vocab_size + 1) * self.hidden, "vocab_size", self.vocab_size, "the (V + 1) x H input weights")

    def init(self, rng):
        """W_x ~ N(0, 1/(V+1)) rows (one per input symbol), W_h orthogonal (keeps |h W_h| = |h|
        at the start, so the signal neither dies nor explodes over T steps), W_o Glorot."""
        rng = as_rng(rng)
        V, H = self.vocab_size, self.hidden
        W_h, _ = onp.linalg.qr(rng.standard_normal((H, H)))
        return {"W_x": rng.normal(0.0, 1.0, size=(V + 1, H)),
                "W_h": W_h, "b": onp.zeros(H),
                "out": init_dense(rng, H, V, "glorot")}

    def hidden_states(self, params, e):
        """h_1, ..., h_T stacked, shape (n, T, H), from one-hot tokens e (n, T, V)."""
        u = self.shifted(e)                 # (n, T, V + 1): <start>, x_1, ..., x_{T-1}
        a = np.matmul(u, params["W_x"])        # u_t W_x for every t at once (a row per symbol)
        h = np.zeros((e.shape[0], self.hidden))  # h_0 = 0
        hs = []
        for t in range(self.seq_len):
            h = np.tanh(a[:, t] + np.dot(h, params["W_h"]) + params["b"])  # h_t = tanh(u_t W_x + h_{t-1} W_h + b)
            hs.append(h)
        return np.stack(hs, axis=1)

    def logits_onehot(self, params, e):
        """l_t = h_t W_o + b_o for t = 1..T, shape (n, T, V)."""
        return positionwise(params["out"], self.hidden_states(params, e))
