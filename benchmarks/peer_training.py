"""PyTorch peers of RealNVP(2), MAF(2) and NeuralSplineFlow(2), trained by the peers' own recipe.

The recipe (the one the PyTorch figures quoted in issue 13 were measured with):

* the architecture: tinygen's constructor defaults, rebuilt in PyTorch by ``peers.make_peer``
  (same layers, masks, orderings, soft clamp, spline bins and bound);
* the initialization: PyTorch's default, i.e. every dense layer drawn as ``torch.nn.Linear(n_in, n_out)``
  draws it under ``torch.manual_seed(s)`` (weights and biases uniform on +-1/sqrt(n_in), the
  kaiming-uniform rule with a = sqrt(5)), layers in the order the params tree lists them
  (flow layer 1 first, each network from its input layer on). The last layers are NOT zero,
  so no layer starts as the identity, unlike ``model.init(s)``. MADE's masks are structure,
  kept from the model, and applied by the peer;
* Adam, lr 1e-3 constant, 5000 steps, minibatches of 256 drawn WITH replacement by a
  ``torch.Generator`` seeded 100 + s (the seed tinygen's runs give ``fit(..., rng=100 + s)``);
* float32 throughout (PyTorch's default dtype), one thread;
* data: two moons, noise 0.05, 10,000 training points (seed 0) and 5,000 test points (seed 1),
  ``peers_recipe_data()``; the figure is the gap = test NLL - H(p), H the exact entropy,
  an estimate of KL(p || p_theta) >= 0.

``init="tinygen"`` starts the same peer from tinygen's own ``model.init(s)`` instead (zero last
layers: every layer the identity), which separates the effect of the initialization from that
of the implementation (float32 PyTorch against tinygen's float64 NumPy). ``init="torch_identity_last"``
takes PyTorch's initialization but each network's last layer from ``model.init(s)`` (zero weights, so
every flow layer starts as the identity): with the hidden layers of the ``"torch"`` runs, it tells
whether the identity start or the hidden layers' draws make the difference.

Run: OMP_NUM_THREADS=1 python benchmarks/peer_training.py [--families realnvp,maf,spline]
         [--seeds 0,1,2,3,4] [--inits torch,tinygen,torch_identity_last] [--steps 5000] [--dtype float32]
     python benchmarks/peer_training.py --check     (peer log p == tinygen log p on the same weights)
     python benchmarks/peer_training.py --render    (REPORT_peers.md again from results_peers.json)
Figures go to benchmarks/results_peers.json (entries not rerun are kept) and REPORT_peers.md. The
runs from tinygen's init are filed under the last commit that changed tinygen/ ("tinygen@<commit>"),
since model.init(s) changes with the code; the PyTorch starts draw their hidden layers themselves.
"""
import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import numpy as onp

import common
import peers
import report_tables as tables
from tinygen import data, evaluate, recipes
from tinygen._validate import check_option, check_positive_int
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP

HERE = os.path.dirname(os.path.abspath(__file__))
JSON_PATH = os.path.join(HERE, "results_peers.json")
REPORT_PATH = os.path.join(HERE, "REPORT_peers.md")
N_TRAIN, N_TEST = 10000, 5000
BATCH_SEED_OFFSET = 100  # minibatches of seed s come from torch.Generator().manual_seed(100 + s)

# family name -> (label, constructor with tinygen's defaults)
FAMILIES = {
    "realnvp": ("RealNVP(2)", lambda: RealNVP(2)),
    "maf": ("MAF(2)", lambda: MAF(2)),
    "spline": ("NeuralSplineFlow(2)", lambda: NeuralSplineFlow(2)),
}
INITS = {
    "torch": "PyTorch's default initialization (torch.nn.Linear under torch.manual_seed(s))",
    "tinygen": "tinygen's initialization (model.init(s): zero last layers, every layer the identity)",
    "torch_identity_last": "PyTorch's default initialization but each network's last layer tinygen's "
                           "(the hidden layers of the torch runs, every flow layer starting as the identity)",
}
# The PyTorch float32 gaps that issue 13 quotes for seeds 0-4 (measured elsewhere, before this
# script existed), printed beside the ones measured here.
QUOTED = {
    "realnvp": [0.056, 0.079, 0.115, 0.149, 0.069],
    "maf": [0.054, 0.058, 0.055, 0.066, 0.187],
    "spline": [0.210, 0.099, 0.063, 0.111, 0.031],
}


def peers_recipe_data():
    """(x_train, x_test, H): two moons (noise 0.05), 10,000 training points from seed 0 and
    5,000 test points from seed 1, and the exact entropy H(p) in nats."""
    return recipes.two_moons_split(0, N_TRAIN, N_TEST)


