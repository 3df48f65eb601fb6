# %% [markdown]
# # Exercise 8: the Langevin update
#
# An energy-based model p(x) = exp(-E(x)) / Z cannot be sampled directly, but its score
# grad_x log p(x) = -grad_x E(x) is known (Z drops out). Langevin dynamics follow it with noise.
# Du & Mordatch (2019, "Implicit Generation and Generalization in Energy-Based Models") write
#
#     x~^k = x~^{k-1} - (lambda / 2) grad_x E(x~^{k-1}) + omega^k,    omega^k ~ N(0, lambda I),
#
# and with lambda = 2 epsilon, as in `tinygen.ebm.langevin`,
#
#     x_{k+1} = x_k - epsilon grad_x E(x_k) + sqrt(2 epsilon) xi_k,   xi_k ~ N(0, I).
#
# The drift alone is gradient descent on E (every chain would end in a minimum); the noise,
# of variance 2 epsilon per step, is exactly what keeps the chains spread as p: for a small
# epsilon and many steps, x_K is distributed (nearly) as p. Checks:
#
# 1. the drift: with xi = 0 the step is x - epsilon grad E(x) (a flipped sign climbs E);
# 2. the noise: on a flat energy (grad E = 0) the step moves by sqrt(2 epsilon) xi;
# 3. `check_sampler`: many independent chains of your step, from uniform noise, draw from a
#    known 2-D density (a chi-square test on a grid against its exact cell probabilities).
#
# The reference answer, for after: `langevin` in `tinygen/ebm.py`.

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

import autograd
import autograd.numpy as np
import numpy as onp

from tinygen import plot
from tinygen.testing import Report, check_sampler

parser = argparse.ArgumentParser(description="Exercise: the Langevin update, checked.")
parser.add_argument("--chains", type=int, default=4000, help="independent chains (draws) for check_sampler")
parser.add_argument("--steps", type=int, default=400, help="Langevin steps per chain")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"chains": 1000, "steps": 200})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## Your answer
#
# `x` has shape (n, D); `grad_energy(x)` returns grad_x E(x), shape (n, D); `epsilon` > 0 is the
# step size; `xi` has shape (n, D), standard normal draws. Return x_{k+1}, shape (n, D).
# Replace the NaN placeholder (it runs, and every check below reports it as wrong).

# %%
# ---- your answer: start ----
def langevin_step(x, grad_energy, epsilon, xi):
    """One unadjusted Langevin step x_{k+1} from x_k = x."""
    return np.nan * np.zeros(np.shape(x))
# ---- your answer: end ----


# %% [markdown]
# ## A known density: two overlapping Gaussians
#
# p(x) = 1/2 N(x; (-1, 0), s^2 I) + 1/2 N(x; (1, 0), s^2 I), s = 0.6, so E(x) = -log p(x) is known
# exactly (Z = 1) and autograd gives grad_x E. Its two modes overlap enough for chains to cross.

# %%
S, MEANS, BOUNDS = 0.6, onp.array([[-1.0, 0.0], [1.0, 0.0]]), ((-4.0, 4.0), (-3.0, 3.0))


def log_p(x):
    """log p(x) = log sum_k 1/2 N(x; mu_k, s^2 I), by a stable log-sum-exp over the two components."""
    sq = np.sum((x[:, None, :] - MEANS[None]) ** 2, axis=2)             # |x - mu_k|^2, shape (n, 2)
    a = -sq / (2 * S ** 2)
    top = np.max(a, axis=1)
    return top + np.log(np.sum(np.exp(a - top[:, None]), axis=1)) - np.log(2 * np.pi * S ** 2) - np.log(2)


grad_energy = autograd.elementwise_grad(lambda x: -log_p(x))          # grad_x E = -grad_x log p, row by row
EPSILON = 0.01  # ULA's stationary law is off by O(epsilon): at 0.01 far below what 4000 draws can see

# %% [markdown]
# ## Checks 1 and 2: the drift and the noise of one step

# %%
reports = {}
x0 = rng.uniform(-2, 2, size=(50, 2))
xi = rng.standard_normal((50, 2))
for name, got, want, what in (
        ("drift", langevin_step(x0, grad_energy, EPSILON, 0 * xi), x0 - EPSILON * grad_energy(x0),
         "with xi = 0 the step is x - epsilon grad E(x)"),
        ("noise", langevin_step(x0, lambda x: 0 * x, EPSILON, xi), x0 + onp.sqrt(2 * EPSILON) * xi,
         "on a flat energy the step is x + sqrt(2 epsilon) xi")):
    got = onp.asarray(got, dtype=float)
    err = onp.abs(got - want).max() if got.shape == want.shape else onp.inf
    report = Report(f"the step's {name}")
    report.add(what, onp.nan_to_num(err, nan=onp.inf), 1e-12,  # the same arithmetic: equal to rounding
               where=f"max |x_(k+1) - expected| = {err:.3g}" if got.shape == want.shape else f"shape {got.shape}")
    reports[name] = report
    print(report, "\n")

# %% [markdown]
# ## Check 3: many chains of your step draw from p
#
# Each of n chains starts from uniform noise on the box and takes `steps` steps; their last
# states are n independent draws, which `check_sampler` bins on an 8 x 8 grid and compares with
# the cells' exact probabilities (Pearson's chi-square; it fails below a p-value of 1e-3).
# epsilon * steps = 4 units of time: several times the slowest relaxation time here, so the
# chains have forgotten their start.


# %%
def sample_fn(n, rng):
    x = rng.uniform([lo for lo, _ in BOUNDS], [hi for _, hi in BOUNDS], size=(n, 2))
    for _ in range(args.steps):
        x = onp.asarray(langevin_step(x, grad_energy, EPSILON, rng.standard_normal(x.shape)), dtype=float)
    return x


reports["samples"] = check_sampler(sample_fn, log_p, BOUNDS, n=args.chains, rng=args.seed + 1)
print(reports["samples"], "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
