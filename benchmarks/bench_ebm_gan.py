"""Benchmark: the energy-based model and GAN recipes seed by seed, judged against the exact densities.

For s in --seeds, on ``recipes.two_moons_split(s)`` (and on 20,000 draws of eight Gaussians from s):

* EBM, RECIPES["ebm"] (maximum likelihood by persistent CD after DSM) and RECIPES["ebm_quadrature"]
  (the exact maximum-likelihood gradient, E_p[grad E] by quadrature): the test NLL with log Z by
  quadrature (exact up to its error estimate), its gap to H(p); then the model's own short-run
  sampler (``EBM.sample``: the recipe's Langevin chains from uniform noise) judged against the
  truth: its sample quality deficit -H(p) - E_samples[log p(x)] (0 for a perfect sampler), and
  ``check_sampler``'s total variation between its binned draws and the cells of p, and of p_theta.
* GAN, RECIPES["gan"] and a collapsing variant (COLLAPSED_GAN), on two moons and eight Gaussians:
  sample quality E_samples[log p(x)] beside -H(p), and ``coverage`` per arc / mode, with standard errors.
* Flow GAN, RECIPES["flow_gan"]: the same RealNVP trained adversarially and by maximum likelihood
  (fit, the same number of steps and learning rate), the exact test NLL of both, and the trained
  discriminator beside D*(x) = p(x) / (p(x) + q(x)) (``check_discriminator``, q the flow's density).

Writes benchmarks/results_ebm_gan.json and benchmarks/REPORT_ebm_gan.md (generated: command, date, machine).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_ebm_gan.py [--seeds 0,1,2,3,4] [--quick]
"""
import argparse
import json
import os
import sys
import time

import common
import numpy as onp
from report_tables import markdown_table

from tinygen import data, evaluate
from tinygen.gan import Discriminator, coverage, sample_quality
from tinygen.recipes import COLLAPSED_GAN, NOISE, RECIPES, two_moons_split
from tinygen.testing import check_discriminator, check_sampler

HERE = os.path.dirname(os.path.abspath(__file__))
N_SAMPLES = 5000   # draws judged per generator or sampler
EBM_TARGET = 0.10  # nats, the target for the EBM's gap

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seeds", default="0,1,2,3,4")
parser.add_argument("--quick", action="store_true", help="a few steps per recipe: checks the script, not the recipes")
parser.add_argument("--only", default="ebm,ebm_quadrature,gan,flow_gan", help="which parts to run")
parser.add_argument("--report-only", action="store_true", help="rewrite the markdown from the JSON, run nothing")
parser.add_argument("--json", default=os.path.join(HERE, "results_ebm_gan.json"))
parser.add_argument("--out", default=os.path.join(HERE, "REPORT_ebm_gan.md"))


def truth(v):
    """log p(x) of two moons, exact."""
    return data.two_moons_log_prob(v, NOISE)


def timed(recipe, x, seed, steps):
    start = time.perf_counter()
    model, params, history = recipe.train(x, rng=seed, steps=steps)
    return model, params, time.perf_counter() - start


def ebm_run(key, seed, steps):
    x, x_test, H = two_moons_split(seed)
    model, params, seconds = timed(RECIPES[key], x, seed, steps)
    log_z, error = model.log_z(params, return_error=True)
    nll, se = evaluate.nll_stats(onp.asarray(model.log_prob(params, x_test, log_z=log_z)))
    draws = model.sample(params, N_SAMPLES, seed + 100)  # the short-run sampler, from uniform noise
    quality, quality_se = sample_quality(draws, truth)

    def own(v):
        return onp.asarray(model.log_prob(params, v, log_z=log_z))
    judged = {name: check_sampler(lambda n, r: draws, log_p, model.box, n=N_SAMPLES).stats
              for name, log_p in (("truth", truth), ("model", own))}
    return {"gap": nll - H, "se": se, "log_z": log_z, "log_z_error": error,
            "sampler_deficit": -H - quality, "sampler_se": quality_se,
            "tv_truth": judged["truth"]["total_variation"], "tv_model": judged["model"]["total_variation"],
            "seconds": seconds}


def gan_run(recipe, target_name, seed, steps):
    if target_name == "two moons":
        target, x = data.moons(NOISE), two_moons_split(seed)[0]
    else:
        target = data.eight_gaussians()
        x = target.sample(20000, seed)
    model, params, seconds = timed(recipe, x, seed, steps)
    draws = model.sample(params["generator"] if not hasattr(model, "generator") else params, N_SAMPLES, seed + 100)
    quality, quality_se = sample_quality(draws, target.log_prob)
    cov = coverage(draws, target, rng=seed)
    return {"quality": quality, "quality_se": quality_se, "minus_entropy": -target.entropy(),
            "coverage": cov["coverage"], "coverage_se": cov["coverage_se"], "n_covered": cov["n_covered"],
            "n_components": len(cov["weight"]), "outside": cov["outside"], "seconds": seconds}


