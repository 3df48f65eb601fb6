"""Where the time goes: one training step and one log p call of every family, split into buckets.

For each family at the lecture's sizes (tinygen.recipes.RECIPES: RealNVP-8, MAF-5, spline flow-4, MADE,
the VAE with a Gaussian and with an IAF posterior; tinygen.arm.recipes: the RNN and the transformer on
sequences of T = 16 symbols of tinygen.data.MarkovSource), on one BLAS thread:

    step    ``tinygen.fit`` for a few steps at the recipe's batch size and lr, per step
    log_p   ``model.log_prob`` of n points inside ``tinygen.fast.installed()``, as tinygen.evaluate
            runs it (the VAEs: the IWAE estimate with K = 5; the sequence models: n / 10 sequences)

each timed with a plain clock (the total) and run once under cProfile. cProfile's own time per function
(tottime) is sorted into buckets by where the function lives:

    checks        tinygen/_validate.py, tinygen/_params_check.py
    Adam          tinygen/optim.py (the optimizer's update and its flattening)
    BLAS          NumPy calls named matmul / dot / einsum / tensordot / inner that cProfile sees
    elementwise   the other NumPy calls cProfile sees (ufunc methods, array methods)
    Python        the own time of every other Python function (tinygen/, autograd/, the caller)

A helper with no bucket of its own (tinygen/tree.py, NumPy's Python wrappers, builtins) hands its time to
its callers' buckets, in proportion to the time each caller spent in it.

The limit: cProfile does not see a ufunc call or an ``a @ b`` made from a Python line; their time lands
in that line's function, the Python bucket. Two measurements split it back out: the same call at a tiny
size (batch 1; for log p the same number of row blocks, one row each) holds the Python bucket's
per-operation cost alone, and the rest of the Python bucket at full size is native work; of it, the time
of the call's matrix products replayed alone (recorded on the reference path, at the shapes it runs
them) goes to BLAS and the remainder to elementwise. cProfile's per-call cost also inflates Python-heavy
code, so the shares lean towards Python; the plain-clock total is given beside the profiled one.

The floor: the call's matmul FLOPs (2 m k n per product, counted on the reference path, forward and
backward) over this CPU's one-thread dgemm peak (common.dgemm_peak).

Writes benchmarks/results_profile.json and benchmarks/REPORT_profile.md (--quick: *_quick, small n).
Run: python benchmarks/bench_profile.py [--quick]   (sets OMP_NUM_THREADS=1 itself)
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import argparse
import cProfile
import math
import pstats
import time

import autograd
import autograd.numpy as anp
import autograd.numpy.numpy_wrapper as wrapper
import common
import numpy as onp
from threadpoolctl import threadpool_limits

import tinygen
from tinygen import data, fast
from tinygen.arm.recipes import sequence_recipes
from tinygen.fast import blocks
from tinygen.recipes import RECIPES

HERE = os.path.dirname(os.path.abspath(__file__))
T, V, VAE_K = 16, 4, 5
FAMILIES = {"realnvp": "RealNVP-8", "maf": "MAF-5", "spline": "spline flow-4", "made": "MADE",
            "vae": "VAE (Gaussian q)", "vae_iaf": "VAE (IAF-2 q)", "rnn": "RNN", "transformer": "transformer"}
SEQUENCE = {"rnn": "RNN", "transformer": "transformer"}
BUCKETS = ("blas", "elementwise", "python", "checks", "adam")
OWN_FILES = {"tinygen/_validate.py": "checks", "tinygen/_params_check.py": "checks", "tinygen/optim.py": "adam"}
INHERIT_FILES = ("tinygen/tree.py", "/numpy/")
BLAS_NAMES = ("matmul", "dot", "einsum", "tensordot", "inner")


def family(name, n):
    """(recipe, model, params, training data, log p points, log p keywords)."""
    if name in SEQUENCE:
        recipe = sequence_recipes(V, T)[SEQUENCE[name]]
        source = data.MarkovSource(vocab_size=V, order=2, rng=0)
        x_train, x_eval = source.sample(2000, 1, T=T), source.sample(max(1, n // 10), 2, T=T)
    else:
        recipe = RECIPES[name]
        x_train, x_eval = data.two_moons(2000, noise=0.05, rng=1), data.two_moons(n, noise=0.05, rng=2)
    model = recipe.build()
    kw = {"k": VAE_K, "rng": 0} if name.startswith("vae") else {}
    return recipe, model, model.init(0), x_train, x_eval, kw


def step_fn(recipe, model, params, x, steps, batch_size=None):
    def run():
        tinygen.fit(model, params, x, steps=steps, batch_size=batch_size or recipe.batch_size, lr=recipe.lr,
                    rng=3, progress=False)
    return run


def log_p_fn(model, params, x, kw):
    def run():
        with fast.installed():
            model.log_prob(params, x, **kw)
    return run


# ---------------------------------------------------------------- matrix products
class Products:
    """Records the shapes of every product autograd runs, forward (the model modules' np.matmul / np.dot)
    and backward (autograd's VJPs, which call numpy_wrapper's)."""

    def __enter__(self):
        self.shapes, self.saved = [], []
        for module in (anp, wrapper):
            for name in ("matmul", "dot"):
                original = getattr(module, name)

                def product(a, b, _original=original):
                    self.shapes.append((onp.shape(a), onp.shape(b)))
                    return _original(a, b)
                self.saved.append((module, name, original))
                setattr(module, name, product)
        return self

    def __exit__(self, *exc):
        for module, name, original in reversed(self.saved):
            setattr(module, name, original)

    def flops(self):
        return sum(2 * math.prod(a) * b[-1] for a, b in self.shapes)  # 2 (m k) n per product

    def replay_seconds(self, outer=False):
        """The recorded products alone, on arrays of their shapes made before the clock starts; with
        ``outer``, a one-input layer (k = 1) as the broadcast product the untraced path runs (fast/blocks.py)."""
        arrays = {s: (onp.full(s[0], 0.5), onp.full(s[1], 0.25)) for s in set(self.shapes)}
        start = time.perf_counter()
        for s in self.shapes:
            a, b = arrays[s]
            a * b[0] if outer and s[1][0] == 1 and b.ndim == 2 else onp.matmul(a, b)
        return time.perf_counter() - start


def products(op, recipe, model, params, x, kw):
    """The products of one call on the reference path: a gradient of the loss at the recipe's batch
    (step), or the log p call (log_p)."""
    with fast.disabled(), Products() as log:
        if op == "step":
            batch = x[:recipe.batch_size]
            autograd.grad(lambda p: model.loss(p, batch, 0))(params)
        else:
            model.log_prob(params, x, **kw)
    return log


# ---------------------------------------------------------------- cProfile buckets
def kind(func):
    """A function's bucket, "numpy" (a NumPy C call: elementwise, or its caller's checks / Adam) or
    "inherit" (its callers' buckets)."""
    path, _, name = func
    if path == "~":
        if any(b in name for b in BLAS_NAMES):
            return "blas"
        return "numpy" if "numpy" in name else "inherit"
    path = path.replace(os.sep, "/")
    for suffix, bucket in OWN_FILES.items():
        if path.endswith(suffix):
            return bucket
    return "inherit" if any(part in path for part in INHERIT_FILES) else "python"


def shares_of(func, stats, memo, stack=()):
    """{bucket: fraction} of ``func``'s own time, through its callers for the functions that inherit."""
    if func in memo:
        return memo[func]
    k = kind(func)
    if k in BUCKETS:
        return memo.setdefault(func, {k: 1.0})
    callers = stats[func][4]
    total = sum(v[2] for v in callers.values())
    parents = ([({"python": 1.0}, 1.0)] if func in stack or total <= 0 else
               [(shares_of(c, stats, memo, stack + (func,)), v[2] / total) for c, v in callers.items()])
    out = {}
    for dist, weight in parents:
        for bucket, frac in dist.items():
            bucket = "elementwise" if k == "numpy" and bucket == "python" else bucket
            out[bucket] = out.get(bucket, 0.0) + weight * frac
    memo[func] = out
    return out


def profiled_buckets(fn):
    """{bucket: cProfile seconds} of one call of ``fn``."""
    prof = cProfile.Profile()
    prof.runcall(fn)
    stats, memo, out = pstats.Stats(prof).stats, {}, dict.fromkeys(BUCKETS, 0.0)
    for func, (_, _, tottime, _, _) in stats.items():
        for bucket, frac in shares_of(func, stats, memo).items():
            out[bucket] += tottime * frac
    return out


def measure(op, name, n, steps, repeats, peak):
    """The buckets, totals and floor of one family's step (per step) or log p call."""
    recipe, model, params, x_train, x_eval, kw = family(name, n)
    if op == "step":
        full, small, per = step_fn(recipe, model, params, x_train, steps), \
            step_fn(recipe, model, params, x_train, steps, batch_size=1), steps
        log = products(op, recipe, model, params, x_train, kw)
    else:
        full, per = log_p_fn(model, params, x_eval, kw), 1
        n_blocks = len(blocks.row_blocks(len(x_eval)))
        small = log_p_fn(model, params, x_eval[:n_blocks], kw)
        log = products(op, recipe, model, params, x_eval, kw)
    full()  # warm-up: first-call caches (masks, registered kernels)
    total = common.alternating_seconds([full], repeats)[0] / per  # plain clock, median
    prof = {b: s / per for b, s in profiled_buckets(full).items()}
    saved = blocks.BLOCK
    try:
        blocks.BLOCK = 1  # the small log p call runs as many blocks as the full one, one row each
        overhead = profiled_buckets(small)["python"] / per
    finally:
        blocks.BLOCK = saved
    replay = log.replay_seconds(outer=op == "log_p")  # one gradient (step) or one call (log p)
    python_full = prof["python"]
    native = max(python_full - overhead, 0.0)  # ufunc and @ work that cProfile charged to Python lines
    blas_hidden = min(max(replay - prof["blas"], 0.0), native)
    buckets = {"blas": prof["blas"] + blas_hidden, "elementwise": prof["elementwise"] + native - blas_hidden,
               "python": min(overhead, python_full), "checks": prof["checks"], "adam": prof["adam"]}
    flops = log.flops()
    return {"total": total, "profiled": sum(buckets.values()), "buckets": buckets, "replay": replay,
            "gflop": flops / 1e9, "floor": flops / 1e9 / peak, "products": len(log.shapes),
            "rows": recipe.batch_size if op == "step" else len(x_eval)}


# ---------------------------------------------------------------- report
LABELS = {"blas": "BLAS", "elementwise": "elementwise", "python": "Python & autograd", "checks": "checks",
          "adam": "Adam"}
OPS = {"step": "one training step", "log_p": "one log p call"}


def table(res, op):
    header = ["family", "rows", "total (ms)", "profiled (ms)"] + [LABELS[b] for b in BUCKETS] + \
        ["GFLOP", "floor (ms)", "total ÷ floor"]
    rows = []
    for name, label in FAMILIES.items():
        r = res["families"][name][op]
        shares = [f"{r['buckets'][b] / r['profiled']:.0%}" for b in BUCKETS]
        rows.append([label, r["rows"], f"{1e3 * r['total']:.3g}", f"{1e3 * r['profiled']:.3g}", *shares,
                     f"{r['gflop']:.3g}", f"{1e3 * r['floor']:.3g}", f"{r['total'] / r['floor']:.0f}×"])
    return common.markdown_table(header, rows)


def what_this_says(res, op):
    """Sentences generated from the figures: the dominant bucket of each family, and how far above its floor."""
    by_top = {}
    for name, label in FAMILIES.items():
        r = res["families"][name][op]
        top = max(BUCKETS, key=lambda b: r["buckets"][b])
        by_top.setdefault(top, []).append(f"{label} ({r['buckets'][top] / r['profiled']:.0%})")
    ratios = {FAMILIES[k]: v[op]["total"] / v[op]["floor"] for k, v in res["families"].items()}
    near, far = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
    parts = [f"{LABELS[b]} is the largest bucket for {', '.join(v)}" for b, v in by_top.items()]
    return (f"For {OPS[op]}: " + "; ".join(parts) + f". The closest to the arithmetic floor is {near} "
            f"({ratios[near]:.0f}× its floor), the farthest {far} ({ratios[far]:.0f}×).")


def report(res):
    lines = ["# Where the time goes: a profile of every family, and the float64 arithmetic floor", "",
             f"Generated by `{res['command']}` (benchmarks/bench_profile.py); do not edit by hand.", "",
             f"Machine: {res['machine']}. Load average (1 min) {res['load'][0]:.1f} at the start and "
             f"{res['load'][1]:.1f} at the end, on {os.cpu_count()} cores: on a busy machine every figure is noisy.",
             "", f"dgemm peak, one thread: {res['peak']['peak']:.1f} GFLOP/s (square products "
             + ", ".join(f"{k}^2 {v:.1f}" for k, v in res["peak"]["square"].items()) + "; at the models' shapes "
             + ", ".join(f"{k} {v:.1f}" for k, v in res["peak"]["shapes"].items()) + ").", "",
             f"Step: `tinygen.fit` for {res['steps']} steps at the recipe's batch and lr, per step. log p: "
             f"{res['n']} points inside `tinygen.fast.installed()` (the VAEs' IWAE estimate with K = {VAE_K}; "
             f"the sequence models {max(1, res['n'] // 10)} sequences of {T} symbols). *total* = plain clock, "
             f"median of {res['repeats']}; *profiled* = the same call under cProfile, whose shares the bucket "
             "columns give; *floor* = matmul FLOPs / dgemm peak.", "",
             "How the buckets are made (bench_profile.py's docstring has the whole rule): cProfile's own time per "
             "function, sorted by where the function lives (tinygen/_validate.py: checks; tinygen/optim.py: "
             "Adam; NumPy calls cProfile sees: BLAS by name, else elementwise; other Python: Python & autograd). "
             "cProfile does not see a ufunc or `@` called from a Python line; that native time is split back out "
             "with the same call at a tiny size (its Python time is the per-operation overhead) and the call's "
             "matrix products replayed alone (BLAS), the rest elementwise. Limits: cProfile's per-call cost "
             "inflates the Python share; the products are recorded on the reference path (the fast path may "
             "run fewer, e.g. a one-input layer as a broadcast); checks and Adam include the NumPy work they do.",
             ""]
    for op in OPS:
        lines += [f"## {OPS[op].capitalize()}", "", table(res, op), "", what_this_says(res, op), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 points, 5 steps, one timed run (about 30 s)")
    args = parser.parse_args()
    n, steps, repeats = (10_000, 5, 1) if args.quick else (common.N_THROUGHPUT, 20, 3)
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    peak = common.dgemm_peak()
    res = {"command": common.command("benchmarks/bench_profile.py"), "machine": common.machine(), "n": n,
           "steps": steps, "repeats": repeats, "peak": peak, "families": {}}
    with threadpool_limits(limits=1, user_api="blas"):
        for name, label in FAMILIES.items():
            res["families"][name] = {op: measure(op, name, n, steps, repeats, peak["peak"]) for op in OPS}
            for op, r in res["families"][name].items():
                print(f"{label:17s} {op:5s} total {1e3 * r['total']:8.2f} ms  floor {1e3 * r['floor']:7.3f} ms  "
                      + "  ".join(f"{b} {r['buckets'][b] / r['profiled']:4.0%}" for b in BUCKETS), flush=True)
    res["load"] = [load0, os.getloadavg()[0]]
    res["seconds"] = time.perf_counter() - start
    suffix = "_quick" if args.quick else ""
    common.write_json(res, os.path.join(HERE, f"results_profile{suffix}.json"))
    with open(os.path.join(HERE, f"REPORT_profile{suffix}.md"), "w") as f:
        f.write(report(res))
    print(f"wrote benchmarks/results_profile{suffix}.json and REPORT_profile{suffix}.md in {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
