"""The benchmark report: speed and quality of every model family on two moons.

Each family is trained with tinygen by its recipe (tinygen.recipes: the architecture,
Adam steps, learning rate, schedule and batch size) on 20000 points of two moons
(noise 0.05) and scored on 20000 others: test NLL +- standard error, its gap to the exact
entropy H(p), and the paired Monte Carlo KL(p || p_theta). The VAE's log p(x) is the
importance-sampled bound with K = --k. With torch importable, each family's PyTorch
peer (benchmarks/peers.py: the same architecture, the trained weights copied in, one
thread) runs in float32 (PyTorch's default) and in float64, and all are timed in
turns: training steps/s of tinygen, of tinygen with its fast path off (the
reference path), of torch float32 and of torch float64; then the seconds to sample
10^5 points and to evaluate log p of 10^5 points.

The figures go to results.json (beside --out; families not rerun are kept, so
--families reruns a subset), and REPORT.md is rendered from it (benchmarks/report_tables.py).
The table in docs/benchmarks.md is regenerated from results.json by benchmarks/docs_tables.py.

Run: OMP_NUM_THREADS=1 python benchmarks/report.py [--families made,maf,realnvp,spline,vae,vae_iaf]
         [--steps N (all families; default: each recipe's)] [--out benchmarks/REPORT.md]
     python benchmarks/report.py --render    (REPORT.md again from results.json, nothing run)
"""
import argparse
import datetime
import os
import time

import numpy as onp

import common
import cost_tables
import defaults_tables
import peers
import report_tables as tables
import speed_tables
from tinygen import data
from tinygen.nn import count_params
from tinygen.recipes import RECIPES


# Each family's recipe (architecture, steps, learning rate and schedule, batch) is tinygen.recipes.RECIPES,
# the one the demos and the tour train with. The report adds its targets: the gap to H(p) in nats
# (None: no target; the figures published for the PyTorch implementations) and the training speed,
# tinygen / torch float32 steps/s (issue #9).
TARGETS = {
    "made": (None, 1.5),
    "maf": (0.094, 1.0),
    "realnvp": (0.11, 1.5),
    "spline": (0.047, 1.0),
    "vae": (1.13, 1.0),
    "vae_iaf": (1.13, 1.0),
}
FAMILIES = [name for name in RECIPES if name in TARGETS]
HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=None, help="training steps for every family (default: recipe)")
parser.add_argument("--families", default=",".join(FAMILIES))
parser.add_argument("--out", default=os.path.join(HERE, "REPORT.md"), help="REPORT.md; results.json goes beside it")
parser.add_argument("--k", type=int, default=500, help="importance samples for the VAE's test log p(x)")
parser.add_argument("--vae-test", type=int, default=common.N_TEST, help="test points scored for the VAEs")
parser.add_argument("--blocks", type=int, default=9, help="timed training blocks per side (in turns)")
parser.add_argument("--block", type=int, default=50, help="training steps per timed block")
parser.add_argument("--repeats", type=int, default=5, help="repeats of each throughput timing")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--render", action="store_true", help="only rewrite REPORT.md from results.json, no runs")


def quality(name, model, params, x_test, H, args):
    """Test NLL +- SE, gap, paired KL +- SE and the number of test points, on x_test."""
    vae = name.startswith("vae")
    x = x_test[:args.vae_test] if vae else x_test
    extra = {"rng": args.seed + 3, "k": args.k} if vae else {}
    log_p = onp.concatenate([onp.asarray(model.log_prob(params, x[i:i + 2000], **extra))
                             for i in range(0, len(x), 2000)])
    return {**common.score(log_p, x, H), "n_test": len(x)}


def speed(name, model, params, fam, x_train, x_big, x_check, args):
    """Training steps/s, sampling and density seconds for 10^5 points, and the peer checks:
    tinygen, tinygen on the reference path (training only), torch float32 and float64 (None without torch)."""
    vae = name.startswith("vae")
    rng = onp.random.default_rng(args.seed + 4)
    steppers = {"tinygen": common.tinygen_stepper(model, params, x_train, fam.lr, fam.batch_size, args.seed),
                "reference": common.tinygen_stepper(model, params, x_train, fam.lr, fam.batch_size, args.seed,
                                                    fast=False)}
    samplers = {"tinygen": lambda: model.sample(params, common.N_THROUGHPUT, rng)}
    # the VAE's density here is the K = 1 importance estimate (both sides): K = 500 on 10^5 points
    # would time 5 * 10^7 decoder passes, not the model
    k1 = {"k": 1} if vae else {}
    densities = {"tinygen": lambda: model.log_prob(params, x_big, **({"rng": rng} if vae else {}), **k1)}
    checks = dict.fromkeys(tables.DTYPES)
    if peers.available():
        for key in tables.DTYPES:
            dtype = peers.torch_dtype(key)
            peer = peers.make_peer(model, params, dtype)
            checks[key] = peers.max_rel_diff(model, params, x_check, seed=args.seed, dtype=dtype)
            steppers[key] = peer.stepper(x_train, fam.lr, fam.batch_size, seed=args.seed)
            samplers[key] = lambda peer=peer: peer.sample_np(common.N_THROUGHPUT)
            densities[key] = lambda peer=peer: peer.log_prob_np(x_big, **k1)
    rates = common.alternating_rates(list(steppers.values()), args.blocks, args.block)
    sample_s = common.alternating_seconds(list(samplers.values()), args.repeats)
    log_p_s = common.alternating_seconds(list(densities.values()), args.repeats)
    blank = dict.fromkeys(tables.DTYPES)
    return ({**blank, **dict(zip(steppers, rates)), "target": TARGETS[name][1]},
            {**blank, **dict(zip(samplers, sample_s))}, {**blank, **dict(zip(densities, log_p_s))}, checks)