def _is_dense(tree):
    return isinstance(tree, dict) and set(tree) == {"W", "b"}


def torch_default_params(params, seed, keep_last=False):
    """A copy of a params tree whose dense layers ({"W": (n_in, n_out), "b": (n_out,)}) are drawn
    as ``torch.nn.Linear(n_in, n_out)`` draws its weight and bias by default, under
    ``torch.manual_seed(seed)``, in the tree's order. Leaves come back as float64 numpy arrays
    holding the float32 values torch drew (exact in float64).

    keep_last=True keeps each network's last layer from ``params`` (tinygen's: zero weights, so
    every flow layer starts as the identity); it is still drawn and thrown away, so the other
    layers get the very numbers they get with keep_last=False."""
    if not peers.available():
        raise ImportError("torch is not importable: the PyTorch initialization needs it")
    import torch  # peers.available() imported it once and set one thread

    torch.manual_seed(seed)

    def draw(tree):
        if _is_dense(tree):
            n_in, n_out = onp.shape(tree["W"])
            linear = torch.nn.Linear(n_in, n_out)  # weight (n_out, n_in): tinygen stores its transpose
            return {"W": linear.weight.detach().numpy().T.astype(onp.float64),
                    "b": linear.bias.detach().numpy().astype(onp.float64)}
        if isinstance(tree, dict):
            return {k: draw(v) for k, v in tree.items()}
        if isinstance(tree, (list, tuple)):
            drawn = [draw(v) for v in tree]
            if keep_last and tree and all(_is_dense(v) for v in tree):  # a network: input layer first
                drawn[-1] = tree[-1]
            return type(tree)(drawn)
        raise ValueError(f"params: expected only dense layers {{'W', 'b'}}, got a leaf of shape {onp.shape(tree)}")
    return draw(params)


def initial_params(family, seed, init="torch"):
    """(model, params) of one family at seed s: PyTorch's default init, tinygen's ``model.init(s)``, or
    PyTorch's with tinygen's last layers (see INITS)."""
    check_option(family, "family", FAMILIES)
    check_option(init, "init", INITS)
    model = FAMILIES[family][1]()
    params = model.init(seed)
    if init == "tinygen":
        return model, params
    return model, torch_default_params(params, seed, keep_last=(init == "torch_identity_last"))


def train_peer(family, seed, x_train, x_test, steps=5000, lr=1e-3, batch_size=256, dtype="float32",
               init="torch"):
    """Train the PyTorch peer of ``family`` from seed s by the recipe above; its test figures:
    dict(gap, nll, se, seconds), seconds the wall time of the training steps alone."""
    steps = check_positive_int(steps, "steps")
    model, params = initial_params(family, seed, init)
    peer = peers.make_peer(model, params, peers.torch_dtype(dtype))
    run = peer.stepper(x_train, lr, batch_size, seed=BATCH_SEED_OFFSET + seed)
    start = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - start
    log_p = onp.asarray(peer.log_prob_np(x_test), dtype=onp.float64)
    if not onp.all(onp.isfinite(log_p)):  # a diverged run: no NLL to report, say so
        return {"gap": None, "nll": None, "se": None, "seconds": seconds,
                "non_finite": int(onp.sum(~onp.isfinite(log_p)))}
    nll, se = evaluate.nll_stats(log_p)
    return {"gap": evaluate.gap_to_entropy(nll, data.two_moons_entropy(recipes.NOISE)),
            "nll": nll, "se": se, "seconds": seconds}


# ---------------------------------------------------------------- the check
# The float64 peer repeats tinygen's arithmetic in another order: ~1e-14 relative (see
# peers.max_rel_diff); 1e-10 leaves room for the 8 layers' accumulated rounding and nothing more.
# float32 carries ~6e-8 relative per operation; through a few hundred operations 1e-4 is generous
# and still far below any real difference (a wrong mask or transpose moves log p by O(1)).
CHECK_TOL = {"float64": 1e-10, "float32": 1e-4}


