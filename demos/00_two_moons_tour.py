# %% [markdown]
# # The two-moons tour
#
# Every model family of the lecture, trained on the same two-moons split
# (noise 0.05), and compared with the one number that says how close each got:
# the gap between its test NLL and the exact entropy of the data,
#
#     E_p[-log p_theta(x)] - H(p) = D_KL(p || p_theta) >= 0,
#
# (the lecture's "MLE as KL minimization"). The exact density of two moons is
# known (``tinygen.data.two_moons_log_prob``), so the gap is measured, not guessed.
# Each family is trained by its recipe in ``tinygen.recipes`` (architecture, steps,
# learning rate and schedule), the same recipe demos 02, 04, 07 and 08 train from.
#
# The continuous-time families are scored the same way when asked for with ``--models``
# (they take several minutes each, so the default is the lecture's six): a continuous
# normalizing flow trained by flow matching ("flow_matching"), the same flow fine-tuned by
# maximum likelihood through its ODE ("cnf"), and a diffusion model ("diffusion"). Their log p
# comes from solving an ODE with the exact trace of the Jacobian (the instantaneous
# change of variables), so their gaps are measured like the discrete flows'. The
# diffusion model also prints the gap of its variational bound (-ELBO - H), an upper
# bound on its KL, beside the exact one.
#
# An energy-based model ("ebm", "ebm_quadrature") has a density too: its normalizer log Z is
# computed by quadrature on the plane, so its gap is exact like the flows'. A GAN ("gan") has
# none: its row judges its samples against the exact density instead, by their mean true
# log-density (beside -H, which a perfect sampler matches) and the share of the true mass they
# cover, per moon (``tinygen.gan.coverage``); a flow trained as a GAN's generator
# ("flow_gan") has both, and its gap shows what adversarial training does to a likelihood.
#
# Run: ``python demos/00_two_moons_tour.py`` (the families train at the same time, one process
# per core, and benchmarks/REPORT.md times the whole run; ``--workers 1`` trains them in turn), or
# ``--models maf,realnvp`` for a subset (``--models flow_matching,cnf,diffusion`` for the
# continuous-time rows, ``--models ebm,ebm_quadrature,gan,flow_gan`` for the energy-based ones, by
# contrastive divergence and by the exact likelihood gradient, and the adversarial ones),
# ``--save DIR`` / ``--load DIR`` to keep and reuse trained parameters. In a notebook, run
# the cells top to bottom.

# %% [markdown]
# The first cell makes `tinygen` importable. Where it is installed (`pip install -e .`)
# it does nothing; otherwise it finds the checkout this notebook belongs to (the folder
# above `demos/`, or a clone inside the current folder, as in Colab), puts it first on
# `sys.path`, and pip-installs it only if its dependencies are missing. A clone named
# `tinygen` in the current folder would otherwise be imported as an empty namespace
# package (`tinygen.__file__` is None): the cell catches that too.

# %%
try:
    import tinygen
    if getattr(tinygen, "__file__", None) is None:  # a folder named tinygen (a clone), as an empty namespace package
        raise ImportError(f"tinygen: {list(tinygen.__path__)} is a folder, not the package")
except ImportError:
    import importlib
    import pathlib
    import subprocess
    import sys

    def forget_tinygen():  # what a failed or wrong import left behind
        for name in [m for m in sys.modules if m == "tinygen" or m.startswith("tinygen.")]:
            del sys.modules[name]
        importlib.invalidate_caches()

    here = pathlib.Path.cwd().resolve()
    roots = [p for p in (here, *here.parents, *here.glob("*")) if (p / "tinygen" / "__init__.py").is_file()]
    if not roots:
        raise ImportError(f"tinygen: not installed, and no checkout of it in or above {here}; "
                          "run `pip install -e PATH` with PATH the folder holding setup.cfg") from None
    sys.path.insert(0, str(roots[0]))  # the checkout first: its package wins, and edits to it take effect
    forget_tinygen()
    try:
        import tinygen
    except ModuleNotFoundError:  # its dependencies are missing (autograd, in Colab): install the checkout
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", str(roots[0])])
        forget_tinygen()
        import tinygen
    print(f"tinygen from the checkout {roots[0]}")

# %%
import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygen
from tinygen import plot
from tinygen.data import moons, two_moons_log_prob
from tinygen.diffusion import Diffusion
from tinygen.gan import GAN, coverage, sample_quality
from tinygen.nn import count_params
from tinygen.parallel import train_recipes, usable_cores
from tinygen.recipes import IWAE_K, LECTURE_RECIPES, RECIPES, report, score, two_moons_split
from tinygen.vae import VAE

