"""Lean PyTorch peers: the models as a PyTorch user would write them for 2-D data.

``benchmarks/peers.py`` rebuilds any tinygen flow generically (index gathers for the
coupling masks and permutations, one reshape of theta per layer), so that it follows
tinygen's code line by line. A PyTorch user who writes RealNVP for two moons writes
none of that: the data are two half-vectors x1 = x[:, :1], x2 = x[:, 1:], each layer
is one small ``nn.Sequential`` MLP on the conditioning half, and "alternate which
half" is a swap of two names. This module writes those lean models:

    RealNVP2D   per layer (a, mu) = MLP(x_cond), alpha = s_max tanh(a / s_max)
    MADE2D      Gaussian MADE: masked Linear layers (W * M once per pass), sigma = softplus(rho)
    MAF2D       5 such masked MLPs emitting (mu, a), the two coordinates swapped between layers
    Spline2D    spline couplings on x2 given x1, swapped between layers (the spline is
                ``peers.rq_spline``: the rational-quadratic spline is the same code either way)

Each is built from a tinygen recipe model AND its params pytree, so both compute the
SAME function from the same numbers: ``agreement()`` checks log p against tinygen's
in float64 at perturbed ("trained-like", no identity layer left) weights.

    lean = make_lean(model, params, torch.float32)
    lean.log_prob(x)                  # (n,) tensor
    run = stepper(lean, x_train, lr, batch_size)   # run(m): m Adam steps

torch is required here (bench_train.py imports this module only when torch imports).
"""
import math

import numpy as onp
import torch
from torch import nn

import peers
from tinygen.arm.made import MADE
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP
from tinygen.flows.autoregressive import MAFLayer
from tinygen.flows.coupling import AffineCoupling, SplineCoupling
from tinygen.flows.linear import Permutation

LOG_2PI = math.log(2 * math.pi)


def _linear(layer, dtype):
    """nn.Linear holding a tinygen dense layer {"W": (n_in, n_out), "b": (n_out,)} (torch keeps W^T)."""
    W = onp.asarray(layer["W"], dtype=onp.float64)
    lin = nn.Linear(*W.shape).to(dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.T.copy()))
        lin.bias.copy_(torch.from_numpy(onp.asarray(layer["b"], dtype=onp.float64)))
    return lin


def mlp(net, dtype):
    """Linear -> ReLU -> ... -> Linear, from a tinygen MLP's params (a list of dense layers)."""
    mods = []
    for i, layer in enumerate(net):
        mods.append(_linear(layer, dtype))
        if i < len(net) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


class MaskedLinear(nn.Linear):
    """y = x (W * M)^T + b: the mask M is a buffer, applied once per pass."""

    def __init__(self, layer, mask, dtype):
        W = onp.asarray(layer["W"], dtype=onp.float64)
        super().__init__(*W.shape)
        self.to(dtype)
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(W.T.copy()))
            self.bias.copy_(torch.from_numpy(onp.asarray(layer["b"], dtype=onp.float64)))
        self.register_buffer("mask", torch.tensor(onp.asarray(mask).T.copy(), dtype=dtype))

    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


def masked_mlp(net, masks, dtype):
    mods = []
    for i, (layer, m) in enumerate(zip(net, masks)):
        mods.append(MaskedLinear(layer, m, dtype))
        if i < len(net) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def std_normal_log_pdf(z1, z2):
    """log N(z; 0, I_2) from the two halves, shape (n,)."""
    return (-0.5 * (z1 ** 2 + z2 ** 2) - LOG_2PI)[:, 0]


def soft_clamp(a, s_max):
    return s_max * torch.tanh(a / s_max)  # alpha = s_max tanh(a / s_max), |alpha| < s_max


