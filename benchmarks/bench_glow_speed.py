"""Measure (never asserted): one Glow training step in tinygen against the same model in PyTorch.

A training step is the loss on a batch of 64 digits and its gradient with respect to every
parameter. The loss is the uniformly dequantized negative log-likelihood,

    loss = -(1/n) sum_i [log p(y_i) - D log K],   y = (x + u) / K,   u ~ U[0, 1)^D,

with the same u for both libraries. The PyTorch peer is built here by walking tinygen's
Glow (its Compose tree: squeeze, ActNorm, 1 x 1 convolution, convolutional coupling,
factor-out, the kept half) and copying every weight, so it has the same layers and the
same parameter count; in float64 its loss agrees with tinygen's to round-off (printed).
Timings: one thread, the three steppers interleaved (tinygen, torch float32, torch float64
in turn, --repeats rounds), medians of wall time and of this process's CPU time (the
latter is steadier on a shared machine); both ratios come from the same run. Then cProfile of
the tinygen step: where the time goes, by function.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_glow_speed.py [--repeats 15] [--quick]
"""
import argparse
import cProfile
import io
import math
import pstats
import time

import autograd
import autograd.numpy as anp
import numpy as onp
import torch

import tinygen.fast
from tinygen import data
from tinygen.dequantize import Dequantized
from tinygen.flows import Glow, OnKeptHalf
from tinygen.flows.base import Compose
from tinygen.flows.image import ChannelActNorm, ConvCoupling, InvConv1x1, Squeeze
from tinygen.nn import count_params

K, D, BATCH = data.images.DIGITS8_LEVELS, 64, 64


def conv_weight(layer, k, dtype):
    """tinygen's im2col kernel (k k C_in, C_out), row (r k + c) C_in + ch, as torch's (C_out, C_in, k, k)."""
    W = onp.asarray(layer["W"])
    c_in = W.shape[0] // (k * k)
    w = W.reshape(k, k, c_in, -1).transpose(3, 2, 0, 1)            # (C_out, C_in, r, c)
    return torch.tensor(onp.ascontiguousarray(w), dtype=dtype, requires_grad=True)


def leaf(a, dtype):
    return torch.tensor(onp.asarray(a), dtype=dtype, requires_grad=True)


