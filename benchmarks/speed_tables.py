"""Every speed target in one summary: the table near the top of REPORT.md and the README's speed paragraph.

The targets (issue 23; PyTorch CPU on one thread, sides timed in turns, ratios are speeds: above 1,
tinygen is faster) and the results file each one is read from:

    log p and sampling of 10^5 points    >= 1.0x torch float32, every family  results_eval.json     (bench_eval.py)
    a training step at the lecture's     each family's own target, against   results_train.json    (bench_train.py)
      sizes                                the lean peer where there is one
    the cost curve                       >= 1.0x torch float64 at every point results_cost.json     (bench_cost.py)
    the headline demo, as a newcomer     <= 60 s wall clock                  results_headline.json (bench_headline.py)
      runs it
    and a digest of the profile          (no target)                         results_profile.json  (bench_profile.py)

Every figure is read from those files, never typed; a missing file gives a row that says so.
Plain Python (json, no numpy, no torch, no tinygen), so the tests check the pages cheaply.
report.py --render and docs_tables.py both call ``section`` and ``readme_paragraph``.
"""
import os
import re
import textwrap

import cost_tables
import report_tables as tables
from report_tables import markdown_table

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"eval": "results_eval.json", "train": "results_train.json", "cost": "results_cost.json",
         "headline": "results_headline.json", "profile": "results_profile.json"}
SCRIPTS = {"eval": "bench_eval.py", "train": "bench_train.py", "cost": "bench_cost.py",
           "headline": "bench_headline.py", "profile": "bench_profile.py"}
MAIN_KEY = {"eval": "seconds", "train": "families", "cost": "train", "headline": "load", "profile": "families"}
THROUGHPUT_TARGET = tables.THROUGHPUT_TARGET  # log p and sampling: tinygen / torch float32 speed
COST_TARGET = 1.0  # the cost curve: tinygen / torch float64 speed at every point
HEADLINE_TARGET = 60.0  # seconds for `python demos/00_two_moons_tour.py` with its defaults
# the families' names as bench_eval.py and bench_profile.py print them (their files store only the keys)
LABELS = {"realnvp": "RealNVP-8", "maf": "MAF-5", "spline": "spline flow-4", "made": "MADE",
          "vae": "VAE (Gaussian q)", "vae_iaf": "VAE (IAF-2 q)", "rnn": "RNN", "transformer": "transformer"}
BUCKETS = {"blas": "BLAS", "elementwise": "elementwise", "python": "Python & autograd", "checks": "checks",
           "adam": "Adam"}
SUMMARY_BEGIN, SUMMARY_END = "<!-- speed-summary:begin -->", "<!-- speed-summary:end -->"  # in REPORT.md
README_BEGIN, README_END = "<!-- speed:begin -->", "<!-- speed:end -->"  # in README.md
PEERS = {"lean_f32": ("lean torch f32", "lean_f64"), "torch_f32": ("torch f32", "torch_f64")}


def load_all(paths=None):
    """{key: results dict, or None where the file is missing}; ``paths`` overrides FILES' locations."""
    paths = {k: os.path.join(HERE, f) for k, f in FILES.items()} | (paths or {})
    return {k: tables.load(paths[k], key=MAIN_KEY[k]) if os.path.isfile(paths[k]) else None for k in FILES}


def verdict(value, goal, at_most=False, unit="×"):
    """(met, words) for a measured value against its goal: at least ``goal`` (a speed ratio) or, with
    ``at_most``, at most ``goal`` (seconds); met is None and the words a dash when nothing was measured."""
    if value is None:
        return None, "—"
    met = value <= goal if at_most else value >= goal
    by = f"{abs(value - goal):.0f} s" if unit == "s" else f"{abs(value - goal):.2f}×"
    return met, f"{'met' if met else 'not met'} (by {by})"