class RealNVP2D(nn.Module):
    """Layer k (k = 0, 1, ...) transforms x2 given x1 when k is even, x1 given x2 when odd:
    x_t = z_t exp(alpha) + mu, so the density undoes it, z_t = (x_t - mu) exp(-alpha)."""

    def __init__(self, model, params, dtype):
        super().__init__()
        layers = model.flow.layers
        if not all(isinstance(layer, AffineCoupling) and layer.dim == 2 for layer in layers):
            raise ValueError("model: expected a RealNVP of 2-D affine couplings")
        if [int(layer.idx_cond[0]) for layer in layers] != [k % 2 for k in range(len(layers))]:
            raise ValueError("model: expected the masks [1, 0], [0, 1], ... alternating")
        self.s_max = layers[0].s_max
        self.nets = nn.ModuleList(mlp(p["conditioner"], dtype) for p in params)

    def log_prob(self, x):
        x1, x2 = x[:, :1], x[:, 1:]
        log_det = 0.0
        for k in reversed(range(len(self.nets))):  # g = g_1 o ... o g_K: the last layer is undone first
            a, mu = self.nets[k](x1 if k % 2 == 0 else x2).chunk(2, dim=1)
            alpha = soft_clamp(a, self.s_max)
            if k % 2 == 0:
                x2 = (x2 - mu) * torch.exp(-alpha)
            else:
                x1 = (x1 - mu) * torch.exp(-alpha)
            log_det = log_det - alpha
        return std_normal_log_pdf(x1, x2) + log_det[:, 0]


class MADE2D(nn.Module):
    """Gaussian MADE: (mu_1, mu_2, rho_1, rho_2) = masked MLP(x), log N(x_d; mu_d, softplus(rho_d)^2)."""

    def __init__(self, model, params, dtype):
        super().__init__()
        if model.likelihood != "gaussian" or model.n_masks != 1 or model.direct or model.context_dim:
            raise ValueError("model: expected a Gaussian MADE, one mask set, no direct path, no context")
        self.net = masked_mlp(params["net"], model.net.masks, dtype)

    def log_prob(self, x):
        mu, rho = self.net(x).chunk(2, dim=1)
        sigma = nn.functional.softplus(rho)
        return (-0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * LOG_2PI).sum(1)


class MAF2D(nn.Module):
    """MAF layers with a swap of the two coordinates between them; each layer's density pass is
    z = (x - mu(x)) exp(-alpha(x)) from one masked MLP emitting (mu_1, mu_2, a_1, a_2)."""

    def __init__(self, model, params, dtype):
        super().__init__()
        layers = model.flow.layers
        mafs = [layer for layer in layers if isinstance(layer, MAFLayer)]
        if layers[1::2] and not all(isinstance(p, Permutation) and list(p.perm) == [1, 0] for p in layers[1::2]):
            raise ValueError("model: expected MAF layers with reversals between them")
        if not all(m.dim == 2 and list(m.order) == [0, 1] for m in mafs):
            raise ValueError("model: expected 2-D MAF layers in the natural order")
        self.s_max = mafs[0].s_max
        self.nets = nn.ModuleList(masked_mlp(p["net"], m.made.net.masks, dtype) for m, p in zip(mafs, params[::2]))

    def log_prob(self, x):
        log_det = 0.0
        for k, net in enumerate(reversed(self.nets)):
            if k > 0:
                x = x.flip(1)  # the reversal between layers
            mu, a = net(x).chunk(2, dim=1)
            alpha = soft_clamp(a, self.s_max)
            x = (x - mu) * torch.exp(-alpha)
            log_det = log_det - alpha.sum(1)
        return (-0.5 * (x ** 2).sum(1) - LOG_2PI) + log_det


