"""Regenerate docs/thumbs/: one small picture per demo, cut from that demo's own main figure.

Runs every demo as a script at its defaults (one BLAS thread, PNGs into a temporary
folder), or takes the PNGs from ``--figures DIR`` where a run already wrote them,
and writes a copy of each demo's main figure, THUMB_WIDTH pixels wide, to
docs/thumbs/<demo>.png (the demo table in docs/demos.md shows them).

    python docs/make_thumbs.py [--demos 00_two_moons_tour,04_vae] [--figures out/]
    python docs/make_thumbs.py --demos 13_energy_models --executed full

``--executed full`` takes each figure from the demo's stored full-size run instead
(build/executed/full/, made by ``python docs/run_notebooks.py --full`` or the lab plan's
``--measure --full``): every inline figure there is followed by the "wrote out/NAME.png" line
``plot.show`` prints, which names it.
"""
import argparse
import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image  # installed with matplotlib

ROOT = Path(__file__).resolve().parent.parent
THUMBS = ROOT / "docs" / "thumbs"
THUMB_WIDTH = 360  # pixels; docs/demos.md shows them 180 wide, so they stay sharp on a dense screen
MAIN_FIGURE = {  # demo -> the figure (plot.show name) that stands for it
    "00_two_moons_tour": "00_tour",
    "01_maximum_likelihood": "01_gap_to_entropy",
    "02_autoregressive": "02_made_masks_tiny",
    "03_pixelcnn": "03_pixelcnn_samples_shapes",
    "04_vae": "04_vae_training",
    "05_vae_images": "05_vae_curse",
    "06_change_of_variables": "06_fitted_densities",
    "07_coupling_flows": "07_densities_and_samples",
    "08_maf_iaf": "08_maf_layers",
    "09_reverse_kl": "09_planar_u1_u4",
    "10_sequences": "10_sequences_training",
    "11_continuous_flows": "11_densities_and_samples",
    "12_diffusion": "12_noising",
    "13_energy_models": "13_density_vs_sampler",
    "14_gans": "14_good_and_collapsed",
    "15_image_flows": "15_squeeze",
}


def run_demo(demo, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("TINYGEN_QUICK", None)  # the thumbnails show the defaults, not the tiny test runs
    print(f"running demos/{demo}.py", flush=True)
    subprocess.run([sys.executable, str(ROOT / "demos" / f"{demo}.py"), "--out", str(out)], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)


def figures_of_executed(demo, mode, folder):
    """Write the figures of the demo's stored run (run_notebooks.stored) into folder as NAME.png."""
    sys.path.insert(0, str(ROOT / "docs"))
    import run_notebooks
    nb = run_notebooks.stored(ROOT / "demos" / f"{demo}.ipynb", mode)
    if nb is None:
        raise SystemExit(f"--executed: no current {mode} run of demos/{demo}.ipynb is stored "
                         f"(python docs/run_notebooks.py --{mode} --only {demo})")
    png = None
    for out in (o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])):
        if "image/png" in out.get("data", {}):
            png = base64.b64decode(out["data"]["image/png"])
        for line in out.get("text", "").splitlines():  # "wrote out/NAME.png", right after its figure
            if line.startswith("wrote ") and png is not None:
                (folder / Path(line.split(" ", 1)[1]).name).write_bytes(png)
                png = None


def thumbnail(src, dst):
    with Image.open(src) as im:
        height = round(im.height * THUMB_WIDTH / im.width)
        im.convert("RGB").resize((THUMB_WIDTH, height), Image.LANCZOS).save(dst, optimize=True)
    print(f"wrote {dst.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", default=",".join(MAIN_FIGURE), help="comma-separated demo names")
    parser.add_argument("--figures", default=None, help="folder with the demos' PNGs (default: run the demos)")
    parser.add_argument("--executed", choices=("quick", "full"), default=None,
                        help="take the figures from the demos' stored runs of this size instead")
    args = parser.parse_args()
    demos = [d.strip() for d in args.demos.split(",") if d.strip()]
    unknown = [d for d in demos if d not in MAIN_FIGURE]
    if unknown:
        parser.error(f"--demos: unknown {unknown}; choose from {list(MAIN_FIGURE)}")
    THUMBS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(args.figures) if args.figures else Path(tmp)
        for demo in demos:
            if args.executed:
                figures_of_executed(demo, args.executed, figures)
            elif not args.figures:
                run_demo(demo, figures)
            src = figures / f"{MAIN_FIGURE[demo]}.png"
            if not src.is_file():
                raise SystemExit(f"--figures: {src} is missing (run demos/{demo}.py --out {figures})")
            thumbnail(src, THUMBS / f"{demo}.png")


if __name__ == "__main__":
    main()
