"""PyTorch peers of the benchmarked tinygen models: the same architectures, for timing.

Each peer is built from a tinygen model AND its params pytree: it reads the
structure (MADE masks and orderings, coupling masks, permutations, spline bins,
bound and minimum sizes, soft clamp alpha = s_max tanh(a / s_max)) off the model
and copies the weights, so both start from the same numbers. Each peer runs at one
dtype: torch.float32 (PyTorch's default, what a user picks instead of tinygen) or
torch.float64 (tinygen's arithmetic, so its numbers match tinygen's to rounding);
the weights, masks, data and noise are all cast to it. One thread, ReLU MLPs and
Adam, as tinygen does.

    peer = make_peer(model, params, dtype=torch.float32)
    peer.log_prob_np(x)          # (n,), numpy in (cast to the peer's dtype) and out, no gradient
    peer.sample_np(n)            # (n, D)
    run = peer.stepper(x_train, lr)  # run(m): m Adam steps on minibatches of 256
    max_rel_diff(model, params)  # |log p_tinygen - log p_torch| / max(1, |log p|), float64 peer

torch is imported lazily (``available()``); nothing here is needed by tinygen.
Run ``python benchmarks/peers.py`` to check every peer, at both dtypes, against
tinygen with random (non-identity) weights: log_prob, the sampling map x = f(z), the ELBO.
"""
import math

import numpy as onp

from tinygen.arm.made import MADE
from tinygen.flows.autoregressive import IAFLayer, MAFLayer
from tinygen.flows.base import FlowModel
from tinygen.flows.coupling import AffineCoupling, SplineCoupling
from tinygen.flows.linear import Permutation
from tinygen.flows.splines import MIN_BIN_HEIGHT, MIN_BIN_WIDTH, MIN_DERIVATIVE
from tinygen.vae import VAE

LOG_2PI = math.log(2 * math.pi)
_TORCH = []


def available():
    """Is torch importable? (Imports it once, one thread.)"""
    if not _TORCH:
        try:
            import torch
        except ImportError:
            _TORCH.append(None)
        else:
            torch.set_num_threads(1)
            _TORCH.append(torch)
    return _TORCH[0] is not None


def _torch():
    if not available():
        raise ImportError("torch is not importable: the PyTorch peers need it")
    return _TORCH[0]


def check_dtype(dtype):
    """The peer's dtype: torch.float32 or torch.float64 (None means float64, the exact peer)."""
    torch = _torch()
    if dtype is None:
        return torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def torch_dtype(name):
    """torch.float32 or torch.float64 from its name."""
    if name not in ("float32", "float64"):
        raise ValueError(f"name: expected 'float32' or 'float64', got {name!r}")
    return getattr(_torch(), name)


def dtype_name(dtype):
    """'float32' or 'float64', the key the report files results under."""
    return str(check_dtype(dtype)).replace("torch.", "")


