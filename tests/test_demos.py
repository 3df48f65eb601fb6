"""Smoke tests for demos/: each script runs end to end with a tiny step count and writes its PNGs.

These check that the demos still work against the library (names, signatures,
shapes), not that they learn anything: a few steps cannot fit a model.
"""
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = Path(__file__).resolve().parent.parent / "demos"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Flags that make each demo tiny: a few steps, small data sets, few importance samples.
TINY = {
    "01_maximum_likelihood.py": ["--steps", "5", "--n", "50"],
    "02_autoregressive.py": ["--steps", "5"],
    "03_pixelcnn.py": ["--steps", "5", "--n-train", "100", "--n-test", "100"],
    "04_vae.py": ["--steps", "5", "--k", "5"],
    "05_vae_images.py": ["--steps", "5", "--curse-steps", "5", "--k", "5"],
    "06_change_of_variables.py": ["--steps", "5", "--n", "200"],
    "07_coupling_flows.py": ["--steps", "3", "--realnvp-steps", "3"],
    "08_maf_iaf.py": ["--steps", "5"],
    "09_reverse_kl.py": ["--steps", "3", "--asym-steps", "3", "--ks", "2", "--n-eval", "200", "--grid", "20"],
    "10_sequences.py": ["--steps", "5", "--n-train", "200", "--n-test", "100", "--name-steps", "5",
                        "--image-steps", "5", "--made-steps", "5"],
}


def _pngs(folder):
    return sorted(Path(folder).glob("*.png"))


def test_every_demo_has_a_smoke_run():
    # a new demo must get its tiny flags here (00 is run by test_tour_runs_end_to_end)
    scripts = {p.name for p in DEMOS.glob("[0-9][0-9]_*.py")} - {"00_two_moons_tour.py"}
    assert scripts == set(TINY)


def test_tour_runs_end_to_end_and_reloads_what_it_saved(tmp_path):
    tour = runpy.run_path(str(DEMOS / "00_two_moons_tour.py"), run_name="tour")
    tiny = ["--n-train", "300", "--n-test", "200", "--out", str(tmp_path)]
    rows = tour["main"](["--steps", "3", "--save", str(tmp_path / "params"), *tiny])
    assert [r["model"] for r in rows] == [label for label, *_ in tour["MODELS"].values()]
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


@pytest.mark.parametrize("script", sorted(TINY))
def test_demo_runs_tiny(script, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(DEMOS / script), "--out", str(tmp_path), *TINY[script]],
                          cwd=DEMOS.parent, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    pngs = _pngs(tmp_path)
    assert pngs, f"{script} wrote no PNG to --out"
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC, f"{png.name} is not a PNG"
