"""Benchmark: a VAE on two moons (z 2-D, MLP 64x64), quality and speed.

Quality: importance-sampled test NLL (K = 500) and its gap to the exact entropy
of the two-moons density (target <= 1.0 nats), for the Gaussian posterior and
flow posteriors. Speed: median steps/s over timed blocks of training steps;
if PyTorch is importable, the same architecture and loss (benchmarks/peers.py,
float32 and float64) timed against tinygen in turns, block by block, with the ratios.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_vae.py [--steps 5000]
"""
import argparse

import numpy as onp

import common
from tinygen import evaluate, fit
from tinygen.vae import VAE

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--k", type=int, default=500)
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--lr", type=float, default=5e-3)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--test", type=int, default=2000, help="test points scored with K samples each")
parser.add_argument("--flows", default="gaussian,iaf,planar")
args = parser.parse_args()

x_train, x_test, H = common.split(args.seed, n_test=args.test)

print(f"two moons (noise {common.NOISE}), exact entropy H = {H:.3f} nats; {args.steps} steps, batch {args.batch}, "
      f"lr {args.lr}, test NLL by IWAE with K = {args.k} on {args.test} points")
print(f"{'posterior':<10} {'test NLL':>16} {'-ELBO':>8} {'gap':>7} {'steps/s':>8} {'all steps/s':>12}")
for name in args.flows.split(","):
    vae = VAE(2, 2, hidden=(64, 64), posterior=None if name == "gaussian" else name, n_layers=2)
    params = vae.init(args.seed)
    rate = common.alternating_rates([common.tinygen_stepper(vae, params, x_train, args.lr, args.batch)],
                                    blocks=10, block=50)[0]
    params, history = fit(vae, params, x_train, steps=args.steps, batch_size=args.batch, lr=args.lr,
                          rng=args.seed, progress=False)
    nll, se = evaluate.test_nll(vae, params, x_test, rng=args.seed + 2, k=args.k)
    neg_elbo = -float(onp.mean(vae.elbo(params, x_test, args.seed + 3)["elbo"]))
    gap = evaluate.gap_to_entropy(nll, H)
    print(f"{name:<10} {nll:>8.3f} +- {se:.3f} {neg_elbo:>8.3f} {gap:>7.3f} {rate:>8.1f} "
          f"{history['steps_per_s']:>12.1f}", flush=True)

vae = VAE(2, 2, hidden=(64, 64))
print(f"Gaussian VAE "
      f"{common.versus_torch(vae, vae.init(args.seed), x_train, args.lr, args.batch, blocks=10, block=50)}")