class Spline2D(nn.Module):
    """Spline couplings of x2 given x1 (3K - 1 numbers from one MLP: widths, heights, slopes),
    the halves swapped between layers."""

    def __init__(self, model, params, dtype):
        super().__init__()
        layers = model.flow.layers
        splines = [layer for layer in layers if isinstance(layer, SplineCoupling)]
        if not all(s.dim == 2 and int(s.idx_cond[0]) == 0 for s in splines) or len(splines) != (len(layers) + 1) // 2:
            raise ValueError("model: expected 2-D spline couplings of x2 given x1 with reversals between")
        self.bins, self.bound = splines[0].bins, splines[0].bound
        self.nets = nn.ModuleList(mlp(p["conditioner"], dtype) for p in params[::2])

    def log_prob(self, x):
        K = self.bins
        x1, x2 = x[:, :1], x[:, 1:]
        log_det = 0.0
        for k, net in enumerate(reversed(self.nets)):
            if k > 0:
                x1, x2 = x2, x1  # the reversal between layers
            theta = net(x1)[:, None, :]  # (n, 1, 3K - 1)
            x2, log_d = peers.rq_spline(x2, theta[..., :K], theta[..., K:2 * K], theta[..., 2 * K:],
                                        self.bound, inverse=True)
            log_det = log_det + log_d[:, 0]
        return std_normal_log_pdf(x1, x2) + log_det


def make_lean(model, params, dtype=torch.float64):
    """The lean torch model of a tinygen RealNVP, MADE, MAF or spline flow, with ``params`` copied in."""
    for cls, lean in ((RealNVP, RealNVP2D), (MADE, MADE2D), (MAF, MAF2D), (NeuralSplineFlow, Spline2D)):
        if isinstance(model, cls):
            return lean(model, params, dtype)
    raise TypeError(f"model: no lean torch peer for {type(model).__name__}")


def stepper(module, x_train, lr, batch_size, seed=0, log_prob=None):
    """run(m): m Adam steps of the mean NLL on minibatches drawn uniformly from x_train.
    ``log_prob``: the function to train (default ``module.log_prob``), e.g. a library flow's."""
    dtype = next(module.parameters()).dtype
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    xt = torch.from_numpy(onp.ascontiguousarray(x_train, dtype=onp.float64)).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    log_prob = module.log_prob if log_prob is None else log_prob

    def run(m):
        for _ in range(m):
            loss = -log_prob(xt[torch.randint(0, len(xt), (batch_size,), generator=gen)]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return run


def count(module):
    return sum(p.numel() for p in module.parameters())


# Both sides compute the same float64 function in a different order of operations: ~1e-14
# relative per layer; 1e-10 leaves room for the deepest stack's accumulated rounding and nothing
# more (a wrong half, mask or sign moves log p by O(1)).
AGREEMENT_TOL = 1e-10


def agreement(model, params, x):
    """max |log p_tinygen - log p_lean| / max(1, |log p|) in float64 over the points x."""
    ours = onp.asarray(model.log_prob(params, x))
    lean = make_lean(model, params, torch.float64)
    with torch.no_grad():
        theirs = lean.log_prob(torch.from_numpy(onp.ascontiguousarray(x, dtype=onp.float64))).numpy()
    return float(onp.max(onp.abs(ours - theirs) / onp.maximum(1.0, onp.abs(ours))))


def check_points(rng=1):
    """Points inside the moons and spread wide (x 3) to reach the spline tails beyond +-4."""
    g = onp.random.default_rng(rng)
    return onp.concatenate([g.standard_normal((200, 2)) * 3, g.normal(0, 1, (200, 2))])


def trained_like(model, rng=0):
    """model.init(rng) with every leaf perturbed (peers._perturbed): no layer is the identity."""
    return peers._perturbed(model.init(rng), onp.random.default_rng(rng))


if __name__ == "__main__":
    from tinygen.recipes import RECIPES

    torch.set_num_threads(1)
    for name in ("realnvp", "made", "maf", "spline"):
        model = RECIPES[name].build()
        d = agreement(model, trained_like(model), check_points())
        print(f"agreement {name:8s} float64 max relative difference of log p {d:.1e} "
              f"({'ok' if d <= AGREEMENT_TOL else 'FAILED'}, tolerance {AGREEMENT_TOL:g})")
