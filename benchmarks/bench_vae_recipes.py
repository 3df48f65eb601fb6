"""Benchmark: the two VAE recipes (Gaussian and IAF posterior) seed by seed, the current ones and the previous ones.

Each recipe of tinygen.recipes (RECIPES["vae"], RECIPES["vae_iaf"]) is trained on
``recipes.two_moons_split(s)`` from ``model.init(s)`` with fit's rng s, for s in --seeds, and
scored as the demos score it (``recipes.score``): the test NLL is the importance-sampled
bound with K = recipes.IWAE_K on the 5000 test points, its gap to the exact entropy H(p)
estimates KL(p || p_theta). Both posteriors are scored on the same points, so the
difference of their gaps has a paired standard error, much smaller than either one's.
The recipes used before (2000 constant-lr steps) are trained too, for comparison, on the
current model code: there the IAF stack starts as the identity, so q_K starts as q_0.

Writes benchmarks/REPORT_vae_recipes.md (a generated file: command, date, machine).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_vae_recipes.py [--seeds 0,1,2,3,4] [--no-previous]
"""
import argparse
import os
import shlex
import sys

import numpy as onp

import common
from tinygen import evaluate
from tinygen.recipes import IWAE_K, RECIPES, Recipe, two_moons_split
from tinygen.vae import VAE

# The recipes before they moved to 5000 cosine-decayed steps (kept here only to be compared with)
PREVIOUS = {
    "vae": Recipe("VAE (Gaussian q), 2000 steps", lambda: VAE(2, 2, hidden=(64, 64)), 2000, 5e-3, "constant"),
    "vae_iaf": Recipe("VAE (IAF-2 q), 2000 steps",
                      lambda: VAE(2, 2, hidden=(64, 64), posterior="iaf", n_layers=2), 2000, 3e-3, "constant"),
}
HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", default="0,1,2,3,4")
parser.add_argument("--no-previous", action="store_true", help="train only the current recipes")
parser.add_argument("--out", default=os.path.join(HERE, "REPORT_vae_recipes.md"))


def run(recipe, seed):
    """Train ``recipe`` at ``seed``; per-point test log p (the recipes' IWAE bound) and the median steps/s."""
    (x_train, x_test, H) = two_moons_split(seed)
    model, params, rate = common.train(recipe, x_train, rng=seed)
    # the same draws as recipes.score(model, params, x_test, H, seed): one call, rng = seed, K = IWAE_K
    log_p = onp.asarray(model.log_prob(params, x_test, rng=seed, k=IWAE_K))
    nll, se = evaluate.nll_stats(log_p)
    return {"log_p": log_p, "gap": evaluate.gap_to_entropy(nll, H), "se": se, "rate": rate}


def paired(iaf, gauss):
    """(gap_IAF - gap_Gaussian, its paired standard error) from the two models' log p on the same points."""
    return evaluate.nll_stats(iaf["log_p"] - gauss["log_p"])  # mean of log p_G - log p_IAF


def table(sets, seeds, results):
    """Markdown: per seed, each set's two gaps and their paired difference; then the mean and worst."""
    header = (["seed"] + [f"{name}, {s}" for s in sets for name in ("Gaussian q", "IAF q")]
              + [f"IAF − Gaussian, {s}" for s in sets])
    rows = []
    for seed in seeds:
        row = [seed]
        for s in sets:
            row += [f"{results[s, k, seed]['gap']:.3f} ± {results[s, k, seed]['se']:.3f}" for k in ("vae", "vae_iaf")]
        for s in sets:
            d, d_se = paired(results[s, "vae_iaf", seed], results[s, "vae", seed])
            row.append(f"{d:+.3f} ± {d_se:.3f}")
        rows.append(row)
    for stat, fn in (("mean", onp.mean), ("worst", onp.max)):
        row = [stat]
        for s in sets:
            row += [f"{fn([results[s, k, seed]['gap'] for seed in seeds]):.3f}" for k in ("vae", "vae_iaf")]
        row += [f"{fn([paired(results[s, 'vae_iaf', seed], results[s, 'vae', seed])[0] for seed in seeds]):+.3f}"
                for s in sets]
        rows.append(row)
    return common.markdown_table(header, rows)


def describe(recipe):
    return f"{recipe.steps} steps, lr {recipe.lr:g} ({recipe.schedule}), batch {recipe.batch_size}"


if __name__ == "__main__":
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    RECIPE_SETS = {"current": {k: RECIPES[k] for k in ("vae", "vae_iaf")}}
    if not args.no_previous:
        RECIPE_SETS["previous"] = PREVIOUS
    results = {}
    print(f"{'recipes':<9} {'posterior':<9} {'seed':>4} {'gap':>7} {'se':>6} {'steps/s':>8}")
    for s, recipes_ in RECIPE_SETS.items():
        for seed in seeds:
            for key, recipe in recipes_.items():
                r = results[s, key, seed] = run(recipe, seed)
                print(f"{s:<9} {key:<9} {seed:>4} {r['gap']:>7.3f} {r['se']:>6.3f} {r['rate']:>8.1f}", flush=True)

    sets = list(RECIPE_SETS)
    rates = common.markdown_table(
        ["recipes", "model", "recipe", "steps/s (median over seeds)"],
        [[s, RECIPE_SETS[s][k].label, describe(RECIPE_SETS[s][k]),
          f"{onp.median([results[s, k, seed]['rate'] for seed in seeds]):.0f}"]
         for s in sets for k in ("vae", "vae_iaf")])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = "OMP_NUM_THREADS=1 python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_vae_recipes.py"]
                                                      + sys.argv[1:])
    text = f"""# The VAE recipes: Gaussian against IAF posterior, seed by seed

Written by `benchmarks/bench_vae_recipes.py` (`{command}`; {common.machine()};
load average {load:.1f} at the end: the steps/s are medians over windows of 250 steps, slowed by
whatever else ran).

Gap = test NLL − H(p) in nats (H the exact entropy of two moons, noise 0.05), the NLL being the
importance-sampled bound with K = {IWAE_K} (`recipes.score`), ± its standard error over the
5000 test points of `recipes.two_moons_split(seed)`. Seed s: that split, `model.init(s)` and
fit's rng s, the same for both posteriors: the IAF stack starts as the identity, so the IAF VAE
starts as the Gaussian one of the same seed. "IAF − Gaussian" is the difference of the two gaps on
the same test points, ± its paired standard error: negative means the IAF posterior is better.
"previous" are the recipes before this comparison (2000 steps at a constant rate), trained
on the same code.

## Gaps by seed

{table(sets, seeds, results)}

## The recipes and their speed

{rates}
"""
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")
