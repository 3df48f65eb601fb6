"""Neural networks as pure functions of a parameter pytree.

A layer's parameters are a dict ``{"W": (n_in, n_out), "b": (n_out,)}``; an
MLP's are a list of such dicts. The ``MLP`` object holds only structure
(sizes, activation, optional binary masks), so ``autograd.grad`` of any loss
built on ``mlp.apply(params, x)`` differentiates with respect to ``params``.
"""
import autograd.numpy as np
import numpy as onp

from . import functional as F
from . import tree
from ._validate import as_rng, check_option, check_positive_int

__all__ = ["ACTIVATIONS", "INITS", "MLP", "count_params", "dense", "fourier_features", "init_dense"]

ACTIVATIONS = {
    "relu": F.relu,
    "tanh": F.tanh,
    "softplus": F.softplus,
    "elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0.0))),
    "leaky_relu": lambda a: np.where(a > 0, a, 0.01 * a),
}

INITS = ("glorot", "he", "zeros")


def init_dense(rng, n_in, n_out, init="glorot", spread_bias=False):
    """Weights for y = x W + b.

    glorot: W ~ U(-a, a), a = sqrt(6 / (n_in + n_out)), keeps the variance of
    activations and gradients roughly constant for tanh-like units.
    he: W ~ N(0, 2 / n_in), the same idea for ReLU units (half are zero).
    zeros: W = 0, b = 0; a last layer started at zero makes a flow layer start
    at the identity, which makes deep flows easy to train.

    b = 0, unless spread_bias (an MLP's hidden layers): b ~ U(-2/sqrt(n_in), 2/sqrt(n_in)).
    Why not zero: a ReLU layer with b = 0 is positively homogeneous, act(c x W) =
    c act(x W) for c > 0, so every unit's kink is a hyperplane through x = 0. With one
    input, as in each coupling layer in D = 2 and in MADE's conditioners in D = 2, all
    kinks then sit at the single point 0 and the net starts out as two straight
    lines; training has to pull the kinks apart first, and on some seeds it does
    not finish (benchmarks/REPORT.md, "Defaults", the zero-bias rows). With this
    scale and He weights, a one-input unit's kink -b/w lies at a median distance of
    about 1 from 0, over the range standardized data take; PyTorch's default
    (weights and biases U(-1/sqrt(n_in), 1/sqrt(n_in))) spreads them the same way.
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
    if spread_bias and init != "zeros":
        b = rng.uniform(-2.0, 2.0, size=n_out) / onp.sqrt(n_in)
    else:
        b = onp.zeros(n_out)
    return {"W": W, "b": b}


def dense(params, x, mask=None):
    """y = x W + b, or y = x (W * M) + b for a binary mask M (masked dense layer, MADE)."""
    W = params["W"] if mask is None else params["W"] * mask
    return np.matmul(x, W) + params["b"]


class MLP:
    """A multilayer perceptron: h_0 = x, h_l = act(h_{l-1} W_l + b_l), linear output.

    sizes: (n_in, hidden..., n_out). masks: optional list of binary arrays, one
    per layer, of shape (n_in_l, n_out_l); a masked weight is always multiplied
    by 0, so that connection does not exist (MADE's autoregressive property).
    spread_bias: hidden biases drawn U(-2/sqrt(n_in), 2/sqrt(n_in)) (why: ``init_dense``), or 0;
    the output layer's bias is always 0.
    """

    def __init__(self, sizes, activation="relu", init=None, zero_last=False, masks=None, spread_bias=True):
        self.sizes = tuple(check_positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes))
        if len(self.sizes) < 2:
            raise ValueError(f"sizes: expected at least (n_in, n_out), got {sizes!r}")
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        self.init_name = init or ("he" if activation in ("relu", "leaky_relu", "elu") else "glorot")
        check_option(self.init_name, "init", INITS)
        self.zero_last = bool(zero_last)
        self.spread_bias = bool(spread_bias)  # hidden biases U(+-2/sqrt(n_in)), else 0 (see init_dense)
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
            init = "zeros" if (last and self.zero_last) else self.init_name
            layers.append(init_dense(rng, a, b, init, spread_bias=self.spread_bias and not last))
        return layers

    def apply(self, params, x):
        """The network's output for inputs x of shape (..., n_in) -> (..., n_out).

            h_0 = x,   a_l = h_{l-1} (W_l * M_l) + b_l,   h_l = act(a_l) for l < L,   output a_L

        (M_l = 1 without masks.) While ``fit`` differentiates, tinygen.fast runs this as one
        traced operation with a hand-written backward pass; everywhere else, and under
        ``with tinygen.fast.disabled():``, the lines below run.
        """
        shape = np.shape(x)
        if len(shape) == 0 or shape[-1] != self.n_in:
            raise ValueError(f"x: expected shape (..., {self.n_in}), got {tuple(shape)}")
        act = ACTIVATIONS[self.activation]
        h = x
        for l, layer in enumerate(params):
            a = dense(layer, h, None if self.masks is None else self.masks[l])  # a_l = h_{l-1} W_l + b_l
            h = act(a) if l < len(params) - 1 else a  # the last layer is linear
        return h

    def __call__(self, params, x):
        """``mlp(params, x)`` is ``mlp.apply(params, x)``: the one path, for a subclass's own ``apply`` too."""
        return self.apply(params, x)

    def n_params(self):
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


def fourier_features(x, n_freq):
    """[sin(2^k pi x_d), cos(2^k pi x_d)] for k = 0..n_freq-1 and every coordinate d: shape (n, 2 D n_freq).

    Why: an MLP on raw coordinates learns smooth functions first and sharp ones very slowly (its
    first layer's weights must grow to the inverse of a feature's width: ~20 for the 0.05-wide
    moons, far beyond where Adam takes them in a few thousand steps). Sines of doubling frequencies
    (Tancik et al. 2020, "Fourier features let networks learn high frequency functions") hand it
    the fine scales ready-made; they are smooth, so the field stays differentiable in x.
    Differentiable in x (autograd.numpy). n_freq = 0 gives shape (n, 0).
    """
    freq = onp.pi * 2.0 ** onp.arange(n_freq)  # 2^k pi, k = 0..n_freq-1
    angle = np.reshape(x[:, :, None] * freq, (np.shape(x)[0], -1))  # (n, D n_freq)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def count_params(params):
    """Number of scalars in a params pytree (nested dicts/lists/tuples of arrays)."""
    return tree.size(params)
