"""PyTorch peers of the continuous-time models, for timing: ContinuousFlow and Diffusion.

Each peer computes the same functions as its tinygen model, with the weights copied
from the tinygen params (``peers.to_torch``): the same MLP (sizes, activation), the
same time input (t as a column for the CNF; sin/cos features of t for the noise
network), the same exact trace (D reverse passes, ``torch.autograd.grad`` with the
one-hot e_d), the same times and directions. The ODE is torchdiffeq's ``odeint``:
"dopri5" with the same rtol/atol, "rk4" on the same grid of equal steps. torchdiffeq's
"rk4" is Kutta's 3/8 rule (4 field calls per step, like the classical rule, so the
same cost, but not the same numbers); ``classic_rk4`` below is the classical rule that
tinygen uses, for checking agreement to rounding.

    peer = CNFPeer(model, params, torch.float32)
    peer.log_prob(x, method="rk4", steps=20)      # tensors in and out
    run = peer.stepper(x_train, lr)               # run(m): m Adam steps, as peers.py
"""
import math

import numpy as onp
import torch
from torchdiffeq import odeint

from peers import _Peer, _std_normal_log_pdf
from tinygen.diffusion import time_features
from tinygen.ode import RK4_STEPS

torch.set_num_threads(1)


def softplus(a):
    """max(a, 0) + log1p(exp(-|a|)), the formula tinygen's softplus uses (torch's switches to a at a > 20)."""
    return torch.clamp(a, min=0) + torch.log1p(torch.exp(-a.abs()))


ACTIVATIONS = {"tanh": torch.tanh, "softplus": softplus}


def mlp(layers, h, act):
    """h_l = act(h_{l-1} W_l^T + b_l), the last layer linear (tinygen's nn.MLP)."""
    for i, layer in enumerate(layers):
        h = torch.nn.functional.linear(h, layer["W"], layer["b"])
        if i < len(layers) - 1:
            h = act(h)
    return h


def classic_rk4(func, y0, t0, t1, steps):
    """The classical Runge-Kutta rule on a tuple state, ``steps`` equal steps (tinygen.ode's _rk4)."""
    h = (t1 - t0) / steps
    y = y0
    for i in range(steps):
        s = t0 + i * h
        k1 = func(s, y)
        k2 = func(s + h / 2, tuple(a + h / 2 * b for a, b in zip(y, k1)))
        k3 = func(s + h / 2, tuple(a + h / 2 * b for a, b in zip(y, k2)))
        k4 = func(s + h, tuple(a + h * b for a, b in zip(y, k3)))
        y = tuple(a + h * (p + 2 * q + 2 * r + w) / 6 for a, p, q, r, w in zip(y, k1, k2, k3, k4))
    return y


def solve(func, y0, t0, t1, method, steps=None, rtol=1e-6, atol=1e-6, classic=False):
    """y(t1) for dy/dt = func(t, y), y0 a tuple of tensors: torchdiffeq, or ``classic_rk4``."""
    if classic:
        return classic_rk4(lambda s, y: func(torch.tensor(s, dtype=y0[0].dtype), y), y0, t0, t1, steps)
    t = torch.tensor([t0, t1], dtype=y0[0].dtype)
    options = None
    if method == "rk4":  # the same grid as tinygen: steps + 1 equally spaced times, ends included
        options = {"grid_constructor": lambda f, y, tt: torch.linspace(tt[0], tt[-1], steps + 1, dtype=tt.dtype)}
    return tuple(part[-1] for part in odeint(func, y0, t, method=method, rtol=rtol, atol=atol, options=options))


def log_density(field, create_graph):
    """The right-hand side of (z, log p): (f(t, z), -tr(df/dz)) with the exact trace, D reverse passes."""
    def dynamics(t, state):
        z = state[0]
        with torch.enable_grad():
            if not z.requires_grad:  # data at the first call, or an untraced solve
                z = z.detach().requires_grad_(True)
            v = field(t, z)
            trace = sum(torch.autograd.grad(v[:, d].sum(), z, create_graph=create_graph, retain_graph=True)[0][:, d]
                        for d in range(z.shape[1]))
        if not create_graph:
            v, trace = v.detach(), trace.detach()
        return v, -trace  # d log p / dt = -tr(df/dz)
    return dynamics


class Counted:
    """A field that counts its calls (the number of function evaluations, NFE)."""

    def __init__(self, field):
        self.field, self.calls = field, 0

    def __call__(self, *args):
        self.calls += 1
        return self.field(*args)