def save(results, args):
    """results.json beside --out (families in FAMILIES order), and REPORT.md rendered from it."""
    results["families"] = {n: results["families"][n] for n in FAMILIES if n in results["families"]}
    common.write_json(results, args.json)
    with open(args.out, "w") as f:
        f.write(tables.report_markdown(results, speed_summary(), speed_tables.POINTERS) + extra_sections())


def speed_summary():
    """The speed summary of every target, read from the dedicated benchmarks' results files, with the
    markers docs_tables.py finds it by (one rendering, speed_tables.section, serves both)."""
    return "\n".join([speed_tables.SUMMARY_BEGIN, speed_tables.section(speed_tables.load_all()),
                      speed_tables.SUMMARY_END])


def extra_sections():
    """REPORT.md's sections from the other benchmarks' results files, where they exist: the defaults
    seed by seed (bench_defaults.py, peer_training.py) and the cost curve (bench_cost.py)."""
    parts = []
    if os.path.isfile(defaults_tables.DEFAULTS):
        parts += ["## Defaults: every seed, the peers' recipe and tinygen's own", "", defaults_tables.render(), ""]
    cost_path = os.path.join(HERE, "results_cost.json")
    if os.path.isfile(cost_path):
        cost = cost_tables.load(cost_path, key="train")
        parts += ["## Cost curve: as the work grows", "", cost_tables.prose(cost, "train"), "",
                  cost_tables.width_batch_table(cost), "", cost_tables.prose(cost, "log_p"), "",
                  "![tinygen ÷ torch float32 against the work per call](cost_curve.png)", "",
                  f"Every configuration, with the command and machine: `benchmarks/REPORT_cost.md` "
                  f"({cost_tables.sources(cost)}).", ""]
    return "\n".join(["", *parts]) if parts else ""


def main():
    args = parser.parse_args()
    families = args.families.split(",")
    for name in families:
        if name not in FAMILIES:
            parser.error(f"--families: unknown family {name!r}; expected some of {','.join(FAMILIES)}")
    for flag in ("steps", "k", "vae_test", "blocks", "block", "repeats"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')}: expected a positive integer, got {getattr(args, flag)}")
    args.json = os.path.join(os.path.dirname(os.path.abspath(args.out)), "results.json")
    if args.render:
        save(tables.load(args.json), args)
        print(f"{args.out} rendered from {args.json}")
        return
    x_train, x_test, H = common.split(args.seed)
    x_big = data.two_moons(common.N_THROUGHPUT, noise=common.NOISE, rng=args.seed + 2)
    run = {"command": common.command("benchmarks/report.py"),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": common.machine(date=False), "seed": args.seed, "noise": common.NOISE, "n_train": len(x_train),
           "n_test": len(x_test), "entropy": H, "blocks": args.blocks, "block": args.block,
           "repeats": args.repeats, "k": args.k}
    print(run["machine"], flush=True)
    results = tables.load(args.json) if os.path.isfile(args.json) else {"families": {}}
    for name in families:
        fam = RECIPES[name]
        steps = fam.steps if args.steps is None else args.steps
        print(f"--- {fam.label}: training {steps} steps, lr {fam.lr} ({fam.schedule})", flush=True)
        start = time.perf_counter()
        model, params, run_rate = common.train(fam, x_train, steps, args.seed)
        phases = [time.perf_counter()]
        q = quality(name, model, params, x_test, H, args)
        q["gap_target"] = TARGETS[name][0]
        phases.append(time.perf_counter())
        train, sample_s, log_p_s, checks = speed(name, model, params, fam, x_train, x_big, x_test[:256], args)
        phases.append(time.perf_counter())
        train["run"] = run_rate
        results["families"][name] = {
            "label": fam.label, "params": count_params(params), "steps": steps, "lr": fam.lr,
            "schedule": fam.schedule, "batch_size": fam.batch_size, "quality": q, "train": train,
            "sample_s": sample_s, "log_p_s": log_p_s, "peer_check": checks, "run": run}
        print(f"{fam.label}: NLL {q['nll']:.4f} +- {q['se']:.4f}, gap {q['gap']:.4f}; steps/s tinygen "
              f"{train['tinygen']:.1f} (fast path off {train['reference']:.1f}), torch f32 "
              f"{tables.fmt(train['float32'], '.1f')}, f64 {tables.fmt(train['float64'], '.1f')} "
              f"(seconds: trained {phases[0] - start:.0f}, scored {phases[1] - phases[0]:.0f}, "
              f"timed {phases[2] - phases[1]:.0f})", flush=True)
        save(results, args)  # after every family, so a long run leaves a partial report
    print()
    print(tables.report_markdown(results))
    print(f"written to {args.out} and {args.json}; the table in docs/benchmarks.md: python benchmarks/docs_tables.py")


if __name__ == "__main__":
    main()
