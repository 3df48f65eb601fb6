"""The MLP as one traced operation: forward and backward by hand (``nn.MLP.apply`` is the reference).

Forward, keeping what backpropagation needs, for l = 1..L:
    a_l = h_{l-1} (W_l * M_l) + b_l,   h_l = act(a_l) (l < L),   output a_L
Backward from g_L = dL/da_L:
    dL/dW_l = (h_{l-1}^T g_l) * M_l,   dL/db_l = sum_rows g_l,
    g_{l-1} = (g_l (W_l * M_l)^T) * act'(a_{l-1}),   dL/dx = g_1 (W_1 * M_1)^T
"""
import autograd.numpy as np
import numpy as onp

from ..nn import ACTIVATIONS, MLP
from . import plain
from .core import fused
from .registry import accelerate, reference_of, traced_once, whole_or_plain

__all__ = ["apply", "mlp_backward", "mlp_forward"]

# act(a) on plain arrays: the same values as nn.ACTIVATIONS, in plain NumPy where training uses them
ACTIVATIONS_NP = dict(ACTIVATIONS, relu=lambda a: onp.maximum(a, 0.0), tanh=onp.tanh, softplus=plain.softplus)

# g * act'(a), from the pre-activation a and the activation h = act(a) (whichever is cheaper);
# g is a fresh array, so relu may zero it in place
BACKPROP = {
    "relu": lambda g, a, h: onp.multiply(g, a > 0, out=g),
    "tanh": lambda g, a, h: g * (1.0 - h * h),
    "softplus": lambda g, a, h: g * plain.sigmoid(a),
    "elu": lambda g, a, h: g * onp.where(a > 0, 1.0, h + 1.0),
    "leaky_relu": lambda g, a, h: g * onp.where(a > 0, 1.0, 0.01),
}


def mlp_forward(mlp, params, x):
    """Plain-NumPy forward pass of ``mlp`` on x (n, n_in): (output, residuals)."""
    act = ACTIVATIONS_NP[mlp.activation]
    n_layers = len(params)
    Ws = [layer["W"] if mlp.masks is None else layer["W"] * mlp.masks[l] for l, layer in enumerate(params)]
    hs, pre = [x], []
    for l in range(n_layers):
        # a_l = h_{l-1} W_l + b_l; with one input (a coupling of 2-D data) h W is an outer product, the
        # same floats as a broadcast product at half the cost (as fast/blocks.py's untraced pass)
        a = (hs[-1] * Ws[l][0] if Ws[l].shape[0] == 1 else hs[-1] @ Ws[l]) + params[l]["b"]
        pre.append(a)
        hs.append(act(a) if l < n_layers - 1 else a)
    return hs[-1], (hs, pre, Ws)


def mlp_backward(mlp, residuals, g, want_params=True):
    """(dL/dx, dL/dparams as a params-shaped list or None) from g = dL/doutput."""
    hs, pre, Ws = residuals
    backprop = BACKPROP[mlp.activation]
    grads = [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        if want_params:
            dW = hs[l].T @ g
            grads[l] = {"W": dW if mlp.masks is None else dW * mlp.masks[l], "b": g.sum(axis=0)}
        g = g @ Ws[l].T  # dL/dh_{l-1}
        if l > 0:
            g = backprop(g, pre[l - 1], hs[l])
    return g, (grads if want_params else None)


def _forward(x, mlp, params):
    return mlp_forward(mlp, params, x)


def _backward(residuals, g, argnums, x, mlp, params):
    gx, gparams = mlp_backward(mlp, residuals, g, want_params=2 in argnums)
    return tuple(gx if i == 0 else gparams for i in argnums)


def _reference(x, mlp, params):
    return reference_of(MLP, "apply")(mlp, params, x)


mlp_fused = fused(_forward, _backward, _reference, "mlp_fused")


@accelerate(MLP, "apply")
def apply(mlp, params, x):
    """``MLP.apply`` as one traced operation, for inputs (..., n_in) traced once."""
    if not (traced_once(params, x) and whole_or_plain(params)):
        return NotImplemented
    shape = np.shape(x)
    if len(shape) < 2 or shape[-1] != mlp.n_in:
        return NotImplemented  # the reference reports the error, or handles a single point
    if len(shape) > 2:  # fold the leading axes into rows
        out = mlp_fused(np.reshape(x, (-1, mlp.n_in)), mlp, params)
        return np.reshape(out, tuple(shape[:-1]) + (mlp.n_out,))
    return mlp_fused(x, mlp, params)
