"""Demos as scripts: the command line, --out, and the tour's main(argv).

Every demo also runs as a notebook in tests/test_notebooks.py (at TINYGEN_QUICK
sizes, checking its figures inline and as PNGs); here only what a script does
differently is checked. These check that the demos work against the library
(names, signatures, shapes), not that they learn anything: a few steps cannot fit a model.
"""
import functools
import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tinygen import recipes
from tinygen.recipes import LECTURE_RECIPES, RECIPES

DEMOS = Path(__file__).resolve().parent.parent / "demos"
SCRIPTS = sorted(DEMOS.glob("[0-9][0-9]_*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(script, *flags, quick=True):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    if quick:
        env["TINYGEN_QUICK"] = "1"
    return subprocess.run([sys.executable, str(script), *flags], cwd=DEMOS.parent, env=env,
                          capture_output=True, text=True)


# Every demo's `--help`, run in one Python process (each script by runpy, as `python script --help`
# would run it, sys.argv set to match): one interpreter start and one import of tinygen and
# matplotlib for all of them, instead of one each.
HELP_ALL = """
import contextlib, io, json, runpy, sys
seen = {}
for path in sys.argv[1:]:
    sys.argv, printed, status = [path, "--help"], io.StringIO(), 0
    with contextlib.redirect_stdout(printed):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as stop:
            status = stop.code or 0
    seen[path] = [status, printed.getvalue()]
print(json.dumps(seen))
"""


@functools.cache
def _help_pages():
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", TINYGEN_QUICK="1")
    done = subprocess.run([sys.executable, "-c", HELP_ALL, *map(str, SCRIPTS)], cwd=DEMOS.parent, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_demo_reads_its_command_line(script):
    status, text = _help_pages()[str(script)]
    assert status == 0
    assert "--out" in text and "--seed" in text


def test_script_flags_override_quick_sizes_and_write_pngs_to_out(tmp_path):
    bad = _run(DEMOS / "06_change_of_variables.py", "--no-such-option")
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-option" in bad.stderr
    done = _run(DEMOS / "06_change_of_variables.py", "--out", str(tmp_path / "figs"), "--steps", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    # --steps 2 beats the quick value (5): fit's progress counts to 2, for both flows
    assert done.stderr.count("step      2/2") == 2 and "/5 " not in done.stderr
    pngs = sorted((tmp_path / "figs").glob("*.png"))
    assert len(pngs) == done.stdout.count("wrote ") >= 1
    # a quick run prints its own values and no expectation measured at the defaults beside them
    assert "06/" in done.stdout and "expected at the defaults" not in done.stdout
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC


def test_tour_runs_end_to_end_and_reloads_what_it_saved(tmp_path):
    tour = runpy.run_path(str(DEMOS / "00_two_moons_tour.py"), run_name="tour")
    tiny = ["--n-train", "300", "--n-test", "200", "--k", "5", "--grid", "20", "--out", str(tmp_path)]
    # one process: tests/test_parallel.py checks that training in parallel gives the same params
    rows = tour["main"](["--steps", "3", "--workers", "1", "--save", str(tmp_path / "params"), *tiny])
    assert [r["model"] for r in rows] == [RECIPES[name].label for name in LECTURE_RECIPES]  # the default models
    for r in rows:
        assert set(r) == {"model", "params", "steps", "seconds", "nll", "se", "gap"}
        assert r["steps"] == 3
        assert math.isfinite(r["nll"]) and math.isfinite(r["gap"])
        assert math.isfinite(r["se"]) and r["se"] >= 0
    png = tmp_path / "00_tour.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG_MAGIC
    # --load reuses the saved parameters instead of training: the same test NLLs, exactly
    # (same seed, same test set, same importance samples for the VAEs).
    reloaded = tour["main"](["--load", str(tmp_path / "params"), *tiny])
    assert [r["steps"] for r in reloaded] == [0] * len(rows)
    assert [r["nll"] for r in reloaded] == [r["nll"] for r in rows]


def test_report_gives_the_defaults_expectation_only_outside_quick_runs(monkeypatch, capsys):
    key, ref = next(iter(recipes.expected_values().items()))  # any value measured at the defaults
    shown = f"{ref['mean']:.3f} ± {ref['sd']:.3f}"
    monkeypatch.delenv(recipes.QUICK_ENV, raising=False)
    recipes.report(key, 1.591)
    assert shown in capsys.readouterr().out
    monkeypatch.setenv(recipes.QUICK_ENV, "1")
    recipes.report(key, 1.591)
    out = capsys.readouterr().out
    assert out.startswith(f"{key} = 1.591 nats") and shown not in out and "expected at the defaults" not in out


def test_tour_judges_a_model_without_a_density_by_its_samples(tmp_path, capsys):
    # --models with an EBM (a density through its quadrature log Z), a GAN (none: its draws are judged)
    # and a flow trained as a GAN's generator (a density: the flow's own)
    tour = runpy.run_path(str(DEMOS / "00_two_moons_tour.py"), run_name="tour")
    rows = tour["main"](["--models", "ebm,gan,flow_gan", "--steps", "2", "--workers", "1", "--n-train", "300",
                         "--n-test", "200", "--grid", "12", "--out", str(tmp_path)])
    by_label = {r["model"]: r for r in rows}
    ebm, gan, flow_gan = (by_label[RECIPES[name].label] for name in ("ebm", "gan", "flow_gan"))
    assert {"nll", "se", "gap"} <= set(ebm) and {"nll", "se", "gap"} <= set(flow_gan)
    assert "gap" not in gan and math.isfinite(gan["quality"]) and gan["quality_se"] > 0
    assert 0 <= gan["coverage"] <= 1 and gan["n_covered"] in (0, 1, 2)
    printed = capsys.readouterr().out
    assert "sample quality" in printed and "coverage" in printed  # the judged table, under its own header
    assert (tmp_path / "00_tour.png").read_bytes()[:8] == PNG_MAGIC