# ---------------------------------------------------------------- parameters and the MLP
def to_torch(tree, leaves, dtype):
    """The params pytree as torch leaves of ``dtype`` (appended to ``leaves`` for the optimizer).

    A dense layer's W is stored (n_out, n_in), torch's layout, so ``F.linear`` applies it.
    """
    torch = _torch()
    if isinstance(tree, dict):
        return {k: to_torch(v.T if k == "W" else v, leaves, dtype) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [to_torch(v, leaves, dtype) for v in tree]
    leaf = torch.tensor(onp.array(tree, dtype=onp.float64), dtype=dtype, requires_grad=True)
    leaves.append(leaf)
    return leaf


def _masks(mlp, dtype):
    """An MLP's binary masks in torch's (n_out, n_in) layout (None if unmasked), of the weights'
    dtype: a float64 mask times a float32 weight would quietly promote the peer to float64."""
    torch = _torch()
    return None if mlp.masks is None else [torch.tensor(m.T.copy(), dtype=dtype) for m in mlp.masks]


def _mlp(layers, h, masks=None):
    """h_l = relu(h_{l-1} W_l^T + b_l), last layer linear; masked weights W_l * M_l (MADE)."""
    F = _torch().nn.functional
    for i, layer in enumerate(layers):
        W = layer["W"] if masks is None else layer["W"] * masks[i]
        h = F.linear(h, W, layer["b"])
        if i < len(layers) - 1:
            h = F.relu(h)
    return h


def _normal_log_pdf(x, mu, sigma):
    """sum_d log N(x_d; mu_d, sigma_d^2) over the last axis."""
    return (-0.5 * ((x - mu) / sigma) ** 2 - sigma.log() - 0.5 * LOG_2PI).sum(-1)


def _std_normal_log_pdf(z):
    return -0.5 * (z ** 2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


class _Peer:
    """Shared part: dtype, weights, numpy wrappers, the Adam stepper.
    Subclasses write log_prob / sample / loss."""

    def __init__(self, params, dtype):
        self.dtype = check_dtype(dtype)
        self.leaves = []
        self.params = to_torch(params, self.leaves, self.dtype)

    def randn(self, *shape):
        """Standard normal noise of the peer's dtype, from torch's global generator."""
        return _torch().randn(*shape, dtype=self.dtype)

    def tensor(self, x):
        """A numpy array as a tensor of the peer's dtype."""
        return _torch().from_numpy(onp.ascontiguousarray(x, dtype=onp.float64)).to(self.dtype)

    def loss(self, x):
        return -self.log_prob(x).mean()

    def stepper(self, x_train, lr, batch_size=256, seed=0):
        """run(m): m Adam steps on minibatches drawn uniformly from x_train."""
        torch = _torch()
        opt = torch.optim.Adam(self.leaves, lr=lr)
        xt = self.tensor(x_train)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # the VAE's eps and the samplers draw from torch's global generator

        def run(m):
            for _ in range(m):
                loss = self.loss(xt[torch.randint(0, len(xt), (batch_size,), generator=gen)])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return run

    def log_prob_np(self, x, **kwargs):
        torch = _torch()
        with torch.no_grad():
            return self.log_prob(self.tensor(x), **kwargs).numpy()

    def sample_np(self, n):
        with _torch().no_grad():
            return self.sample(n).numpy()


# ---------------------------------------------------------------- MADE (Gaussian)
class MADEPeer(_Peer):
    """Gaussian MADE: one masked pass gives mu_d, sigma_d = softplus(rho_d) for every d."""

    def __init__(self, model, params, dtype=None):
        if model.likelihood != "gaussian" or model.n_masks != 1 or model.direct or model.context_dim:
            raise ValueError("model: the MADE peer covers one mask set, Gaussian, no direct path, no context")
        super().__init__(params, dtype)
        self.dim, self.order, self.masks = model.dim, model.order, _masks(model.net, self.dtype)

    def _mu_sigma(self, x):
        out = _mlp(self.params["net"], x, self.masks)  # columns: mu_1..mu_D, rho_1..rho_D
        return out[:, :self.dim], _torch().nn.functional.softplus(out[:, self.dim:])

    def log_prob(self, x):
        mu, sigma = self._mu_sigma(x)
        return _normal_log_pdf(x, mu, sigma)

    def sample(self, n):
        torch = _torch()
        x = torch.zeros(n, self.dim, dtype=self.dtype)
        for d in self.order:  # ancestral: D passes, position by position
            mu, sigma = self._mu_sigma(x)
            x[:, d] = mu[:, d] + sigma[:, d] * self.randn(n)
        return x


# ---------------------------------------------------------------- flow layers
def rq_spline(x, w, h, d, bound, inverse=False):
    """Monotonic rational-quadratic spline on [-B, B], identity outside, as tinygen's ``rq_spline``:
    bins w_k = min + (1 - K min) softmax(u)_k of 2B, interior knot slopes min + softplus(u),
    boundary slopes 1. Returns (y, log|dy/dx|), both shaped like x."""
    torch = _torch()
    F = torch.nn.functional
    K = w.shape[-1]

    def knots(u, min_size):
        s = min_size + (1 - K * min_size) * torch.softmax(u, dim=-1)
        inner = -bound + 2 * bound * torch.cumsum(s, dim=-1)[..., :-1]
        edge = torch.full_like(inner[..., :1], bound)
        return torch.cat([-edge, inner, edge], dim=-1)

    xk, yk = knots(w, MIN_BIN_WIDTH), knots(h, MIN_BIN_HEIGHT)
    inner_d = MIN_DERIVATIVE + F.softplus(d)
    one = torch.ones_like(inner_d[..., :1])
    delta = torch.cat([one, inner_d, one], dim=-1)

    inside = (x > -bound) & (x < bound)
    v = x.clamp(-bound, bound)  # the spline branch sees a safe input; the tails are the identity
    search = yk if inverse else xk
    k = (v[..., None] >= search[..., 1:-1]).sum(-1, keepdim=True)  # bin index 0..K-1

    def at(t, shift=0):
        return t.gather(-1, k + shift).squeeze(-1)

    x0, x1, y0, y1, d0, d1 = at(xk), at(xk, 1), at(yk), at(yk, 1), at(delta), at(delta, 1)
    w_k, h_k = x1 - x0, y1 - y0
    s = h_k / w_k
    curv = d1 + d0 - 2 * s
    if inverse:  # solve a xi^2 + b xi + c = 0 for xi in [0, 1]
        dy = v - y0
        a = h_k * (s - d0) + dy * curv
        b = h_k * d0 - dy * curv
        c = -s * dy
        xi = (2 * c / (-b - (b * b - 4 * a * c).clamp_min(0).sqrt())).clamp(0, 1)
        out = x0 + xi * w_k
    else:
        xi = (v - x0) / w_k
        out = y0 + h_k * (s * xi ** 2 + d0 * xi * (1 - xi)) / (s + curv * xi * (1 - xi))
    t = xi * (1 - xi)
    log_df = 2 * s.log() + (d1 * xi ** 2 + 2 * s * t + d0 * (1 - xi) ** 2).log() - 2 * (s + curv * t).log()
    log_d = -log_df if inverse else log_df
    return torch.where(inside, out, x), torch.where(inside, log_d, torch.zeros_like(log_d))


class _Layer:
    """The structure of one tinygen flow layer, and its two directions in torch."""

    def __init__(self, layer, dtype):
        torch = _torch()
        self.kind = type(layer)
        if isinstance(layer, Permutation):
            self.perm, self.inv_perm = torch.tensor(layer.perm), torch.tensor(layer.inv_perm)
        elif isinstance(layer, (MAFLayer, IAFLayer)):
            self.dim, self.s_max, self.masks = layer.dim, layer.s_max, _masks(layer.made.net, dtype)
        elif isinstance(layer, (AffineCoupling, SplineCoupling)):
            if layer.context_dim:
                raise ValueError("layer: the coupling peers take no context")
            self.cond, self.trans = torch.tensor(layer.idx_cond), torch.tensor(layer.idx_trans)
            self.unsplit, self.n_theta = torch.tensor(layer.unsplit), layer.n_theta
            self.s_max = getattr(layer, "s_max", None)
            self.bins, self.bound = getattr(layer, "bins", None), getattr(layer, "bound", None)
        else:
            raise TypeError(f"layer: no torch peer for {type(layer).__name__}")

    def apply(self, p, u, context, inverse):
        """(v, log|det dv/du|): the forward map f_k (inverse=False) or g_k."""
        torch = _torch()
        if self.kind is Permutation:
            return u[:, self.inv_perm if inverse else self.perm], torch.zeros(u.shape[0], dtype=u.dtype)
        if self.kind in (MAFLayer, IAFLayer):
            return self._autoregressive(p, u, context, inverse)
        return self._coupling(p, u, inverse)

    def _autoregressive(self, p, u, context, inverse):
        """MAF reads x (one pass for g, D passes for f); IAF reads z (one pass for f, D for g)."""
        sign = -1.0 if inverse else 1.0

        def step(source):
            h = source if context is None else _torch().cat([source, context], dim=1)
            out = _mlp(p["net"], h, self.masks)  # columns: mu_1..mu_D, a_1..a_D
            mu, alpha = out[:, :self.dim], self.s_max * (out[:, self.dim:] / self.s_max).tanh()
            v = u * alpha.exp() + mu if sign > 0 else (u - mu) * (-alpha).exp()
            return v, sign * alpha.sum(1)

        if (self.kind is MAFLayer) == inverse:  # the conditioner reads this direction's input
            return step(u)
        v = _torch().zeros_like(u)
        for _ in range(self.dim):  # after pass t, positions 1..t are exact
            v, log_det = step(v)
        return v, log_det

    def _coupling(self, p, u, inverse):
        u_cond, u_trans = u[:, self.cond], u[:, self.trans]
        theta = _mlp(p["conditioner"], u_cond).reshape(u.shape[0], len(self.trans), self.n_theta)
        if self.kind is AffineCoupling:
            alpha = self.s_max * (theta[..., 0] / self.s_max).tanh()  # soft clamp
            mu = theta[..., 1]
            v, log_d = ((u_trans - mu) * (-alpha).exp(), -alpha) if inverse else (u_trans * alpha.exp() + mu, alpha)
        else:
            K = self.bins
            v, log_d = rq_spline(u_trans, theta[..., :K], theta[..., K:2 * K], theta[..., 2 * K:],
                                 self.bound, inverse)
        return _torch().cat([u_cond, v], dim=1)[:, self.unsplit], log_d.sum(1)


def flow_forward(layers, params, z, context=None):
    """x = f_K o ... o f_1(z) and log|det df/dz|."""
    log_det = 0.0
    for layer, p in zip(layers, params):
        z, ld = layer.apply(p, z, context, inverse=False)
        log_det = log_det + ld
    return z, log_det


def flow_inverse(layers, params, x, context=None):
    """z = g_1 o ... o g_K(x) and log|det dg/dx|."""
    log_det = 0.0
    for layer, p in zip(reversed(layers), reversed(params)):
        x, ld = layer.apply(p, x, context, inverse=True)
        log_det = log_det + ld
    return x, log_det


class FlowPeer(_Peer):
    """A flow density model: log p_x(x) = log N(g(x); 0, I) + log|det dg/dx|; x = f(z), z ~ N(0, I)."""

    def __init__(self, model, params, dtype=None):
        super().__init__(params, dtype)
        self.dim = model.dim
        self.layers = [_Layer(layer, self.dtype) for layer in model.flow.layers]

    def forward(self, z):
        return flow_forward(self.layers, self.params, z)

    def log_prob(self, x):
        z, log_det = flow_inverse(self.layers, self.params, x)
        return _std_normal_log_pdf(z) + log_det

    def sample(self, n):
        return self.forward(self.randn(n, self.dim))[0]


# ---------------------------------------------------------------- VAE
class VAEPeer(_Peer):
    """Gaussian VAE: h = relu(trunk(x)), (mu, rho) = head(h), sigma = softplus(rho), decoder mean
    m(z), global scale s = softplus(rho_x); optional IAF posterior reading h as context."""

    def __init__(self, model, params, dtype=None):
        if model.likelihood != "gaussian" or model.decoder_scale != "learned" or model.trunk is None:
            raise ValueError("model: the VAE peer covers a Gaussian decoder with a learned scale and hidden layers")
        if model.posterior == "planar":
            raise ValueError("model: no torch peer for the planar posterior")
        super().__init__(params, dtype)
        self.z_dim = model.z_dim
        self.layers = None if model.flow is None else [_Layer(layer, self.dtype) for layer in model.flow.layers]

    def _posterior(self, x, eps):
        """z = mu + eps sigma (then the IAF), and log q(z | x); eps (S, n, z_dim)."""
        F = _torch().nn.functional
        enc = self.params["encoder"]
        h = F.relu(_mlp(enc["trunk"], x))
        out = F.linear(h, enc["head"]["W"], enc["head"]["b"])
        mu, sigma = out[:, :self.z_dim], F.softplus(out[:, self.z_dim:])
        z = mu + eps * sigma
        log_q = _normal_log_pdf(z, mu, sigma)
        if self.layers is not None:  # log q_K(z_K) = log q_0(z_0) - sum_k log|det df_k/dz_{k-1}|
            S, n = eps.shape[:2]
            zK, log_det = flow_forward(self.layers, self.params["flow"], z.reshape(S * n, self.z_dim),
                                       h.repeat(S, 1))
            z, log_q = zK.reshape(S, n, self.z_dim), log_q - log_det.reshape(S, n)
        return z, log_q, mu, sigma

    def _log_px_given_z(self, x, z):
        F = _torch().nn.functional
        return _normal_log_pdf(x, _mlp(self.params["decoder"], z), F.softplus(self.params["rho_x"]))

    def elbo(self, x, eps):
        """Per-sample ELBO = E_q[log p(x|z)] - KL(q || p): closed-form KL for the Gaussian q,
        Monte Carlo E_q[log q - log p(z)] with the IAF."""
        z, log_q, mu, sigma = self._posterior(x, eps)
        reconstruction = -self._log_px_given_z(x, z).mean(0)
        if self.layers is None:
            complexity = (0.5 * (sigma ** 2 + mu ** 2 - 1) - sigma.log()).sum(-1)
        else:
            complexity = (log_q - _std_normal_log_pdf(z)).mean(0)
        return -reconstruction - complexity

    def loss(self, x):
        return -self.elbo(x, self.randn(1, x.shape[0], self.z_dim)).mean()

    def log_prob(self, x, k=1):
        """Importance-sampled log p(x) ~ log (1/K) sum_k p(x, z_k) / q(z_k | x)."""
        torch = _torch()
        z, log_q, _, _ = self._posterior(x, self.randn(k, x.shape[0], self.z_dim))
        log_w = self._log_px_given_z(x, z) + _std_normal_log_pdf(z) - log_q
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    def sample(self, n):
        F = _torch().nn.functional
        loc = _mlp(self.params["decoder"], self.randn(n, self.z_dim))
        return loc + F.softplus(self.params["rho_x"]) * _torch().randn_like(loc)


# ---------------------------------------------------------------- factory and checks
def make_peer(model, params, dtype=None):
    """The torch peer of a tinygen MADE, flow model or VAE, with ``params`` copied in at ``dtype``
    (torch.float32 or torch.float64; None is float64)."""
    for cls, peer in ((MADE, MADEPeer), (FlowModel, FlowPeer), (VAE, VAEPeer)):
        if isinstance(model, cls):
            return peer(model, params, dtype)
    raise TypeError(f"model: no torch peer for {type(model).__name__}")


def max_rel_diff(model, params, x=None, seed=0, dtype=None):
    """max |a - b| / max(1, |a|) between tinygen (a) and the torch peer at ``dtype`` (b) over a few
    points: log p(x) for MADE and flows; for a VAE the per-sample ELBO with the same eps (tinygen's
    ``elbo`` draws eps first from its rng). Relative, because random weights can give |log p| ~ 1e6.
    The float64 peer (the default) agrees to rounding, ~1e-14; the float32 one to ~1e-6."""
    from tinygen import data

    torch = _torch()
    x = data.two_moons(256, rng=seed + 7) if x is None else x
    peer = make_peer(model, params, dtype)
    with torch.no_grad():
        if isinstance(model, VAE):
            ours = onp.asarray(model.elbo(params, x, rng=seed)["elbo"])
            eps = peer.tensor(onp.random.default_rng(seed).standard_normal((1, len(x), model.z_dim)))
            theirs = peer.elbo(peer.tensor(x), eps).numpy()
        else:
            ours, theirs = onp.asarray(model.log_prob(params, x)), peer.log_prob_np(x)
    if theirs.dtype != onp.dtype(dtype_name(dtype)):
        raise AssertionError(f"the {dtype_name(dtype)} peer computed in {theirs.dtype}")
    return float(onp.max(onp.abs(ours - theirs) / onp.maximum(1.0, onp.abs(ours))))


def _perturbed(params, rng, scale=0.1):
    """Every leaf plus noise: the zero-started last layers no longer make identity layers."""
    if isinstance(params, dict):
        return {k: _perturbed(v, rng, scale) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [_perturbed(v, rng, scale) for v in params]
    return params + scale * rng.standard_normal(onp.shape(params))


def models():
    """The benchmarked architectures, by family name: each recipe's model (tinygen.recipes)."""
    from tinygen.recipes import LECTURE_RECIPES, RECIPES

    return {name: RECIPES[name].build() for name in LECTURE_RECIPES}


def main():
    if not available():
        print("torch is not importable: nothing to check")
        return
    torch = _torch()
    rng = onp.random.default_rng(0)
    # points inside the moons, and spread wide enough (x 3) to reach the spline tails beyond +-4
    x = onp.concatenate([onp.random.default_rng(1).standard_normal((200, 2)) * 3, rng.normal(0, 1, (200, 2))])
    for name, model in models().items():
        params = _perturbed(model.init(0), rng)
        for dtype in (torch.float64, torch.float32):
            line = (f"{name:8s} {dtype_name(dtype)} log p: max relative difference "
                    f"{max_rel_diff(model, params, x, dtype=dtype):.1e}")
            if isinstance(model, FlowModel):  # the sampling map x = f(z) too
                z = rng.standard_normal((400, 2)) * 2
                peer = make_peer(model, params, dtype)
                with torch.no_grad():
                    xt, ldt = peer.forward(peer.tensor(z))
                xs, lds = model.forward(params, z)
                line += (f"; f(z): max |difference| {onp.max(onp.abs(xs - xt.numpy())):.1e}, "
                         f"log|det df/dz|: {onp.max(onp.abs(lds - ldt.numpy())):.1e}")
            if name.startswith("vae"):
                line = line.replace("log p:", "ELBO: ")
            print(line)


if __name__ == "__main__":
    main()
