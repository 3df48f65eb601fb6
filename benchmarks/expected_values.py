"""Measure the values the demos print at their defaults, over a few seeds, into tinygen/expected.json.

Each demo reports its headline numbers through ``tinygen.recipes.report``; with env
TINYGEN_RECORD set to a file, report also appends every value to that file. This
script runs every demo as a plain script (``--seed s``, defaults otherwise, one
BLAS thread) once per seed, collects those values and stores, per key, the mean,
the sample standard deviation over seeds and the values themselves. The demos then
print each value beside "expected at the defaults mean ± sd over n seeds".

Run (about 8 minutes per seed on one idle core; --jobs 2 runs two demos at a time):

    OMP_NUM_THREADS=1 python benchmarks/expected_values.py [--seeds 3] [--jobs 2] [--demos 04_vae,08_maf_iaf]

With --demos, only those demos are rerun; the values of the others are kept.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tinygen.recipes import EXPECTED_PATH, RECORD_ENV, expected_values, summarize  # noqa: E402


def demos(selection):
    found = {p.stem: p for p in sorted((ROOT / "demos").glob("[0-9][0-9]_*.py"))}
    if not selection:
        return list(found.values())
    unknown = [name for name in selection if name not in found]
    if unknown:
        raise SystemExit(f"--demos: unknown {unknown}; choose from {list(found)}")
    return [found[name] for name in selection]


def run(demo, seed, out, figures):
    """The values ``demo`` reports at its defaults with ``--seed seed``: {key: value}; PNGs go to figures."""
    record = Path(out) / f"{demo.stem}_{seed}.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **{RECORD_ENV: str(record)})
    env.pop("TINYGEN_QUICK", None)  # the defaults, not the tiny test sizes
    start = datetime.datetime.now()
    done = subprocess.run([sys.executable, str(demo), "--seed", str(seed), "--out", str(figures)], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{demo.name} --seed {seed} failed:\n{done.stderr[-3000:]}")
    values = {}
    if record.is_file():
        for line in record.read_text().splitlines():
            item = json.loads(line)
            values[item["key"]] = item["value"]
    print(f"{demo.name} seed {seed}: {len(values)} values in {(datetime.datetime.now() - start).seconds} s",
          flush=True)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, 1, ..., seeds - 1")
    parser.add_argument("--demos", default="", help="comma-separated demo names (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="demo runs at a time (each one thread)")
    parser.add_argument("--out", default=EXPECTED_PATH)
    parser.add_argument("--figures", default=None,
                        help="keep seed 0's PNGs in this folder (docs/make_thumbs.py --figures reads them)")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds: expected at least 2 (a spread needs two runs)")
    selected = demos([d.strip() for d in args.demos.split(",") if d.strip()])
    if args.jobs < 1:
        parser.error(f"--jobs: expected a positive integer, got {args.jobs}")
    collected = defaultdict(list)
    with tempfile.TemporaryDirectory() as out, concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        runs = [(demo, seed) for demo in selected for seed in range(args.seeds)]  # seeds in order per key
        futures = [pool.submit(run, demo, seed, out, args.figures if (seed == 0 and args.figures) else out)
                   for demo, seed in runs]
        for future in futures:
            for key, value in future.result().items():
                collected[key].append(value)
    rerun = {demo.stem[:2] for demo in selected}
    stored = expected_values(args.out) if os.path.isfile(args.out) else {}  # the first run has none
    kept = {key: v for key, v in stored.items() if key.split("/")[0] not in rerun}
    values = {**kept, **summarize(collected)}
    document = {
        "about": "values the demos print at their defaults: mean, sample sd over seeds, and the values",
        "command": f"OMP_NUM_THREADS=1 python benchmarks/expected_values.py --seeds {args.seeds} --jobs {args.jobs}",
        "seeds": list(range(args.seeds)),
        "values": dict(sorted(values.items())),
    }
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    print(f"wrote {len(values)} values to {args.out}")


if __name__ == "__main__":
    main()