def flow_gan_run(seed, steps):
    x, x_test, H = two_moons_split(seed)
    recipe = RECIPES["flow_gan"]
    model, params, seconds = timed(recipe, x, seed, steps)
    ml = RECIPES["realnvp"]
    start = time.perf_counter()
    _, params_ml, _ = ml.train(x, rng=seed, steps=steps or recipe.steps, lr=recipe.lr, progress=False)
    seconds_ml = time.perf_counter() - start
    out = {"seconds": seconds, "seconds_ml": seconds_ml}
    for name, p in (("adversarial", params["generator"]), ("ml", params_ml)):
        nll, se = evaluate.nll_stats(onp.asarray(model.log_prob(p, x_test)))
        out[name] = {"nll": nll, "se": se, "gap": nll - H}
    d = Discriminator(2, hidden=recipe.disc_hidden)

    def flow(v):
        return onp.asarray(model.log_prob(params["generator"], v))
    report = check_discriminator(lambda v: d.logit(params["discriminator"], v), truth, flow,
                                 ((-2.0, 3.0), (-1.5, 2.0)), logit=True)
    out["d_error"], out["value_gap"] = report.rows[0].worst, report.rows[1].worst  # E_m|D - D*|, V(D*) - V(D)
    return out


def z_error(run):
    """The log Z error estimate |log Z - log Z'| as printed: when the two rules agree in every bit
    (a smooth energy), the error is below the rounding of log Z itself, one ulp, not zero."""
    if run["log_z_error"] > 0:
        return f"{run['log_z_error']:.1e}"
    return f"< {onp.spacing(abs(run['log_z'])):.0e} (rounding)" if "log_z" in run else "< rounding"


def mean_sd(values):
    v = onp.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"


def report(results, args):
    lines = ["# Energy-based models and GANs, judged against the exact density", "",
             "Generated by `benchmarks/bench_ebm_gan.py`; do not edit by hand.", "",
             "Commands (each runs some parts; a part run again replaces its entry):", "",
             *[f"    {c}" for c in results.get("commands", [results["command"]])], "",
             f"Machine (last run): {results['machine']}", ""]
    missing = [k for k in ("ebm", "ebm_quadrature", "gan", "flow_gan") if k not in results]
    if missing:
        lines += [f"Not run in these results: {', '.join(missing)} (`--only` selects the parts).", ""]
    if results["quick"]:
        lines += ["**A quick run** (a few steps per recipe): it checks the script, not the recipes; "
                  "the figures below say nothing about the targets.", ""]
    for key in ("ebm", "ebm_quadrature"):
        if key not in results:
            continue
        seeds, rows = results[key]["seeds"], results[key]["runs"]
        lines += [f"## {RECIPES[key].label}: `RECIPES[\"{key}\"]`", "",
                  "Gap = test NLL − H(p) with log Z by quadrature (exact up to the error shown: the difference "
                  "between the rule and one on panels twice as wide; when the two agree in every bit it is "
                  "below the rounding of log Z). "
                  "The sampler is the model's own short-run Langevin chains from uniform noise; its deficit "
                  "−H(p) − E_draws[log p(x)] is 0 for a perfect sampler; TV is the total variation between its "
                  f"binned draws ({N_SAMPLES}, 8 × 8 cells on the box) and the cells' mass under the truth p "
                  "and under the model's own density p_θ.", ""]
        table = [[s, f"{r['gap']:.3f} ± {r['se']:.3f}", z_error(r),
                  "met" if r["gap"] <= EBM_TARGET else "not met", f"{r['sampler_deficit']:.3f} ± {r['sampler_se']:.3f}",
                  f"{r['tv_truth']:.3f}", f"{r['tv_model']:.3f}", f"{r['seconds']:.0f}"] for s, r in zip(seeds, rows)]
        lines += [markdown_table(["seed", "gap (nats)", "log Z error", f"gap ≤ {EBM_TARGET}",
                                  "sampler deficit (nats)", "TV(draws, p)", "TV(draws, p_θ)", "seconds"], table), "",
                  f"Gap over seeds: {mean_sd([r['gap'] for r in rows])}; target met on "
                  f"{sum(r['gap'] <= EBM_TARGET for r in rows)} of {len(rows)} seeds.", ""]
    if "gan" in results:
        seeds = results["gan"]["seeds"]
        lines += ["## GANs: `RECIPES[\"gan\"]` and the collapsed run", "",
                  f"Sample quality = mean true log p(x) of {N_SAMPLES} draws (± SE), beside −H(p), which a "
                  "perfect generator matches; coverage = share of the true mass the draws reach, per arc or mode "
                  "(± bootstrap SE; `tinygen.gan.coverage`). The collapsed run changes one thing: "
                  f"{COLLAPSED_GAN.label}.", ""]
        table = []
        for name in ("good", "collapsed"):
            for target in ("two moons", "eight Gaussians"):
                for s, r in zip(seeds, results["gan"]["runs"][name][target]):
                    table.append([RECIPES["gan"].label if name == "good" else COLLAPSED_GAN.label, target, s,
                                  f"{r['quality']:.3f} ± {r['quality_se']:.3f}", f"{r['minus_entropy']:.3f}",
                                  f"{r['coverage']:.3f} ± {r['coverage_se']:.3f}",
                                  f"{r['n_covered']} of {r['n_components']}", f"{r['seconds']:.0f}"])
        lines += [markdown_table(["recipe", "data", "seed", "sample quality", "−H(p)", "coverage", "covered",
                                  "seconds"], table), ""]
        for name, label in (("good", RECIPES["gan"].label), ("collapsed", COLLAPSED_GAN.label)):
            for target, runs in results["gan"]["runs"][name].items():
                full = sum(r["n_covered"] == r["n_components"] for r in runs)
                cov = mean_sd([r["coverage"] for r in runs])
                lines.append(f"- {label}, {target}: every component reached on {full} of {len(runs)} seeds; "
                             f"coverage {cov} (mean ± sd over seeds).")
        good = results["gan"]["runs"]["good"]
        every = all(r["n_covered"] == r["n_components"] for t in good.values() for r in t)
        lines += ["", f"Target (`RECIPES[\"gan\"]` reaches both arcs and all eight modes on every seed): "
                  f"{'met' if every else 'not met'}.", ""]
    if "flow_gan" in results:
        lines += ["## A RealNVP trained as a GAN and by maximum likelihood: `RECIPES[\"flow_gan\"]`", "",
                  "The same flow (RealNVP-8), the same steps and learning rate; exact test NLL for both. "
                  "E_m|D − D*| compares the trained discriminator with D* = p / (p + q), q the adversarial "
                  "flow's density, under m = (p + q) / 2; V(D*, G) − V(D, G) is what it gives up (nats).", ""]
        table = [[s, f"{r['adversarial']['gap']:.3f} ± {r['adversarial']['se']:.3f}",
                  f"{r['ml']['gap']:.3f} ± {r['ml']['se']:.3f}", f"{r['d_error']:.3f}", f"{r['value_gap']:.3f}",
                  f"{r['seconds']:.0f} / {r['seconds_ml']:.0f}"]
                 for s, r in zip(results["flow_gan"]["seeds"], results["flow_gan"]["runs"])]
        lines += [markdown_table(["seed", "gap, adversarial (nats)", "gap, maximum likelihood (nats)",
                                  "E_m\\|D − D*\\|", "V(D*, G) − V(D, G)", "seconds (adv. / ML)"], table), ""]
    return "\n".join(lines)


