"""The cost curve as words and tables: REPORT_cost.md and the paragraph in docs/benchmarks.md, from results_cost.json.

``benchmarks/bench_cost.py`` measures and writes ``results_cost.json``; everything a
reader sees is rendered here from that file, so no figure is typed by hand. Plain
Python (json, no numpy, no torch, no tinygen), so the paragraph in docs/benchmarks.md is checked
cheaply in the tests.

results_cost.json holds

    run      command, date, machine, seconds (the whole benchmark), blocks, block_seconds, repeats,
             n_train, n_log_p, lr, seed, quick
    models   {key: label};  data  {D: what the D-dimensional data are};  z_dim  {D: the VAE's latent size}
    train    rows: model, label, D, width, batch, params, block (steps per timed block),
             steps_per_s {tinygen, float32, float64}
    log_p    rows: model, label, D, width, params, n, seconds {tinygen, float32, float64}
    peak     (optional) this CPU's one-thread float64 matmul rate: peak, square, shapes (GFLOP/s),
             machine, load (common.dgemm_peak); ``bench_cost.py --peak`` measures it afresh

With a peak, every row also gets its matmul FLOPs (counted below from the layer shapes), tinygen's
GFLOP/s and fraction of the peak, and the arithmetic floor FLOPs / peak: the time the row would take
if it did nothing but its matrix products at this CPU's best dgemm rate.

A torch figure is null when torch was not importable. The "work" of a row is what
torch float32 needs for it: seconds per training step, or seconds for the log p call.
"""
import math
import statistics

import report_tables as tables
from report_tables import load, markdown_table  # noqa: F401  (one loader, one table writer)

KINDS = {"train": "training step", "log_p": "log p call"}
REALNVP_LAYERS = 4  # the couplings of the curve's RealNVP (bench_cost.MODELS builds it from this)
SIDES = ("tinygen", "float32", "float64")  # the keys of steps_per_s and seconds


def work_and_ratios(results, kind):
    """[(work, tinygen / torch f32, tinygen / torch f64, row)] of the rows torch timed, by work.

    Ratios are speeds: steps/s over steps/s, or torch seconds over tinygen seconds."""
    out = []
    for row in results[kind]:
        if kind == "train":
            v = row["steps_per_s"]
            work = None if v["float32"] is None else 1.0 / v["float32"]
            r32, r64 = tables.speedup(v["tinygen"], v["float32"]), tables.speedup(v["tinygen"], v["float64"])
        else:
            v = row["seconds"]
            work = v["float32"]
            r32 = tables.speedup(v["tinygen"], v["float32"], seconds=True)
            r64 = tables.speedup(v["tinygen"], v["float64"], seconds=True)
        if work is not None:
            out.append((work, r32, r64, row))
    return sorted(out, key=lambda p: p[0])


def crossover(points):
    """(first_slow, last_fast): the least work at which tinygen is slower than torch float32
    (ratio < 1) and the most work at which it is not (ratio >= 1); None where there is none.
    Below first_slow tinygen is never slower; above last_fast it is always slower."""
    slow = [w for w, r, _, _ in points if r < 1]
    fast = [w for w, r, _, _ in points if r >= 1]
    return (min(slow) if slow else None), (max(fast) if fast else None)


def seconds(s):
    """A duration as a reader wants it: 0.42 ms, 12 ms, 1.3 s."""
    if s < 0.01:
        return f"{s * 1e3:.2g} ms"
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2g} s"


def where(row):
    return f"{row['label']}, D = {row['D']}, width {row['width']}" + (
        f", batch {row['batch']}" if "batch" in row else "")


def _median(values):
    return statistics.median(values) if values else None


def summary(results, kind):
    """The figures the prose quotes, for one kind (train / log_p), or None without torch."""
    points = work_and_ratios(results, kind)
    if not points:
        return None
    first_slow, last_fast = crossover(points)
    small = [p for p in points if first_slow is None or p[0] < first_slow]  # never slower here
    large = [p for p in points if last_fast is None or p[0] > last_fast]  # always slower here
    return {"points": points, "first_slow": first_slow, "last_fast": last_fast,
            "lightest": points[0], "heaviest": points[-1],
            "small_r32": _median([p[1] for p in small]), "large_r32": _median([p[1] for p in large]),
            "large_r64": _median([p[2] for p in large]), "n_small": len(small), "n_large": len(large),
            "lo": min(p[1] for p in points), "hi": max(p[1] for p in points)}


