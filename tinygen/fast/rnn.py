"""The RNN's recurrence as one traced operation (``RNNARM.hidden_states`` is the reference).

Traced step by step, the T recurrent steps are some 400 small autograd operations; here
they are one, with backpropagation through time written by hand. With u_1 = <start> and
u_t = e_{t-1} (teacher forcing), for t = 1..T:

    a_t = u_t W_x + h_{t-1} W_h + b,    h_t = tanh(a_t),    h_0 = 0

Backward from G_t = dL/dh_t (the output's cotangent), for t = T..1:

    g_t  = G_t + da_{t+1} W_h^T         (h_t feeds the output and the next step; da_{T+1} = 0)
    da_t = g_t * (1 - h_t^2)            (tanh' = 1 - tanh^2)
    dL/dW_h = sum_t h_{t-1}^T da_t,   dL/db = sum_t sum_rows da_t,   dL/dW_x = sum_t u_t^T da_t
    dL/du_t = da_t W_x^T,  so dL/de_t = dL/du_{t+1} without the start symbol's column (dL/de_T = 0)
"""
import numpy as onp
from autograd.tracer import getval

from .. import tree
from ..arm.rnn import RNNARM
from .core import fused
from .registry import accelerate, reference_of, traced_once, whole_or_plain

__all__ = ["hidden_states", "rnn_backward", "rnn_forward"]


def rnn_forward(rnn, params, e):
    """Plain-NumPy h_1..h_T (n, T, H) from tokens e (n, T, V); residuals: the h_t, time-major (T, n, H).

    Time-major, each step reads and writes one contiguous (n, H) block; the output is a view."""
    n, T, V = e.shape
    W_x, W_h = params["W_x"], params["W_h"]
    hs = onp.empty((T, n, rnn.hidden))      # a_t first, overwritten by h_t = tanh(a_t) at step t
    hs[0] = W_x[V]                          # u_1 W_x: the start symbol's row (index V)
    onp.matmul(e[:, :-1].transpose(1, 0, 2), W_x[:V], out=hs[1:])  # u_t W_x = e_{t-1} W_x, t = 2..T
    hs += params["b"]
    h = onp.zeros((n, rnn.hidden))          # h_0 = 0
    for t in range(T):
        a = hs[t]
        a += h @ W_h                        # a_t = u_t W_x + b + h_{t-1} W_h
        h = onp.tanh(a, out=a)              # h_t = tanh(a_t)
    return hs.transpose(1, 0, 2), hs


def rnn_backward(params, hs, G, e, want_params=True, want_e=False):
    """(dL/de or None, dL/dparams or None) from G = dL/dh (n, T, H), by backpropagation through time."""
    T, n, H = hs.shape
    V = e.shape[2]
    W_x, W_h = params["W_x"], params["W_h"]
    G = G.transpose(1, 0, 2)                # time-major, like hs
    da = onp.empty_like(hs)
    carry = onp.zeros((n, H))               # da_{t+1} W_h^T, zero past the last step
    for t in reversed(range(T)):
        g = onp.add(G[t], carry, out=da[t])  # g_t = dL/dh_t + da_{t+1} W_h^T
        g *= 1.0 - hs[t] * hs[t]            # da_t = g_t * (1 - h_t^2)
        carry = g @ W_h.T
    de = None
    if want_e:                              # dL/de_{t-1} = da_t W_x[:V]^T for t = 2..T; dL/de_T = 0
        de = onp.zeros_like(e)
        de[:, :-1] = onp.matmul(da[1:], W_x[:V].T).transpose(1, 0, 2)
    grads = None
    if want_params:
        dW_x = onp.empty_like(W_x)
        dW_x[:V] = e[:, :-1].transpose(1, 0, 2).reshape(-1, V).T @ da[1:].reshape(-1, H)  # sum_t e_{t-1}^T da_t
        dW_x[V] = da[0].sum(axis=0)          # the start symbol's row: sum of da_1
        grads = {"W_x": dW_x,
                 "W_h": hs[:-1].reshape(-1, H).T @ da[1:].reshape(-1, H),  # sum_t h_{t-1}^T da_t (h_0 = 0)
                 "b": da.sum(axis=(0, 1))}                                # sum_t sum_rows da_t
        grads.update({k: tree.map(onp.zeros_like, v) for k, v in params.items() if k not in grads})  # "out"
    return de, grads


def _forward(e, rnn, params):
    return rnn_forward(rnn, params, e)


def _backward(hs, G, argnums, e, rnn, params):
    de, gparams = rnn_backward(params, hs, G, e, want_params=2 in argnums, want_e=0 in argnums)
    return tuple(de if i == 0 else gparams for i in argnums)


def _reference(e, rnn, params):
    return reference_of(RNNARM, "hidden_states")(rnn, params, e)


rnn_fused = fused(_forward, _backward, _reference, "rnn_fused")


@accelerate(RNNARM, "hidden_states")
def hidden_states(rnn, params, e):
    """``RNNARM.hidden_states`` as one traced operation, for float one-hot inputs (n, T, V) traced once."""
    if not (traced_once(params, e) and whole_or_plain(params)):
        return NotImplemented
    e_val, p = getval(e), getval(params)
    V, H = rnn.vocab_size, rnn.hidden
    shapes = {"W_x": (V + 1, H), "W_h": (H, H), "b": (H,)}
    if not (isinstance(e_val, onp.ndarray) and e_val.dtype == onp.float64
            and e_val.shape[1:] == (rnn.seq_len, V) and e_val.shape[0] >= 1 and isinstance(p, dict)
            and all(isinstance(p.get(k), onp.ndarray) and p[k].dtype == onp.float64 and p[k].shape == s
                    for k, s in shapes.items())):
        return NotImplemented  # anything else: the reference computes it, or reports the error
    return rnn_fused(e, rnn, params)
