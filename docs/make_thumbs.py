"""Regenerate docs/thumbs/: one small picture per demo, cut from that demo's own main figure.

Runs every demo as a script at its defaults (one BLAS thread, PNGs into a temporary
folder), or takes the PNGs from ``--figures DIR`` where a run already wrote them,
and writes a copy of each demo's main figure, THUMB_WIDTH pixels wide, to
docs/thumbs/<demo>.png (the demo table in docs/demos.md shows them).

    python docs/make_thumbs.py [--demos 00_two_moons_tour,04_vae] [--figures out/]
"""
import argparse
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
    "15_image_flows": "15_squeeze",
}


def run_demo(demo, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("TINYGEN_QUICK", None)  # the thumbnails show the defaults, not the tiny test runs
    print(f"running demos/{demo}.py", flush=True)
    subprocess.run([sys.executable, str(ROOT / "demos" / f"{demo}.py"), "--out", str(out)], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)


def thumbnail(src, dst):
    with Image.open(src) as im:
        height = round(im.height * THUMB_WIDTH / im.width)
        im.convert("RGB").resize((THUMB_WIDTH, height), Image.LANCZOS).save(dst, optimize=True)
    print(f"wrote {dst.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", default=",".join(MAIN_FIGURE), help="comma-separated demo names")
    parser.add_argument("--figures", default=None, help="folder with the demos' PNGs (default: run the demos)")
    args = parser.parse_args()
    demos = [d.strip() for d in args.demos.split(",") if d.strip()]
    unknown = [d for d in demos if d not in MAIN_FIGURE]
    if unknown:
        parser.error(f"--demos: unknown {unknown}; choose from {list(MAIN_FIGURE)}")
    THUMBS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(args.figures) if args.figures else Path(tmp)
        for demo in demos:
            if not args.figures:
                run_demo(demo, figures)
            src = figures / f"{MAIN_FIGURE[demo]}.png"
            if not src.is_file():
                raise SystemExit(f"--figures: {src} is missing (run demos/{demo}.py --out {figures})")
            thumbnail(src, THUMBS / f"{demo}.png")


if __name__ == "__main__":
    main()
