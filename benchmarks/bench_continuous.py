"""The continuous-time families against the exact density: flow matching, the CNF, diffusion, seeds 0-4.

Each recipe of tinygen.recipes (RECIPES["flow_matching"], RECIPES["cnf"], RECIPES["diffusion"])
is trained exactly as the tour trains it at ``--seed s``: the data ``two_moons_split(s)``,
init seed s, fit's rng s. Each is scored as the tour scores it (``recipes.score``): the test NLL
of the model's exact log p (the ODE with the exact trace: dopri5 at the model's tolerances),
its standard error and the gap NLL - H(p), an estimate of KL(p || p_theta) >= 0. A diffusion
model is scored twice: by its probability-flow ODE likelihood, and by its variational bound
(``Diffusion.elbo``, one draw per term from rng s), whose own gap is larger; the difference of
the two on the same points (the bound's looseness) has a paired standard error.

Writes benchmarks/results_continuous.json (reruns of some seeds or families keep the others)
and benchmarks/REPORT_continuous.md, with the discrete flows' rows of the same split for
comparison, read from results_defaults.json (bench_defaults.py, its "own" recipes).

    OMP_NUM_THREADS=1 python benchmarks/bench_continuous.py [--seeds 0,1,2,3,4] [--jobs 2]
        [--families flow_matching,cnf,diffusion] [--quick] [--render]

--quick: a few steps on a small split, to check the script runs (nothing written).
--render: only rewrite the markdown from the JSON.
"""
import argparse
import datetime
import json
import multiprocessing
import os
import time

import common
import numpy as onp

from tinygen import evaluate, recipes
from tinygen.diffusion import Diffusion
from tinygen.nn import count_params

HERE = os.path.dirname(os.path.abspath(__file__))
JSON = os.path.join(HERE, "results_continuous.json")
REPORT = os.path.join(HERE, "REPORT_continuous.md")
DEFAULTS_JSON = os.path.join(HERE, "results_defaults.json")
FAMILIES = ("flow_matching", "cnf", "diffusion")
TARGETS = {"flow_matching": 0.05, "cnf": 0.05, "diffusion": 0.08}  # issue 21: gap to H on every seed, nats
DISCRETE = ("maf", "realnvp", "spline")  # the discrete flows' rows, from bench_defaults.py
QUICK = {"steps": 3, "n_train": 300, "n_test": 200}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", default="0,1,2,3,4")
parser.add_argument("--families", default=",".join(FAMILIES))
parser.add_argument("--jobs", type=int, default=2, help="training runs in parallel (one thread each)")
parser.add_argument("--quick", action="store_true", help=f"{QUICK}: a check that it runs; nothing written")
parser.add_argument("--render", action="store_true", help="only rewrite the markdown from the JSON")


def outcome(family, model, params, x_test, H, seed, seconds):
    """The tour's score of one trained model (``recipes.score``), its training seconds and its
    scoring seconds; for a diffusion model also its bound and the bound's looseness."""
    start = time.perf_counter()
    if isinstance(model, Diffusion):  # its log p once, for the score and the bound's looseness alike
        log_p = onp.asarray(model.log_prob(params, x_test))  # what recipes.score averages (test_nll, one batch)
        nll, se = evaluate.nll_stats(log_p)
        score = {"params": count_params(params), "nll": nll, "se": se, "gap": evaluate.gap_to_entropy(nll, H)}
    else:
        score = recipes.score(model, params, x_test, H, rng=seed)
    out = {"seed": seed, **score, "train_seconds": seconds}
    if isinstance(model, Diffusion):
        elbo = onp.asarray(model.elbo(params, x_test, rng=seed))
        nll, se = evaluate.nll_stats(elbo)
        looseness, looseness_se = evaluate.nll_stats(elbo - log_p)  # mean of log p - ELBO >= 0, paired
        out["bound"] = {"nll": nll, "se": se, "gap": evaluate.gap_to_entropy(nll, H),
                        "looseness": looseness, "looseness_se": looseness_se}
    out["score_seconds"] = time.perf_counter() - start
    print(f"{family:<14} seed {seed}: gap {out['gap']:.4f} ± {out['se']:.4f} "
          f"(train {out['train_seconds']:.0f} s, score {out['score_seconds']:.0f} s)", flush=True)
    return family, out