def run_date(results):
    """The date of a run: its own entry, its ``run``'s, or the one machine() appends to the machine line."""
    date = results.get("date") or results.get("run", {}).get("date")
    tail = results.get("machine", results.get("run", {}).get("machine", "")).split("; ")[-1]
    return date or (tail if re.fullmatch(r"\d{4}-\d\d-\d\d", tail) else "date not recorded")


def cpu(machine):
    """The CPU and its cores, the head of a machine line: 'AMD EPYC, 2 cores (2 usable)'."""
    return ", ".join(machine.split(";")[0].split(", ")[:2])


def run_cell(results, load=None):
    """'date · CPU · load before → after' (1-minute load averages) for the table's last column."""
    machine = results.get("machine") or results["run"]["machine"]
    load = "load not recorded" if load is None else f"load {load[0]:.1f} → {load[1]:.1f}"
    return f"{run_date(results)} · {cpu(machine)} · {load}"


def row(group, target, value, shown, beside, goal, run, at_most=False, unit="×"):
    met, words = verdict(value, goal, at_most, unit)
    return {"group": group, "target": target, "value": value, "measured": shown, "beside": beside,
            "goal": f"{'≤' if at_most else '≥'} {goal:g}{' s' if unit == 's' else '×'}", "met": met,
            "verdict": words, "run": run}


def missing(group, target, goal, key):
    return {"group": group, "target": target, "value": None, "measured": f"not measured: benchmarks/{FILES[key]} "
            f"is missing (run benchmarks/{SCRIPTS[key]})", "beside": "", "goal": goal, "met": None,
            "verdict": "—", "run": "—"}


def eval_rows(ev):
    """log p and sampling of n points per family: tinygen / torch float32 (and / float64 beside)."""
    if ev is None:
        return [missing("eval", "log p and sampling of 10⁵ points", f"≥ {THROUGHPUT_TARGET:g}× torch f32", "eval")]
    out, cell = [], run_cell(ev, ev.get("load"))
    for name, ops in ev["seconds"].items():
        label = f"VAE (IWAE K = {ev['vae_k']})" if name == "vae" else LABELS.get(name, name)
        for op, words in (("log_p", "log p"), ("sample", "sampling")):
            s = ops[op]
            r32 = tables.speedup(s["tinygen"], s.get("torch_f32"), seconds=True)
            r64 = tables.speedup(s["tinygen"], s.get("torch_f64"), seconds=True)
            out.append(row("eval", f"{label}: {words} of {ev['n']:,} points", r32, f"{tables.times(r32)} torch f32",
                           f"{tables.times(r64)} torch f64", THROUGHPUT_TARGET, cell))
    return out


def train_rows(tr):
    """A training step per family against the peer its target names (lean torch where there is one)."""
    if tr is None:
        return [missing("train", "training at the lecture's sizes", "each family's", "train")]
    out = []
    for e in tr["families"].values():
        v, against = e["steps_per_s"], e["target_against"]
        peer, f64 = PEERS[against]
        r = tables.speedup(v["tinygen"], v.get(against))
        beside = [f"{tables.times(tables.speedup(v['tinygen'], v.get(f64)))} {peer.replace('f32', 'f64')}"]
        if v.get("library_f32") is not None:
            beside.append(f"{tables.times(tables.speedup(v['tinygen'], v['library_f32']))} zuko f32")
        load = (e["load"]["before"][0], e["load"]["after"][0]) if "load" in e else None
        out.append(row("train", f"{e['label']}: training steps/s", r, f"{tables.times(r)} {peer}", "; ".join(beside),
                       e["target"], run_cell(tr, load)))
    return out


