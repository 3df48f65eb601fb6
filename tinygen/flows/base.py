"""The flow interface, composition, and a density model built from a flow.

Direction (as in the lecture): the generative map is f: z -> x, its inverse
g = f^-1: x -> z.

    x, log_det = flow.forward(params, z)   # log|det df/dz|, shape (n,)
    z, log_det = flow.inverse(params, x)   # log|det dg/dx|, shape (n,)
    log p_x(x) = log p_z(g(x)) + log|det dg/dx|

(nflows uses the opposite names: its ``forward`` is our ``inverse``.)

A layer subclasses ``Flow`` and writes ``_forward`` and ``_inverse``; the
public ``forward``/``inverse`` check the input and the params tree once
(against the tree the layer's own ``init`` makes) and call them. Inside a
``Compose`` the checks are not repeated.
"""
import autograd.numpy as np

from .._threads import in_hot_loop
from .._validate import NonFiniteError, as_batch, as_rng, check_context, check_params, check_positive_int
from ..distributions import StandardNormal

__all__ = ["Compose", "Flow", "FlowModel"]


class Flow:
    """An invertible map f: R^D -> R^D with a hand-written log|det|.

    Subclasses set ``self.dim`` (and ``self.context_dim`` if a conditioner
    sees a context c) and implement ``init``, ``_forward``, ``_inverse``.
    """

    dim = None
    context_dim = 0

    def init(self, rng):
        """Trainable parameters as a pytree ({} for a fixed transform)."""
        return {}

    def data_init(self, params, x, context=None):
        """Data-dependent initialization (ActNorm); the default checks x and changes nothing."""
        as_batch(x, "x", self.dim)
        return params

    def forward(self, params, z, context=None):
        """x = f(z) and log|det df/dz|, shape (n,)."""
        z = as_batch(z, "z", self.dim)
        return self._forward(check_params(params, self), z, self._check_context(context, z))

    def inverse(self, params, x, context=None):
        """z = g(x) and log|det dg/dx|, shape (n,)."""
        x = as_batch(x, "x", self.dim)
        return self._inverse(check_params(params, self), x, self._check_context(context, x))

    def _forward(self, params, z, context):
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def _inverse(self, params, x, context):
        raise NotImplementedError(f"{type(self).__name__} must implement _inverse")

    def _check_context(self, context, x):
        return check_context(context, x, self.context_dim)


