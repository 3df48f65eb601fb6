"""Benchmark: MAF-5 on two moons and MADE on 4x4 bars-and-stripes (quality and speed).

MAF-5 (hidden (64, 64)), two moons noise 0.05, 5000 Adam steps (lr 1e-3, batch 256):
    test NLL +- SE, gap to the exact entropy (target <= 0.08 nats), median steps/s.
    If torch is importable, the same architecture (same MADE masks, same reversals) is
    trained for a few hundred steps in PyTorch in this run and the speed ratio printed.
MADE (Bernoulli, hidden (128, 128)) on 4x4 bars-and-stripes:
    test NLL vs the exact entropy log 30 (target: within 0.05 nats).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_maf.py [--steps 5000]
"""
import argparse
import time

import numpy as onp

import tinygen
from tinygen import data, evaluate
from tinygen.arm import MADE
from tinygen.flows import MAF

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--made-steps", type=int, default=5000)
parser.add_argument("--torch-steps", type=int, default=500)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()


def median_rate(times):
    """Median steps/s from per-step wall times (robust to a busy shared machine)."""
    return 1.0 / float(onp.median(onp.diff(times)))


# ---------------------------------------------------------------- MAF-5 on two moons
noise, n_layers, hidden = 0.05, 5, (64, 64)
x_train = data.two_moons(20000, noise=noise, rng=args.seed)
x_test = data.two_moons(10000, noise=noise, rng=args.seed + 1)
maf = MAF(2, n_layers=n_layers, hidden=hidden, seed=args.seed)
stamps = []
params, hist = tinygen.fit(maf, maf.init(args.seed), x_train, steps=args.steps, batch_size=256, lr=1e-3,
                           rng=args.seed, log_every=max(1, args.steps // 5),
                           callback=lambda step, p, loss: stamps.append(time.perf_counter()))
log_p = maf.log_prob(params, x_test)
nll, nll_se = evaluate.nll_stats(log_p)
H = data.two_moons_entropy(noise)
gap = evaluate.gap_to_entropy(nll, H)
kl, kl_se = evaluate.kl_to_truth(lambda x: maf.log_prob(params, x),
                                 lambda x: data.two_moons_log_prob(x, noise=noise), x_test)
rate = median_rate(stamps)
print(f"MAF-{n_layers} two moons: test NLL {nll:.4f} +- {nll_se:.4f} (entropy {H:.4f}), "
      f"gap {gap:.4f} nats (paired KL {kl:.4f} +- {kl_se:.4f}; "
      f"target <= 0.08: {'met' if kl <= 0.08 else 'NOT met'})")
print(f"MAF-{n_layers} tinygen: {rate:.1f} steps/s (median), {hist['steps_per_s']:.1f} steps/s (mean)")


def torch_rate():
    """Steps/s of the same MAF in PyTorch: same masks, reversals, soft clamp, Adam, batch 256."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    layers = [layer for layer in maf.flow.layers if hasattr(layer, "made")]

    class TorchMADE(torch.nn.Module):
        def __init__(self, made):
            super().__init__()
            self.masks = [torch.tensor(m.T) for m in made.masks]  # torch stores (out, in)
            self.lins = torch.nn.ModuleList(torch.nn.Linear(m.shape[1], m.shape[0]) for m in self.masks)

        def forward(self, x):
            for i, (lin, m) in enumerate(zip(self.lins, self.masks)):
                x = torch.nn.functional.linear(x, lin.weight * m, lin.bias)
                if i < len(self.lins) - 1:
                    x = torch.relu(x)
            return x

    nets = torch.nn.ModuleList(TorchMADE(layer.made) for layer in layers).double()
    s_max = layers[0].s_max

    def log_prob(x):
        log_det = torch.zeros(x.shape[0], dtype=x.dtype)
        for k in reversed(range(len(nets))):
            out = nets[k](x).reshape(-1, 2, 2)
            mu, alpha = out[:, 0], s_max * torch.tanh(out[:, 1] / s_max)
            x = (x - mu) * torch.exp(-alpha)
            log_det = log_det - alpha.sum(1)
            if k > 0:
                x = x.flip(1)  # the reversal between layers
        return -0.5 * (x ** 2).sum(1) - onp.log(2 * onp.pi) + log_det

    opt = torch.optim.Adam(nets.parameters(), lr=1e-3)
    xt = torch.tensor(x_train)
    rng = onp.random.default_rng(args.seed)
    times = []
    for _ in range(args.torch_steps):
        idx = torch.tensor(rng.integers(len(x_train), size=256))
        loss = -log_prob(xt[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter())
    return median_rate(times)


try:
    import torch  # noqa: F401
except ImportError:
    print("torch not importable: no PyTorch comparison")
else:
    t_rate = torch_rate()
    print(f"MAF-{n_layers} PyTorch (same architecture, CPU, 1 thread): {t_rate:.1f} steps/s (median); "
          f"tinygen / PyTorch speed = {rate / t_rate:.2f}")

# ---------------------------------------------------------------- MADE on bars and stripes
size = 4
b_train = data.bars_and_stripes(5000, size=size, rng=args.seed).reshape(-1, size * size)
b_test = data.bars_and_stripes(10000, size=size, rng=args.seed + 1).reshape(-1, size * size)
made = MADE(size * size, hidden=(128, 128), likelihood="bernoulli", seed=args.seed)
stamps = []
p16, _ = tinygen.fit(made, made.init(args.seed), b_train, steps=args.made_steps, batch_size=256, lr=1e-3,
                     rng=args.seed, log_every=max(1, args.made_steps // 5),
                     callback=lambda step, p, loss: stamps.append(time.perf_counter()))
nll16, se16 = evaluate.nll_stats(made.log_prob(p16, b_test))
H16 = data.bars_and_stripes_entropy(size)
print(f"MADE 4x4 bars-and-stripes: test NLL {nll16:.4f} +- {se16:.4f} vs log 30 = {H16:.4f}, "
      f"gap {evaluate.gap_to_entropy(nll16, H16):.4f} nats "
      f"(target within 0.05: {'met' if abs(nll16 - H16) <= 0.05 else 'NOT met'}); "
      f"{median_rate(stamps):.1f} steps/s")