def main():
    """Run the parts asked for and merge them into the JSON (a part run again replaces its entry),
    so the parts can be run one at a time; the report is written from the merged results."""
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    only = args.only.split(",")
    steps = 3 if args.quick else None
    results = {}
    if os.path.isfile(args.json):
        with open(args.json) as f:
            results = json.load(f)
    if args.report_only:
        only = []
    else:
        if results.get("quick", args.quick) != args.quick:
            results = {}  # a quick run and a full one are never mixed
        command = common.command("benchmarks/bench_ebm_gan.py")
        results["commands"] = results.get("commands", [results["command"]] if "command" in results else []) + [command]
        results.update({"command": command, "machine": common.machine(), "quick": args.quick})
    for key in ("ebm", "ebm_quadrature"):
        if key in only:
            runs = []
            for s in seeds:
                runs.append(ebm_run(key, s, steps))
                print(key, s, runs[-1], flush=True)
            results[key] = {"seeds": seeds, "runs": runs}
    if "gan" in only:
        runs = {name: {t: [] for t in ("two moons", "eight Gaussians")} for name in ("good", "collapsed")}
        for name, recipe in (("good", RECIPES["gan"]), ("collapsed", COLLAPSED_GAN)):
            for target in ("two moons", "eight Gaussians"):
                for s in seeds:
                    runs[name][target].append(gan_run(recipe, target, s, steps))
                    print(name, target, s, runs[name][target][-1], flush=True)
        results["gan"] = {"seeds": seeds, "runs": runs}
    if "flow_gan" in only:
        runs = []
        for s in seeds:
            runs.append(flow_gan_run(s, steps))
            print("flow_gan", s, runs[-1], flush=True)
        results["flow_gan"] = {"seeds": seeds, "runs": runs}
    common.write_json(results, args.json)
    with open(args.out, "w") as f:
        f.write(report(results, args) + "\n")
    print("wrote", args.json, "and", args.out)


if __name__ == "__main__":
    sys.exit(main())
