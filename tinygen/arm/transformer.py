"""A small decoder-only transformer: masked (causal) multi-head self-attention.

Input: the teacher-forced tokens u_t = (<start>, x_1, ..., x_{T-1}) and their positions,

    h^0_t = E[u_t] + P[t]                                   token + position embeddings

then L blocks, each two residual sub-layers with layer norm in front (pre-LN):

    a = LN(h),  q_t = a_t W_q,  k_t = a_t W_k,  v_t = a_t W_v    (per head, d_h = d / heads)
    A[t, s] = softmax_s( q_t . k_s / sqrt(d_h)  if s <= t  else  -inf )   causal mask
    h <- h + concat_heads( sum_s A[t, s] v_s ) W_o                  self-attention
    h <- h + relu(LN(h) W_1 + b_1) W_2 + b_2                        MLP, position by position

and the logits l_t = LN(h^L_t) W_out + b_out, p(x_t = i | x_<t) = softmax(l_t)_i.

The mask is the whole autoregressive trick: position t attends to s <= t only
(A[t, s] = 0 for s > t exactly, since e^-inf = 0), every other operation acts
on one position at a time, so l_t depends on u_1..u_t = x_<t. All T
conditionals come out of ONE pass in training; sampling takes T passes.

    LN(h) = g * (h - mean(h)) / sqrt(var(h) + eps) + b     over the d features of one position
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._validate import as_rng, check_params, check_positive_int, check_size
from ..nn import init_dense
from .sequence import SequenceARM, positionwise

__all__ = ["TransformerARM", "causal_mask", "layer_norm"]

LN_EPS = 1e-5


def layer_norm(p, h):
    """LN(h) = g * (h - mean) / sqrt(var + eps) + b, over the last axis."""
    mu = np.mean(h, axis=-1, keepdims=True)
    var = np.mean((h - mu) ** 2, axis=-1, keepdims=True)
    return p["g"] * (h - mu) / np.sqrt(var + LN_EPS) + p["b"]


def causal_mask(T):
    """M[t, s] = 1 iff s <= t: query t may attend to key s (itself and earlier positions)."""
    return onp.tril(onp.ones((T, T)))


class TransformerARM(SequenceARM):
    """TransformerARM(vocab_size, seq_len, d_model=32, n_heads=4, n_layers=2, d_ff=None).

    d_ff: the MLP's hidden width (default 4 d_model). ``mask`` is the T x T causal mask.
    """

    def __init__(self, vocab_size, seq_len, d_model=32, n_heads=4, n_layers=2, d_ff=None):
        super().__init__(vocab_size, seq_len)
        self.d_model = check_positive_int(d_model, "d_model")
        self.n_heads = check_positive_int(n_heads, "n_heads")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads: expected a divisor of d_model = {self.d_model}, got {self.n_heads}")
        self.n_layers = check_positive_int(n_layers, "n_layers")
        self.d_ff = 4 * self.d_model if d_ff is None else check_positive_int(d_ff, "d_ff")
        V, T, d = self.vocab_size, self.seq_len, self.d_model
        # sizes before allocating: the T x T mask (and every T x T attention map), and the largest weights
        check_size(T * T, "seq_len", T, "the T x T causal mask")
        check_size((V + 1) * d, "vocab_size", V, "the (V + 1) x d token embedding")
        check_size(self.n_layers * (4 * d * d + 2 * d * self.d_ff), "d_model", d,
                   f"the weights of {self.n_layers} blocks (4 d^2 + 2 d d_ff each)")
        self.mask = causal_mask(self.seq_len)

    def init(self, rng):
        """Embeddings ~ N(0, 0.1^2) (small, so the position code does not swamp the tokens at first),
        Glorot projections, layer norms at the identity (g = 1, b = 0)."""
        rng = as_rng(rng)
        V, T, d = self.vocab_size, self.seq_len, self.d_model

        def ln():
            return {"g": onp.ones(d), "b": onp.zeros(d)}

        blocks = [{"ln1": ln(), "q": init_dense(rng, d, d)["W"], "k": init_dense(rng, d, d)["W"],
                   "v": init_dense(rng, d, d)["W"], "o": init_dense(rng, d, d)["W"],
                   "ln2": ln(), "mlp1": init_dense(rng, d, self.d_ff, "he"),
                   "mlp2": init_dense(rng, self.d_ff, d)} for _ in range(self.n_layers)]
        return {"tok": rng.normal(0.0, 0.1, size=(V + 1, d)), "pos": rng.normal(0.0, 0.1, size=(T, d)),
                "blocks": blocks, "ln_f": ln(), "out": init_dense(rng, d, V)}

    def _heads(self, a, W):
        """a W split into heads: (n, T, d) -> (n, heads, T, d_h)."""
        n, T, _ = a.shape
        return np.transpose(np.reshape(np.matmul(a, W), (n, T, self.n_heads, -1)), (0, 2, 1, 3))

    def attention(self, p, a):
        """Masked multi-head self-attention of the normalized features a (n, T, d); also returns A."""
        q, k, v = self._heads(a, p["q"]), self._heads(a, p["k"]), self._heads(a, p["v"])
        d_h = self.d_model // self.n_heads
        scores = np.matmul(q, np.swapaxes(k, 2, 3)) / onp.sqrt(d_h)   # q_t . k_s / sqrt(d_h)
        scores = np.where(self.mask > 0, scores, -np.inf)              # s > t: -inf, weight e^-inf = 0
        A = F.softmax(scores, axis=-1)                                 # A[t, s], sum_s A[t, s] = 1
        out = np.matmul(A, v)                                          # sum_s A[t, s] v_s, per head
        n, T = a.shape[:2]
        out = np.reshape(np.transpose(out, (0, 2, 1, 3)), (n, T, self.d_model))  # concatenate heads
        return np.matmul(out, p["o"]), A

    def logits_onehot(self, params, e):
        """l_t for t = 1..T, shape (n, T, V); l_t reads x_<t through the causal mask."""
        return self._forward(params, e)[0]

    def attention_maps(self, params, x):
        """The attention weights A[t, s] of every block for integer sequences x: a list of (n, heads, T, T)."""
        return [onp.asarray(A) for A in self._forward(check_params(params, self), self.one_hot(x))[1]]

    def _forward(self, params, e):
        """(logits (n, T, V), [A of block 1, ..., A of block L])."""
        u = self.shifted(e)                                  # <start>, x_1, ..., x_{T-1}
        h = np.matmul(u, params["tok"]) + params["pos"]      # h^0_t = E[u_t] + P[t]
        maps = []
        for p in params["blocks"]:
            a, A = self.attention(p, layer_norm(p["ln1"], h))
            h = h + a                                                  # h <- h + MHA(LN(h))
            h = h + positionwise(p["mlp2"], F.relu(positionwise(p["mlp1"], layer_norm(p["ln2"], h))))  # + MLP(LN(h))
            maps.append(A)
        return positionwise(params["out"], layer_norm(params["ln_f"], h)), maps   # l_t = LN(h^L_t) W_out + b_out
