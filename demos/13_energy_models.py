# %% [markdown]
# # Energy-based models on two moons: the density they learn and the samples they draw
#
# An energy-based model (EBM) defines a density by an energy E_theta(x), an MLP here:
#
#     p_theta(x) = exp(-E_theta(x)) / Z_theta,     Z_theta = int_B exp(-E_theta(x)) dx,
#
# on a box B that holds two moons. Z_theta is an integral no network computes, which is what
# makes EBMs flexible (any E will do) and hard (neither log p_theta nor samples come for free).
# In 2-D, tinygen computes log Z by quadrature, so log p_theta is exact and the test NLL has
# a gap to the true entropy H(p) like every other family here.
#
# **Maximum likelihood.** For one example, grad_theta -log p_theta(x) = grad_theta E_theta(x) -
# E_{x~ ~ p_theta}[grad_theta E_theta(x~)]: push the energy down on data, up on the model's own
# samples. Contrastive divergence (CD) draws x~ by Langevin dynamics,
#
#     x_{k+1} = x_k - epsilon grad_x E_theta(x_k) + sqrt(2 epsilon) xi_k,   xi_k ~ N(0, I),
#
# and persistent CD keeps the chains between updates. In 2-D the model's expectation can also be
# computed *exactly* by quadrature: the same maximum-likelihood gradient without a sampler
# (`RECIPES["ebm_quadrature"]`). **Denoising score matching** (DSM) needs no samples at all:
# it fits the score s_theta = -grad_x E_theta to the noise that blurred the data.
#
# The lesson: p_theta (judged by its exact log-likelihood) and the distribution the model's
# short-run sampler draws (judged by binning its draws against the truth) are not the same.
#
# Run: python demos/13_energy_models.py [--out DIR] [--steps N] [--seed S]

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

import matplotlib.pyplot as plt
import numpy as onp

from tinygen import data, evaluate, plot
from tinygen.ebm import langevin
from tinygen.gan import sample_quality
from tinygen.recipes import RECIPES, two_moons_split
from tinygen.testing import check_sampler

parser = argparse.ArgumentParser(description="Energy-based models on two moons, judged against the exact density")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="training steps of both recipes (default: theirs)")
parser.add_argument("--n-train", type=int, default=20000)
parser.add_argument("--n-samples", type=int, default=4000, help="draws of each model's sampler")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 3, "n_train": 400, "n_samples": 300})

x_train, x_test, H = two_moons_split(args.seed, n_train=args.n_train)
truth = data.two_moons_log_prob
print(f"two moons: {len(x_train)} training points, exact entropy H(p) = {H:.4f} nats")


def train(name):
    """Train a recipe; print its exact test NLL and the gap to H(p)."""
    recipe = RECIPES[name]
    model, params, history = recipe.train(x_train, rng=args.seed, steps=args.steps)
    log_z, error = model.log_z(params, return_error=True)
    nll, se = evaluate.nll_stats(model.log_prob(params, x_test, log_z=log_z))
    print(f"{recipe.label}: test NLL {nll:.4f} +- {se:.4f} nats (log Z = {log_z:.4f}, quadrature error "
          f"{error:.1e}); gap to H(p) {nll - H:.4f} nats")
    return model, params, log_z, nll - H


# %% [markdown]
# ## Maximum likelihood by contrastive divergence, after a start by score matching
#
# `RECIPES["ebm"]`: denoising score matching first (cheap, and its density already has the moons'
# shape), then persistent CD: each step takes a batch of stored chain states (5% restarted from
# noise), runs 60 Langevin steps from there, and uses the result as the negatives x~.

# %%
ebm, p_ebm, log_z_ebm, gap_ebm = train("ebm")

# %% [markdown]
# ## The same gradient, exact: E_p[grad E] by quadrature
#
# `RECIPES["ebm_quadrature"]` descends E_data[E_theta(x)] + log Z_theta with log Z on a grid of
# Gauss-Legendre nodes: the exact negative log-likelihood, so its gradient is the exact
# maximum-likelihood gradient E_data[grad E] - E_p[grad E]. Only possible in a few dimensions.
# The grid moves at random every step, so the model cannot hide mass between fixed nodes.

# %%
ebm_q, p_ebm_q, log_z_q, gap_q = train("ebm_quadrature")

# %% [markdown]
# ## The density is not the sampler
#
# Each model's own sampler (`EBM.sample`: 60 Langevin steps from uniform noise, the chains CD used)
# draws points, which we judge twice against exact densities with `check_sampler` (draws binned
# on an 8 x 8 grid over the box): against the truth p and against the model's own p_theta. Its
# sample-quality deficit -H(p) - E_draws[log p(x)] is 0 for a perfect sampler of p.

# %%
judged = {}
for name, model, params, log_z in (("ebm", ebm, p_ebm, log_z_ebm), ("ebm_quadrature", ebm_q, p_ebm_q, log_z_q)):
    draws = model.sample(params, args.n_samples, args.seed + 1)

    def own(v, model=model, params=params, log_z=log_z):
        return model.log_prob(params, v, log_z=log_z)
    tv = {k: check_sampler(lambda n, r, draws=draws: draws, f, model.box, n=args.n_samples).stats["total_variation"]
          for k, f in (("truth", truth), ("model", own))}
    quality, se = sample_quality(draws, truth)
    print(f"{RECIPES[name].label}: sampler's draws vs the truth: TV {tv['truth']:.3f}, deficit "
          f"{-H - quality:.3f} +- {se:.3f} nats; vs its own density: TV {tv['model']:.3f}")
    judged[name] = draws

# %%
bounds = [tuple(b) for b in ebm.box]
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained")
top = plot.max_density(truth, bounds)
plot.density(axes[0], truth, bounds, title="exact p(x)", vmax=top)
plot.density(axes[1], lambda v: ebm.log_prob(p_ebm, v, log_z=log_z_ebm), bounds, vmax=top,
             title=f"CD: p_theta, gap {gap_ebm:.3f}")
plot.density(axes[2], lambda v: ebm_q.log_prob(p_ebm_q, v, log_z=log_z_q), bounds, vmax=top,
             title=f"exact gradient: p_theta, gap {gap_q:.3f}")
plot.samples(axes[3], judged["ebm"][:2000], bounds=bounds, title="CD model's sampler: 60 Langevin steps")
plot.show(fig, "13_density_vs_sampler", args.out)

# %% [markdown]
# ## Langevin chains
#
# Eight chains on the CD model's energy from uniform noise: gradient steps down the energy
# plus noise of variance 2 epsilon. Short chains stop where the energy's valleys begin; long
# ones wander along the moons, as p_theta asks them to.

# %%
rng = onp.random.default_rng(args.seed)
x = ebm.noise(8, rng)
path = [x]
for _ in range(3 if args.steps == 3 else 300):
    x, _ = langevin(lambda v: ebm.energy(p_ebm, v), x, 1, ebm.step_size, rng, box=ebm.box)
    path.append(x)
path = onp.stack(path)  # (K + 1, 8, 2)
fig, ax = plt.subplots(figsize=(6, 4.5))
plot.density(ax, lambda v: ebm.log_prob(p_ebm, v, log_z=log_z_ebm), bounds, vmax=top,
             title=f"Langevin chains, epsilon = {ebm.step_size}")
for c in range(path.shape[1]):
    ax.plot(path[:, c, 0], path[:, c, 1], lw=0.8, color="white")
    ax.plot(path[-1, c, 0], path[-1, c, 1], "o", ms=3, color="red")
plot.show(fig, "13_langevin_chains", args.out)
