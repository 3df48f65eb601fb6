"""What malloc's returned memory costs: each family's training step and log p, with tinygen/_heap.py and without.

tinygen tells glibc's malloc to keep freed memory while its loops run (tinygen/_heap.py). This script
measures what that changes: for every lecture family, a training step at its recipe's batch and the
log p of 100,000 points (inside ``tinygen.fast.installed()``), each in a fresh process with the
setting on (the default) and off (``set_heap_retention(False)``), the two taking turns; per call it
reports CPU milliseconds and the minor page faults (pages the kernel had to hand back, each zeroed).

Writes results_heap.json and REPORT_heap.md. Run: OMP_NUM_THREADS=1 python benchmarks/bench_heap.py
[--rounds 3] [--steps 200] [--families realnvp,maf]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as onp

import common
from tinygen.recipes import LECTURE_RECIPES, RECIPES

HERE = os.path.dirname(os.path.abspath(__file__))

# One measurement in a fresh process: argv = family, "on"/"off", steps. Prints one JSON line.
PROBE = """
import json, resource, sys, time
import numpy as np
import tinygen
from tinygen import fast
from tinygen.recipes import RECIPES, two_moons_split
name, setting, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if setting == "off":
    fast.set_heap_retention(False)
recipe = RECIPES[name]
x, _, _ = two_moons_split(0)

def measured(fn):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu = time.process_time()
    fn()
    return time.process_time() - cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

model, params, _ = recipe.train(x, rng=0, steps=20, progress=False)  # warm: imports, first arrays
step_s, step_faults = measured(lambda: recipe.train(x, rng=0, steps=steps, model=model, start=params,
                                                    progress=False))
points = np.random.default_rng(1).normal(size=(100_000, 2))
kwargs = {"k": 5, "rng": 0} if name.startswith("vae") else {}  # a VAE's log p: the IWAE estimate
log_p = lambda: model.log_prob(params, points, **kwargs)
with fast.installed():
    log_p()
    eval_s, eval_faults = measured(log_p)
print(json.dumps({"retaining": fast.is_retaining(), "step_ms": 1e3 * step_s / steps,
                  "step_faults": step_faults / steps, "log_p_ms": 1e3 * eval_s, "log_p_faults": eval_faults}))
"""


def probe(name, setting, steps):
    done = subprocess.run([sys.executable, "-c", PROBE, name, setting, str(steps)], capture_output=True,
                          text=True, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--families", default=",".join(LECTURE_RECIPES))
    p.add_argument("--out", default=os.path.join(HERE, "results_heap.json"))
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    runs = {name: {"on": [], "off": []} for name in args.families.split(",")}
    for r in range(args.rounds):
        for name, by_setting in runs.items():
            for setting in (("on", "off") if r % 2 == 0 else ("off", "on")):  # turns, so both see the load
                by_setting[setting].append(probe(name, setting, args.steps))
                print(name, setting, by_setting[setting][-1], file=sys.stderr, flush=True)
    rows = []
    for name, by_setting in runs.items():
        med = {s: {key: float(onp.median([run[key] for run in by_setting[s]]))
                   for key in ("step_ms", "step_faults", "log_p_ms", "log_p_faults")} for s in ("on", "off")}
        rows.append({"family": RECIPES[name].label, "batch": RECIPES[name].batch_size,
                     "retaining": [run["retaining"] for run in by_setting["on"]], **med})
    result = {"command": common.command("benchmarks/bench_heap.py"), "machine": common.machine(),
              "load": {"before": load_before, "after": os.getloadavg()}, "rounds": args.rounds,
              "steps": args.steps, "rows": rows}
    common.write_json(result, args.out)
    write_report(result, os.path.join(os.path.dirname(args.out), "REPORT_heap.md"))


def write_report(result, path):
    def ratio(r, key):
        return f"{r['off'][key] / r['on'][key]:.2f}×"

    table = [[r["family"], r["batch"],
              f"{r['off']['step_ms']:.2f}", f"{r['on']['step_ms']:.2f}", ratio(r, "step_ms"),
              f"{r['off']['step_faults']:.0f}", f"{r['on']['step_faults']:.1f}",
              f"{r['off']['log_p_ms']:.0f}", f"{r['on']['log_p_ms']:.0f}", ratio(r, "log_p_ms"),
              f"{r['off']['log_p_faults']:.0f}", f"{r['on']['log_p_faults']:.0f}"] for r in result["rows"]]
    head = ["family", "batch", "step off (ms)", "step on (ms)", "step speed-up", "faults/step off", "faults/step on",
            "log p off (ms)", "log p on (ms)", "log p speed-up", "log p faults off", "log p faults on"]
    lb, la = result["load"]["before"][0], result["load"]["after"][0]
    text = f"""# Freed memory kept or returned: what page faults cost a step and a log p

Generated by `{result['command']}` (benchmarks/bench_heap.py); do not edit by hand.

Machine: {result['machine']}. Load average (1 min) {lb:.1f} at the start and {la:.1f} at the end, on 2 cores.

Each figure is the median over {result['rounds']} fresh processes per setting, the settings taking turns: CPU ms
of one training step (the recipe's batch, {result['steps']} steps after 20 to warm up) and of one log p of 100,000
points inside `tinygen.fast.installed()` (the VAEs' IWAE estimate with K = 5), and the minor page faults per
call. *on* is tinygen's default (malloc keeps freed memory, tinygen/_heap.py); *off*,
`tinygen.fast.set_heap_retention(False)`, is glibc's own behaviour.

{common.markdown_table(head, table)}
"""
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
