"""The headline demo as a newcomer runs it: wall-clock seconds of `python demos/00_two_moons_tour.py`.

The demo runs with its defaults (every recipe of the tour at its full steps) in a fresh Python process,
from the checkout's root, writing its figure to a new temporary folder (--out), so nothing a previous run
left behind (saved parameters, a warm output folder) helps it. The target is at most 60 s on an idle
2-core machine (benchmarks/speed_tables.py); the load averages before and after say how idle it was.

Writes results_headline.json: command, demo (the argv timed), seconds, date, machine, load
(1-, 5- and 15-minute averages before and after), commit (and whether the checkout had uncommitted changes).

Run: python benchmarks/bench_headline.py [--out benchmarks/results_headline.json]
     (--command "ARGV" replaces the demo's argv, to check this script with a command that takes no time)
"""
import argparse
import datetime
import os
import shlex
import subprocess
import sys
import tempfile
import time

import common

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEMO = "demos/00_two_moons_tour.py"


def git(*args):
    """The output of a git command in the checkout, or None outside a git checkout."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def time_demo(argv):
    """(wall seconds, return code, the output's last lines) of ``argv`` run from the checkout's root, with
    this checkout's tinygen first on the path (a newcomer's `pip install -e .` would import this one)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, done.returncode, (done.stdout + done.stderr).splitlines()[-20:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results_headline.json"))
    parser.add_argument("--command", default=None, help="the argv to time instead of the demo (one string)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinygen-headline-") as folder:
        demo = (shlex.split(args.command) if args.command is not None
                else [sys.executable, DEMO, "--out", folder])
        before = list(os.getloadavg())
        seconds, code, tail = time_demo(demo)
        after = list(os.getloadavg())
    print("\n".join(tail))
    if code != 0:
        print(f"command: {shlex.join(demo)} exited with status {code}; {args.out} not written", file=sys.stderr)
        return code
    shown = ["python" if demo[0] == sys.executable else demo[0], *demo[1:]]  # as a user types it
    results = {"command": common.command("benchmarks/bench_headline.py"),
               "demo": shlex.join(shown).replace(folder, "TMPDIR"), "seconds": seconds,
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": common.machine(date=False), "load": {"before": before, "after": after},
               "commit": git("rev-parse", "HEAD") or "unknown", "uncommitted": bool(git("status", "--porcelain"))}
    common.write_json(results, args.out)
    print(f"{results['demo']}: {seconds:.1f} s (load {before[0]:.1f} -> {after[0]:.1f}); {args.out} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
