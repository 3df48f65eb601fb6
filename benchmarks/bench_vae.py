"""Benchmark: a VAE on two moons (z 2-D, MLP 64x64), quality and speed.

Quality: importance-sampled test NLL (K = 500) and its gap to the exact entropy
of the two-moons density (target <= 1.0 nats), for the Gaussian posterior and
a flow posterior. Speed: median steps/s over 10 timed blocks of 50 training steps (and the
rate over the whole training run);
if PyTorch is importable, the same architecture and loss timed in PyTorch in
the same run, with the ratio.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_vae.py [--steps 5000]
"""
import argparse
import time

import numpy as onp

from tinygen import data, evaluate, fit
from tinygen.vae import VAE

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--k", type=int, default=500)
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--lr", type=float, default=5e-3)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--flows", default="gaussian,iaf,planar")
args = parser.parse_args()

noise = 0.05
x_train = data.two_moons(20000, noise=noise, rng=args.seed)
x_test = data.two_moons(2000, noise=noise, rng=args.seed + 1)
H = data.two_moons_entropy(noise)


def tinygen_stepper(vae, params):
    """run(m): m more training steps with tinygen.fit (timed with its per-call setup)."""
    state = {"params": params, "rng": onp.random.default_rng(0)}

    def run(m):
        state["params"] = fit(vae, state["params"], x_train, steps=m, batch_size=args.batch, lr=args.lr,
                              rng=state["rng"], progress=False)[0]
    return run


def torch_stepper():
    """The same Gaussian VAE (2-64-64-4 encoder, 2-64-64-2 decoder, learned global scale) in PyTorch."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)

    def mlp(n_in, n_out):
        return torch.nn.Sequential(torch.nn.Linear(n_in, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                   torch.nn.ReLU(), torch.nn.Linear(64, n_out)).double()

    enc, dec = mlp(2, 4), mlp(2, 2)
    rho_x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()) + [rho_x], lr=args.lr)
    xt = torch.tensor(x_train)

    def run(m):
        for _ in range(m):
            xb = xt[torch.randint(0, len(xt), (args.batch,))]
            out = enc(xb)
            mu, sigma = out[:, :2], torch.nn.functional.softplus(out[:, 2:])
            z = mu + sigma * torch.randn_like(mu)
            q = torch.distributions.Normal(dec(z), torch.nn.functional.softplus(rho_x))
            kl = 0.5 * (sigma ** 2 + mu ** 2 - 1 - 2 * torch.log(sigma)).sum(1)
            loss = (-q.log_prob(xb).sum(1) + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return run


def median_steps_per_s(runs, blocks=10, block=50):
    """Median steps/s of each stepper over ``blocks`` timed blocks, the steppers taking
    turns block by block so that they see the same load on a shared machine."""
    rates = [[] for _ in runs]
    for _ in range(blocks):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run(block)
            rates[i].append(block / (time.perf_counter() - start))
    return [float(onp.median(r)) for r in rates]


print(f"two moons (noise {noise}), exact entropy H = {H:.3f} nats; {args.steps} steps, batch {args.batch}, lr {args.lr}, "
      f"test NLL by IWAE with K = {args.k}")
print(f"{'posterior':<10} {'test NLL':>16} {'-ELBO':>8} {'gap':>7} {'steps/s':>8} {'all steps/s':>12}")
for name in args.flows.split(","):
    vae = VAE(2, 2, hidden=(64, 64), posterior=None if name == "gaussian" else name, n_flows=2)
    params = vae.init(args.seed)
    rate = median_steps_per_s([tinygen_stepper(vae, params)])[0]
    params, history = fit(vae, params, x_train, steps=args.steps, batch_size=args.batch, lr=args.lr,
                          rng=args.seed, progress=False)
    nll, se = evaluate.test_nll(vae, params, x_test, rng=args.seed + 2, k=args.k)
    neg_elbo = -float(onp.mean(vae.elbo(params, x_test, args.seed + 3)["elbo"]))
    gap = evaluate.gap_to_entropy(nll, H)
    print(f"{name:<10} {nll:>8.3f} +- {se:.3f} {neg_elbo:>8.3f} {gap:>7.3f} {rate:>8.1f} "
          f"{history['steps_per_s']:>12.1f}", flush=True)

try:
    import torch  # noqa: F401
except ImportError:
    print("torch: not importable here, no PyTorch comparison")
else:
    vae = VAE(2, 2, hidden=(64, 64))
    ours, theirs = median_steps_per_s([tinygen_stepper(vae, vae.init(args.seed)), torch_stepper()])
    print(f"Gaussian VAE, timed in turns: tinygen {ours:.1f} steps/s, torch (float64, 1 thread) {theirs:.1f} "
          f"steps/s; tinygen / torch = {ours / theirs:.2f}")
