"""Do the defaults win? The seed-by-seed tables, from results_defaults.json and results_peers.json.

``bench_defaults.py`` trains tinygen's flows (the peers' recipe, and tinygen's own
recipes for every family) and writes results_defaults.json; ``peer_training.py``
trains the PyTorch peers by the peers' recipe and writes results_peers.json. Both
REPORT.md's section and the table in docs/defaults.md are rendered here, so no figure is typed.
No torch and no training: the page check in the tests only renders.

results_defaults.json: {"peers" | "zero_bias" | "own": {family: {seed: {gap, se, nll, bridge, seconds}}},
                        "peers_recipe": {steps, batch_size, lr},
                        "runs": {"recipe/family": {command, date, minutes, machine}}}
results_peers.json:    {"runs": {init: {dtype: {family: {"seeds": {seed: {gap, se, ...}}, ...}}}}}
"""
import json
import os

from report_tables import markdown_table
from tinygen.recipes import RECIPES

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = os.path.join(HERE, "results_defaults.json")
PEERS = os.path.join(HERE, "results_peers.json")
# Issue 13's targets for the peers' recipe: every seed's gap at most this (nats)
TARGETS = {"spline": 0.04, "maf": 0.08, "realnvp": 0.10}
LABELS = {"realnvp": "RealNVP(2)", "maf": "MAF(2)", "spline": "NeuralSplineFlow(2)"}
OWN_LABELS = {name: recipe.label for name, recipe in RECIPES.items()}
BEST_FLOW = 0.02  # tinygen's own recipe: the best flow within this of H(p), on every seed
JOINED = 0.5  # a bridge ratio at or above this: the moons are still joined (see evaluate.moons_bridge_ratio)


def load(path):
    with open(path) as f:
        return json.load(f)


def _seeds(runs):
    return sorted(runs, key=int)


def _peer_gaps(peers, family, init="torch", dtype="float32"):
    """{seed: gap} of the PyTorch peer, or {} when it was not measured."""
    try:
        seeds = peers["runs"][init][dtype][family]["seeds"]
    except (KeyError, TypeError):
        return {}
    return {s: v["gap"] for s, v in seeds.items()}


def _verdict(ok, how):
    return f"{'yes' if ok else 'no'} ({how})"


def peers_recipe_table(defaults, peers):
    """One row per flow: tinygen's gap on each seed (peers' recipe), the PyTorch peer's, the verdicts;
    then the ablation rows (hidden biases 0 at init), if measured."""
    if not defaults.get("peers") and not defaults.get("zero_bias"):
        return "(not measured yet)"
    rows, seeds_shown = [], None
    for key, note in (("peers", ""), ("zero_bias", ", hidden biases 0 at init (ablation)")):
        for family, runs in defaults.get(key, {}).items():
            seeds = _seeds(runs)
            seeds_shown = seeds_shown or seeds
            ours = [runs[s]["gap"] for s in seeds]
            theirs = _peer_gaps(peers, family)
            peer = [theirs.get(s) for s in seeds]
            target = TARGETS.get(family)
            wins = [p is not None and g < p for g, p in zip(ours, peer)]
            bridge = max(runs[s]["bridge"] for s in seeds)
            rows.append([LABELS.get(family, family) + note, ", ".join(f"{g:.3f}" for g in ours),
                         ", ".join("—" if p is None else f"{p:.3f}" for p in peer),
                         f"{max(ours):.3f}" + ("" if target is None else
                                               f" (≤ {target}: {'met' if max(ours) <= target else 'not met'})"),
                         f"{sum(wins)} of {len(seeds)}" if any(p is not None for p in peer) else "—",
                         f"{bridge:.1e}" + (" (joined)" if bridge >= JOINED else "")])
    return markdown_table(["flow (constructor defaults)", "tinygen gap, seeds " + ", ".join(seeds_shown or []),
                           "PyTorch float32 peer, same seeds", "worst tinygen seed (target)",
                           "seeds where tinygen is lower", "largest bridge ratio"], rows)