def cost_rows(cost):
    """The cost curve, training steps and log p calls: the worst point against torch float64, how many points
    meet the target, and tinygen's range of fraction of the dgemm peak."""
    if cost is None:
        return [missing("cost", "the cost curve", f"≥ {COST_TARGET:g}× torch f64", "cost")]
    out, peak = [], cost.get("peak")
    for kind, words in (("train", "training steps"), ("log_p", "log p calls")):
        points = [p for p in cost_tables.work_and_ratios(cost, kind) if p[2] is not None]
        target = f"cost curve, {words} ({len(cost[kind])} configurations)"
        if not points:
            out.append(row("cost", target, None, "no torch float64 figures", "", COST_TARGET, run_cell(cost)))
            continue
        _, _, worst, at = min(points, key=lambda p: p[2])
        n_met = sum(p[2] >= COST_TARGET for p in points)
        beside = f"{n_met} of {len(points)} points ≥ {COST_TARGET:g}×"
        figs = cost_tables.floor_figures(cost, kind)
        if figs:
            fracs = [f[2] for f in figs]
            beside += f"; {min(fracs):.1%}–{max(fracs):.1%} of the dgemm peak"
            if cost_tables._cpu(peak["machine"]) != cost_tables._cpu(cost["run"]["machine"]):
                beside += " (peak measured on another CPU)"
        out.append(row("cost", target, worst, f"worst {tables.times(worst)} torch f64 ({cost_tables.where(at)})",
                       beside, COST_TARGET, run_cell(cost)))
    return out


def headline_row(h):
    """The headline demo as a newcomer runs it: wall-clock seconds."""
    target = "headline demo, `python demos/00_two_moons_tour.py`"
    if h is None:
        return missing("headline", target, f"≤ {HEADLINE_TARGET:g} s", "headline")
    load = (h["load"]["before"][0], h["load"]["after"][0])
    what = f"`{h['demo']}` at commit {h['commit'][:10]}" + (" with uncommitted changes" if h["uncommitted"] else "")
    return row("headline", target, h["seconds"], f"{h['seconds']:.0f} s", what,
               HEADLINE_TARGET, run_cell(h, load), at_most=True, unit="s")


def summary_rows(results):
    """Every target's row, in the order of the issue: evaluation, training, cost curve, headline demo."""
    return (eval_rows(results["eval"]) + train_rows(results["train"]) + cost_rows(results["cost"])
            + [headline_row(results["headline"])])


def profile_digest(prof):
    """Per family: the largest bucket of a step and of a log p call (share of the profiled time), and
    total ÷ the float64 arithmetic floor."""
    if prof is None:
        return f"No profile: benchmarks/{FILES['profile']} is missing (run benchmarks/{SCRIPTS['profile']})."
    rows = []
    for name, fam in prof["families"].items():
        cells = [LABELS.get(name, name)]
        for op in ("step", "log_p"):
            r = fam[op]
            top = max(r["buckets"], key=r["buckets"].get)
            cells += [f"{BUCKETS.get(top, top)} ({r['buckets'][top] / r['profiled']:.0%})",
                      f"{r['total'] / r['floor']:.0f}×"]
        rows.append(cells)
    load = prof.get("load")
    return "\n".join([
        markdown_table(["family", "step: largest bucket", "step: total ÷ floor", "log p: largest bucket",
                        "log p: total ÷ floor"], rows), "",
        f"From `benchmarks/REPORT_profile.md` ({run_cell(prof, load)}; dgemm peak "
        f"{prof['peak']['peak']:.1f} GFLOP/s): the floor is the call's matrix products at that peak, the least "
        f"time any float64 code could take."])


def sources(results):
    """One line per results file: the command, date and whole machine line of its run, or that it is missing."""
    lines = []
    for key, name in FILES.items():
        r = results[key]
        if r is None:
            lines.append(f"- `benchmarks/{name}`: missing.")
            continue
        command = r.get("command") or r["run"]["command"]
        machine = r.get("machine") or r["run"]["machine"]
        machine = machine.removesuffix(f"; {run_date(r)}")  # the date is said once, before it
        lines.append(f"- `benchmarks/{name}`: `{command}` on {run_date(r)}; {machine}.")
    return "\n".join(lines)


