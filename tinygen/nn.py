"""Neural networks as pure functions of a parameter pytree.

A layer's parameters are a dict ``{"W": (n_in, n_out), "b": (n_out,)}``; an
MLP's are a list of such dicts. The ``MLP`` object holds only structure
(sizes, activation, optional binary masks), so ``autograd.grad`` of any loss
built on ``mlp.apply(params, x)`` differentiates with respect to ``params``.
"""
import autograd.numpy as np
import numpy as onp
from autograd.extend import Box, defvjp_argnums, primitive

from . import functional as F
from ._validate import as_rng, check_option, check_positive_int

ACTIVATIONS = {
    "relu": F.relu,
    "tanh": np.tanh,
    "softplus": F.softplus,
    "elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0.0))),
    "leaky_relu": lambda a: np.where(a > 0, a, 0.01 * a),
}

# d act(a) / da, written with a = pre-activation and h = act(a) (whichever is cheaper).
ACTIVATION_GRADS = {
    "relu": lambda a, h: (a > 0).astype(a.dtype),
    "tanh": lambda a, h: 1.0 - h * h,
    "softplus": lambda a, h: F.sigmoid(a),
    "elu": lambda a, h: onp.where(a > 0, 1.0, h + 1.0),
    "leaky_relu": lambda a, h: onp.where(a > 0, 1.0, 0.01),
}

INITS = ("glorot", "he", "zeros")


def init_dense(rng, n_in, n_out, init="glorot"):
    """Weights for y = x W + b.

    glorot: W ~ U(-a, a), a = sqrt(6 / (n_in + n_out)), keeps the variance of
    activations and gradients roughly constant for tanh-like units.
    he: W ~ N(0, 2 / n_in), the same idea for ReLU units (half are zero).
    zeros: W = 0, b = 0; a last layer started at zero makes a flow layer start
    at the identity, which makes deep flows easy to train.
    """
    rng = as_rng(rng)
    check_option(init, "init", INITS)
    if init == "glorot":
        a = onp.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-a, a, size=(n_in, n_out))
    elif init == "he":
        W = rng.normal(0.0, onp.sqrt(2.0 / n_in), size=(n_in, n_out))
    else:
        W = onp.zeros((n_in, n_out))
    return {"W": W, "b": onp.zeros(n_out)}


def dense(params, x, mask=None):
    """y = x W + b, or y = x (W * M) + b for a binary mask M (masked dense layer, MADE)."""
    W = params["W"] if mask is None else params["W"] * mask
    return np.dot(x, W) + params["b"]


