# %% [markdown]
# # GANs on two moons and eight Gaussians, judged against the exact density
#
# A generator x = G(z), z ~ N(0, I), and a discriminator D(x) in (0, 1) play (Goodfellow et al. 2014)
#
#     min_G max_D V(D, G) = E_{x ~ p}[log D(x)] + E_z[log(1 - D(G(z)))].
#
# For a fixed G with density q the best discriminator is D*(x) = p(x) / (p(x) + q(x)), and then
# V(D*, G) = 2 JS(p || q) - log 4: the generator minimizes a Jensen-Shannon divergence, but only
# through a discriminator that is never quite D*. The generator's "non-saturating" loss
# -E_z[log D(G(z))] replaces the minimax E_z[log(1 - D(G(z)))], whose gradient vanishes when D
# rejects the fakes confidently.
#
# A GAN has no density, so we judge its samples against the exact one: the mean true log-density
# of its draws (sample quality, beside -H(p), what a perfect generator scores) and the share of the
# true mass its draws reach, per moon arc or per Gaussian mode (coverage, 1 for a perfect one).
# A flow has a density, so a RealNVP trained as a GAN's generator can be scored in nats beside
# the same flow trained by maximum likelihood, and its trained discriminator set beside D*.
#
# Run: python demos/14_gans.py [--out DIR] [--steps N] [--seed S]

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
from tinygen.gan import Discriminator, coverage, optimal_logit, sample_quality
from tinygen.recipes import COLLAPSED_GAN, NOISE, RECIPES, two_moons_split
from tinygen.testing import check_discriminator

parser = argparse.ArgumentParser(description="GANs on two moons and eight Gaussians, and a flow trained as a GAN")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="training steps of every run (default: the recipes')")
parser.add_argument("--n-train", type=int, default=20000)
parser.add_argument("--n-samples", type=int, default=5000, help="draws judged per generator")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--panels", type=int, default=48, help="quadrature panels per axis when D is judged against D*")
args = plot.demo_args(parser, quick_values={"steps": 3, "n_train": 400, "n_samples": 400, "panels": 16})

moons, ring = data.moons(NOISE), data.eight_gaussians()
x_moons, x_test, H = two_moons_split(args.seed, n_train=args.n_train)
x_ring = ring.sample(args.n_train, args.seed)


def judge(name, model, params, target):
    """Sample quality and coverage of a trained generator's draws; printed and returned."""
    draws = model.sample(params, args.n_samples, args.seed + 1)
    quality, se = sample_quality(draws, target.log_prob)
    cov = coverage(draws, target, rng=args.seed)
    print(f"{name}: sample quality {quality:.3f} +- {se:.3f} (a perfect generator: -H(p) = "
          f"{-target.entropy():.3f}); coverage {cov['coverage']:.3f} +- {cov['coverage_se']:.3f}, "
          f"{cov['n_covered']} of {len(cov['weight'])} components reached")
    return draws, cov


# %% [markdown]
# ## The recipe (RECIPES["gan"]): the non-saturating loss at constant learning rates

# %%
recipe = RECIPES["gan"]
gan, p_moons, _ = recipe.train(x_moons, rng=args.seed, steps=args.steps)
draws_moons, cov_moons = judge(f"{recipe.label}, two moons", gan, p_moons, moons)
_, p_ring, _ = recipe.train(x_ring, rng=args.seed, steps=args.steps)
draws_ring, cov_ring = judge(f"{recipe.label}, eight Gaussians", gan, p_ring, ring)

# %% [markdown]
# ## Mode collapse: the same GAN with one change
#
# `COLLAPSED_GAN` is `RECIPES["gan"]` with Adam's default momentum b1 = 0.9 for both players instead
# of Radford et al.'s b1 = 0.5. A likely reason: in an alternating game, momentum keeps each player
# stepping against where its opponent was, not where it is, and the two spiral instead of settling.
# What is measured (benchmarks/REPORT_ebm_gan.md, seeds 0-4): on eight Gaussians it covers at most
# 0.58 of the mass, none at all on seed 4 and one mode only on seed 0, where the recipe reaches all
# eight modes on every seed (coverage 0.84 or more). The minimax loss alone did not collapse it
# (seed 0, measured with one discriminator update per step, before the recipe took two: coverage 0.95).

