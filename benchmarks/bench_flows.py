"""Benchmark: RealNVP-8 and a Neural Spline Flow on two moons (quality and speed).

Both trained by their recipes (tinygen.recipes: MLP conditioners 2 x 64, Adam, the
recipe's steps, learning rate and schedule; --steps overrides the count) on two moons
noise 0.05 (20000 training and 20000 test points, benchmarks/common.py).
Prints test NLL +- SE, the gap to the exact entropy and the paired KL(p || p_theta)
(targets: RealNVP <= 0.10 nats, spline flow <= 0.04 nats) and the median steps/s.
If torch is importable, the same architectures (benchmarks/peers.py, trained weights
copied in; float32 and float64) are timed against tinygen in turns and the speed ratios printed.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_flows.py [--steps N]
"""
import argparse

import common
from tinygen.recipes import RECIPES

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=None, help="training steps (default: each recipe's)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x_train, x_test, H = common.split(args.seed)
print(f"two moons noise {common.NOISE}, H = {H:.4f} nats")

for name, target in (("realnvp", 0.10), ("spline", 0.04)):
    recipe = RECIPES[name]
    model, params, rate = common.train(recipe, x_train, args.steps, rng=args.seed)
    r = common.score(model.log_prob(params, x_test), x_test, H)
    met = "met" if r["gap"] <= target else f"NOT met, by {r['gap'] - target:.3f}"
    print(f"{recipe.label}: test NLL {r['nll']:.4f} +- {r['se']:.4f}, gap {r['gap']:.4f} nats "
          f"(paired KL {r['kl']:.4f} +- {r['kl_se']:.4f}; target <= {target}: {met}); "
          f"{rate:.1f} steps/s (median)", flush=True)
    print(f"{recipe.label} {common.versus_torch(model, params, x_train, recipe.lr, recipe.batch_size, seed=args.seed)}",
          flush=True)