def section(results):
    """The speed summary of REPORT.md (between its speed-summary markers)."""
    rows = summary_rows(results)
    table = markdown_table(["target", "measured", "beside", "goal", "verdict", "run (date · CPU · load)"],
                           [[r["target"], r["measured"], r["beside"] or "—", r["goal"], r["verdict"], r["run"]]
                            for r in rows])
    n_met = sum(r["met"] is True for r in rows)
    n_measured = sum(r["met"] is not None for r in rows)
    return "\n".join([
        "## Speed: every target, met or not", "",
        f"{n_met} of the {n_measured} targets measured are met. Ratios are speeds (above 1, tinygen is faster), "
        "PyTorch on the CPU on one thread, the sides taking turns so they share the load; the load is the 1-minute "
        "average before → after the run, on a shared machine. *Lean torch* is the model as a PyTorch user "
        "writes it (`benchmarks/lean_peers.py`); details in `REPORT_eval.md`, `REPORT_train.md`, `REPORT_cost.md`.",
        "", table, "",
        "### Where the time goes", "", profile_digest(results["profile"]), "",
        "Generated from these files by `python benchmarks/docs_tables.py` (and `report.py --render`):", "",
        sources(results)])


def _span(rows, words):
    """'0.27–1.47× {words}' over the rows' measured ratios, or that they were not measured."""
    values = [r["value"] for r in rows if r["value"] is not None]
    return f"{min(values):.2f}–{max(values):.2f}× {words}" if values else f"a speed not measured yet against {words}"


def _count(rows):
    measured = [r for r in rows if r["met"] is not None]
    return f"{sum(r['met'] for r in measured)} of {len(measured)} met" if measured else "not measured"


def readme_paragraph(results, width=88):
    """The README's speed paragraph: a few key figures and how many targets they meet, and the link."""
    rows = summary_rows(results)
    group = {g: [r for r in rows if r["group"] == g] for g in ("eval", "train", "cost", "headline")}
    cost = [r["met"] for r in group["cost"] if r["met"] is not None]
    head = group["headline"][0]
    demo = (f"The two-moons tour took {head['measured']} against a target of {HEADLINE_TARGET:g} s: {head['verdict']}, "
            f"the {head['run'].split(' · ')[-1].replace('load', 'load average')}." if head["value"] is not None
            else "The two-moons tour has not been timed yet.")
    text = (f"**Speed.** On one CPU thread, tinygen trains the lecture's models at "
            f"{_span(group['train'], 'the speed of the PyTorch a user would write')} (targets: "
            f"{_count(group['train'])}), and computes log p or samples 10⁵ points at "
            f"{_span(group['eval'], 'torch float32')} (target ≥ {THROUGHPUT_TARGET:g}×: {_count(group['eval'])}). "
            f"On larger models (the cost curve) its worst points run at {_span(group['cost'], 'torch float64')} "
            f"(target ≥ {COST_TARGET:g}× at every point: "
            f"{('met' if all(cost) else 'not met') if cost else 'not measured'}). {demo} Every ratio, its target "
            "and its run: [benchmarks/REPORT.md](benchmarks/REPORT.md#speed-every-target-met-or-not).")
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def pointer(what, report, script):
    """What replaces one of REPORT.md's own speed sections now that a dedicated benchmark measures it."""
    return (f"Superseded: {what} is measured by `benchmarks/{script}` against the PyTorch a user would write; its "
            f"ratios are in the summary at the top of this report (with their date) and in full in `benchmarks/"
            f"{report}`. This report's own run (its date above, against the generic peers of `peers.py`, before "
            "the untraced fast path) keeps these figures in `results.json` and in the table of `docs/benchmarks.md`.")


POINTERS = {"train": pointer("the training speed", "REPORT_train.md", "bench_train.py"),
            "throughput": pointer("sampling and log p of 10⁵ points", "REPORT_eval.md", "bench_eval.py")}