def why_slower(r64):
    """Why torch float32 wins on large arrays, with what the float64 ratio adds to it."""
    text = "the arrays are large there, and float32 moves half of float64's bytes"
    if r64 < 1:
        text += (", but tinygen trails PyTorch's float64 as well, so part of the gap is tinygen's own array work "
                 "rather than precision")
    return text


def by_width_batch(results):
    """{(width, batch): [tinygen / torch f32 of every model and D]} of the training rows torch timed."""
    cells = {}
    for _, r32, _, row in work_and_ratios(results, "train"):
        cells.setdefault((row["width"], row["batch"]), []).append(r32)
    return cells


def width_batch_table(results):
    """Median tinygen / torch float32 training speed over models and D, one row per width, one column
    per batch, with the range."""
    cells = by_width_batch(results)
    widths, batches = sorted({w for w, _ in cells}), sorted({b for _, b in cells})

    def cell(key):
        v = cells.get(key)
        return "—" if not v else f"{_median(v):.2f}× ({min(v):.2f}–{max(v):.2f})"
    return markdown_table(["tinygen ÷ torch f32, median (range)"] + [f"batch {b}" for b in batches],
                          [[f"width {w}"] + [cell((w, b)) for b in batches] for w in widths])


def ahead(results):
    """A sentence: the (width, batch) cells where tinygen's median training speed is at least torch float32's."""
    cells = by_width_batch(results)
    won = {}
    for (w, b), v in sorted(cells.items()):
        if _median(v) >= 1:
            won.setdefault(w, []).append(str(b))
    if not won:
        return "Over models and D, tinygen's median is below torch float32's at every width and batch measured."
    where_won = "; ".join(f"width {w} with batch {' and '.join(b)}" for w, b in won.items())
    n_won = sum(len(b) for b in won.values())
    return (f"Over models and D, tinygen's median is at least torch float32's at {where_won}, and below it at "
            f"the other {len(cells) - n_won} of {len(cells)} width–batch pairs.")


def prose(results, kind):
    """What the figures say for one kind, in sentences generated from them."""
    s = summary(results, kind)
    what = KINDS[kind]
    if s is None:
        return f"Torch was not importable: no ratios for the {what}."
    n, (w0, r0, _, row0), (w1, r1, r1_64, row1) = len(s["points"]), s["lightest"], s["heaviest"]
    text = (f"The lightest {what} measured ({where(row0)}) takes torch float32 {seconds(w0)}; there tinygen "
            f"runs at {tables.times(r0)} its speed. The heaviest ({where(row1)}) takes {seconds(w1)}, and "
            f"tinygen runs at {tables.times(r1)} of torch float32 and {tables.times(r1_64)} of torch float64. ")
    if s["first_slow"] is None:
        return text + (f"tinygen is at least as fast as torch float32 in all {n} configurations (ratios "
                       f"{s['lo']:.2f}–{s['hi']:.2f}).")
    if s["last_fast"] is None:
        return text + (f"Torch float32 is faster in all {n} configurations (tinygen at {s['lo']:.2f}–{s['hi']:.2f}× "
                       f"its speed, median {s['large_r32']:.2f}; against float64 the median is {s['large_r64']:.2f}: "
                       f"{why_slower(s['large_r64'])}).")
    clean = s["last_fast"] < s["first_slow"]  # one threshold splits the fast from the slow
    parts = []
    if s["n_small"]:
        limit = f"up to {seconds(s['last_fast'])}" if clean else f"below {seconds(s['first_slow'])}"
        parts.append(f"tinygen is at least as fast as torch float32 in every configuration that costs torch float32 "
                     f"{limit} per {what} ({s['n_small']} of {n}, median ratio {s['small_r32']:.2f}: fixed "
                     f"per-operation costs weigh most there)")
    if s["n_large"]:
        limit = f"from {seconds(s['first_slow'])} on" if clean else f"above {seconds(s['last_fast'])}"
        parts.append(f"torch float32 is faster in every configuration {limit} ({s['n_large']} of {n}, median ratio "
                     f"{s['large_r32']:.2f} against float32 and {s['large_r64']:.2f} against float64: "
                     f"{why_slower(s['large_r64'])})")
    if not clean:
        parts.append(f"between {seconds(s['first_slow'])} and {seconds(s['last_fast'])} "
                     f"({n - s['n_small'] - s['n_large']} of {n}) it depends on the model and the shape")
    return text + "Ordered by that work: " + "; ".join(parts) + "."