class CNFPeer(_Peer):
    """tinygen.flows.ContinuousFlow: v(t, x) = MLP([x, t]), t = 0 the base, t = 1 the data."""

    def __init__(self, model, params, dtype=None):
        super().__init__(params, dtype)
        self.model, self.layers = model, self.params["velocity"]
        self.act = ACTIVATIONS[model.activation]

    def velocity(self, t, x):
        return mlp(self.layers, torch.cat([x, t * torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1), self.act)

    def _solver(self, method, steps):
        method = method or self.model.method
        steps = steps or self.model.steps or RK4_STEPS
        return {"method": method, "steps": steps if method == "rk4" else None,
                "rtol": self.model.rtol, "atol": self.model.atol}

    def flow_map(self, z, method=None, steps=None, classic=False):
        """x = z(1), the ODE from t = 0 to 1."""
        return solve(lambda t, y: (self.velocity(t, y[0]),), (z,), 0.0, 1.0, classic=classic,
                     **self._solver(method, steps))[0]

    def sample(self, n, method=None, steps=None):
        return self.flow_map(self.randn(n, self.model.dim), method, steps)

    def log_prob(self, x, method=None, steps=None, classic=False, create_graph=False, field=None):
        """log N(z(0); 0, I) - Delta, with (z, Delta) solved from t = 1 (z = x, Delta = 0) to t = 0."""
        dynamics = log_density(field or self.velocity, create_graph)
        z, delta = solve(dynamics, (x, torch.zeros(x.shape[0], dtype=x.dtype)), 1.0, 0.0, classic=classic,
                         **self._solver(method, steps))
        return _std_normal_log_pdf(z) - delta

    def loss(self, x):
        if self.model.objective == "likelihood":  # the NLL through train_steps RK4 steps, differentiated
            return -self.log_prob(x, "rk4", self.model.train_steps, create_graph=True).mean()
        z = self.randn(*x.shape)  # conditional flow matching, linear paths
        t = torch.rand(x.shape[0], 1, dtype=x.dtype)
        x_t = (1 - t) * z + t * x
        return ((mlp(self.layers, torch.cat([x_t, t], dim=1), self.act) - (x - z)) ** 2).sum(1).mean()


class DiffusionPeer(_Peer):
    """tinygen.diffusion.Diffusion: eps_theta(x_t, t) = MLP([x_t, features(t)]), t = 0 the data."""

    def __init__(self, model, params, dtype=None):
        super().__init__(params, dtype)
        self.model, self.layers, self.T = model, self.params["eps"], model.T
        self.act = ACTIVATIONS[model.activation]
        s = model.schedule
        self.sqrt_alpha_bar, self.sigma = self.tensor(onp.sqrt(s.alpha_bar)), self.tensor(s.sigma)

    def epsilon(self, t, x):
        """t: a numpy array of n (real) times; the features are computed as tinygen does."""
        return mlp(self.layers, torch.cat([x, self.tensor(time_features(t, self.T))], dim=1), self.act)

    def loss(self, x):
        n = x.shape[0]
        t = torch.randint(1, self.T + 1, (n,))
        eps = self.randn(n, self.model.dim)
        x_t = self.sqrt_alpha_bar[t][:, None] * x + self.sigma[t][:, None] * eps  # x_t ~ q(x_t | x_0)
        return ((eps - self.epsilon(t.numpy().astype(float), x_t)) ** 2).sum(1).mean()

    def sample(self, n, noise=None):
        """Ancestral: x_{t-1} = mu_theta(x_t, t) + sigma_t z; ``noise(shape)`` defaults to randn."""
        noise = noise or (lambda shape: self.randn(*shape))
        s, x = self.model.schedule, noise((n, self.model.dim))
        for t in range(self.T, 0, -1):
            eps = self.epsilon(onp.full(n, float(t)), x)
            mean = (x - s.beta[t] / s.sigma[t] * eps) / math.sqrt(s.alpha[t])
            x = mean + math.sqrt(s.beta_tilde[t] if t > 1 else s.beta[1]) * noise((n, self.model.dim))
        return x

    def velocity(self, phi, x):
        """dx/dphi = (eps_theta(x, t(phi)) - sin(phi) x) / cos(phi)."""
        phi = float(phi)
        t = onp.full(x.shape[0], self.model.schedule.t_at(phi))
        return (self.epsilon(t, x) - math.sin(phi) * x) / math.cos(phi)

    def log_prob(self, x, method="dopri5", steps=None, rtol=1e-5, atol=1e-5, classic=False, field=None):
        """log N(x_T; 0, I) - Delta along the probability-flow ODE from phi = 0 to phi_T."""
        dynamics = log_density(field or self.velocity, create_graph=False)
        x_T, delta = solve(dynamics, (x, torch.zeros(x.shape[0], dtype=x.dtype)), 0.0,
                           float(self.model.schedule.phi[-1]), method, steps, rtol, atol, classic)
        return _std_normal_log_pdf(x_T) - delta
