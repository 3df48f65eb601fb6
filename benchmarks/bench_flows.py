"""Benchmark: RealNVP-8 and a Neural Spline Flow on two moons (quality and speed).

Both: MLP conditioners 2 x 64 (ReLU), batch 256, Adam with a cosine-decayed learning
rate (RealNVP 3e-3, spline 1e-3: the best of the rates tried), 5000 steps, two moons
noise 0.05 (20000 training and 20000 test points, benchmarks/common.py).
Prints test NLL +- SE, the gap to the exact entropy and the paired KL(p || p_theta)
(targets: RealNVP <= 0.10 nats, spline flow <= 0.04 nats) and the median steps/s.
If torch is importable, the same architectures (benchmarks/peers.py, trained weights
copied in) are timed against tinygen in turns and the speed ratios printed.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_flows.py [--steps 5000]
"""
import argparse
import time

import common
import peers
import tinygen
from tinygen import data, evaluate
from tinygen.flows import NeuralSplineFlow, RealNVP

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x_train, x_test, H = common.split(args.seed)
print(f"two moons noise {common.NOISE}, {args.steps} steps, batch 256, Adam with cosine decay; H = {H:.4f} nats")

for name, model, lr, target in [
    ("RealNVP-8", RealNVP(2, n_layers=8, hidden=(64, 64)), 3e-3, 0.10),
    ("NeuralSplineFlow-4 (8 bins)", NeuralSplineFlow(2, n_layers=4, hidden=(64, 64), bins=8), 1e-3, 0.04),
]:
    stamps = []
    params, hist = tinygen.fit(model, model.init(args.seed), x_train, steps=args.steps, batch_size=256, lr=lr,
                               rng=args.seed, log_every=max(1, args.steps // 5), lr_schedule="cosine",
                               callback=lambda step, p, loss: stamps.append(time.perf_counter()))
    nll, nll_se = evaluate.nll_stats(model.log_prob(params, x_test))
    gap = evaluate.gap_to_entropy(nll, H)
    kl, kl_se = evaluate.kl_to_truth(lambda x: model.log_prob(params, x),
                                     lambda x: data.two_moons_log_prob(x, noise=common.NOISE), x_test)
    rate = common.median_rate(stamps, min(250, max(1, args.steps // 4)))
    print(f"{name}: test NLL {nll:.4f} +- {nll_se:.4f}, gap {gap:.4f} nats (paired KL {kl:.4f} +- {kl_se:.4f}; "
          f"target <= {target}: {'met' if gap <= target else f'NOT met, by {gap - target:.3f}'}); "
          f"{rate:.1f} steps/s (median)", flush=True)
    if peers.available():
        ours, theirs = common.alternating_rates(
            [common.tinygen_stepper(model, params, x_train, lr, seed=args.seed),
             peers.make_peer(model, params).stepper(x_train, lr, seed=args.seed)])
        print(f"{name} timed in turns: tinygen {ours:.1f} steps/s, PyTorch (same architecture, CPU, 1 thread) "
              f"{theirs:.1f} steps/s; tinygen / PyTorch speed = {ours / theirs:.2f}", flush=True)
    else:
        print("torch not importable: no PyTorch comparison")