def sources(results):
    r = results["run"]
    return f"`{r['command']}` on {r['date']}, {r['seconds'] / 60:.1f} minutes"


def grid(results):
    """The sizes measured, in words: models, D, widths and batches."""
    def listed(key, rows):
        return ", ".join(str(v) for v in sorted({row[key] for row in rows}))
    return (f"{', '.join(results['models'].values())} at D = {listed('D', results['train'])}, hidden width "
            f"{listed('width', results['train'])}, batch {listed('batch', results['train'])}")


def docs_paragraph(results):
    """The cost-curve paragraph of docs/benchmarks.md: what to expect, when tinygen is outgrown, and the source."""
    s, d = summary(results, "train"), summary(results, "log_p")
    text = f"**The cost curve** (`benchmarks/REPORT_cost.md`; {grid(results)}). "
    if s is None:
        text += "It was run without torch: there are no ratios to quote."
    else:
        text += (f"Training speed relative to PyTorch float32 on one thread goes from "
                 f"{tables.times(s['lightest'][1])} at the lightest step measured ({seconds(s['lightest'][0])} in "
                 f"torch float32) to {tables.times(s['heaviest'][1])} at the heaviest ({seconds(s['heaviest'][0])}). ")
        if s["first_slow"] is None:
            text += "tinygen kept up with torch float32 at every size measured."
        elif s["last_fast"] is None:
            text += (f"Torch float32 was faster at every size measured (median {tables.times(s['large_r32'])}; "
                     f"{tables.times(s['large_r64'])} of float64).")
        elif s["n_large"]:
            text += (f"Once a step costs more than about {seconds(s['last_fast'])} in torch float32, every "
                     f"configuration measured was slower in tinygen (median {tables.times(s['large_r32'])} of "
                     f"float32's speed, {tables.times(s['large_r64'])} of float64's): per-operation overhead no "
                     f"longer dominates; {why_slower(s['large_r64'])}. A model that size has outgrown tinygen.")
        else:
            text += "The heaviest step measured was not slower in tinygen: no size here has outgrown it."
        if d is not None:
            r32, r64 = (_median([p[i] for p in d["points"]]) for i in (1, 2))
            text += (f" log p of {results['log_p'][0]['n']:,} points runs at {d['lo']:.2f}–{d['hi']:.2f}× torch "
                     f"float32's speed (median {r32:.2f}×; {r64:.2f}× of float64's).")
    blocks = [text] if s is None else [text, width_batch_table(results) + "\n\n" + ahead(results)]
    source = (f"Generated from `benchmarks/results_cost.json` by `python benchmarks/docs_tables.py`; "
              f"measured by {sources(results)}.")
    return "\n\n".join(blocks + [source])


# ---------------------------------------------------------------- the arithmetic floor
def layers(row, z_dim):
    """The dense layers one point goes through, [(n_in, n_out, reads_data)]: each is a product
    (rows, n_in) @ (n_in, n_out); reads_data marks a layer whose input is the data (no gradient)."""
    D, w = row["D"], row["width"]
    if row["model"] == "made":  # D -> w -> w -> 2 D (a mean and a log-scale per coordinate)
        return [(D, w, True), (w, w, False), (w, 2 * D, False)]
    if row["model"] == "realnvp":  # per coupling D/2 -> w -> w -> 2 (D - D/2) (shift, log-scale of the other half)
        h = D // 2
        return [layer for i in range(REALNVP_LAYERS) for layer in ((h, w, i == 0), (w, w, False),
                                                                  (w, 2 * (D - h), False))]
    if row["model"] == "vae":  # encoder D -> w -> w -> 2 z (mean, log-sd); decoder z -> w -> w -> D (the mean)
        return [(D, w, True), (w, w, False), (w, 2 * z_dim, False),
                (z_dim, w, False), (w, w, False), (w, D, False)]
    raise ValueError(f"model: expected one of made, realnvp, vae, got {row['model']!r}")