BOUNDS = plot.DEFAULT_BOUNDS


def parse(argv=None):
    p = argparse.ArgumentParser(description="Every model family on one two-moons split")
    p.add_argument("--steps", type=int, default=None, help="training steps for every model (default: its recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out", help="folder for the PNG")
    p.add_argument("--models", default=",".join(LECTURE_RECIPES),
                   help=f"comma-separated subset of {','.join(RECIPES)} (default: the lecture's families)")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--k", type=int, default=IWAE_K, help="importance samples for the VAEs' log p(x)")
    p.add_argument("--grid", type=int, default=80, help="grid points per axis of the density panels "
                   "(each continuous-time model solves one ODE for all of them)")
    p.add_argument("--save", default=None, help="folder to save trained params to (one .npz per model)")
    p.add_argument("--load", default=None, help="folder to load params from instead of training")
    p.add_argument("--workers", type=int, default=None,
                   help="models trained at the same time, one process each (default: one per core)")
    quick_values = {"steps": 3, "n_train": 300, "n_test": 200, "k": 5, "grid": 20,
                    "workers": 1}  # a quick run trains in seconds: starting processes would cost more
    args = plot.demo_args(p, quick_values=quick_values, argv=argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in RECIPES]
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {list(RECIPES)}")
    args.models = names
    return args


def train_all(x_train, args):
    """{name: (model, params, steps taken, seconds)} for every family: its recipe, or the saved params.

    The recipes train in parallel, one process per core (``tinygen.parallel.train_recipes``):
    the same params as one after another, in about half the time on two cores."""
    if args.load is not None:
        fitted = {}
        for name in args.models:
            start, model = time.perf_counter(), RECIPES[name].build()
            path = os.path.join(args.load, f"{name}.npz")
            fitted[name] = (model, tinygen.load(path, like=model.init(args.seed)), 0, time.perf_counter() - start)
            print(f"{RECIPES[name].label}: loaded {path}", file=sys.stderr)
        return fitted
    workers = args.workers if args.workers is not None else min(len(args.models), usable_cores())
    print(f"training {len(args.models)} models, {workers} at a time (one per core)", file=sys.stderr)

    def done(name, seconds):
        steps = args.steps or RECIPES[name].steps
        print(f"  {RECIPES[name].label}: {steps} steps in {seconds:.1f} s", file=sys.stderr)

    runs = train_recipes(args.models, x_train, rng=args.seed, steps=args.steps, workers=workers, on_done=done)
    fitted = {}
    for name, (model, params, _, seconds) in runs.items():
        if not isinstance(model, GAN) and isinstance(params, dict) and "generator" in params:
            params = params["generator"]  # a flow trained as a GAN's generator: its critic only served the training
        if args.save:
            tinygen.save(os.path.join(args.save, f"{name}.npz"), params)
        fitted[name] = (model, params, args.steps or RECIPES[name].steps, seconds)
    return fitted