def own_recipe_table(defaults):
    """One row per family: the gap on each seed by tinygen's own recipe (the tour's runs)."""
    if not defaults.get("own"):
        return "(not measured yet)"
    rows = []
    for family, runs in defaults.get("own", {}).items():
        seeds = _seeds(runs)
        gaps = [runs[s]["gap"] for s in seeds]
        rows.append([OWN_LABELS.get(family, family), ", ".join(f"{g:.3f}" for g in gaps), f"{max(gaps):.3f}",
                     f"{max(runs[s]['bridge'] for s in seeds):.1e}"])
    return markdown_table(["family (tinygen.recipes)", "gap, seeds " + ", ".join(
        _seeds(next(iter(defaults["own"].values())))), "worst seed", "largest bridge ratio"], rows)


def own_claims(defaults):
    """Sentences on the two claims of tinygen's own recipes, each with its verdict."""
    own = defaults.get("own", {})
    out = []
    flows = [f for f in ("maf", "realnvp", "spline") if f in own]
    if flows:
        seeds = _seeds(own[flows[0]])
        best = [min(own[f][s]["gap"] for f in flows if s in own[f]) for s in seeds]
        ok = all(b <= BEST_FLOW for b in best)
        out.append(f"Best flow on each seed: {', '.join(f'{b:.3f}' for b in best)} nats; within {BEST_FLOW} of "
                   f"H(p) on every seed: {'yes' if ok else 'no'}.")
    if "vae" in own and "vae_iaf" in own:
        seeds = [s for s in _seeds(own["vae"]) if s in own["vae_iaf"]]
        diff = [own["vae_iaf"][s]["gap"] - own["vae"][s]["gap"] for s in seeds]
        ok = all(d <= 0 for d in diff)
        out.append(f"VAE with the IAF posterior minus with the Gaussian posterior, seed by seed: "
                   f"{', '.join(f'{d:+.3f}' for d in diff)} nats; no worse on every seed: {'yes' if ok else 'no'}.")
    return " ".join(out)


def section(defaults, peers):
    """REPORT.md's section (and docs/defaults.md's tables with their sentences)."""
    recipe = defaults.get("peers_recipe", {})
    lines = [f"**The peers' recipe**: each flow with its constructor's defaults, "
             f"`tinygen.fit(model, model.init(s), x, steps={recipe.get('steps')}, "
             f"batch_size={recipe.get('batch_size')}, lr={recipe.get('lr')}, rng=100 + s)` on 10,000 training "
             "and 5,000 test points; the PyTorch peer is the same architecture with PyTorch's own initialization "
             "and batches drawn with replacement (`benchmarks/peer_training.py`). Gap = test NLL − H(p), "
             "standard errors about 0.01. Bridge ratio: density on the bridges between the moons over the "
             "typical density on them (`evaluate.moons_bridge_ratio`; the truth 6e-6, joined moons about 1).", "",
             peers_recipe_table(defaults, peers), "",
             "**tinygen's own recipes** (`tinygen.recipes`, what the tour prints at `--seed s`: its data, "
             "init seed s):", "", own_recipe_table(defaults), "", own_claims(defaults), "",
             _measured(defaults) + f" The peers: {_peer_run(peers)}."]
    return "\n".join(lines)


def _measured(defaults):
    """One sentence per distinct measuring run: its command, date, minutes, machine."""
    runs = {}
    for recipe, r in defaults.get("runs", {}).items():
        runs.setdefault((r["command"], r["date"], r["minutes"], r["machine"]), []).append(recipe)
    return " ".join(f"Measured ({', '.join(sorted(names))}) by `{c}` on {d} ({m:.0f} minutes); machine: {mach}."
                    for (c, d, m, mach), names in runs.items())


def _peer_run(peers):
    """How the PyTorch peers' figures were measured: "`command` on date", or "not run"."""
    try:
        fam = next(iter(peers["runs"]["torch"]["float32"].values()))
    except (KeyError, TypeError, StopIteration):
        return "not run"
    return f"`{fam['command']}` on {fam['date']}"


def render(defaults_path=DEFAULTS, peers_path=PEERS):
    peers = load(peers_path) if os.path.isfile(peers_path) else {}
    return section(load(defaults_path), peers)
