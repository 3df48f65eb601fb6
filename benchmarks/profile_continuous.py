"""Where a tinygen ODE solve spends its time, and the report of bench_continuous_speed.py.

The split of one ``ContinuousFlow.log_prob`` (rk4, fixed steps, so the number of field calls is
known: 4 per step) is measured inside that one call, in CPU seconds (``Clock``):

    network      the forward passes of v(t, z), timed again on plain arrays (no trace)
    recording    the traced forward passes minus the plain ones: autograd's bookkeeping
    reverse      trace_exact minus the traced forward: the D = 2 reverse passes that read
                 the Jacobian's diagonal
    checks       odeint's per-call check of f's output (shape, finite), times the calls
    solver       the rest: the Runge-Kutta combinations of the stages, the tuple state, stacking

cProfile's own table (top functions by own time) is kept beside it as the raw evidence.
"""
import cProfile
import os
import pstats
import time

import numpy as onp
import torch

import continuous_peers as cp
from report_tables import markdown_table
from tinygen import ode
from tinygen.flows import ContinuousFlow

DTYPES = {"f32": torch.float32, "f64": torch.float64}


class Clock:
    """Wraps a function and adds up the CPU seconds spent inside it (process time: another
    process's load does not count, so the pieces of one run add up on a shared machine)."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args):
        start = time.process_time()
        try:
            return self.fn(*args)
        finally:
            self.seconds += time.process_time() - start


def split(model, params, x, steps):
    """The pieces of one log_prob (rk4, ``steps`` steps), CPU seconds measured inside that one run:
    clocks around the field, tinygen.ode.trace_exact, the log-density right-hand side and the checked
    right-hand side odeint builds (put in place for this call only, then restored)."""
    calls = 4 * steps
    field = Clock(model._velocity)
    model._velocity = field  # an instance attribute shadows the method
    saved = ode.trace.trace_exact, ode.solvers._checked  # where log_density_dynamics and odeint look them up
    trace = Clock(saved[0])
    dynamics_clock, checked_clock = [], []

    def checked(f, y0):  # odeint's wrapper of f, timed, with f itself timed inside it
        dynamics_clock.append(Clock(f))
        checked_clock.append(Clock(saved[1](dynamics_clock[-1], y0)))
        return checked_clock[-1]

    ode.trace.trace_exact, ode.solvers._checked = trace, checked
    try:
        start = time.process_time()
        model.log_prob(params, x)
        total = time.process_time() - start
    finally:
        ode.trace.trace_exact, ode.solvers._checked = saved
        del model._velocity
    rhs, rhs_checked = dynamics_clock[0].seconds, checked_clock[0].seconds
    plain = _cpu_seconds(lambda: model._velocity(params, 0.5, x), calls)  # the same calls, untraced
    pieces = {"network (plain NumPy forward)": plain,
              "autograd: recording the forward pass": field.seconds - plain,
              "autograd: the D = 2 reverse passes": trace.seconds - field.seconds,
              "log-density wrapper (tuple, minus sign)": rhs - trace.seconds,
              "odeint's per-call checks (shape, finite)": rhs_checked - rhs,
              "solver arithmetic and the rest": total - rhs_checked}
    return total, calls, pieces


def _cpu_seconds(fn, calls):
    start = time.process_time()
    for _ in range(calls):
        fn()
    return time.process_time() - start


def _median_seconds(fn, repeats=5):
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        seconds.append(time.process_time() - start)
    return float(onp.median(seconds))


def torch_split(model, params, x, steps, dtype):
    """The same two pieces for the torch peer: a plain forward, and the field with its exact trace."""
    peer = cp.CNFPeer(model, params, dtype)
    xt, t = peer.tensor(x), torch.tensor(0.5, dtype=dtype)
    dynamics = cp.log_density(peer.velocity, create_graph=False)
    state = (xt, torch.zeros(x.shape[0], dtype=dtype))
    with torch.no_grad():
        network = _median_seconds(lambda: peer.velocity(t, xt))
        rhs = _median_seconds(lambda: dynamics(t, state))
        total = _median_seconds(lambda: peer.log_prob(xt, "rk4", steps), 3)
    calls = 4 * steps
    return {"total": total, "network (plain forward)": calls * network,
            "trace (autograd forward + D reverse passes), extra": calls * (rhs - network),
            "solver (torchdiffeq) and the rest": total - calls * rhs}


def cprofile_top(model, params, x, top=12):
    """cProfile of one log_prob: the ``top`` functions by own time, as table rows."""
    prof = cProfile.Profile()
    prof.enable()
    model.log_prob(params, x)
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, name), (_, ncalls, own, cum, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = name if path == "~" else f"{name} ({_short(path)}:{line})"
        rows.append([where, ncalls, round(own, 3), round(cum, 3)])
    return rows


def _short(path):
    for root in ("site-packages" + os.sep, "tinygen" + os.sep):
        if root in path:
            return path.split(root, 1)[1] if root.startswith("site") else "tinygen/" + path.split(root, 1)[1]
    return os.path.basename(path)


def profile(fm, params, n, steps):
    """The split for tinygen and the torch peers, and cProfile's table, on n two-moons-like points."""
    model = ContinuousFlow(2, hidden=fm.hidden, method="rk4", steps=steps)
    x = onp.random.default_rng(8).standard_normal((n, 2))
    total, calls, pieces = split(model, params, x, steps)
    out = {"n": n, "steps": steps, "calls": calls, "tinygen_total": total, "tinygen": pieces,
           "torch": {k: torch_split(model, params, x, steps, d) for k, d in DTYPES.items()},
           "cprofile": cprofile_top(model, params, x)}
    print(f"profile: tinygen log_prob {total:.3g} s over {calls} calls: "
          + ", ".join(f"{k} {v:.3g}" for k, v in pieces.items()), flush=True)
    return out