class Compose(Flow):
    """f = f_K o ... o f_1, with inverse g = g_1 o ... o g_K.

    log|det df/dz| = sum_k log|det df_k/dz_{k-1}|  (the log-determinants add up)
    """

    def __init__(self, layers):
        if isinstance(layers, (Flow, str, dict)) or not hasattr(layers, "__iter__"):
            raise TypeError(f"layers: expected a list of flows, got {type(layers).__name__}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers: expected at least one flow, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Flow):
                raise TypeError(f"layers[{i}]: expected a Flow, got {type(layer).__name__}")
        dims = {layer.dim for layer in layers if layer.dim is not None}
        if len(dims) > 1:
            raise ValueError(f"layers: expected every flow to have the same dim, got dims {sorted(dims)}")
        # Every conditional layer receives the same context c, so they must agree on its size
        # (unconditional layers ignore it).
        context_dims = {layer.context_dim for layer in layers if layer.context_dim}
        if len(context_dims) > 1:
            raise ValueError(
                f"layers: expected conditional flows to share one context_dim, got {sorted(context_dims)}"
            )
        self.layers = layers
        self.dim = dims.pop() if dims else None
        self.context_dim = context_dims.pop() if context_dims else 0

    def init(self, rng):
        rng = as_rng(rng)
        return [layer.init(rng) for layer in self.layers]

    def data_init(self, params, x, context=None):
        # Walk from x towards z, initializing each layer on the data it will see.
        x = as_batch(x, "x", self.dim)
        context = self._check_context(context, x)
        new = list(params)
        h = x
        for k in reversed(range(len(self.layers))):
            new[k] = self.layers[k].data_init(params[k], h, context)
            h, _ = self.layers[k]._inverse(new[k], h, context)
        return new

    def _forward(self, params, z, context):
        log_det = np.zeros(z.shape[0])
        for layer, p in zip(self.layers, params):
            z, ld = layer._forward(p, z, context)
            log_det = log_det + ld
        return z, log_det

    def _inverse(self, params, x, context):
        log_det = np.zeros(x.shape[0])
        for layer, p in zip(reversed(self.layers), reversed(params)):
            x, ld = layer._inverse(p, x, context)
            log_det = log_det + ld
        return x, log_det

    def forward_all(self, params, z, context=None):
        """[z_0, z_1, ..., z_K] with z_k = f_k(z_{k-1}): the per-layer picture."""
        z = as_batch(z, "z", self.dim)
        context = self._check_context(context, z)
        check_params(params, self)
        out = [z]
        for layer, p in zip(self.layers, params):
            z, _ = layer._forward(p, z, context)
            out.append(z)
        return out


class FlowModel:
    """A density model x = f(z), z ~ p_z (default N(0, I)).

    log p_x(x) = log p_z(g(x)) + log|det dg/dx|   (change of variables)
    loss = (1/n) sum_i -log p_x(x_i)              (mean NLL)
    Sampling: z ~ p_z, then x = f(z).
    """

    def __init__(self, flow, base=None):
        if not isinstance(flow, Flow):
            raise TypeError(f"flow: expected a Flow, got {type(flow).__name__}")
        if flow.dim is None:
            raise ValueError("flow: its dimension is unknown; give a layer with dim set")
        self.flow = flow
        self.dim = flow.dim
        self.context_dim = flow.context_dim
        self.base = StandardNormal(flow.dim) if base is None else _check_base(base, flow.dim)

    def init(self, rng, x=None, context=None):
        """Parameters (the flow's: forward/inverse check them); with data x, also run
        data-dependent initialization (ActNorm)."""
        params = self.flow.init(as_rng(rng))
        if x is not None:
            params = self.flow.data_init(params, x, context)
        return params

    def forward(self, params, z, context=None):
        return self.flow.forward(params, z, context)

    def inverse(self, params, x, context=None):
        return self.flow.inverse(params, x, context)

    def log_prob(self, params, x, context=None):
        z, log_det = self.flow.inverse(params, x, context)
        try:
            return self.base.log_prob(z) + log_det
        except NonFiniteError as err:  # the base density named its own argument: say which one it was
            raise NonFiniteError("x: the latent z = g(x) is NaN or inf (x too far out for this flow, "
                                 "or params that went bad)") from err

    def loss(self, params, x, rng=None, context=None):
        return -np.mean(self.log_prob(params, x, context))

    def _base_sample(self, n, rng, context):
        n = check_positive_int(n, "n")
        z = self.base.sample(n, as_rng(rng))
        if context is not None:
            context = check_context(context, z, self.context_dim)
        return z, context

    @in_hot_loop  # MAF's inverse is D passes: one BLAS thread by default (tinygen/_threads.py)
    def sample(self, params, n, rng, context=None):
        z, context = self._base_sample(n, rng, context)
        return self.flow.forward(params, z, context)[0]

    def sample_layers(self, params, n, rng, context=None):
        """Samples after every layer, [z_0, ..., z_K = x] (needs a Compose flow)."""
        z, context = self._base_sample(n, rng, context)
        if isinstance(self.flow, Compose):
            return self.flow.forward_all(params, z, context)
        return [z, self.flow.forward(params, z, context)[0]]


def _check_base(base, dim):
    """p_z: anything with log_prob(z) and sample(n, rng) over R^D, D the flow's dim."""
    for method in ("log_prob", "sample"):
        if not callable(getattr(base, method, None)):
            raise TypeError(f"base: expected a distribution with log_prob and sample, got {type(base).__name__}")
    base_dim = getattr(base, "dim", dim)
    if base_dim != dim:
        raise ValueError(f"base: expected a distribution over R^{dim} like the flow, got dim {base_dim}")
    return base
