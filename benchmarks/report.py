"""The benchmark report: speed and quality of every model family on two moons, as Markdown.

Each family is trained with tinygen for --steps Adam steps (batch 256, cosine-decayed
learning rate) on 20000 points of two moons (noise 0.05) and scored on 20000 others:
test NLL +- standard error, its gap to the exact entropy H(p), and the paired
Monte Carlo KL(p || p_theta). The VAE's log p(x) is the importance-sampled bound
with K = 500. If torch is importable, each family's PyTorch peer (benchmarks/peers.py:
the same architecture with the trained weights copied in, float64, one thread) is
timed against tinygen in turns: training steps/s, seconds to sample 10^5 points and
to evaluate log p of 10^5 points.

Run: OMP_NUM_THREADS=1 python benchmarks/report.py [--steps 5000]
         [--families made,maf,realnvp,spline,vae,vae_iaf] [--out benchmarks/REPORT.md]
"""
import argparse
import os
import time

import numpy as onp

import common
import peers
import tinygen
from tinygen import data
from tinygen.nn import count_params

# family: label, lr (cosine-decayed; 1e-3 beat 3e-3 for MAF-5 at 5000 steps, gap 0.040 vs 0.057,
# 3e-3 beat 1e-3 for RealNVP-8, 0.059 vs 0.209; the VAEs keep bench_vae.py's 5e-3), gap target in
# nats (None: no target), training speed target (tinygen / torch steps/s)
FAMILIES = {
    "made": ("MADE (Gaussian)", 1e-3, None, 1.0),
    "maf": ("MAF-5", 1e-3, 0.094, 1.0),
    "realnvp": ("RealNVP-8", 3e-3, 0.11, 1.5),
    "spline": ("NSF-4 (RQ spline, 8 bins)", 1e-3, 0.047, 1.0),
    "vae": ("VAE (Gaussian q)", 5e-3, 1.13, 1.0),
    "vae_iaf": ("VAE (IAF-2 q)", 5e-3, 1.13, 1.0),
}
FLOWS = ("maf", "realnvp", "spline")
BEST_FLOW_TARGET = 0.03
THROUGHPUT_TARGET = 1.0

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--families", default=",".join(FAMILIES))
parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "REPORT.md"))
parser.add_argument("--k", type=int, default=500, help="importance samples for the VAE's test log p(x)")
parser.add_argument("--vae-test", type=int, default=common.N_TEST, help="test points scored for the VAEs")
parser.add_argument("--blocks", type=int, default=9, help="timed training blocks per side (in turns)")
parser.add_argument("--block", type=int, default=50, help="training steps per timed block")
parser.add_argument("--repeats", type=int, default=5, help="repeats of each throughput timing")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
families = args.families.split(",")
for name in families:
    if name not in FAMILIES:
        parser.error(f"--families: unknown family {name!r}; expected some of {','.join(FAMILIES)}")

