"""Benchmark: log p and sampling of 10^5 points, tinygen's untraced fast path against PyTorch CPU.

For every family of the recipes (RealNVP-8, MAF-5, spline flow-4, MADE, the Gaussian VAE, whose
log p is the importance-sampled IWAE estimate with K = 5 samples here: the recipes' score uses
K = 200, forty times the work per point), times in turns, one BLAS thread:

    tinygen    inside ``with tinygen.fast.installed():`` (the untraced kernels, tinygen/fast/)
    reference  a plain call outside any block (the model modules' code, the stepping route)
    torch f32 / f64   the peers of benchmarks/peers.py (same architecture and weights, no_grad)

and prints medians and ratios (torch seconds / tinygen seconds: above 1 tinygen is faster). Then the
profile: for each family and each path, where the time goes (the matmuls replayed alone at the
shapes the path ran them, the fixed cost of a call measured at n = 1, which holds the Python and
autograd per-operation cost and the params checks, and the rest: elementwise passes and memory),
with the float64 arithmetic floor (matmul FLOPs at this CPU's measured dgemm rate); the block
size sweep behind ``tinygen.fast.blocks.BLOCK``; and cProfile's top lines for RealNVP-8.
Writes benchmarks/results_eval.json and benchmarks/REPORT_eval.md.

Run: python benchmarks/bench_eval.py [--quick] [--repeats R]   (sets OMP_NUM_THREADS=1 itself)
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import argparse
import cProfile
import io
import pstats
import time

import autograd.numpy as anp
import common
import numpy as onp
import peers

from tinygen import data, fast
from tinygen._validate import check_params
from tinygen.fast import blocks, flow_values, model_values
from tinygen.recipes import RECIPES
from tinygen.vae import VAE

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = {"realnvp": "RealNVP-8", "maf": "MAF-5", "spline": "spline flow-4", "made": "MADE",
            "vae": "VAE (IWAE K = 5)"}
VAE_K = 5
PATHS = ("tinygen", "reference", "torch_f32", "torch_f64")


def cpu_seconds(fns, repeats):
    """Median CPU seconds of this process (``time.process_time``) of each zero-argument ``fn`` over
    ``repeats`` calls, taken in turns. CPU time, not wall time: on a machine shared with other work this
    process may get a fraction of a core, which wall time would count against whichever path ran then;
    with one thread everywhere, CPU time is the work each path does (cache sharing still adds noise)."""
    seconds = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.process_time()
            fn()
            seconds[i].append(time.process_time() - start)
    return [float(onp.median(s)) for s in seconds]


def setup(name, n):
    model = RECIPES[name].build()
    params = peers._perturbed(model.init(0), onp.random.default_rng(1))  # no identity layers
    x = data.two_moons(n, rng=2)
    kw = {"k": VAE_K} if isinstance(model, VAE) else {}
    return model, params, x, kw


def calls(model, params, x, kw, n):
    """{op: {path: zero-argument function}} for op in log_p, sample."""
    def inside(fn):
        def run():
            with fast.installed():
                return fn()
        return run
    def log_p():
        return model.log_prob(params, x, **kw)

    def sample():
        return model.sample(params, n, 3)

    out = {"log_p": {"tinygen": inside(log_p), "reference": log_p},
           "sample": {"tinygen": inside(sample), "reference": sample}}
    if peers.available():
        for key, dtype in (("torch_f32", "float32"), ("torch_f64", "float64")):
            peer = peers.make_peer(model, params, peers.torch_dtype(dtype))
            out["log_p"][key] = lambda peer=peer: peer.log_prob_np(x, **kw)
            out["sample"][key] = lambda peer=peer: peer.sample_np(n)
    return out


# ---------------------------------------------------------------- profile
class MatmulLog:
    """Records (rows, n_in, n_out) of every matmul an evaluation runs: the model modules' ``np.matmul``
    (nn.dense) and the untraced kernels' MLP passes (fast/blocks.mlp_values)."""

    def __enter__(self):
        self.shapes, self.saved = [], []
        original_matmul = anp.matmul

        def matmul(a, b):
            self.shapes.append((onp.shape(a)[:-1], onp.shape(b), False))
            return original_matmul(a, b)
        self._patch(anp, "matmul", matmul)
        for module in (flow_values, model_values):
            original = module.mlp_values

            def mlp_values(mlp, weights, x, _original=original):
                # a one-input layer is a broadcast product there, not a matmul (fast/blocks.py)
                self.shapes += [((x.shape[0],), W.shape, W.shape[0] == 1) for W, _ in weights]
                return _original(mlp, weights, x)
            self._patch(module, "mlp_values", mlp_values)
        return self

    def _patch(self, obj, name, value):
        self.saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def __exit__(self, *exc):
        for obj, name, value in reversed(self.saved):
            setattr(obj, name, value)

    def flops(self):
        return sum(2 * int(onp.prod(rows)) * W[0] * W[1] for rows, W, _ in self.shapes)

    def replay_seconds(self):
        """The recorded matmuls alone, on arrays of the same shapes (made before the clock starts)."""
        arrays = {}
        for rows, W, _ in self.shapes:
            key = (int(onp.prod(rows)), W)
            if key not in arrays:
                arrays[key] = (onp.ones((key[0], W[0])), onp.full(W, 0.5))
        start = time.process_time()
        for rows, W, outer in self.shapes:
            a, b = arrays[(int(onp.prod(rows)), W)]
            a * b[0] if outer else a @ b
        return time.process_time() - start