def matmul_flops(row, z_dim, kind):
    """Matmul FLOPs of one call: 2 m k n per product (m, k) @ (k, n).

    log p of n points:   sum over layers of 2 n a b                      (the forward pass)
    training step, batch B: sum of 2 B a b (forward) + 2 B a b (dL/dW = h^T delta)
                            + 2 B a b (dL/dh = delta W^T, not for a layer that reads the data):
                         3x the forward, 2x for the data-reading layers. The VAE's step (one z per point)
                         and log p (K = 1) run the encoder and decoder once per point. Biases, activations,
                         Adam: elementwise, no matmul."""
    rows = row["batch"] if kind == "train" else row["n"]
    if kind == "log_p":
        return sum(2 * rows * a * b for a, b, _ in layers(row, z_dim))
    return sum(2 * rows * a * b * (2 if data else 3) for a, b, data in layers(row, z_dim))


def floor_figures(results, kind):
    """[(flops, tinygen GFLOP/s, fraction of peak, floor seconds)] per row of ``kind``, or None without a peak."""
    peak = results.get("peak")
    if not peak:
        return None
    out = []
    for row in results[kind]:
        flops = matmul_flops(row, results["z_dim"][str(row["D"])], kind)
        secs = 1.0 / row["steps_per_s"]["tinygen"] if kind == "train" else row["seconds"]["tinygen"]
        rate = flops / secs / 1e9
        out.append((flops, rate, rate / peak["peak"], flops / (peak["peak"] * 1e9)))
    return out


def _cpu(machine):
    return machine.split(",")[0]


def floor_prose(results):
    """What the floor columns say: the peak, the best and worst fraction of it, and whether the peak
    was measured on the CPU that ran the curve."""
    peak = results.get("peak")
    if not peak:
        return "No dgemm peak in results_cost.json: run `python benchmarks/bench_cost.py --peak` for the floor columns."
    shapes = ", ".join(f"{k}: {v:.1f}" for k, v in peak["shapes"].items())
    square = ", ".join(f"{k}^2: {v:.1f}" for k, v in peak["square"].items())
    date, cores = peak["machine"].split("; ")[-1], peak["machine"].split(", ")[1].split(" ")[0]
    text = (f"**Against this CPU's limit.** The float64 matmul rate on one thread, measured {date} "
            f"(load average {peak['load']:.1f} on {cores} cores): "
            f"square products {square} GFLOP/s; at the models' shapes {shapes} GFLOP/s; the peak, the best of "
            f"these, {peak['peak']:.1f} GFLOP/s. Each row's FLOPs are its matrix products, counted from the layer "
            "shapes (`cost_tables.matmul_flops`); *floor* = FLOPs / peak, the time of the products alone at the "
            "peak rate, a lower bound for any float64 code; *of peak* = tinygen's FLOPs per second over the peak.")
    for kind in KINDS:
        figs = floor_figures(results, kind)
        if not figs:
            continue
        pairs = sorted(zip(figs, results[kind]), key=lambda p: p[0][2])
        (lo, lo_row), (hi, hi_row) = pairs[0], pairs[-1]
        text += (f" {KINDS[kind].capitalize()}: from {lo[2]:.1%} of peak ({where(lo_row)}, {sig3(lo[0] / 1e6)} MFLOP) "
                 f"to {hi[2]:.1%} ({where(hi_row)}, {sig3(hi[0] / 1e6)} MFLOP).")
    if _cpu(peak["machine"]) != _cpu(results["run"]["machine"]):
        text += (f" **The peak was measured on {_cpu(peak['machine'])}, the curve on {_cpu(results['run']['machine'])}:"
                 " the fractions divide one machine's speed by another's and only indicate the order of magnitude;"
                 " a full run of bench_cost.py measures both on the same CPU.**")
    return text


def sig3(v):
    """A positive number to three significant digits, without an exponent: 0.0123, 4.56, 7,890."""
    return f"{v:,.{max(0, 2 - math.floor(math.log10(v)))}f}" if v > 0 else "0"