# ---------------------------------------------------------------- the report
def report(r):
    """REPORT_continuous_speed.md from the results dict of bench_continuous_speed.py."""
    s = r["sizes"]
    lines = ["# Continuous-time families: tinygen against PyTorch + torchdiffeq", "",
             f"Machine: {r['machine']}.  ",
             f"Command: `{r['command']}`{' (quick: small sizes)' if r['quick'] else ''}.  ",
             f"Load average (1, 5, 15 min) at the start {_load(r['load_average'][0])}, at the end "
             f"{_load(r['load_average'][-1])}; the machine is shared, so each figure is a median of timings "
             f"taken in turns (tinygen, torch float32, torch float64, tinygen, ...). Total {r['seconds_total']:.0f} s.",
             "", "Models: `ContinuousFlow(2, hidden=(128, 128))` (tanh) and `Diffusion(2, hidden=(128, 128), "
             f"n_steps=100)` (softplus), after {s['train']} Adam steps on two moons; the torch peers "
             "(benchmarks/continuous_peers.py) hold the same weights and compute the same functions: the same "
             "MLP, the same time input, the exact trace by D = 2 reverse passes, torchdiffeq's `odeint` "
             "(dopri5 with the same rtol/atol; rk4 on the same grid of 20 equal steps).", "",
             "## Agreement with the float64 peer (max absolute difference)", "",
             markdown_table(["quantity", "max abs difference"], [[k, f"{v:.1e}"] for k, v in r["agreement"].items()]),
             "", "torchdiffeq's `rk4` is Kutta's 3/8 rule, not the classical rule tinygen uses: the same cost "
             "(4 field calls a step) but other numbers, different by the two rules' truncation errors. The "
             "classical rule written in torch agrees to rounding. With dopri5 each library chooses its own "
             "steps, so the two agree to the tolerance only.", "",
             "## Speed (speed ratio = torch seconds / tinygen seconds; > 1 means tinygen is faster)", "",
             markdown_table(["task", "tinygen s", "torch f32 s", "torch f64 s", "ratio vs f32", "ratio vs f64",
                             "field calls (tinygen / f32 / f64)"],
                            [[k, *_secs(v), _nfe(v["nfe"])] for k, v in {**r["solves"], **r["training"]}.items()]),
             "", "Training rows: seconds per step (median over blocks), `tinygen.fit` with Adam against "
             "a torch Adam loop; the likelihood step differentiates through 8 RK4 steps of the exact trace "
             "(create_graph=True in torch). dopri5 rows: each library's own step choices, so the field-call "
             "counts are shown; a ratio there mixes speed per call and the number of calls. Rows marked *fast "
             "path*: the same call inside `tinygen.fast.installed()`, as `tinygen.evaluate` (test NLLs, density "
             "grids) makes it: the field block by block in plain NumPy and, for log p, the exact trace by forward "
             "mode (tinygen/fast/continuous.py), the same numbers to rounding; the other rows are a plain call, "
             "the reference code. The profile below is of the plain call.", ""]
    lines += _profile_section(r["profile"])
    return "\n".join(lines) + "\n"


def _load(v):
    return ", ".join(f"{a:.1f}" for a in v)


def _secs(v):
    s = v["seconds"]
    return [f"{s['tinygen']:.4g}", f"{s['f32']:.4g}", f"{s['f64']:.4g}", f"{v['ratio_f32']:.2f}",
            f"{v['ratio_f64']:.2f}"]


def _nfe(nfe):
    return "—" if nfe is None else " / ".join(f"{nfe[k]:.0f}" for k in ("tinygen", "f32", "f64"))


def _profile_section(p):
    total = p["tinygen_total"]
    rows = [[k, f"{v:.3g}", f"{100 * v / total:.0f}%"] for k, v in p["tinygen"].items()]
    lines = [f"## Profile: one `ContinuousFlow.log_prob` of {p['n']} points, rk4 {p['steps']} steps "
             f"({p['calls']} field calls with the exact trace)", "",
             f"tinygen, {total:.3g} CPU s in all, measured inside one call (each piece the difference of two "
             "timings on a shared machine: one within their noise can come out slightly below zero):", "",
             markdown_table(["piece", "CPU seconds", "share"], rows), ""]
    for k, t in p["torch"].items():
        lines += [f"torch {k}, {t['total']:.3g} CPU s in all (pieces from medians of single calls): "
                  + "; ".join(f"{name} {v:.3g} s" for name, v in t.items() if name != "total") + ".", ""]
    lines += ["cProfile, the top functions by own time (one call; a NumPy ufunc's time counts in the "
              "Python function that calls it):", "",
              markdown_table(["function", "calls", "own s", "cumulative s"], p["cprofile"]), "",
              "Reading it: the solver's own arithmetic and odeint's per-call checks are a few percent of a "
              "solve, so there is nothing to win in tinygen.ode's loop; the time is the network and, above "
              "all, the D = 2 reverse passes of the exact trace. Their tanh derivative is written from the "
              "forward value, g (1 - tanh(a)^2) (`tinygen.functional.tanh`), so no transcendental function "
              "runs in a backward pass; what is left is autograd's per-operation cost (f_wrapped above) and "
              "the float64 arithmetic itself, against float32 in the torch f32 column. Putting the D passes "
              "into one pass over "
              "D n stacked rows would save autograd's per-operation cost only, while doubling the forward "
              "pass's arithmetic: no gain at these batch sizes.", ""]
    return lines
