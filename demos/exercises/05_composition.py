# %% [markdown]
# # Exercise 5: a composition of flows
#
# Lecture, "Composition of flows". If f_1, ..., f_K are invertible with inverses g_1, ..., g_K,
# then f = f_K o ... o f_1 is invertible with inverse g = g_1 o ... o g_K. With z_0 = z,
# z_k = f_k(z_{k-1}) and x = z_K, the log-determinants add up:
#
#     log|det df/dz| = sum_{k=1}^K log|det dz_k / dz_{k-1}|
#     log p_x(x) = log p_z(g(x)) + sum_{k=1}^K log|det dz_{k-1} / dz_k|
#
# Write the forward and the inverse pass of a stack of tinygen layers in the marked cell (each
# layer has `layer.forward(p, z) -> (x, log|det|)` and `layer.inverse(p, x) -> (z, log|det|)`).
# The stack is then checked:
#
# 1. `check_flow`: both round trips, both log-dets against autograd's Jacobian of the whole
#    composite map, their cancelling, a gradient for every layer's parameters;
# 2. `check_normalized`: x = f(z), z ~ N(0, I), has a density that integrates to 1.
#
# The layers do not commute (a coupling layer, then a permutation, then another coupling ...),
# so applying the inverses in the wrong order shows.
#
# The reference answer, for after: `Compose` in `tinygen/flows/base.py`.

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

import autograd.numpy as np

from tinygen import plot
from tinygen.flows import AffineCoupling, ElementwiseAffine, Permutation, PlanarFlow
from tinygen.testing import check_flow, check_normalized, perturb

parser = argparse.ArgumentParser(description="Exercise: composing flows, checked.")
parser.add_argument("--grid", type=int, default=400, help="grid cells per axis for the normalization check")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"grid": 200})

# %% [markdown]
# ## Your answer
#
# `layers` is a list of K flows, `params` the list of their K parameter trees, `z` and `x` have
# shape (n, D). Each function returns the output (n, D) and the summed log-det (n,). Replace the
# NaN placeholders (they run, and every check below reports them as wrong).

# %%
# ---- your answer: start ----
def compose_forward(layers, params, z):
    """x = f_K(... f_1(z)) and log|det df/dz| = sum_k log|det df_k/dz_{k-1}|."""
    return np.nan * z, np.nan * np.zeros(np.shape(z)[0])


def compose_inverse(layers, params, x):
    """z = g_1(... g_K(x)) and log|det dg/dx| = sum_k log|det dg_k/dz_k|."""
    return np.nan * x, np.nan * np.zeros(np.shape(x)[0])
# ---- your answer: end ----


# %% [markdown]
# ## A stack of four layers, and its checks

# %%
class MyStack:
    """The composition of ``layers`` through your two functions."""

    context_dim = 0

    def __init__(self, layers):
        self.layers, self.dim = list(layers), layers[0].dim

    def init(self, rng):
        return [layer.init(rng) for layer in self.layers]

    def forward(self, params, z, context=None):
        return compose_forward(self.layers, params, z)

    def inverse(self, params, x, context=None):
        return compose_inverse(self.layers, params, x)


stack = MyStack([ElementwiseAffine(2), AffineCoupling(2, [1.0, 0.0], hidden=(8,)), Permutation(2, "reverse"),
                 PlanarFlow(2)])
reports = {"check_flow": check_flow(stack, rng=args.seed)}
print(reports["check_flow"], "\n")

# %%
params = perturb(stack.init(args.seed), args.seed, scale=0.2)


def log_prob(x):
    z, log_det = stack.inverse(params, x)
    # log p_z(g(x)) + log|det dg/dx|, p_z = N(0, I) in 2-D (written out: a NaN placeholder must not raise)
    return -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi) + log_det


# A 0.2 perturbation keeps every layer within a factor ~2 of the identity, so x stays well
# inside the box. The coupling layer's ReLU conditioner puts kinks in p_x, where the midpoint
# rule errs by O(h^2): the kit's default tolerance for quadrature, 1e-4, allows for that.
reports["normalized"] = check_normalized(log_prob, dim=2, bounds=((-12, 12), (-12, 12)), n=args.grid)
print(reports["normalized"], "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
