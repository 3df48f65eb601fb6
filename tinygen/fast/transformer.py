"""The transformer's logits as one traced operation (``TransformerARM.logits_onehot`` is the reference).

Traced, one block is some 200 small autograd operations; here the whole network is one, with
its backward pass written by hand. Forward, as arm/transformer.py (n sequences, T positions,
d features, heads of d_h = d / heads; every product below runs on all n T positions at once):

    h^0 = u E + P                                     u: <start>, e_1, ..., e_{T-1}
    per block:  a = LN1(h),  q, k, v = a W_q, a W_k, a W_v          (split into heads)
                S = q k^T / sqrt(d_h),  masked to -inf where s > t,  A = softmax_s(S)
                h <- h + o W_o,  o = A v                             (heads concatenated)
                c = LN2(h),  m = c W_1 + b_1,  h <- h + relu(m) W_2 + b_2
    l = LN_f(h^L) W_out + b_out

Backward from G = dL/dl. A product y = x W sends dL/dW = x^T dy and dL/dx = dy W^T;
a residual h <- h + f(h) sends dL/dh on unchanged and adds f's own dL/dh. The rest:

    relu:       dL/dm = dL/drelu * [m > 0]
    softmax:    dL/dS = A * (dL/dA - sum_s A dL/dA)            (0 where masked: A = 0 there)
    scores:     dL/dq = dL/dS k / sqrt(d_h),  dL/dk = dL/dS^T q / sqrt(d_h),
                dL/dv = A^T dL/do,  dL/dA = dL/do v^T
    layer norm: with xhat = (h - mean) r and r = 1 / sqrt(var + eps), y = g xhat + b:
                dL/dg = sum_rows dy xhat,  dL/db = sum_rows dy,  and with g' = dy g,
                dL/dh = r (g' - mean(g') - xhat mean(g' xhat))          (means over the d features)
    embedding:  dL/dP = sum_n dL/dh^0,  dL/dE[u] = sum over the positions reading u,
                dL/de_t = dL/dh^0_{t+1} E[:V]^T  (t < T; e_T is read by nothing)

q, k and v come out of one product with [W_q | W_k | W_v], and their gradients go back through it.

Untraced (log p of test sequences, sampling: values only), the same forward pass runs on blocks
of sequences (``transformer_logits``), about 1 MB of the MLP's hidden layer at a time.
"""
import numpy as onp
from autograd.tracer import getval

from .. import tree
from .._params_check import check_params
from ..arm.transformer import LN_EPS, TransformerARM
from .blocks import row_blocks, serve_untraced
from .core import fused
from .registry import accelerate, reference_of, traced_once, whole_or_plain

__all__ = ["logits_onehot", "logits_values", "transformer_backward", "transformer_forward", "transformer_logits"]


def _row_mean(x):
    """The mean over the last axis of a 2-D array, as a column (N, 1): a matrix-vector product,
    several times faster than x.mean(axis=-1) over rows this short (d = 32)."""
    return (x @ onp.full(x.shape[1], 1.0 / x.shape[1]))[:, None]


def _ln_forward(p, h):
    """y = g xhat + b, xhat = (h - mean) r, r = 1 / sqrt(var + eps), over each row of h (N, d);
    residuals (xhat, r)."""
    c = h - _row_mean(h)
    r = 1.0 / onp.sqrt(_row_mean(c * c) + LN_EPS)
    xhat = c * r
    return xhat * p["g"] + p["b"], (xhat, r)


def _ln_backward(p, res, dy):
    """(dL/dh, {"g": dL/dg, "b": dL/db}) from dy = dL/dy, all (N, d)."""
    xhat, r = res
    gx = dy * p["g"]  # g' = dL/dxhat
    dh = gx - _row_mean(gx) - xhat * _row_mean(gx * xhat)
    dh *= r
    return dh, {"g": (dy * xhat).sum(axis=0), "b": dy.sum(axis=0)}


