"""The benchmark figures as Markdown: REPORT.md and the table in docs/benchmarks.md, both from results.json.

``benchmarks/report.py`` measures and writes ``results.json``; everything a reader
sees is rendered from that file by the functions here, so no figure is typed by
hand. Plain Python (json, no numpy, no torch, no tinygen), so the docs' table can
be checked cheaply in the tests.

results.json holds ``{"families": {name: entry}}``, one entry per model family:

    label, params, steps, lr, schedule, batch_size       the training recipe
    quality     nll, se, gap, kl, kl_se, n_test, gap_target
    train       steps/s: run (whole quality run), tinygen, reference (fast path off),
                float32, float64 (the torch peers); target (tinygen / torch float32)
    sample_s    seconds for 10^5 samples: tinygen, float32, float64
    log_p_s     seconds for log p of 10^5 points: tinygen, float32, float64
    peer_check  float64, float32: max relative difference of the peer's log p to tinygen's
    run         what produced it: command, date, machine, seed, noise, n_train, n_test, entropy,
                blocks, block, repeats, k

A torch figure is null when torch was not importable.
"""
import json

THROUGHPUT_TARGET = 1.0  # sampling and log p of 10^5 points: at least as fast as torch float32
BEST_FLOW_TARGET = 0.03  # nats: the best flow's gap to the exact entropy
FLOWS = ("maf", "realnvp", "spline")
DTYPES = ("float32", "float64")


def load(path, key="families"):
    """The results dict from a results file: results.json (its ``families``) or another benchmark's,
    checked for its main entry ``key`` (results_cost.json: ``train``)."""
    with open(path) as f:
        results = json.load(f)
    if not isinstance(results, dict) or not isinstance(results.get(key), (dict, list)):
        raise ValueError(f"path: expected a results file with a {key!r} entry, got {path!r}")
    return results


def markdown_table(header, rows):
    """A Markdown table from a header (list of str) and rows (lists of str/number)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(v, spec=".3f"):
    """A number, or a dash for a figure that was not measured."""
    return "—" if v is None else format(v, spec)


def speedup(ours, theirs, seconds=False):
    """tinygen's speed over the peer's: ours / theirs for rates, theirs / ours for seconds."""
    if ours is None or theirs is None:
        return None
    return theirs / ours if seconds else ours / theirs


def times(r):
    return "—" if r is None else f"{r:.2f}×"


def verdict(r, target):
    """'met' or 'not met (by margin)' for a speed ratio against its target."""
    if r is None:
        return "—"
    return "met" if r >= target else f"not met (by {target - r:.2f}×)"


def gap_verdict(gap, target):
    if target is None:
        return "—"
    return "met" if gap <= target else f"not met (by {gap - target:.3f})"


def sources(results):
    """One sentence per distinct run: the command and date that produced which families."""
    runs = {}
    for e in results["families"].values():
        runs.setdefault((e["run"]["command"], e["run"]["date"]), []).append(e["label"])
    single = len(runs) == 1
    return " ".join(f"`{cmd}` on {date}" + ("" if single else f" ({', '.join(labels)})") + "."
                    for (cmd, date), labels in runs.items())


def machines(results):
    return "; ".join(sorted({e["run"]["machine"] for e in results["families"].values()}))


def docs_table(results):
    """The benchmark table of docs/benchmarks.md (one row per family) and the line saying where it came from."""
    rows = []
    for e in results["families"].values():
        q, t, s, d = e["quality"], e["train"], e["sample_s"], e["log_p_s"]
        f32 = speedup(t["tinygen"], t["float32"])
        rows.append([
            e["label"], e["params"], e["steps"], f"{q['nll']:.4f} ± {q['se']:.4f}", f"{q['gap']:.3f}",
            f"{t['tinygen']:.0f} ({t['reference']:.0f})", f"{fmt(t['float32'], '.0f')} / {fmt(t['float64'], '.0f')}",
            f"{times(f32)} (≥ {t['target']}×: {verdict(f32, t['target'])})",
            times(speedup(t["tinygen"], t["float64"])),
            " / ".join(times(speedup(s["tinygen"], s[k], seconds=True)) for k in DTYPES),
            " / ".join(times(speedup(d["tinygen"], d[k], seconds=True)) for k in DTYPES)])
    header = ["family", "params", "steps", "test NLL ± SE", "gap to H", "steps/s: tinygen (fast path off)",
              "torch f32 / f64", "tinygen ÷ torch f32 (target)", "tinygen ÷ torch f64",
              "10⁵ samples ÷ f32 / f64", "10⁵ log p ÷ f32 / f64"]
    return "\n".join([markdown_table(header, rows), "",
                      f"Generated from `benchmarks/results.json` by `python benchmarks/docs_tables.py`; "
                      f"the numbers are from {sources(results)} Machine: {machines(results)}."])


def _runs_note(results, text):
    """``text`` formatted with each distinct run's settings (one clause per run)."""
    seen = {}
    for e in results["families"].values():
        seen.setdefault(text.format(**e["run"]), []).append(e["label"])
    if len(seen) == 1:
        return next(iter(seen))
    return " ".join(f"{clause} ({', '.join(labels)})" for clause, labels in seen.items())


