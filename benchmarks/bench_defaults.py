"""Do tinygen's defaults win? Every ready-made flow, seeds 0-4, under two recipes.

1. The peers' recipe: each flow built with its constructor's defaults and trained by
   ``tinygen.fit(model, model.init(s), x, steps=5000, batch_size=256, lr=1e-3, rng=100 + s)``,
   everything else at fit's defaults; 10,000 training and 5,000 test points
   (``peer_training.peers_recipe_data``). The PyTorch peers were measured with the
   same recipe (``benchmarks/peer_training.py``, results_peers.json).
   An ablation, "zero_bias": the same with every hidden bias set to 0 at init, the
   initialization tinygen used before (see ``nn.init_dense`` for why that loses).
2. tinygen's own recipe (``tinygen.recipes.RECIPES``), exactly as the tour prints
   it at ``--seed s``: the data ``two_moons_split(s)``, init seed s, fit's rng s.

For each run: the gap = test NLL - H(p) (H the exact entropy, so the gap estimates
KL(p || p_theta)), its standard error, and the bridge ratio
(``evaluate.moons_bridge_ratio``: about 6e-6 for the truth, near 1 while the moons
are joined). Writes benchmarks/results_defaults.json; benchmarks/report.py --render
puts the tables in REPORT.md.

    OMP_NUM_THREADS=1 python benchmarks/bench_defaults.py [--jobs 2] [--seeds 0,1,2,3,4]
        [--recipes peers,zero_bias,own] [--families realnvp,maf,spline] [--steps N (a quick run)]
"""
import argparse
import copy
import datetime
import json
import multiprocessing
import os
import shlex
import sys
import time

import common
from peer_training import networks, peers_recipe_data
from tinygen import evaluate, fit, recipes
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP
from tinygen.vae import VAE

HERE = os.path.dirname(os.path.abspath(__file__))
JSON = os.path.join(HERE, "results_defaults.json")
PEERS = {"realnvp": RealNVP, "maf": MAF, "spline": NeuralSplineFlow}  # the flows the peers were measured on
PEERS_RECIPE = {"steps": 5000, "batch_size": 256, "lr": 1e-3}
OWN = list(recipes.LECTURE_RECIPES)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", default="0,1,2,3,4")
parser.add_argument("--recipes", default="peers,zero_bias,own")
parser.add_argument("--families", default=None, help="default: realnvp,maf,spline (peers), every recipe (own)")
parser.add_argument("--steps", type=int, default=None, help="override every run's steps (a quick check)")
parser.add_argument("--jobs", type=int, default=2, help="training runs in parallel (one thread each)")


def _outcome(model, params, x_test, H, seed, seconds):
    """The tour's score (``recipes.score``: NLL, SE, gap) plus the bridge ratio and the run's seconds."""
    score = recipes.score(model, params, x_test, H, rng=seed)
    kwargs = {"k": recipes.IWAE_K} if isinstance(model, VAE) else {}  # the same log p the score used
    bridge = evaluate.moons_bridge_ratio(lambda z: model.log_prob(params, z, **kwargs), x_test)
    return {"seed": seed, "nll": score["nll"], "se": score["se"], "gap": score["gap"], "bridge": bridge,
            "seconds": seconds}


def zero_hidden_biases(params):
    """A copy of a params tree with the biases of every MLP's hidden layers set to 0 (output layers kept)."""
    params = copy.deepcopy(params)
    for net in networks(params):
        for layer in net[:-1]:
            layer["b"] = 0.0 * layer["b"]
    return params


def run_one(job):
    """One training run: ("peers" | "zero_bias" | "own", family, seed, steps or None) -> its outcome."""
    recipe, family, seed, steps = job
    start = time.perf_counter()
    if recipe in ("peers", "zero_bias"):
        x, x_test, H = peers_recipe_data()
        model = PEERS[family](2)
        kw = dict(PEERS_RECIPE, steps=steps or PEERS_RECIPE["steps"])
        params = model.init(seed)
        if recipe == "zero_bias":
            params = zero_hidden_biases(params)
        params, _ = fit(model, params, x, rng=100 + seed, progress=False, **kw)
    else:
        x, x_test, H = recipes.two_moons_split(seed)
        model, params, _ = recipes.RECIPES[family].train(x, rng=seed, steps=steps, progress=False)
    out = _outcome(model, params, x_test, H, seed, time.perf_counter() - start)
    print(f"{recipe:>9} {family:<8} seed {seed}: gap {out['gap']:.4f} ± {out['se']:.4f}, "
          f"bridge {out['bridge']:.1e} ({out['seconds']:.0f} s)", flush=True)
    return recipe, family, out


def main():
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = []
    for recipe in args.recipes.split(","):
        if recipe not in ("peers", "zero_bias", "own"):
            parser.error(f"--recipes: expected some of peers,zero_bias,own, got {recipe!r}")
        known = OWN if recipe == "own" else PEERS
        families = args.families.split(",") if args.families else list(known)
        jobs += [(recipe, f, s, args.steps) for f in families if f in known for s in seeds]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        done = pool.map(run_one, jobs, chunksize=1)
    results = {}
    if os.path.isfile(JSON) and args.steps is None:  # a rerun of some runs keeps the others
        with open(JSON) as f:
            results = json.load(f)
    for recipe, family, out in done:
        runs = results.setdefault(recipe, {}).setdefault(family, {})
        runs[str(out["seed"])] = out
    env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    run = {"command": env + " ".join(["python benchmarks/bench_defaults.py", *map(shlex.quote, sys.argv[1:])]),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": common.machine(date=False), "minutes": (time.perf_counter() - start) / 60}
    results["peers_recipe"] = PEERS_RECIPE
    for recipe, family in {(r, f) for r, f, _ in done}:
        results.setdefault("runs", {})[f"{recipe}/{family}"] = run  # how these figures were last measured
    drop_superseded(results)
    if args.steps is None:
        common.write_json(results, JSON)
        print(f"written to {JSON}; REPORT.md: python benchmarks/report.py --render")
    else:
        print("a quick run (--steps): nothing written")


def drop_superseded(results):
    """Forget a whole-recipe run record (key "own") once every family of that recipe has a record of
    its own ("own/vae", ...): it no longer describes any figure, and the provenance would list it."""
    runs = results.get("runs", {})
    for key in [k for k in runs if "/" not in k]:
        if all(f"{key}/{family}" in runs for family in results.get(key, {})):
            del runs[key]


if __name__ == "__main__":
    main()
