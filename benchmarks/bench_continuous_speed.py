"""Speed of the continuous-time families against PyTorch + torchdiffeq, one thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_continuous_speed.py [--quick]

ContinuousFlow (sampling and log_prob: untraced ODE solves with rk4 and dopri5; a training step of
each objective) and Diffusion (a training step, ancestral sampling, log_prob through the
probability-flow ODE), each against the same model in PyTorch (continuous_peers.py) at float32
and float64, with the same weights. First the float64 peers are checked against tinygen; then
everything is timed in turns (tinygen, torch f32, torch f64, tinygen, ...), medians over repeats;
then the tinygen side is profiled. Writes results_continuous_speed.json and
REPORT_continuous_speed.md beside this file. --quick: small sizes, a smoke run of ~30 s.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported: one thread, like the peers

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as onp  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
import continuous_peers as cp  # noqa: E402
import profile_continuous  # noqa: E402
from tinygen import fast, fit, ode  # noqa: E402
from tinygen.diffusion import Diffusion  # noqa: E402
from tinygen.flows import ContinuousFlow  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HIDDEN = (128, 128)  # the demos' size for both families (demos 11 and 12)
RK4_STEPS = ode.RK4_STEPS  # the fixed-step solves: 20 steps, 80 field calls
FULL = {"n": 10_000, "n_diff_lp": 1_000, "repeats": 3, "train": 300, "blocks": 5, "n_check": 1_000}
QUICK = {"n": 300, "n_diff_lp": 30, "repeats": 1, "train": 20, "blocks": 1, "n_check": 100}
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def trained(x):
    """A flow-matching field and a noise network after a short fit on two moons (so that dopri5
    meets a field with some structure, not the near-linear one of random weights)."""
    fm = ContinuousFlow(2, hidden=HIDDEN, objective="flow_matching")
    p_fm = fit(fm, fm.init(0), x, steps=SIZES["train"], lr=2e-3, rng=0, progress=False)[0]
    dm = Diffusion(2, hidden=HIDDEN, n_steps=100)
    p_dm = fit(dm, dm.init(0), x, steps=SIZES["train"], lr=3e-3, rng=0, progress=False)[0]
    return fm, p_fm, dm, p_dm


def agreement(fm, p_fm, dm, p_dm):
    """max |tinygen - torch float64| on log p and on samples, the same inputs, no timing."""
    n = SIZES["n_check"]
    x = common.split(3, n, 1)[0]
    z = onp.random.default_rng(4).standard_normal((n, 2))
    peer, dpeer = cp.CNFPeer(fm, p_fm, torch.float64), cp.DiffusionPeer(dm, p_dm, torch.float64)
    rk4 = ContinuousFlow(2, hidden=HIDDEN, method="rk4", steps=RK4_STEPS)
    out = {}
    with torch.no_grad():
        lp = rk4.log_prob(p_fm, x)
        xs = ode.odeint(lambda t, y: rk4._velocity(p_fm, t, y), z, [0.0, 1.0], steps=RK4_STEPS)[-1]
        xt, zt = peer.tensor(x), peer.tensor(z)
        out["cnf log_prob, rk4 20 steps, classical rule in torch"] = _gap(peer.log_prob(xt, "rk4", classic=True), lp)
        out["cnf log_prob, rk4 20 steps, torchdiffeq rk4 (3/8 rule)"] = _gap(peer.log_prob(xt, "rk4"), lp)
        out["cnf sample map z -> x, rk4, classical rule in torch"] = _gap(peer.flow_map(zt, "rk4", classic=True), xs)
        out["cnf sample map z -> x, rk4, torchdiffeq (3/8 rule)"] = _gap(peer.flow_map(zt, "rk4"), xs)
        out["cnf log_prob, dopri5 rtol = atol = 1e-6, own steps"] = _gap(peer.log_prob(xt), fm.log_prob(p_fm, x))
        xd = x[: SIZES["n_diff_lp"]]
        lp_rk4 = dm.log_prob(p_dm, xd, method="rk4", steps=RK4_STEPS)
        out["diffusion log_prob (ODE), rk4 20 steps, classical rule in torch"] = _gap(
            dpeer.log_prob(dpeer.tensor(xd), "rk4", RK4_STEPS, classic=True), lp_rk4)
        out["diffusion log_prob (ODE), dopri5 rtol = atol = 1e-5 (own step choices)"] = _gap(
            dpeer.log_prob(dpeer.tensor(xd)), dm.log_prob(p_dm, xd))
        draws = onp.random.default_rng(5)  # the same normal draws, in the same order, as tinygen's rng 5
        out["diffusion ancestral samples, same noise (100 steps)"] = _gap(
            dpeer.sample(n, noise=lambda shape: dpeer.tensor(draws.standard_normal(shape))), dm.sample(p_dm, n, 5))
    return out


def _gap(theirs, ours):
    return float(onp.max(onp.abs(theirs.numpy() - onp.asarray(ours))))


def count(obj, name):
    """Count the calls of obj.name (an instance attribute shadows the method); returns the counter."""
    counter = cp.Counted(getattr(obj, name))
    setattr(obj, name, counter)
    return counter


def timed_solves(fm, p_fm, dm, p_dm):
    """Median seconds of each untraced solve, tinygen / torch f32 / torch f64 in turns, and the NFE."""
    n, nd, reps = SIZES["n"], SIZES["n_diff_lp"], SIZES["repeats"]
    x = common.split(6, n, 1)[0]
    models = {"rk4": ContinuousFlow(2, hidden=HIDDEN, method="rk4", steps=RK4_STEPS), "dopri5": fm}
    cnf_peers = {k: cp.CNFPeer(fm, p_fm, d) for k, d in DTYPES.items()}
    diff_peers = {k: cp.DiffusionPeer(dm, p_dm, d) for k, d in DTYPES.items()}
    x_cnf = [p.tensor(x) for p in cnf_peers.values()]  # the points in each peer's dtype
    x_diff = [p.tensor(x[:nd]) for p in diff_peers.values()]
    rows = {}
    for label, method in (("rk4", "rk4"), ("dopri5", "dopri5")):
        model = models[method]
        rows[f"CNF sample {n} points, {label}"] = (
            [lambda m=model: m.sample(p_fm, n, 0)]
            + [lambda p=p, m=method: p.sample(n, m) for p in cnf_peers.values()], model, cnf_peers, "velocity")
        rows[f"CNF log_prob {n} points, {label}"] = (
            [lambda m=model: m.log_prob(p_fm, x)]
            + [lambda p=p, m=method, xt=xt: p.log_prob(xt, m) for p, xt in zip(cnf_peers.values(), x_cnf)],
            model, cnf_peers, "velocity")
        # the same two calls inside fast.installed(), as tinygen's evaluation entry points make them
        # (tinygen/fast/continuous.py: the trace by forward mode, the field block by block)
        rows[f"CNF sample {n} points, {label}, fast path"] = (
            [lambda m=model: _installed(m.sample, p_fm, n, 0)]
            + [lambda p=p, m=method: p.sample(n, m) for p in cnf_peers.values()], model, cnf_peers, None)
        rows[f"CNF log_prob {n} points, {label}, fast path"] = (
            [lambda m=model: _installed(m.log_prob, p_fm, x)]
            + [lambda p=p, m=method, xt=xt: p.log_prob(xt, m) for p, xt in zip(cnf_peers.values(), x_cnf)],
            model, cnf_peers, None)
    rows[f"Diffusion ancestral sample {n} points (T = 100)"] = (
        [lambda: dm.sample(p_dm, n, 0)] + [lambda p=p: p.sample(n) for p in diff_peers.values()], dm, diff_peers,
        "epsilon")
    rows[f"Diffusion log_prob {nd} points, probability-flow ODE, dopri5"] = (
        [lambda: dm.log_prob(p_dm, x[:nd])]
        + [lambda p=p, xt=xt: p.log_prob(xt) for p, xt in zip(diff_peers.values(), x_diff)], dm, diff_peers, "epsilon")
    out = {}
    for name, (fns, model, peers, field) in rows.items():
        if field is None:  # a fast-path row: its calls are the plain row's (the kernel's own field is not counted)
            with torch.no_grad():
                seconds = common.alternating_seconds(fns, reps)
            out[name] = _ratios(seconds, None)
            print(f"{name}: {_line(out[name])}", flush=True)
            continue
        counters = [count(model, "_" + field)] + [count(p, field) for p in peers.values()]
        with torch.no_grad():
            seconds = common.alternating_seconds(fns, reps)
        nfe = [c.calls / reps for c in counters]
        for obj in [model, *peers.values()]:
            delattr(obj, ("_" + field) if obj is model else field)
        out[name] = _ratios(seconds, nfe)
        print(f"{name}: {_line(out[name])}", flush=True)
    return out


def _installed(method, *args):
    with fast.installed():
        return method(*args)


def timed_training(fm, p_fm, dm, p_dm):
    """Steps/s of one training step of each objective (batch 256), in turns with the peers."""
    x = common.split(7, 20_000, 1)[0]
    ml = ContinuousFlow(2, hidden=HIDDEN, objective="likelihood")  # train_steps = 8 RK4 steps
    cases = {"CNF flow matching step, batch 256": (fm, p_fm, 2e-3, 20),
             "CNF likelihood step (8 RK4 steps, exact trace), batch 256": (ml, p_fm, 5e-4, 2),
             "Diffusion step (denoising loss), batch 256": (dm, p_dm, 3e-3, 20)}
    out = {}
    for name, (model, params, lr, block) in cases.items():
        peer_cls = cp.DiffusionPeer if model is dm else cp.CNFPeer
        runs = [common.tinygen_stepper(model, params, x, lr)]
        runs += [peer_cls(model, params, d).stepper(x, lr) for d in DTYPES.values()]
        rates = common.alternating_rates(runs, SIZES["blocks"], block if SIZES is FULL else max(1, block // 4))
        out[name] = _ratios([1 / r for r in rates], None)
        print(f"{name}: {_line(out[name])}", flush=True)
    return out


def _ratios(seconds, nfe):
    """Seconds of tinygen, torch f32, torch f64, and tinygen's speed ratios (> 1: tinygen faster)."""
    return {"seconds": dict(zip(("tinygen", "f32", "f64"), seconds)),
            "nfe": None if nfe is None else dict(zip(("tinygen", "f32", "f64"), nfe)),
            "ratio_f32": seconds[1] / seconds[0], "ratio_f64": seconds[2] / seconds[0]}