def check():
    """The peers' log p against tinygen's on the same weights (PyTorch's default init, seeds 0 and 1;
    tinygen's init, seed 0), on test points and on wide points that reach the spline tails; and the
    drawn weights inside nn.Linear's bounds +-1/sqrt(n_in), none of them all zero. True when all holds."""
    x_test = peers_recipe_data()[1][:256]
    x_wide = onp.random.default_rng(7).standard_normal((256, 2)) * 3
    x = onp.concatenate([x_test, x_wide])
    ok = True
    for family in FAMILIES:
        for init, seed in (("torch", 0), ("torch", 1), ("tinygen", 0)):
            model, params = initial_params(family, seed, init)
            if init == "torch":
                for layer in _dense_layers(params):
                    bound = 1 / onp.sqrt(layer["W"].shape[0])
                    ok &= bool(onp.all(onp.abs(layer["W"]) <= bound) and onp.all(onp.abs(layer["b"]) <= bound)
                               and onp.any(layer["W"] != 0))  # drawn, not tinygen's zero last layer
            diffs = {k: peers.max_rel_diff(model, params, x, dtype=peers.torch_dtype(k)) for k in CHECK_TOL}
            good = all(diffs[k] <= CHECK_TOL[k] for k in CHECK_TOL)
            ok &= good
            print(f"{family:8s} {init:7s} init, seed {seed}: max relative difference of log p, float64 "
                  f"{diffs['float64']:.1e}, float32 {diffs['float32']:.1e}  {'ok' if good else 'FAILED'}")
    for family in FAMILIES:  # the identity-start variant: the torch hidden layers, tinygen's last ones
        model, mixed = initial_params(family, 0, "torch_identity_last")
        drawn, tiny = _dense_layers(initial_params(family, 0, "torch")[1]), _dense_layers(model.init(0))
        last = {id(net[-1]) for net in networks(mixed)}
        same = all(onp.array_equal(m["W"], (t if id(m) in last else d)["W"])
                   and onp.array_equal(m["b"], (t if id(m) in last else d)["b"])
                   for m, d, t in zip(_dense_layers(mixed), drawn, tiny))
        # every layer the identity, so log p(x) = log N(x; 0, I), to the float64 peer's rounding
        z_only = onp.max(onp.abs(peers.make_peer(model, mixed).log_prob_np(x)
                                 - (-0.5 * onp.sum(x ** 2, axis=1) - onp.log(2 * onp.pi))))
        good = same and z_only <= CHECK_TOL["float64"]
        ok &= good
        print(f"{family:8s} torch_identity_last, seed 0: hidden layers the torch init's, last layers "
              f"tinygen's: {same}; |log p - log N(x; 0, I)| {z_only:.1e}  {'ok' if good else 'FAILED'}")
    print("all peers agree with tinygen" if ok else "CHECK FAILED")
    return ok


def networks(tree):
    """The networks of a params tree: lists of dense layers, input layer first."""
    if isinstance(tree, (list, tuple)) and tree and all(_is_dense(v) for v in tree):
        return [tree]
    children = tree.values() if isinstance(tree, dict) else tree
    return [net for child in children for net in networks(child)]


def _dense_layers(tree):
    if _is_dense(tree):
        return [tree]
    children = tree.values() if isinstance(tree, dict) else tree
    return [layer for child in children for layer in _dense_layers(child)]


# ---------------------------------------------------------------- the report
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _gaps(entry):
    return [entry["seeds"][s]["gap"] for s in sorted(entry["seeds"], key=int)]


def _entries(results):
    """(init, dtype, family, entry) for every family run, as results_peers.json nests them."""
    return [(init, dtype, family, entry) for init, by_dtype in results["runs"].items()
            for dtype, families in by_dtype.items() for family, entry in families.items()]