def floor_cells(figs, i):
    """The four floor columns of row i (none without a peak)."""
    if figs is None:
        return []
    flops, rate, frac, floor = figs[i]
    return [sig3(flops / 1e6), sig3(rate), f"{frac:.1%}", sig3(floor * 1e3)]


FLOOR_HEADER = ["MFLOP (matmul)", "tinygen GFLOP/s", "of peak", "floor (ms)"]


def train_table(results):
    rows, figs = [], floor_figures(results, "train")
    for i, row in enumerate(results["train"]):
        v = row["steps_per_s"]
        rows.append([row["label"], row["D"], row["width"], row["batch"], row["params"], f"{v['tinygen']:.1f}",
                     tables.fmt(v["float32"], ".1f"), tables.fmt(v["float64"], ".1f"),
                     tables.times(tables.speedup(v["tinygen"], v["float32"])),
                     tables.times(tables.speedup(v["tinygen"], v["float64"]))] + floor_cells(figs, i))
    return markdown_table(["model", "D", "width", "batch", "params", "tinygen steps/s", "torch f32 steps/s",
                           "torch f64 steps/s", "tinygen ÷ torch f32", "tinygen ÷ torch f64"]
                          + (FLOOR_HEADER if figs else []), rows)


def log_p_table(results):
    rows, figs = [], floor_figures(results, "log_p")
    for i, row in enumerate(results["log_p"]):
        v = row["seconds"]
        rows.append([row["label"], row["D"], row["width"], row["params"], f"{v['tinygen']:.3f}",
                     tables.fmt(v["float32"]), tables.fmt(v["float64"]),
                     tables.times(tables.speedup(v["tinygen"], v["float32"], seconds=True)),
                     tables.times(tables.speedup(v["tinygen"], v["float64"], seconds=True))] + floor_cells(figs, i))
    return markdown_table(["model", "D", "width", "params", "tinygen s", "torch f32 s", "torch f64 s",
                           "tinygen ÷ torch f32", "tinygen ÷ torch f64"] + (FLOOR_HEADER if figs else []), rows)


def report_markdown(results, figure="cost_curve.png"):
    """The whole of benchmarks/REPORT_cost.md."""
    r = results["run"]
    data = "; ".join(f"D = {d}: {text}" for d, text in results["data"].items())
    z = ", ".join(f"{results['z_dim'][d]} for D = {d}" for d in results["z_dim"])
    n_log_p = results["log_p"][0]["n"] if results["log_p"] else r["n_log_p"]
    return "\n".join([
        "# tinygen cost curve: training step and log p as the work grows", "",
        f"Machine: {r['machine']}.", "", f"Produced by {sources(results)}.", "",
        *(["A smoke run (`--quick`): tiny sizes, one block of one step; its figures measure nothing.", ""]
          if r["quick"] else []),
        f"Models: {', '.join(results['models'].values())}, each with two hidden layers of the given width "
        f"(ReLU). The VAE's latent size is max(2, D / 4): {z}. Data: {data}. Training: Adam (lr {r['lr']}) on "
        f"minibatches drawn from {r['n_train']:,} points; log p on {n_log_p:,} points (the VAE's is the K = 1 "
        f"importance estimate on both sides).", "",
        f"Each model's PyTorch peer (`benchmarks/peers.py`) starts from the same weights, in float32 and float64, "
        f"on one thread; tinygen runs with one BLAS thread. tinygen, torch float32 and torch float64 take turns "
        f"in {r['blocks']} timed blocks per configuration, each block sized from a two-step calibration to last "
        f"about {r['block_seconds']} s on the slowest side; the figure is the median over blocks. log p: the "
        f"median of {r['repeats']} calls, in turns. Measured on a shared machine: the turns give the three "
        f"sides the same load, so the ratios hold better than the raw speeds.", "",
        "## What to expect", "",
        prose(results, "train"), "",
        *([width_batch_table(results), "", ahead(results), ""] if summary(results, "train") else []),
        prose(results, "log_p"), "",
        floor_prose(results), "",
        *([f"![tinygen ÷ torch float32 against the work per call]({figure})", ""] if figure else []),
        "## Training step (Adam, one minibatch)", "", train_table(results), "",
        f"## log p of {n_log_p:,} points (seconds)", "", log_p_table(results), "",
        "Ratios are speeds: above 1, tinygen is faster.", ""])