# %%
_, p_collapsed, _ = COLLAPSED_GAN.train(x_ring, rng=args.seed, steps=args.steps)
draws_collapsed, cov_collapsed = judge(f"{COLLAPSED_GAN.label}, eight Gaussians", gan, p_collapsed, ring)

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
ring_box = ring.bounds
plot.density(axes[0], moons.log_prob, plot.DEFAULT_BOUNDS, title="two moons: p(x)")
plot.samples(axes[0], draws_moons[:2000], s=1, label=f"GAN draws, coverage {cov_moons['coverage']:.2f}")
for ax, draws, cov, title in ((axes[1], draws_ring, cov_ring, recipe.label),
                              (axes[2], draws_collapsed, cov_collapsed, COLLAPSED_GAN.label)):
    plot.density(ax, ring.log_prob, ring_box, title=f"{title}: coverage {cov['coverage']:.2f}, "
                                                    f"{cov['n_covered']} of 8 modes")
    plot.samples(ax, draws[:2000], s=1)
plot.show(fig, "14_good_and_collapsed", args.out)

# %% [markdown]
# ## A RealNVP trained as a GAN, and by maximum likelihood
#
# `RECIPES["flow_gan"]`: the generator is RealNVP-8, whose exact log-density survives adversarial
# training. The same architecture trained by maximum likelihood (`RECIPES["realnvp"]`, the same
# number of steps and learning rate) sets the scale: the adversarial flow never sees a likelihood,
# and its test NLL shows what that costs.

# %%
flow_recipe = RECIPES["flow_gan"]
flow, p_flow_gan, _ = flow_recipe.train(x_moons, rng=args.seed, steps=args.steps)
_, p_flow_ml, _ = RECIPES["realnvp"].train(x_moons, rng=args.seed, steps=args.steps or flow_recipe.steps,
                                            lr=flow_recipe.lr, progress=False)
gaps = {}
for name, params in (("adversarial", p_flow_gan["generator"]), ("maximum likelihood", p_flow_ml)):
    nll, se = evaluate.nll_stats(flow.log_prob(params, x_test))
    gaps[name] = nll - H
    print(f"RealNVP-8 by {name}: test NLL {nll:.4f} +- {se:.4f} nats, gap {nll - H:.4f}")

# %% [markdown]
# ## The trained discriminator beside the optimum D* = p / (p + q)
#
# q is the adversarial flow's exact density, so D* is known everywhere; `check_discriminator`
# measures how far the trained D is from it (E_m |D - D*| under m = (p + q) / 2) and how much of
# the value V it gives up.

# %%
critic = Discriminator(2, hidden=flow_recipe.disc_hidden)


def log_q(v):
    """log q(x): the adversarial flow's exact density."""
    return flow.log_prob(p_flow_gan["generator"], v)


def d_logit(v):
    """l(x), the trained discriminator's logit: D = sigma(l)."""
    return critic.logit(p_flow_gan["discriminator"], v)


def as_log_d(logit):
    """x -> log D(x) = log sigma(l(x)) = -log(1 + e^-l), for plot.density."""
    return lambda v: -onp.logaddexp(0.0, -onp.asarray(logit(v)))


box = ((-2.0, 3.0), (-1.5, 2.0))
verdict = check_discriminator(d_logit, moons.log_prob, log_q, box, logit=True, panels=args.panels)
print(verdict)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
plot.density(axes[0], log_q, box, title=f"q: the adversarial flow, gap {gaps['adversarial']:.2f} nats")
plot.density(axes[1], as_log_d(d_logit), box, title="trained D(x)", vmax=1.0)
plot.density(axes[2], as_log_d(optimal_logit(moons.log_prob, log_q)), box, title="D*(x) = p / (p + q)", vmax=1.0)
plot.show(fig, "14_flow_gan_discriminator", args.out)