def shares_flow_matching_run():
    """Whether the CNF recipe starts from the flow-matching recipe's own run (then one job trains both)."""
    return recipes.RECIPES["cnf"].warm_start is recipes.RECIPES["flow_matching"]


def run_one(job):
    """(family, seed, quick) -> [(family, outcome), ...]: train the recipe and score it as the tour does.

    The CNF's recipe starts from a flow-matching run (``warm_start``): its job trains that run once
    and fine-tunes it from there (``start=``, the same params the CNF recipe would train first), so
    its seconds are both stages'. When that run is the flow-matching recipe itself, it is also
    scored as the "flow_matching" row.
    """
    family, seed, quick = job
    sizes = QUICK if quick else {"steps": None, "n_train": recipes.N_TRAIN, "n_test": recipes.N_TEST}
    x_train, x_test, H = recipes.two_moons_split(seed, sizes["n_train"], sizes["n_test"])
    done, start, warm = [], None, 0.0
    if family == "cnf":
        stage = recipes.RECIPES["cnf"].warm_start
        t0 = time.perf_counter()
        model, start, _ = stage.train(x_train, rng=seed, steps=sizes["steps"], progress=False)
        warm = time.perf_counter() - t0
        if shares_flow_matching_run():
            done.append(outcome("flow_matching", model, start, x_test, H, seed, warm))
    t0 = time.perf_counter()
    model, params, _ = recipes.RECIPES[family].train(x_train, rng=seed, steps=sizes["steps"], start=start,
                                                     progress=False)
    done.append(outcome(family, model, params, x_test, H, seed, warm + time.perf_counter() - t0))
    return done


def mean_se(values):
    """Mean over seeds and its standard error, sd / sqrt(n) (ddof = 1)."""
    v = onp.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / onp.sqrt(len(v))) if len(v) > 1 else float("nan")


def row(label, runs, seeds, key="gap", se_key="se", target=None):
    """One table row: the label, "gap ± se" per seed, the mean ± its SE over seeds, the target."""
    cells = [f"{runs[s][key]:.3f} ± {runs[s][se_key]:.3f}" if s in runs else "—" for s in seeds]
    values = [runs[s][key] for s in seeds if s in runs]
    mean, se = mean_se(values)
    worst = max(runs[s][key] for s in seeds if s in runs)
    met = "—" if target is None else ("met" if worst <= target else f"not met (worst {worst:.3f})")
    spread = f"{mean:.3f} ± {se:.3f}" if len(values) > 1 else f"{mean:.3f} (one seed)"
    return [label, *cells, spread, "—" if target is None else f"≤ {target}", met]