def _line(r):
    s = r["seconds"]
    return (f"tinygen {s['tinygen']:.4g} s, torch f32 {s['f32']:.4g} s, f64 {s['f64']:.4g} s; "
            f"speed ratio vs f32 {r['ratio_f32']:.2f}, vs f64 {r['ratio_f64']:.2f}")


def main():
    global SIZES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run")
    args = parser.parse_args()
    SIZES = QUICK if args.quick else FULL
    start, load = time.perf_counter(), [os.getloadavg()]
    x = common.split(0, 20_000, 1)[0]
    fm, p_fm, dm, p_dm = trained(x)
    agree = agreement(fm, p_fm, dm, p_dm)
    for k, v in agree.items():
        print(f"agreement, {k}: {v:.2e}", flush=True)
    solves = timed_solves(fm, p_fm, dm, p_dm)
    training = timed_training(fm, p_fm, dm, p_dm)
    profile = profile_continuous.profile(fm, p_fm, SIZES["n"], RK4_STEPS)
    load.append(os.getloadavg())
    results = {"machine": common.machine(), "command": common.command("benchmarks/bench_continuous_speed.py"),
               "quick": args.quick, "sizes": SIZES, "load_average": [list(v) for v in load],
               "seconds_total": time.perf_counter() - start,
               "agreement": agree, "solves": solves, "training": training, "profile": profile}
    suffix = "_quick" if args.quick else ""
    common.write_json(results, os.path.join(HERE, f"results_continuous_speed{suffix}.json"))
    with open(os.path.join(HERE, f"REPORT_continuous_speed{suffix}.md"), "w") as f:
        f.write(profile_continuous.report(results))
    print(f"done in {results['seconds_total']:.0f} s")


SIZES = FULL

if __name__ == "__main__":
    main()