def main(argv=None):
    """Train (or load) every family, print the table, draw the figure; returns the table's rows."""
    args = parse(argv)
    x_train, x_test, entropy = two_moons_split(args.seed, args.n_train, args.n_test)
    print(f"two moons, noise 0.05: {args.n_train} train / {args.n_test} test points, "
          f"exact entropy H = {entropy:.4f} nats")

    rows, fitted = [], {}
    for name, (model, params, steps, seconds) in train_all(x_train, args).items():
        judged = judge(model, params, entropy, args) if isinstance(model, GAN) else \
            score(model, params, x_test, entropy, rng=args.seed, k=args.k)
        rows.append({"model": RECIPES[name].label, "steps": steps, "seconds": seconds, **judged})
        fitted[name] = (model, params)

    scored = [(name, r) for name, r in zip(args.models, rows) if "gap" in r]
    w = max(len(r["model"]) for r in rows) + 2  # the model column, as wide as the longest label
    if scored:
        print(f"\n{'model':<{w}}{'params':>8}{'steps':>7}{'seconds':>9}   {'test NLL':>16}{'gap to H':>10}")
        for _, r in scored:
            print(f"{r['model']:<{w}}{r['params']:>8}{r['steps']:>7}{r['seconds']:>9.1f}   "
                  f"{r['nll']:>8.4f} ± {r['se']:.4f}{r['gap']:>10.4f}")
        print(f"(exact entropy {entropy:.4f} nats; the gap estimates KL(p || p_theta), up to its standard error;"
              f" the VAEs' NLL is the IWAE bound with K = {args.k})\n")
    judged_rows = [r for r in rows if "quality" in r]
    if judged_rows:  # no density: its samples judged against the exact one
        print(f"\n{'model':<{w}}{'params':>8}{'steps':>7}{'seconds':>9}   {'sample quality':>18}{'-H(p)':>9}"
              f"{'coverage':>18}{'moons':>7}")
        for r in judged_rows:
            print(f"{r['model']:<{w}}{r['params']:>8}{r['steps']:>7}{r['seconds']:>9.1f}   "
                  f"{r['quality']:>9.3f} ± {r['quality_se']:.3f}{-entropy:>9.3f}"
                  f"{r['coverage']:>10.3f} ± {r['coverage_se']:.3f}{r['n_covered']:>5} of 2")
        print("(sample quality: the mean true log p of its draws, which a perfect sampler matches with -H(p);"
              " coverage: the share of the true mass its draws reach, 1 at best, per moon in the last column)\n")
    for name, r in scored:
        report(f"00/{name}/gap", r["gap"])
    for name, (model, params) in fitted.items():
        if isinstance(model, Diffusion):  # its bound beside its exact (ODE) log p: the bound's gap is larger
            bound_gap = -np.mean(model.elbo(params, x_test, rng=args.seed)) - entropy
            report(f"00/{name}/bound_gap", bound_gap)
    draw(fitted, rows, x_test, entropy, args)
    return rows


def judge(model, params, entropy, args):
    """A model without a density (a GAN's generator), judged by its draws against the exact p."""
    draws = model.sample(params, args.n_test, args.seed)
    quality, quality_se = sample_quality(draws, two_moons_log_prob)
    cov = coverage(draws, moons(0.05), rng=args.seed)
    return {"params": count_params(params), "quality": quality, "quality_se": quality_se,
            "coverage": cov["coverage"], "coverage_se": cov["coverage_se"], "n_covered": cov["n_covered"]}


def draw(fitted, rows, x_test, entropy, args):
    """The exact density, then each model's density (top, one colour scale) and samples (bottom)."""
    cols = 1 + len(fitted)
    fig, axes = plt.subplots(2, cols, figsize=(2.7 * cols + 1.0, 6.0), squeeze=False, layout="constrained")
    # One colour scale for every density panel, topped at the exact density's maximum on the grid,
    # so that a model that piles up too much mass somewhere shows saturated colour there.
    top = plot.max_density(two_moons_log_prob, BOUNDS, n=args.grid)
    im = plot.density(axes[0, 0], two_moons_log_prob, BOUNDS, n=args.grid, title="exact p(x)", vmax=top)
    plot.samples(axes[1, 0], x_test[:1000], title="test data", bounds=BOUNDS)
    for j, ((name, (model, params)), r) in enumerate(zip(fitted.items(), rows), start=1):
        draws = model.sample(params, 1000, args.seed)
        if "quality" in r:  # no density to draw: the panel says how its samples were judged instead
            axes[0, j].set_axis_off()
            axes[0, j].text(0.5, 0.5, f"{r['model']}\nno density\n\nsample quality {r['quality']:.2f}\n"
                            f"(-H = {-entropy:.2f})\ncoverage {r['coverage']:.2f}", ha="center", va="center",
                            transform=axes[0, j].transAxes)
            plot.samples(axes[1, j], draws, title="samples", bounds=BOUNDS)
            continue
        title = f"{r['model']}\ngap {r['gap']:.3f} nats"
        if isinstance(model, VAE):  # its density is itself an estimate, at every grid point
            title += f"\n(IWAE estimate, K = {args.k})"
        plot.density(axes[0, j], lambda p: model.log_prob(params, p, args.seed, k=args.k) if isinstance(model, VAE)
                     else model.log_prob(params, p), BOUNDS, n=args.grid, title=title, vmax=top)
        plot.samples(axes[1, j], draws, title="samples", bounds=BOUNDS)
    for ax in axes[:, 1:].ravel():  # the axes are those of the first column
        ax.set_xlabel("")
        ax.set_ylabel("")
    plot.colorbar(im, axes[0], label="p(x), one scale for all")
    fig.suptitle(f"two moons: exact density (H = {entropy:.3f} nats) and every model family; "
                 "gap = test NLL - H, an estimate of KL(p || p_theta)")
    plot.show(fig, "00_tour", args.out)


# %%
if __name__ == "__main__":
    rows = main()