def render(results):
    """REPORT_continuous.md from the results (and the discrete flows' rows of results_defaults.json)."""
    runs = results.get("runs", {})
    seeds = sorted({s for f in FAMILIES for s in results.get(f, {})}, key=int)
    header = ["model", *[f"seed {s}" for s in seeds], "mean ± SE over seeds", "target", "every seed"]
    rows, cost = [], []
    for family in FAMILIES:
        done = results.get(family, {})
        if not done:
            continue
        label = recipes.RECIPES[family].label
        if family == "diffusion":
            rows.append(row(f"{label}, ODE log p (exact)", done, seeds, target=TARGETS[family]))
            bound = {s: r["bound"] for s, r in done.items()}
            rows.append(row(f"{label}, its bound (-ELBO)", bound, seeds))
            rows.append(row(f"{label}, log p - ELBO (paired)", bound, seeds, "looseness", "looseness_se"))
        else:
            rows.append(row(f"{label} (exact log p)", done, seeds, target=TARGETS[family]))
        cost.append([label, *[f"{done[s]['train_seconds']:.0f} + {done[s]['score_seconds']:.0f}" if s in done
                              else "—" for s in seeds]])
    if os.path.isfile(DEFAULTS_JSON):
        with open(DEFAULTS_JSON) as f:
            own = json.load(f).get("own", {})
        for family in DISCRETE:
            if own.get(family):
                rows.append(row(f"{recipes.RECIPES[family].label} (discrete, exact log p)", own[family], seeds))
    lines = [
        "# The continuous-time families against the exact density",
        "",
        "Generated by `benchmarks/bench_continuous.py` from `results_continuous.json`; do not edit by hand.",
        "",
        ("Two moons (noise 0.05), the tour's split `two_moons_split(s)` (20,000 train, 5,000 test points), "
        "each recipe of `tinygen.recipes` trained from init seed s. Gap = test NLL - H(p) in nats, "
        "an estimate of KL(p || p_theta) (± the test set's standard error; a gap can be slightly "
        "negative by chance). Exact log p: the ODE solved by dopri5 with the exact trace. "
        "The diffusion model's bound is a lower bound on its log p, so its gap is an upper bound "
        "on its KL; `log p - ELBO` is the bound's looseness on the same points. The discrete flows' "
        "rows are the same split and seeds (`bench_defaults.py`, `results_defaults.json`, measured on the "
         "machine named there)."),
        "",
        common.markdown_table(header, rows),
        "",
        ("Seconds per seed, training + scoring (one thread per run, `--jobs` runs at a time, on a machine "
        "shared with other jobs, so several times slower than on an idle core). The CNF's training seconds include its "
        "flow-matching stage; a diffusion model's scoring computes both its ODE log p and its bound:"),
        "",
        common.markdown_table(["model", *[f"seed {s}" for s in seeds]], cost),
        "",
        "Recipes: " + "; ".join(f"`{f}`: {describe(recipes.RECIPES[f])}" for f in FAMILIES) + ".",
        "",
    ]
    for family in FAMILIES:
        if family in runs:
            r = runs[family]
            lines.append(f"- {family}: `{r['command']}`, last run written {r['date']} "
                         f"({r['minutes']:.0f} min into it); {r['machine']}")
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"written {REPORT}")


def describe(recipe):
    """The recipe in a few words: its steps, lr and batch, and its warm start's."""
    text = f"{recipe.steps} steps, lr {recipe.lr:g} ({recipe.schedule}), batch {recipe.batch_size}"
    if recipe.warm_start is not None:
        text += f", started from {recipe.warm_start.label}: {describe(recipe.warm_start)}"
    return text


def main():
    args = parser.parse_args()
    results = {}
    if os.path.isfile(JSON):
        with open(JSON) as f:
            results = json.load(f)
    if args.render:
        return render(results)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"--families: unknown {unknown}; choose from {list(FAMILIES)}")
    if "cnf" in families and "flow_matching" in families and shares_flow_matching_run():  # one job for both
        families.remove("flow_matching")
    jobs = [(f, int(s), args.quick) for s in args.seeds.split(",") for f in families]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for pairs in pool.imap_unordered(run_one, jobs, chunksize=1):
            if args.quick:
                continue
            # each finished run is written at once: a long benchmark stopped early keeps what it measured
            for family, out in pairs:
                results.setdefault(family, {})[str(out["seed"])] = out
                results.setdefault("runs", {})[family] = {  # how these figures were last measured
                    "command": common.command("benchmarks/bench_continuous.py"),
                    "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": common.machine(date=False), "minutes": (time.perf_counter() - start) / 60}
            common.write_json(results, JSON)
            render(results)
    print("a quick run: nothing written" if args.quick else f"written {JSON} and {REPORT}")

if __name__ == "__main__":
    main()