def dgemm_gflops():
    """This CPU's float64 matmul rate on one thread, GFLOP/s (median of 5 products of 1024^2 matrices)."""
    a, b = onp.ones((1024, 1024)), onp.full((1024, 1024), 0.5)
    times = []
    for _ in range(5):
        start = time.process_time()
        a @ b
        times.append(time.process_time() - start)
    return 2 * 1024 ** 3 / float(onp.median(times)) / 1e9


def profile(name, model, params, x, kw, fns, seconds, peak):
    """{op: {path: {...}}}: total, matmuls replayed, fixed cost per call, checks, rest, FLOPs, floor."""
    small = calls(model, params, x[:1], kw, 1)
    check_s = cpu_seconds([lambda: check_params(params, model)], 5)[0]
    out = {}
    for op in ("log_p", "sample"):
        out[op] = {}
        for path in ("tinygen", "reference"):
            with MatmulLog() as log:
                fns[op][path]()
            fixed = cpu_seconds([small[op][path]], 5)[0]
            total = seconds[op][path]
            blas = log.replay_seconds()
            out[op][path] = {"total": total, "matmul": blas, "fixed": fixed, "checks": check_s,
                             "rest": total - blas - fixed, "gflop": log.flops() / 1e9,
                             "floor": log.flops() / 1e9 / peak, "matmuls": len(log.shapes)}
    return out


def block_sweep(n, repeats):
    """Seconds of RealNVP-8's untraced log p of n points for several block sizes, timed in turns."""
    model, params, x, _ = setup("realnvp", n)
    sizes = [256, 512, 1024, 2048, 4096, 8192, 16384]
    saved = blocks.BLOCK

    def at(size):
        def run():
            blocks.BLOCK = size
            with fast.installed():
                model.log_prob(params, x)
        return run
    try:
        times = cpu_seconds([at(s) for s in sizes], repeats)
    finally:
        blocks.BLOCK = saved
    return dict(zip(sizes, times))


def top_lines(fn, k=8):
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(k)
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line.replace(os.path.dirname(HERE) + "/", "") for line in lines[start:start + k + 1]]