class MLP:
    """A multilayer perceptron: h_0 = x, h_l = act(h_{l-1} W_l + b_l), linear output.

    sizes: (n_in, hidden..., n_out). masks: optional list of binary arrays, one
    per layer, of shape (n_in_l, n_out_l); a masked weight is always multiplied
    by 0, so that connection does not exist (MADE's autoregressive property).
    """

    def __init__(self, sizes, activation="relu", init=None, zero_last=False, masks=None):
        self.sizes = tuple(check_positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes))
        if len(self.sizes) < 2:
            raise ValueError(f"sizes: expected at least (n_in, n_out), got {sizes!r}")
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        self.init_name = init or ("he" if activation in ("relu", "leaky_relu", "elu") else "glorot")
        check_option(self.init_name, "init", INITS)
        self.zero_last = bool(zero_last)
        if masks is not None:
            masks = [onp.asarray(m, dtype=onp.float64) for m in masks]
            shapes = [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
            if [m.shape for m in masks] != shapes:
                raise ValueError(
                    f"masks: expected shapes {shapes}, got {[m.shape for m in masks]}"
                )
        self.masks = masks

    @property
    def n_in(self):
        return self.sizes[0]

    @property
    def n_out(self):
        return self.sizes[-1]

    def init(self, rng):
        rng = as_rng(rng)
        layers = []
        n_layers = len(self.sizes) - 1
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            last = i == n_layers - 1
            layers.append(init_dense(rng, a, b, "zeros" if (last and self.zero_last) else self.init_name))
        return layers

    def apply(self, params, x):
        """The network's output for inputs x of shape (..., n_in) -> (..., n_out).

        Runs as ONE autograd primitive with a hand-written backward pass
        (``_mlp_backward``): autograd's cost is per traced operation, and a whole
        MLP traced op by op is most of a training step's time. ``apply_traced``
        is the same function built from autograd ops; tests check the two agree.
        """
        shape = np.shape(x)
        if len(shape) == 0 or shape[-1] != self.n_in:
            raise ValueError(f"x: expected shape (..., {self.n_in}), got {tuple(shape)}")
        if len(shape) != 2:  # the primitive works on (n, n_in): fold the leading axes
            out = self.apply(params, np.reshape(x, (-1, self.n_in)))
            return np.reshape(out, tuple(shape[:-1]) + (self.n_out,))
        if _is_traced(params):
            return _mlp_tree(x, self, params)
        leaves = _leaves(params)
        if any(_is_traced(a) for a in leaves):
            return _mlp_leaves(x, self, *leaves)
        return _mlp_tree(x, self, params)

    __call__ = apply

    def forward_cached(self, params, x):
        """Plain-NumPy forward pass for hand-written VJPs: (output, cache for ``backward``)."""
        cache = _mlp_forward(x, self, _leaves(params))
        return cache[0][-1], cache

    def backward(self, cache, g):
        """Plain-NumPy backward pass: (dL/dx, dL/dparams as a params-shaped list) from g = dL/doutput."""
        gx, grads = _mlp_backward(self, cache, g)
        return gx, [{"W": grads[2 * l], "b": grads[2 * l + 1]} for l in range(len(grads) // 2)]

    def apply_traced(self, params, x):
        act = ACTIVATIONS[self.activation]
        h = x
        for i, layer in enumerate(params):
            h = dense(layer, h, None if self.masks is None else self.masks[i])
            if i < len(params) - 1:
                h = act(h)
        return h

    def n_params(self):
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


def _leaves(params):
    return [a for layer in params for a in (layer["W"], layer["b"])]


def _mlp_forward(x, mlp, leaves):
    """Forward pass keeping every pre-activation a_l and activation h_l for the backward pass.

    leaves = [W_1, b_1, W_2, b_2, ...]; masked weights are W_l * M_l.
    """
    act = ACTIVATIONS[mlp.activation]
    n_layers = len(leaves) // 2
    Ws = [leaves[2 * l] if mlp.masks is None else leaves[2 * l] * mlp.masks[l] for l in range(n_layers)]
    hs, pre = [x], []
    for l in range(n_layers):
        a = hs[-1] @ Ws[l] + leaves[2 * l + 1]  # a_l = h_{l-1} W_l + b_l
        pre.append(a)
        hs.append(act(a) if l < n_layers - 1 else a)
    return hs, pre, Ws


def _mlp_backward(mlp, forward, g):
    """Backpropagation by hand: with g_l = dL/da_l,
    dL/dW_l = h_{l-1}^T g_l (times the mask), dL/db_l = sum_n g_l,
    g_{l-1} = (g_l W_l^T) * act'(a_{l-1}), dL/dx = g_1 W_1^T.
    Returns (dL/dx, [dW_1, db_1, dW_2, db_2, ...]).
    """
    hs, pre, Ws = forward
    dact = ACTIVATION_GRADS[mlp.activation]
    grads = [None] * (2 * len(Ws))
    for l in reversed(range(len(Ws))):
        dW = hs[l].T @ g
        grads[2 * l] = dW if mlp.masks is None else dW * mlp.masks[l]
        grads[2 * l + 1] = g.sum(axis=0)
        g = g @ Ws[l].T  # dL/dh_{l-1}
        if l > 0:
            g = g * dact(pre[l - 1], hs[l])
    return g, grads


class LastForward:
    """The intermediates of a primitive's last forward pass, keyed by its output.

    autograd builds a primitive's VJP right after running it while tracing, so
    the backward pass can take them instead of recomputing the forward pass;
    ``take`` recomputes only when the output is not the one just stored.
    """

    def __init__(self):
        self._ans, self._saved = None, None

    def store(self, ans, saved):
        self._ans, self._saved = ans, saved
        return ans

    def take(self, ans, recompute):
        saved = self._saved if self._ans is ans else recompute()
        self._ans = self._saved = None  # used once: do not keep arrays alive
        return saved


_LAST_FORWARD = LastForward()


def _run_forward(x, mlp, leaves):
    forward = _mlp_forward(x, mlp, leaves)
    return _LAST_FORWARD.store(forward[0][-1], forward)


def _cached_forward(ans, x, mlp, leaves):
    return _LAST_FORWARD.take(ans, lambda: _mlp_forward(x, mlp, leaves))


# Two entry points to the same pass. ``_mlp_tree`` takes the params list as ONE
# argument, so a traced params pytree costs no per-leaf look-ups on the tape;
# ``_mlp_leaves`` takes W_1, b_1, ... separately, for a plain list that holds
# individually traced arrays.
@primitive
def _mlp_tree(x, mlp, params):
    return _run_forward(x, mlp, _leaves(params))


@primitive
def _mlp_leaves(x, mlp, *leaves):
    return _run_forward(x, mlp, leaves)


def _tree_vjp(argnums, ans, args, kwargs):
    x, mlp, params = args
    forward = _cached_forward(ans, x, mlp, _leaves(params))

    def vjp(g):
        gx, tree = mlp.backward(forward, g)
        return tuple({0: gx, 2: tree}[i] for i in argnums)

    return vjp


def _leaves_vjp(argnums, ans, args, kwargs):
    x, mlp, leaves = args[0], args[1], args[2:]
    forward = _cached_forward(ans, x, mlp, leaves)

    def vjp(g):
        gx, grads = _mlp_backward(mlp, forward, g)
        return tuple(gx if i == 0 else grads[i - 2] for i in argnums)

    return vjp


defvjp_argnums(_mlp_tree, _tree_vjp)
defvjp_argnums(_mlp_leaves, _leaves_vjp)


def _is_traced(a):
    return isinstance(a, Box)


def has_traced_leaves(params):
    """True when a plain params list holds individually traced arrays (then a primitive
    taking the list whole cannot see them, and the traced code path must be used)."""
    return not _is_traced(params) and any(_is_traced(a) for a in _leaves(params))


def count_params(params):
    """Number of scalars in a params pytree (nested dicts/lists/tuples of arrays)."""
    if isinstance(params, dict):
        return sum(count_params(v) for v in params.values())
    if isinstance(params, (list, tuple)):
        return sum(count_params(v) for v in params)
    return int(onp.size(params))
