"""Benchmark: RealNVP-8 and a Neural Spline Flow on two moons (quality and speed).

Both: MLP conditioners 2 x 64 (ReLU), batch 256, Adam with a cosine-decayed learning
rate (RealNVP 3e-3, spline 1e-3: the best of the rates tried), 5000 steps, two moons
noise 0.05 (20000 training and 20000 test points, benchmarks/common.py).
Prints test NLL +- SE, the gap to the exact entropy and the paired KL(p || p_theta)
(targets: RealNVP <= 0.10 nats, spline flow <= 0.04 nats) and the median steps/s.
If torch is importable, the same architectures (benchmarks/peers.py, trained weights
copied in; float32 and float64) are timed against tinygen in turns and the speed ratios printed.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_flows.py [--steps 5000]
"""
import argparse

import common
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
    params, rate = common.train(model, x_train, args.steps, lr, seed=args.seed)
    r = common.score(model.log_prob(params, x_test), x_test, H)
    met = "met" if r["gap"] <= target else f"NOT met, by {r['gap'] - target:.3f}"
    print(f"{name}: test NLL {r['nll']:.4f} +- {r['se']:.4f}, gap {r['gap']:.4f} nats "
          f"(paired KL {r['kl']:.4f} +- {r['kl_se']:.4f}; target <= {target}: {met}); "
          f"{rate:.1f} steps/s (median)", flush=True)
    print(f"{name} {common.versus_torch(model, params, x_train, lr, seed=args.seed)}", flush=True)