# ---------------------------------------------------------------- report
def report(res):
    def ms(s):
        return f"{1000 * s:.0f}"

    machine = (f"Machine: {res['machine']}. Load average (1 min) at the start {res['load'][0]:.1f}, at the end "
               f"{res['load'][1]:.1f}, on {os.cpu_count()} cores: figures taken on a busy machine are noisy. All "
               "paths are timed in turns, so they share the load, in CPU seconds of this process (medians of the "
               "runs), which a share of a busy core does not inflate as it does wall time.")
    setting = (f"n = {res['n']} points, {res['repeats']} runs per path, one thread everywhere; the VAE's log p is "
               f"the IWAE estimate with K = {res['vae_k']}. dgemm rate measured here: {res['peak']:.1f} GFLOP/s.")
    ratios = ("Ratios are torch seconds / tinygen seconds (above 1: tinygen is faster). *before* is a plain call "
              "(the reference code), *after* the same call inside `tinygen.fast.installed()`; the target is "
              "after >= 1.0 against torch float32.")
    lines = ["# Evaluation throughput: log p and sampling, tinygen's untraced fast path against PyTorch CPU",
             "", f"Generated by `{res['command']}` (benchmarks/bench_eval.py); do not edit by hand.", "",
             machine, "", setting, "", ratios, ""]
    header = ["family", "op", "tinygen (CPU ms)", "reference (CPU ms)", "torch f32 (CPU ms)", "torch f64 (CPU ms)",
              "vs f32 before", "vs f32 after", "vs f64 after", "target"]
    rows = []
    for name, label in FAMILIES.items():
        for op in ("log_p", "sample"):
            t = res["seconds"][name][op]
            f32, f64 = t.get("torch_f32"), t.get("torch_f64")
            rows.append([label, op, ms(t["tinygen"]), ms(t["reference"]), f32 and ms(f32), f64 and ms(f64),
                         f32 and f"{f32 / t['reference']:.2f}", f32 and f"{f32 / t['tinygen']:.2f}",
                         f64 and f"{f64 / t['tinygen']:.2f}",
                         f32 and ("met" if f32 >= t["tinygen"] else "not met")])
    legend = ("Per call of n points, CPU ms: *matmul* = the call's matrix products replayed alone at the shapes it "
              "ran them (a one-input layer of the untraced path as the broadcast product it is there); "
              "*fixed* = the same call at n = 1 (Python, autograd's per-operation cost, the params "
              "checks; *checks* = `check_params` alone); *rest* = total - matmul - fixed: the elementwise passes "
              "and their memory traffic; *floor* = the matmul FLOPs at the measured dgemm rate, the float64 "
              "arithmetic floor of the configuration.")
    lines += [common.markdown_table(header, rows), "", "## Where the time goes", "", legend, ""]
    header = ["family", "op", "path", "total (ms)", "matmul (ms)", "fixed (ms)", "checks (ms)", "rest (ms)",
              "GFLOP", "floor (ms)"]
    rows = []
    for name, label in FAMILIES.items():
        for op in ("log_p", "sample"):
            for path in ("reference", "tinygen"):
                p = res["profile"][name][op][path]
                rows.append([label, op, path, ms(p["total"]), ms(p["matmul"]), f"{1000 * p['fixed']:.2f}",
                             f"{1000 * p['checks']:.2f}", ms(p["rest"]), f"{p['gflop']:.2f}", ms(p["floor"])])
    sweep = (f"RealNVP-8's untraced log p of {res['n']} points by rows per block, CPU seconds "
             f"(`tinygen.fast.blocks.BLOCK` = {blocks.BLOCK}):")
    lines += [common.markdown_table(header, rows), "", "## Block size", "", sweep, ""]
    lines += [common.markdown_table(["rows per block", "seconds"],
                                    [[k, f"{v:.3f}"] for k, v in res["blocks"].items()]), "",
              "## cProfile, RealNVP-8 log p (top lines by own time, wall seconds)", "", "Reference path:", "", "```"]
    lines += res["cprofile"]["reference"] + ["```", "", "Untraced fast path:", "", "```"]
    lines += res["cprofile"]["tinygen"] + ["```", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 points, 2 runs per path (about 30 s)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per path (default 3, quick 2)")
    args = parser.parse_args()
    n = 10_000 if args.quick else common.N_THROUGHPUT
    repeats = args.repeats or (2 if args.quick else 3)
    load0 = os.getloadavg()[0]
    peak = dgemm_gflops()
    res = {"command": common.command("benchmarks/bench_eval.py"), "machine": common.machine(), "n": n,
           "repeats": repeats, "peak": peak, "vae_k": VAE_K, "seconds": {}, "profile": {}}
    for name, label in FAMILIES.items():
        model, params, x, kw = setup(name, n)
        fns = calls(model, params, x, kw, n)
        res["seconds"][name] = {}
        for op in ("log_p", "sample"):
            paths = list(fns[op])
            times = cpu_seconds([fns[op][p] for p in paths], repeats)
            res["seconds"][name][op] = dict(zip(paths, times))
            t = res["seconds"][name][op]
            f32 = t.get("torch_f32")
            print(f"{label:18s} {op:6s} tinygen {t['tinygen']:.3f}s  reference {t['reference']:.3f}s"
                  + (f"  torch f32 {f32:.3f}s  f64 {t['torch_f64']:.3f}s  vs f32 {f32 / t['tinygen']:.2f}x "
                     f"(before {f32 / t['reference']:.2f}x)" if f32 else ""), flush=True)
        res["profile"][name] = profile(name, model, params, x, kw, fns, res["seconds"][name], peak)
    res["blocks"] = block_sweep(n, repeats)
    model, params, x, kw = setup("realnvp", n)
    res["cprofile"] = {"reference": top_lines(lambda: model.log_prob(params, x)),
                       "tinygen": top_lines(calls(model, params, x, kw, n)["log_p"]["tinygen"])}
    res["load"] = [load0, os.getloadavg()[0]]
    suffix = "_quick" if args.quick else ""
    common.write_json(res, os.path.join(HERE, f"results_eval{suffix}.json"))
    with open(os.path.join(HERE, f"REPORT_eval{suffix}.md"), "w") as f:
        f.write(report(res))
    print(f"wrote benchmarks/results_eval{suffix}.json and REPORT_eval{suffix}.md")


if __name__ == "__main__":
    main()
