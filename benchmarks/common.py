"""Shared pieces of the benchmarks: the two-moons split, timing helpers, the machine line, JSON.

Timing on a shared machine: every speed is a MEDIAN over several timing windows,
so a window slowed down by another process does not move the figure. When
tinygen is compared with a peer, the two are timed in turns (tinygen block, peer
block, tinygen block, ...), so both see the same load.
"""
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time

import numpy as onp

import tinygen
from report_tables import markdown_table  # noqa: F401  (the benchmarks' one table writer)
from tinygen import data, evaluate, fit, recipes

NOISE = recipes.NOISE
N_TRAIN = N_TEST = 20000  # more test points than the recipes' default: a smaller standard error
N_THROUGHPUT = 100_000  # points sampled / scored in the throughput figures


def split(seed=0, n_train=N_TRAIN, n_test=N_TEST):
    """(x_train, x_test, H): the recipes' two moons from seeds ``seed`` and ``seed + 1``, and the
    exact entropy H(p) in nats."""
    return recipes.two_moons_split(seed, n_train, n_test)


def median_rate(stamps, window=250):
    """Median steps/s over consecutive windows of ``window`` steps, from one time stamp per step."""
    t = onp.asarray(stamps, dtype=float)[::window]
    return float(onp.median(window / onp.diff(t))) if len(t) > 1 else float("nan")


def train(recipe, x, steps=None, rng=0):
    """A recipe's training run (tinygen.recipes; ``steps`` overrides its count) with a time stamp per
    step: (model, params, median steps/s over windows of up to 250 steps)."""
    stamps = []
    model, params, _ = recipe.train(x, rng=rng, steps=steps,
                                    callback=lambda step, p, loss: stamps.append(time.perf_counter()))
    return model, params, median_rate(stamps, min(250, max(1, len(stamps) // 4)))


def score(log_p, x_test, H, noise=NOISE):
    """Test NLL, its SE, the gap NLL - H and the paired KL(p || p_theta) +- SE, from log p_theta(x_test)."""
    nll, se = evaluate.nll_stats(log_p)
    kl, kl_se = evaluate.kl_to_truth(lambda _: log_p, lambda v: data.two_moons_log_prob(v, noise), x_test)
    return {"nll": nll, "se": se, "gap": evaluate.gap_to_entropy(nll, H), "kl": kl, "kl_se": kl_se}


def alternating_rates(runs, blocks=7, block=40):
    """Median steps/s of each ``run(m)`` (m more training steps) over ``blocks`` timed blocks,
    the runs taking turns block by block so that they see the same load."""
    rates = [[] for _ in runs]
    for _ in range(blocks):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run(block)
            rates[i].append(block / (time.perf_counter() - start))
    return [float(onp.median(r)) for r in rates]


def alternating_seconds(fns, repeats=3):
    """Median wall seconds of each zero-argument ``fn`` over ``repeats`` calls, taken in turns."""
    seconds = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            seconds[i].append(time.perf_counter() - start)
    return [float(onp.median(s)) for s in seconds]


def tinygen_stepper(model, params, x, lr, batch_size=256, seed=0, fast=True):
    """run(m): m more Adam steps of ``tinygen.fit`` from ``params`` (kept between calls);
    fast=False runs them with ``tinygen.fast.disabled()``, on the reference path only."""
    state = {"params": params, "rng": onp.random.default_rng(seed)}

    def run(m):
        with contextlib.nullcontext() if fast else tinygen.fast.disabled():
            state["params"] = fit(model, state["params"], x, steps=m, batch_size=batch_size, lr=lr,
                                  rng=state["rng"], progress=False)[0]
    return run


def versus_torch(model, params, x, lr, batch_size=256, seed=0, blocks=7, block=40):
    """One line: training steps/s of tinygen and of its torch peers in float32 and float64 (the same
    architecture and weights, one thread), timed in turns, with tinygen's speed ratio to each."""
    import peers

    if not peers.available():
        return "torch not importable: no PyTorch comparison"
    runs = [tinygen_stepper(model, params, x, lr, batch_size, seed)]
    runs += [peers.make_peer(model, params, peers.torch_dtype(k)).stepper(x, lr, batch_size, seed)
             for k in ("float32", "float64")]
    ours, f32, f64 = alternating_rates(runs, blocks, block)
    return (f"timed in turns: tinygen {ours:.1f} steps/s; PyTorch (same architecture, CPU, one thread) "
            f"float32 {f32:.1f} (tinygen / torch {ours / f32:.2f}), float64 {f64:.1f} ({ours / f64:.2f})")


def matmul_gflops(m, k, n, repeats=5):
    """GFLOP/s of one float64 product (m, k) @ (k, n) on this process's BLAS threads, the best of
    ``repeats`` (the least disturbed run on a shared machine); 2 m k n FLOPs per product."""
    a, b = onp.full((m, k), 0.5), onp.full((k, n), 0.25)
    a @ b  # warm-up: the BLAS's first call pays for its buffers
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * m * k * n / best / 1e9


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dgemm_peak(sizes=(256, 512, 1024), shapes=((256, 64, 64), (1024, 256, 256)), repeats=10):
    """This CPU's float64 matmul rate on ONE thread (threadpoolctl), GFLOP/s: square products of
    ``sizes`` and the products ``shapes`` (m, k, n) the models run; the peak is the best rate of all
    of them (on a loaded machine a large square product is the likeliest to be interrupted).
    {"peak", "square": {size: GFLOP/s}, "shapes": {"m x k @ k x n": GFLOP/s}, "machine", "load"}."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        square = {str(s): matmul_gflops(s, s, s, repeats) for s in sizes}
        at = {f"{m} x {k} @ {k} x {n}": matmul_gflops(m, k, n, repeats) for m, k, n in shapes}
    return {"peak": max(*square.values(), *at.values()), "square": square, "shapes": at,
            "machine": machine(date=True), "load": os.getloadavg()[0]}


def command(script):
    """The command line that produced this run, as a user would type it: OMP_NUM_THREADS (when set),
    ``python script`` and this process's arguments."""
    env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    return env + " ".join(["python", script, *map(shlex.quote, sys.argv[1:])])


def write_json(obj, path):
    """``obj`` as indented JSON, written to a temporary file first so a reader never sees half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(date=True):
    """One line: CPU model, cores, Python/numpy/autograd/torch versions (and today's date)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {os.cpu_count()} cores ({usable} usable), OMP_NUM_THREADS="
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; Python {platform.python_version()}, "
            f"numpy {onp.__version__}, autograd {_version('autograd')}, torch {_version('torch')}"
            + (f"; {datetime.date.today().isoformat()}" if date else ""))