def report_markdown(results, summary=None, pointers=None):
    """The whole of benchmarks/REPORT.md: ``summary`` (the speed summary with its markers,
    speed_tables.py) goes after the run's description, first; ``pointers`` {"train", "throughput": text}
    replace the training-speed and throughput tables that a dedicated benchmark supersedes."""
    pointers = pointers or {}
    fam = results["families"]
    quality, train, through, checks = [], [], [], []
    for e in fam.values():
        q, t = e["quality"], e["train"]
        target = "—" if q["gap_target"] is None else f"≤ {q['gap_target']}"
        quality.append([e["label"], e["params"], e["steps"], e["batch_size"], f"{e['lr']:g} ({e['schedule']})",
                        f"{q['nll']:.4f} ± {q['se']:.4f}", f"{q['gap']:.4f}", f"{q['kl']:.4f} ± {q['kl_se']:.4f}",
                        q["n_test"], target, gap_verdict(q["gap"], q["gap_target"])])
        f32 = speedup(t["tinygen"], t["float32"])
        train.append([e["label"], f"{t['run']:.1f}", f"{t['tinygen']:.1f}", f"{t['reference']:.1f}",
                      times(speedup(t["tinygen"], t["reference"])), fmt(t["float32"], ".1f"),
                      fmt(t["float64"], ".1f"), times(f32), f"≥ {t['target']}×", verdict(f32, t["target"]),
                      times(speedup(t["tinygen"], t["float64"]))])
        for what, key in (("sample", "sample_s"), ("log p", "log_p_s")):
            s = e[key]
            r32 = speedup(s["tinygen"], s["float32"], seconds=True)
            through.append([e["label"], what, f"{s['tinygen']:.3f}", fmt(s["float32"]), fmt(s["float64"]),
                            times(r32), verdict(r32, THROUGHPUT_TARGET),
                            times(speedup(s["tinygen"], s["float64"], seconds=True))])
        checks.append([e["label"], fmt(e["peer_check"]["float64"], ".1e"), fmt(e["peer_check"]["float32"], ".1e")])
    lines = ["# tinygen benchmark report", "", f"Machine: {machines(results)}.", "",
             f"Produced by {sources(results)}", "",
             _runs_note(results, "Two moons, noise {noise}: {n_train} training points (seed {seed}), {n_test} test "
                                 "points (the next seed); exact entropy H = {entropy:.5f} nats.") +
             " Each family trains with its recipe (Adam; steps, batch, learning rate and schedule below).", "",
             *([summary, ""] if summary else []),
             "## Quality", "",
             markdown_table(["family", "params", "steps", "batch", "lr (schedule)", "test NLL ± SE", "gap = NLL − H",
                             "paired KL(p ‖ p_θ) ± SE", "test points", "gap target", "gap met?"], quality), ""]
    gaps = {fam[n]["label"]: fam[n]["quality"]["gap"] for n in FLOWS if n in fam}
    if gaps:
        best = min(gaps, key=gaps.get)
        lines += [f"Best flow: {best}, gap {gaps[best]:.4f} nats; target within {BEST_FLOW_TARGET} nats: "
                  f"{gap_verdict(gaps[best], BEST_FLOW_TARGET)}.", ""]
    lines += [_runs_note(results, "The VAEs' log p(x) is the importance-sampled bound with K = {k}") +
              " (a lower bound in expectation, so their NLL and gap are upper estimates). The paired KL "
              "averages log p(x) − log p_θ(x) over the same test points, which cancels most sampling noise. "
              "Gap targets are the figures published for the PyTorch implementations.", "",
              "## Training speed (steps/s, one thread)", "",
              *([pointers["train"]] if "train" in pointers else [
                  markdown_table(["family", "tinygen (whole run)", "tinygen", "tinygen, fast path off",
                                  "fast ÷ off", "torch f32", "torch f64", "tinygen ÷ torch f32", "target", "met?",
                                  "tinygen ÷ torch f64"], train), "",
                  _runs_note(results, "Timed in turns: {blocks} blocks of {block} steps per side") +
                  ", tinygen (fast path), tinygen with `tinygen.fast.disabled()` (the reference path), torch "
                  "float32 and torch float64 taking turns block by block from the trained weights, so all four see "
                  "the same load; each figure is the median over blocks. 'Whole run': the median over windows of "
                  "the quality training run. The targets are against torch float32, PyTorch's default."]), "",
              "## Sampling and density throughput (seconds for 10^5 points)", "",
              *([pointers["throughput"]] if "throughput" in pointers else [
                  markdown_table(["family", "what", "tinygen", "torch f32", "torch f64", "tinygen ÷ torch f32",
                                  f"met? (≥ {THROUGHPUT_TARGET}×)", "tinygen ÷ torch f64"], through), "",
                  _runs_note(results, "Median of {repeats} repeats, in turns") +
                  ". Ratios are speeds (torch seconds / tinygen seconds). The VAEs' log p here is the K = 1 "
                  "importance estimate on both sides."]), "",
              "## Peer check", "",
              markdown_table(["family", "torch f64", "torch f32"], checks), "",
              "The largest relative difference |log p_tinygen − log p_torch| / max(1, |log p|) on 256 test points "
              "(VAEs: the ELBO with the same noise), trained weights copied in: the float64 peer is the same "
              "model to rounding; the float32 peer differs by float32 rounding (~1e-6 relative).", ""]
    return "\n".join(lines)