def report_markdown(results):
    """REPORT_peers.md from results_peers.json."""
    entries = _entries(results)
    ses = [r["se"] for *_, e in entries for r in e["seeds"].values() if r["se"] is not None]
    se_range = f"{min(ses):.3f} to {max(ses):.3f}" if ses else "—"
    lines = ["# PyTorch peers trained by the peers' recipe", "",
             "Each of `RealNVP(2)`, `MAF(2)`, `NeuralSplineFlow(2)` (tinygen's constructor defaults) rebuilt in "
             "PyTorch by `benchmarks/peers.py` and trained there: Adam, lr 1e-3 constant, the steps of each row "
             "(the recipe's: 5000), minibatches of 256 drawn with replacement from "
             "`torch.Generator().manual_seed(100 + s)`, one thread; two moons (noise 0.05), 10,000 training "
             "points (seed 0), 5,000 test points (seed 1). Gap = test NLL − H(p), "
             f"H(p) = {results['entropy']:.5f} nats the exact entropy; the standard errors of the test NLLs "
             f"range from {se_range} (each in `results_peers.json`). Written by `benchmarks/peer_training.py`; "
             "`python benchmarks/peer_training.py --check` checks that each peer's log p equals tinygen's on the "
             "same weights.", ""]
    header = ["model", "steps", "gap, seeds {}", "median", "worst", "wall seconds per run (shared machine)",
              "quoted in issue 13 (PyTorch init, float32)", "median"]
    for key in sorted(results["runs"], key=lambda k: list(INITS).index(k.split("@")[0])):
        init, _, version = key.partition("@")
        for dtype, families in results["runs"][key].items():
            lines += [f"## {dtype}, started from {INITS[init]}" + (f", tinygen as of {version}" if version else ""),
                      ""]
            rows = []
            for family, entry in families.items():
                gaps, quoted = _gaps(entry), QUOTED[family]
                finite = [g for g in gaps if g is not None]
                seconds = [r["seconds"] for r in entry["seeds"].values()]
                rows.append([f"`{FAMILIES[family][0]}`", entry["steps"], ", ".join(tables.fmt(g) for g in gaps),
                             tables.fmt(_median(gaps)), tables.fmt(max(finite, default=None)),
                             f"{statistics.median(seconds):.0f}", ", ".join(f"{q:.3f}" for q in quoted),
                             f"{statistics.median(quoted):.3f}"])
            seeds = ", ".join(sorted(next(iter(families.values()))["seeds"], key=int))
            lines += [tables.markdown_table([h.format(seeds) for h in header], rows), ""]
            diverged = [f"{f} seed {s}" for f, e in families.items() for s, r in e["seeds"].items() if r["gap"] is None]
            if diverged:
                lines += ["Runs whose test log p was not finite (no gap): " + ", ".join(diverged) + ".", ""]
    lines += ["## Runs", ""]
    runs = {(e["command"], e["date"], e["machine"]) for *_, e in entries}
    for command, date, machine in sorted(runs, key=lambda r: r[1]):
        lines += [f"- `{command}` on {date}: {machine}"]
    return "\n".join(lines) + "\n"


def tinygen_version():
    """The last commit that changed tinygen/ (so model.init(s)), with "+" if tinygen/ has
    uncommitted changes; "unknown" outside a git checkout."""
    root = os.path.dirname(HERE)
    asks = (["log", "-1", "--format=%h"], ["status", "--porcelain"])
    try:
        git = [subprocess.run(["git", *a, "--", "tinygen"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip() for a in asks]
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return (git[0] or "unknown") + ("+" if git[1] else "")


def command():
    """The command line of this run, as a user would type it."""
    env = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    return env + " ".join(["python benchmarks/peer_training.py", *map(shlex.quote, sys.argv[1:])])


def save(results):
    common.write_json(results, JSON_PATH)
    with open(REPORT_PATH, "w") as f:
        f.write(report_markdown(results))


def _load():
    if os.path.isfile(JSON_PATH):
        with open(JSON_PATH) as f:
            return json.load(f)
    return {"entropy": peers_recipe_data()[2], "runs": {}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--inits", default="torch", help="some of " + ",".join(INITS) + " (comma-separated)")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--check", action="store_true", help="only check the peers against tinygen")
    parser.add_argument("--render", action="store_true", help="only rewrite REPORT_peers.md from the JSON")
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if check() else 1)
    if args.render:
        save(_load())
        print(f"{REPORT_PATH} rendered from {JSON_PATH}")
        return
    families, inits = args.families.split(","), args.inits.split(",")
    for name, values, choices in (("--families", families, FAMILIES), ("--inits", inits, INITS)):
        for v in values:
            if v not in choices:
                parser.error(f"{name}: unknown {v!r}; expected some of {','.join(choices)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if args.steps < 1:
        parser.error(f"--steps: expected a positive integer, got {args.steps}")
    x_train, x_test, _ = peers_recipe_data()
    results = _load()
    stamp = {"command": command(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "machine": common.machine(date=False)}
    print(stamp["machine"], flush=True)
    for init in inits:
        for family in families:
            entry = {**stamp, "steps": args.steps, "seeds": {}}
            for seed in seeds:
                r = train_peer(family, seed, x_train, x_test, steps=args.steps, dtype=args.dtype, init=init)
                entry["seeds"][str(seed)] = r
                print(f"{init} init, {FAMILIES[family][0]}, seed {seed}: gap {tables.fmt(r['gap'], '.4f')} "
                      f"(NLL {tables.fmt(r['nll'], '.4f')} +- {tables.fmt(r['se'], '.4f')}), "
                      f"{r['seconds']:.0f} s", flush=True)
            key = f"tinygen@{tinygen_version()}" if init == "tinygen" else init  # model.init changes with the code
            results["runs"].setdefault(key, {}).setdefault(args.dtype, {})[family] = entry
            save(results)  # after every family, so a long run leaves a partial report
    print()
    print(report_markdown(results))
    print(f"written to {REPORT_PATH} and {JSON_PATH}")


if __name__ == "__main__":
    main()