def peer_inverse(layer, params, dtype, leaves):
    """g: x -> (z, log|det dg/dx|) in torch for one tinygen layer and its params; weights go to ``leaves``."""
    if isinstance(layer, Compose):
        steps = [peer_inverse(l, p, dtype, leaves) for l, p in zip(layer.layers, params)]

        def g(x):
            log_det = 0.0
            for step in reversed(steps):                          # x towards z: back to front
                x, ld = step(x)
                log_det = log_det + ld
            return x, log_det
        return g
    if isinstance(layer, OnKeptHalf):
        inner, d = peer_inverse(layer.inner, params, dtype, leaves), layer.inner.dim

        def g(x):
            z, ld = inner(x[:, :d])
            return torch.cat([z, x[:, d:]], dim=1), ld
        return g
    if isinstance(layer, Squeeze):
        perm = torch.as_tensor(layer.perm)
        return lambda x: (x[:, perm], 0.0)
    C, H, W = layer.shape
    if isinstance(layer, ChannelActNorm):
        s, t = leaf(params["s"], dtype), leaf(params["t"], dtype)
        leaves += [s, t]

        def g(x):
            h = (x.reshape(-1, C, H, W) - t[:, None, None]) * torch.exp(-s)[:, None, None]
            return h.reshape(x.shape[0], -1), -H * W * s.sum()
        return g
    if isinstance(layer, InvConv1x1):
        lin = layer.linear
        L_raw, U_raw, log_s, b = (leaf(params[k], dtype) for k in ("L", "U", "log_s", "b"))
        leaves += [L_raw, U_raw, log_s, b]
        P, lower, upper = (torch.tensor(a, dtype=dtype) for a in (lin.P, lin.lower, lin.upper))

        def g(x):
            Wm = P @ (L_raw * lower + torch.eye(C, dtype=dtype)) @ (U_raw * upper + torch.diag(torch.exp(log_s)))
            h = torch.einsum("dc,nchw->ndhw", torch.linalg.inv(Wm), x.reshape(-1, C, H, W) - b[:, None, None])
            return h.reshape(x.shape[0], -1), -H * W * log_s.sum()
        return g
    if isinstance(layer, ConvCoupling):                           # FactorOut is one too (no hidden layers)
        convs = [(conv_weight(p, k, dtype), leaf(p["b"], dtype), k) for p, k in zip(params["conv"], layer.kernels)]
        leaves += [t for w, b, _ in convs for t in (w, b)]
        half, s_max = C // 2, layer.s_max

        def g(x):
            h = x.reshape(-1, C, H, W)
            z_a, u = h[:, :half], h[:, half:]
            a = z_a
            for i, (w, b, k) in enumerate(convs):
                a = torch.nn.functional.conv2d(a, w, b, padding=k // 2)
                a = torch.relu(a) if i < len(convs) - 1 else a
            alpha, mu = s_max * torch.tanh(a[:, :half] / s_max), a[:, half:]
            out = torch.cat([z_a, (u - mu) * torch.exp(-alpha)], dim=1)
            return out.reshape(x.shape[0], -1), -alpha.reshape(x.shape[0], -1).sum(dim=1)
        return g
    raise TypeError(f"layer: no torch peer for {type(layer).__name__}")


def peer_loss(glow, params, dtype):
    """(loss(y), leaves): the torch peer's -(1/n) sum [log N(g(y); 0, I) + log|det dg/dy| - D log K]."""
    leaves = []
    g = peer_inverse(glow.flow, params, dtype, leaves)

    def loss(y):
        z, log_det = g(y)
        log_p = -0.5 * (z ** 2).sum(dim=1) - 0.5 * D * math.log(2 * math.pi) + log_det
        return -(log_p - D * math.log(K)).mean()
    return loss, leaves


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, a smoke test")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    torch.set_num_threads(1)
    train = data.digits8_split()[0].reshape(-1, D)
    glow = Glow((1, 8, 8), levels=2, steps_per_level=4, hidden_channels=(32, 32))
    model = Dequantized(glow, K)
    params = model.init(0, x=train)
    x = train[:BATCH]
    u = onp.random.default_rng(1).uniform(size=x.shape)
    y = (x + u) / K                                              # the same dequantized batch for everyone

    # tinygen: the loss of Dequantized on this u is -(1/n) sum [log p(y) - D log K]
    def tinygen_loss(p):
        return -anp.mean(glow.log_prob(p, y) - D * math.log(K))
    tinygen_step = autograd.value_and_grad(tinygen_loss)

    peers = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        loss, leaves = peer_loss(glow, params["model"], dtype)
        y_t = torch.tensor(y, dtype=dtype)

        def step(loss=loss, leaves=leaves, y_t=y_t):
            for t in leaves:
                t.grad = None
            value = loss(y_t)
            value.backward()
            return value.item()
        peers[name] = (step, leaves)
    n_torch = sum(t.numel() for t in peers["float64"][1])
    with tinygen.fast.installed():
        value, grads = tinygen_step(params["model"])
    # the gradients, compared without matching their layouts: the sum of squares of all of them
    norm2 = sum(float(onp.sum(onp.asarray(g) ** 2)) for g in tinygen.tree.leaves(grads))
    print(f"Glow (1, 8, 8), 2 levels x 4 steps, hidden (32, 32): {count_params(params['model'])} params in "
          f"tinygen, {n_torch} in the torch peer; batch {BATCH}, one thread")
    for name, (step, _) in peers.items():
        loss = step()
        peer_norm2 = sum(float((t.grad.double() ** 2).sum()) for t in peers[name][1])
        print(f"torch {name}: loss {loss:.12f} vs tinygen {value:.12f} (difference {abs(loss - value):.1e}); "
              f"|grad|^2 {peer_norm2:.10e} vs {norm2:.10e} (relative difference {abs(peer_norm2 / norm2 - 1):.1e})")

    # wall time, and this process's CPU time (on a loaded machine the wall time includes waiting for a core)
    times = {clock: {"tinygen": [], "float32": [], "float64": []} for clock in ("wall", "cpu")}
    steppers = [("tinygen", lambda: tinygen_step(params["model"]))] + [(k, v[0]) for k, v in peers.items()]
    with tinygen.fast.installed():
        for _ in range(repeats):                                 # interleaved: each round times all three
            for name, step in steppers:
                w0, c0 = time.perf_counter(), time.process_time()
                step()
                times["wall"][name].append(time.perf_counter() - w0)
                times["cpu"][name].append(time.process_time() - c0)
    for clock, by_name in times.items():
        med = {k: float(onp.median(v)) for k, v in by_name.items()}
        for k, v in med.items():
            print(f"{clock:>4} {k:>8}: median {v * 1e3:7.1f} ms per step over {repeats} "
                  f"(min {min(by_name[k]) * 1e3:.1f} ms)")
        print(f"{clock:>4}: tinygen / torch float32 = {med['tinygen'] / med['float32']:.2f}x, "
              f"tinygen / torch float64 = {med['tinygen'] / med['float64']:.2f}x")

    profile = cProfile.Profile()
    with tinygen.fast.installed():
        profile.enable()
        for _ in range(3):
            tinygen_step(params["model"])
        profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("cProfile of 3 tinygen steps, by own time:\n" + "\n".join(out.getvalue().splitlines()[6:]))
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumtime").print_stats("tinygen", 14)
    print("... and the tinygen functions by cumulative time:\n" + "\n".join(out.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()
