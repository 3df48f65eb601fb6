"""Benchmark: MAF-5 on two moons and MADE on 4x4 bars-and-stripes (quality and speed).

MAF-5 (hidden (64, 64)) on two moons noise 0.05, trained by its recipe (tinygen.recipes; --steps
    overrides the count): test NLL +- SE, gap to the exact entropy (target <= 0.08 nats), median steps/s.
    If torch is importable, the same architecture (benchmarks/peers.py: same MADE masks,
    same reversals, the trained weights copied in; float32 and float64) is timed against
    tinygen in turns and the speed ratios printed.
MADE (Bernoulli, hidden (128, 128)) on 4x4 bars-and-stripes:
    test NLL vs the exact entropy log 30 (target: within 0.05 nats).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_maf.py [--steps N] [--made-steps 5000]
"""
import argparse
import time

import common
import tinygen
from tinygen import data, evaluate
from tinygen.arm import MADE
from tinygen.recipes import RECIPES

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=None, help="MAF training steps (default: the recipe's)")
parser.add_argument("--made-steps", type=int, default=5000)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# ---------------------------------------------------------------- MAF-5 on two moons
recipe = RECIPES["maf"]
x_train, x_test, H = common.split(args.seed)
maf, params, rate = common.train(recipe, x_train, args.steps, rng=args.seed)
r = common.score(maf.log_prob(params, x_test), x_test, H)
print(f"{recipe.label} two moons: test NLL {r['nll']:.4f} +- {r['se']:.4f} (entropy {H:.4f}), "
      f"gap {r['gap']:.4f} nats (paired KL {r['kl']:.4f} +- {r['kl_se']:.4f}; "
      f"target <= 0.08: {'met' if r['kl'] <= 0.08 else 'NOT met'})")
print(f"{recipe.label} tinygen: {rate:.1f} steps/s (median)")

print(f"{recipe.label} {common.versus_torch(maf, params, x_train, recipe.lr, recipe.batch_size, seed=args.seed)}")

# ---------------------------------------------------------------- MADE on bars and stripes
size = 4
b_train = data.bars_and_stripes(5000, size=size, rng=args.seed).reshape(-1, size * size)
b_test = data.bars_and_stripes(10000, size=size, rng=args.seed + 1).reshape(-1, size * size)
made = MADE(size * size, hidden=(128, 128), likelihood="bernoulli", rng=args.seed)
stamps = []
p16, _ = tinygen.fit(made, made.init(args.seed), b_train, steps=args.made_steps, batch_size=256, lr=1e-3,
                     rng=args.seed, log_every=max(1, args.made_steps // 5),
                     callback=lambda step, p, loss: stamps.append(time.perf_counter()))
nll16, se16 = evaluate.nll_stats(made.log_prob(p16, b_test))
H16 = data.bars_and_stripes_entropy(size)
print(f"MADE 4x4 bars-and-stripes: test NLL {nll16:.4f} +- {se16:.4f} vs log 30 = {H16:.4f}, "
      f"gap {evaluate.gap_to_entropy(nll16, H16):.4f} nats "
      f"(target within 0.05: {'met' if abs(nll16 - H16) <= 0.05 else 'NOT met'}); "
      f"{common.median_rate(stamps, min(250, max(1, args.made_steps // 4))):.1f} steps/s")