WINDOW = min(250, max(1, args.steps // 4))  # steps per timing window of the training run
x_train, x_test, H = common.split(args.seed)
x_big = data.two_moons(common.N_THROUGHPUT, noise=common.NOISE, rng=args.seed + 2)
with_torch = peers.available()
machine = common.machine()
print(machine, flush=True)


def quality(name, model, params):
    """(NLL, SE, gap, KL, KL SE, number of test points) on x_test."""
    x = x_test[:args.vae_test] if name.startswith("vae") else x_test
    extra = {"rng": args.seed + 3, "k": args.k} if name.startswith("vae") else {}
    log_p = onp.concatenate([onp.asarray(model.log_prob(params, x[i:i + 2000], **extra))
                             for i in range(0, len(x), 2000)])
    r = common.score(log_p, x, H)
    return r["nll"], r["se"], r["gap"], r["kl"], r["kl_se"], len(x)


def speed(name, model, params, lr):
    """Training steps/s, sampling and density seconds for 10^5 points: tinygen, then torch or None."""
    vae = name.startswith("vae")
    rng = onp.random.default_rng(args.seed + 4)
    runs = [common.tinygen_stepper(model, params, x_train, lr, seed=args.seed)]
    samplers = [lambda: model.sample(params, common.N_THROUGHPUT, rng)]
    # the VAE's density here is the K = 1 importance estimate (both sides): K = 500 on 10^5 points
    # would time 5 * 10^7 decoder passes, not the model
    extra = {"rng": rng, "k": 1} if vae else {}
    densities = [lambda: model.log_prob(params, x_big, **extra)]
    check = None
    if with_torch:
        peer = peers.make_peer(model, params)
        check = peers.max_rel_diff(model, params, x_test[:256], seed=args.seed)
        runs.append(peer.stepper(x_train, lr, seed=args.seed))
        samplers.append(lambda: peer.sample_np(common.N_THROUGHPUT))
        densities.append(lambda: peer.log_prob_np(x_big, **({"k": 1} if vae else {})))
    rates = common.alternating_rates(runs, args.blocks, args.block)
    sample_s = common.alternating_seconds(samplers, args.repeats)
    density_s = common.alternating_seconds(densities, args.repeats)
    pad = [None] if not with_torch else []
    return rates + pad, sample_s + pad, density_s + pad, check


def fmt(v, spec=".3f"):
    return "—" if v is None else format(v, spec)


def ratio_cells(ours, theirs, target, higher_is_better=True):
    """[ratio, verdict]: tinygen speed / torch speed (>= target is met)."""
    if theirs is None:
        return ["—", "—"]
    r = ours / theirs if higher_is_better else theirs / ours
    return [f"{r:.2f}x", common.verdict(r >= target, f"{target - r:.2f}x")]


results = {}


def tables():
    """The report's Markdown text from the results so far."""
    quality_rows, train_rows, through_rows = [], [], []
    for name, r in results.items():
        label, lr, gap_target, speed_target = FAMILIES[name]
        nll, se, gap, kl, kl_se, n_test = r["quality"]
        target = "—" if gap_target is None else f"<= {gap_target}"
        met = "—" if gap_target is None else common.verdict(gap <= gap_target, f"{gap - gap_target:.3f}")
        quality_rows.append([label, r["params"], f"{lr:g}", f"{nll:.4f} ± {se:.4f}", f"{gap:.4f}",
                             f"{kl:.4f} ± {kl_se:.4f}", n_test, target, met])
        (ours, theirs), run_rate = r["rates"], r["run_rate"]
        train_rows.append([label, f"{run_rate:.1f}", f"{ours:.1f}", fmt(theirs, ".1f"),
                           *ratio_cells(ours, theirs, speed_target), f">= {speed_target}x"])
        (s_ours, s_theirs), (d_ours, d_theirs) = r["sample_s"], r["density_s"]
        through_rows.append([label, f"{s_ours:.3f}", fmt(s_theirs),
                             *ratio_cells(s_ours, s_theirs, THROUGHPUT_TARGET, False),
                             f"{d_ours:.3f}", fmt(d_theirs), *ratio_cells(d_ours, d_theirs, THROUGHPUT_TARGET, False),
                             fmt(r["check"], ".1e")])
    lines = ["# tinygen benchmark report", "",
             f"Machine: {machine}", "",
             f"Two moons, noise {common.NOISE}: {len(x_train)} training points (seed {args.seed}), "
             f"{len(x_test)} test points (seed {args.seed + 1}); exact entropy H = {H:.5f} nats. "
             f"Every family: {args.steps} Adam steps, batch 256, learning rate decayed to 0 along a cosine. "
             f"Produced by `python benchmarks/report.py --steps {args.steps}`.", "",
             "## Quality", "",
             common.markdown_table(["family", "params", "lr", "test NLL ± SE", "gap = NLL − H",
                                    "paired KL(p ‖ p_θ) ± SE", "test points", "gap target", "gap met?"],
                                   quality_rows), ""]
    flow_gaps = {FAMILIES[n][0]: results[n]["quality"][2] for n in FLOWS if n in results}
    if flow_gaps:
        best = min(flow_gaps, key=flow_gaps.get)
        excess = flow_gaps[best] - BEST_FLOW_TARGET
        lines += [f"Best flow: {best}, gap {flow_gaps[best]:.4f} nats; target within {BEST_FLOW_TARGET} nats: "
                  f"{common.verdict(excess <= 0, f'{excess:.3f}')}.", ""]
    lines += [f"The VAEs' log p(x) is the importance-sampled bound with K = {args.k} (a lower bound in "
              "expectation, so their NLL and gap are upper estimates). The paired KL averages "
              "log p(x) − log p_θ(x) over the same test points, which cancels most sampling noise. "
              "Gap targets are the figures published for the PyTorch implementations.", "",
              "## Training speed (steps/s, batch 256, one thread)", "",
              common.markdown_table(["family", "tinygen (whole run, median)", "tinygen (in turns)", "torch (in turns)",
                                     "tinygen / torch", "met?", "target"], train_rows), "",
              f"'In turns': {args.blocks} blocks of {args.block} steps per side, tinygen and torch alternating, "
              "median over blocks, so both see the same load on the shared machine. 'Whole run': median over "
              f"windows of {WINDOW} steps of the quality training run.", "",
              "## Sampling and density throughput (seconds for 10^5 points)", "",
              common.markdown_table(["family", "sample: tinygen", "torch", "tinygen / torch", "met? (>= 1.0x)",
                                     "log p: tinygen", "torch", "tinygen / torch", "met? (>= 1.0x)",
                                     "peer check"], through_rows), "",
              f"Median of {args.repeats} repeats, in turns. Ratios are speeds (torch seconds / tinygen seconds). "
              "The VAEs' log p here is the K = 1 importance estimate on both sides. 'peer check': the largest "
              "relative difference between tinygen's and the torch peer's log p (VAEs: the ELBO with the same "
              "noise) on 256 test points with the trained weights copied in, i.e. the peer is the same model.", ""]
    if not with_torch:
        lines += ["torch is not importable here: tinygen's figures only.", ""]
    return "\n".join(lines)


models = peers.models()
for name in families:
    label, lr, _, _ = FAMILIES[name]
    model = models[name]
    print(f"--- {label}: training {args.steps} steps, lr {lr} (cosine)", flush=True)
    stamps = []
    start = time.perf_counter()
    params, _ = tinygen.fit(model, model.init(args.seed), x_train, steps=args.steps, batch_size=256, lr=lr,
                            lr_schedule="cosine", rng=args.seed, log_every=max(1, args.steps // 5),
                            callback=lambda step, p, loss: stamps.append(time.perf_counter()))
    train_s = time.perf_counter() - start
    q = quality(name, model, params)
    rates, sample_s, density_s, check = speed(name, model, params, lr)
    results[name] = {"params": count_params(params), "quality": q, "rates": rates, "sample_s": sample_s,
                     "density_s": density_s, "check": check,
                     "run_rate": common.median_rate(stamps, WINDOW)}
    print(f"{label}: NLL {q[0]:.4f} +- {q[1]:.4f}, gap {q[2]:.4f}; steps/s tinygen {rates[0]:.1f} torch "
          f"{fmt(rates[1], '.1f')}; sample {sample_s[0]:.3f}s / {fmt(sample_s[1])}s; log p {density_s[0]:.3f}s / "
          f"{fmt(density_s[1])}s (trained in {train_s:.0f}s)", flush=True)
    with open(args.out, "w") as f:  # after every family, so a long run leaves a partial report
        f.write(tables())

print()
print(tables())
print(f"written to {args.out}")