def _split(x, n, heads):
    """(n T, d) -> (n, heads, T, d_h): a view."""
    N, d = x.shape
    return x.reshape(n, N // n, heads, d // heads).transpose(0, 2, 1, 3)


def _merge(x, out):
    """(n, heads, T, d_h) -> out (n T, d) with the heads side by side: the inverse of ``_split``."""
    n, heads, T, d_h = x.shape
    out.reshape(n, T, heads, d_h)[...] = x.transpose(0, 2, 1, 3)
    return out


def _masked_softmax(S, mask):
    """A[t, s] = e^(S[t, s] - M_t) / sum_{s' <= t} e^(S[t, s'] - M_t) for s <= t, else 0 (M_t: row t's
    largest unmasked score).

    The reference takes exp(log_softmax), two exponentials an entry; one is enough here, where
    only the values are needed, and only where s <= t: A equals the reference's to rounding.
    Float64 exp costs about 10 ns an entry on a CPU without AVX-512: at the recipe's sizes the
    exponentials cost about as much as the largest matrix product of the block."""
    M = onp.where(mask, S, -onp.inf).max(axis=-1, keepdims=True)
    S -= M
    A = onp.exp(S, out=onp.zeros_like(S), where=mask)   # e^(S - M) where s <= t, 0 elsewhere
    A /= A.sum(axis=-1, keepdims=True)
    return A


def _block_forward(model, p, h, n):
    """One pre-LN block on the rows h (n T, d): h -> h + attention(LN1(h)) -> + MLP(LN2(.));
    returns (h, residuals)."""
    d, heads = model.d_model, model.n_heads
    a, ln1 = _ln_forward(p["ln1"], h)
    W_qkv = onp.concatenate([p["q"], p["k"], p["v"]], axis=1)
    qkv = a @ W_qkv                                               # [q | k | v] of every position
    q, k, v = (_split(qkv[:, i * d:(i + 1) * d], n, heads) for i in range(3))
    S = onp.matmul(q, k.transpose(0, 1, 3, 2)) / onp.sqrt(d // heads)   # q_t . k_s / sqrt(d_h)
    A = _masked_softmax(S, model.mask > 0)
    o = _merge(onp.matmul(A, v), onp.empty_like(h))               # sum_s A[t, s] v_s, heads side by side
    h = h + o @ p["o"]
    c, ln2 = _ln_forward(p["ln2"], h)
    m = c @ p["mlp1"]["W"] + p["mlp1"]["b"]
    relu = onp.maximum(m, 0.0)  # (np.where is several times slower on a mask with no pattern)
    h = h + (relu @ p["mlp2"]["W"] + p["mlp2"]["b"])
    return h, (a, ln1, W_qkv, q, k, v, A, o, c, ln2, m, relu)


def _block_backward(model, p, res, dh):
    """(dL/dh at the block's input, the block's params gradient) from dh = dL/dh at its output."""
    a, ln1, W_qkv, q, k, v, A, o, c, ln2, m, relu = res
    n, heads = q.shape[:2]
    d = model.d_model
    # MLP sub-layer: h_out = h_mid + relu(c W_1 + b_1) W_2 + b_2
    d_relu = dh @ p["mlp2"]["W"].T
    g_mlp2 = {"W": relu.T @ dh, "b": dh.sum(axis=0)}
    dm = onp.multiply(d_relu, m > 0, out=d_relu)                  # relu' = [m > 0]
    g_mlp1 = {"W": c.T @ dm, "b": dm.sum(axis=0)}
    dc, g_ln2 = _ln_backward(p["ln2"], ln2, dm @ p["mlp1"]["W"].T)
    dh = dh + dc
    # attention sub-layer: h_mid = h_in + o W_o
    g_o = o.T @ dh
    do = _split(dh @ p["o"].T, n, heads)
    dA = onp.matmul(do, v.transpose(0, 1, 3, 2))
    dS = A * (dA - (A * dA).sum(axis=-1, keepdims=True))          # softmax's backward
    dS /= onp.sqrt(d // heads)                                    # S = q k^T / sqrt(d_h)
    dqkv = onp.empty((dh.shape[0], 3 * d))
    _merge(onp.matmul(dS, k), dqkv[:, :d])                        # dL/dq
    _merge(onp.matmul(dS.transpose(0, 1, 3, 2), q), dqkv[:, d:2 * d])   # dL/dk
    _merge(onp.matmul(A.transpose(0, 1, 3, 2), do), dqkv[:, 2 * d:])    # dL/dv
    g_qkv = a.T @ dqkv
    da, g_ln1 = _ln_backward(p["ln1"], ln1, dqkv @ W_qkv.T)
    grads = {"ln1": g_ln1, "q": g_qkv[:, :d], "k": g_qkv[:, d:2 * d], "v": g_qkv[:, 2 * d:], "o": g_o,
             "ln2": g_ln2, "mlp1": g_mlp1, "mlp2": g_mlp2}
    return dh + da, grads


def transformer_forward(model, params, e):
    """Plain-NumPy logits (n, T, V) from one-hot (or any real) tokens e (n, T, V); and the residuals.

    The positions of all n sequences are the rows of one (n T, d) array, so each product
    with a weight matrix is one matrix product; only attention sees the sequences apart."""
    n, T, V = e.shape
    tok = params["tok"]
    h = onp.empty((n, T, model.d_model))
    h[:, 0] = tok[V]                               # u_1 = <start>: row V of the embedding
    onp.matmul(e[:, :-1], tok[:V], out=h[:, 1:])   # u_t = e_{t-1}, t = 2..T
    h += params["pos"]                             # h^0_t = E[u_t] + P[t]
    h = h.reshape(n * T, model.d_model)
    saved = []
    for p in params["blocks"]:
        h, res = _block_forward(model, p, h, n)
        saved.append(res)
    y, ln_f = _ln_forward(params["ln_f"], h)
    logits = y @ params["out"]["W"] + params["out"]["b"]
    return logits.reshape(n, T, V), (saved, y, ln_f)


def transformer_backward(model, params, residuals, G, e, want_params=True, want_e=False):
    """(dL/de or None, dL/dparams or None) from G = dL/dlogits (n, T, V)."""
    saved, y, ln_f = residuals
    n, T, V = e.shape
    G = G.reshape(n * T, V)
    g_out = {"W": y.T @ G, "b": G.sum(axis=0)}
    dh, g_ln_f = _ln_backward(params["ln_f"], ln_f, G @ params["out"]["W"].T)
    g_blocks = [None] * len(saved)
    for i in reversed(range(len(saved))):
        dh, g_blocks[i] = _block_backward(model, params["blocks"][i], saved[i], dh)
    dh = dh.reshape(n, T, model.d_model)           # dL/dh^0
    tok = params["tok"]
    de = None
    if want_e:                                     # dL/de_t = dL/dh^0_{t+1} E[:V]^T; e_T is not read
        de = onp.zeros_like(e)
        onp.matmul(dh[:, 1:], tok[:V].T, out=de[:, :-1])
    grads = None
    if want_params:
        g_tok = onp.empty_like(tok)
        g_tok[:V] = e[:, :-1].reshape(-1, V).T @ dh[:, 1:].reshape(-1, model.d_model)  # positions reading e_t
        g_tok[V] = dh[:, 0].sum(axis=0)                                              # the start symbol's row
        grads = {"tok": g_tok, "pos": dh.sum(axis=0), "blocks": g_blocks, "ln_f": g_ln_f, "out": g_out}
    return de, grads


def _forward(e, model, params):
    return transformer_forward(model, params, e)


def _backward(residuals, G, argnums, e, model, params):
    de, gparams = transformer_backward(model, params, residuals, G, e, want_params=2 in argnums,
                                       want_e=0 in argnums)
    return tuple(de if i == 0 else gparams for i in argnums)


def _reference(e, model, params):
    return reference_of(TransformerARM, "logits_onehot")(model, params, e)


transformer_fused = fused(_forward, _backward, _reference, "transformer_fused")


def _accepts(model, params, e):
    """True for float64 inputs (n, T, V), n >= 1, and params of the model's own tree (as every public
    call checks it, ``check_params``) with float64 leaves. ``params`` may be traced as one container."""
    if not (isinstance(e, onp.ndarray) and e.dtype == onp.float64 and e.ndim == 3
            and e.shape[1:] == (model.seq_len, model.vocab_size) and e.shape[0] >= 1):
        return False
    try:
        check_params(params, model)  # a training loop's own tree: checked once, at its first step
    except (TypeError, ValueError):
        return False
    return all(isinstance(leaf, onp.ndarray) and leaf.dtype == onp.float64 for leaf in tree.leaves(getval(params)))


@accelerate(TransformerARM, "logits_onehot")
def logits_onehot(model, params, e):
    """``TransformerARM.logits_onehot`` as one traced operation, for float inputs (n, T, V) traced once."""
    if not (traced_once(params, e) and whole_or_plain(params) and _accepts(model, params, getval(e))):
        return NotImplemented  # anything else: the reference computes it, or reports the error
    return transformer_fused(e, model, params)


def transformer_logits(model, params, e, block=None):
    """Logits (n, T, V) from the forward pass run on ``block`` sequences at a time (by default about
    1 MB of the MLP's hidden layer, T d_ff values a sequence), values only."""
    n = e.shape[0]
    out = onp.empty((n, model.seq_len, model.vocab_size))
    for rows in row_blocks(n, block, model.seq_len * model.d_ff):
        out[rows] = transformer_forward(model, params, e[rows])[0]
    return out


@serve_untraced(TransformerARM, "logits_onehot")
def logits_values(model, params, e):
    """``TransformerARM.logits_onehot`` block by block, when nothing is traced."""
    if not _accepts(model, params, e):
        return NotImplemented
    return transformer_logits(model, params, e)
