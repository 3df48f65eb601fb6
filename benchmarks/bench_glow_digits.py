"""Measure (never asserted): a multi-scale Glow on the 8 x 8 digits with uniform dequantization.

Prints the time of one training step (loss and gradient, batch 64, median of --repeats)
and, after --steps Adam steps on the 1,197 training digits, the test bits per dimension:
an upper bound, -E_u[log p((x + u)/K)] + D log K over D log 2, estimated with
--n-samples draws of u per test image (mean and standard error over the 300 test images).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_glow_digits.py [--steps 300]
"""
import argparse
import time

import autograd
import numpy as onp

from tinygen import data, evaluate, fit
from tinygen.dequantize import Dequantized, bits_per_dim
from tinygen.flows import Glow
from tinygen.nn import count_params

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--steps-per-level", type=int, default=4)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--repeats", type=int, default=7)
parser.add_argument("--n-samples", type=int, default=10)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

K, D = data.images.DIGITS8_LEVELS, 64
train, valid, test = (p.reshape(len(p), D) for p in data.digits8_split())
glow = Glow((1, 8, 8), levels=2, steps_per_level=args.steps_per_level, hidden_channels=(args.hidden, args.hidden))
model = Dequantized(glow, K)
params = model.init(args.seed, x=train)
print(f"Glow levels=2 steps_per_level={args.steps_per_level} hidden=({args.hidden}, {args.hidden}): "
      f"{count_params(params)} params")

grad = autograd.value_and_grad(model.loss)
batch = train[:64]
times = []
for r in range(args.repeats):
    t0 = time.perf_counter()
    grad(params, batch, r)
    times.append(time.perf_counter() - t0)
print(f"one training step (loss + gradient, batch 64): median {onp.median(times) * 1e3:.0f} ms "
      f"over {args.repeats} (min {min(times) * 1e3:.0f} ms)")

before, _ = evaluate.test_nll(model, params, test, rng=1, n_samples=args.n_samples)
t0 = time.perf_counter()
params, history = fit(model, params, train, steps=args.steps, batch_size=64, lr=args.lr, rng=args.seed,
                      progress=False)
seconds = time.perf_counter() - t0
nll, se = evaluate.test_nll(model, params, test, rng=1, n_samples=args.n_samples)
print(f"test bits/dim at init (after data init): {bits_per_dim(before, D):.3f}")
print(f"test bits/dim after {args.steps} steps ({seconds:.0f} s): {bits_per_dim(nll, D):.3f} "
      f"+- {bits_per_dim(se, D):.3f} (bound; uniform dequantization, {args.n_samples} draws of u per image)")
