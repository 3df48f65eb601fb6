# %% [markdown]
# # Exercise 4: the affine coupling layer
#
# Lecture, "Coupling flows". Split z into a part z_{1:d} that is copied and a part z_{d+1:D}
# that is scaled and shifted by networks alpha_theta and mu_theta of the copied part:
#
#     forward f:   x_{1:d} = z_{1:d},   x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d})) + mu(z_{1:d})
#     inverse g:   z_{1:d} = x_{1:d},   z_{d+1:D} = (x_{d+1:D} - mu(x_{1:d})) * exp(-alpha(x_{1:d}))
#     log|det df/dz| = sum_{i=d+1}^D alpha_i(z_{1:d}),   log|det dg/dx| = -sum_{i=d+1}^D alpha_i(x_{1:d})
#
# (the Jacobian is block triangular with diagonal exp(alpha) on the transformed part). Here a
# binary mask m marks the copied part (m_i = 1 for z_{1:d}, 0 for z_{d+1:D}), so any split works.
# Write the three formulas in the marked cell; the layer built from them is then checked:
#
# 1. `check_flow`: g(f(z)) = z, f(g(x)) = x, your log-dets against slogdet of autograd's
#    Jacobian in both directions, their cancelling, a gradient for every parameter;
# 2. `check_normalized`: p_x(x) = N(g(x); 0, I) |det dg/dx| integrates to 1 over the plane.
#
# The reference answer, for after: `AffineCoupling` in `tinygen/flows/coupling.py`.

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
import numpy as onp

from tinygen import plot
from tinygen.nn import MLP
from tinygen.testing import check_flow, check_normalized, perturb

parser = argparse.ArgumentParser(description="Exercise: the affine coupling layer, checked.")
parser.add_argument("--grid", type=int, default=400, help="grid cells per axis for the normalization check")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"grid": 200})

# %% [markdown]
# ## Your answer
#
# `z`, `x`, `alpha`, `mu` have shape (n, D) and `mask` shape (D,). `alpha` and `mu` come from
# the conditioner applied to the copied part; their entries where mask = 1 are to be ignored.
# Replace the NaN placeholders (they run, and every check below reports them as wrong).

# %%
# ---- your answer: start ----
def coupling_forward(z, alpha, mu, mask):
    """x: z copied where mask = 1, z * exp(alpha) + mu where mask = 0."""
    return np.nan * z


def coupling_inverse(x, alpha, mu, mask):
    """z: x copied where mask = 1, (x - mu) * exp(-alpha) where mask = 0."""
    return np.nan * x


def coupling_log_det(alpha, mask):
    """log|det df/dz|: the sum of alpha over the transformed coordinates, shape (n,)."""
    return np.nan * np.zeros(np.shape(alpha)[0])
# ---- your answer: end ----


# %% [markdown]
# ## The layer built from your formulas
#
# One small MLP maps the copied part (the other entries zeroed) to (alpha, mu); a tanh keeps
# the log-scales in (-1, 1).

# %%
class MyAffineCoupling:
    """A flow with forward(params, z) -> (x, log|det df/dz|) and inverse(params, x) -> (z, log|det dg/dx|)."""

    context_dim = 0

    def __init__(self, dim, mask, hidden=16):
        self.dim, self.mask = dim, onp.asarray(mask, dtype=float)
        self.net = MLP((dim, hidden, 2 * dim), activation="tanh")

    def init(self, rng):
        return self.net.init(rng)

    def conditioner(self, params, u):
        out = self.net.apply(params, u * self.mask)  # sees only the copied part
        return np.tanh(out[:, :self.dim]), out[:, self.dim:]  # alpha, mu

    def forward(self, params, z, context=None):
        alpha, mu = self.conditioner(params, z)
        return coupling_forward(z, alpha, mu, self.mask), coupling_log_det(alpha, self.mask)

    def inverse(self, params, x, context=None):
        alpha, mu = self.conditioner(params, x)  # x_{1:d} = z_{1:d}: the same alpha and mu
        return coupling_inverse(x, alpha, mu, self.mask), -coupling_log_det(alpha, self.mask)


layer = MyAffineCoupling(2, mask=[1.0, 0.0])
reports = {"check_flow": check_flow(layer, rng=args.seed)}
print(reports["check_flow"], "\n")

# %% [markdown]
# ## The density of x = f(z), z ~ N(0, I), integrates to 1
#
# log p_x(x) = log N(g(x); 0, I) + log|det dg/dx|: only right if the inverse and its log-det are.

# %%
params = perturb(layer.init(args.seed), args.seed, scale=0.3)


def log_prob(x):
    z, log_det = layer.inverse(params, x)
    # log p_z(g(x)) + log|det dg/dx|, p_z = N(0, I) in 2-D (written out: a NaN placeholder must not raise)
    return -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi) + log_det


# For fixed x_1, p_x is a Gaussian in x_2 of scale e^alpha in (0.37, 2.7) around an O(1) mu:
# the box [-10, 10] x [-20, 20] holds it to ~7 of its scales, and with >= 200 cells
# per axis (h <= 0.2 < scale / 1.8) the midpoint rule on Gaussians errs by ~exp(-2 pi^2
# scale^2 / h^2) < 1e-25: 1e-6 is safe.
reports["normalized"] = check_normalized(log_prob, dim=2, bounds=((-10, 10), (-20, 20)), n=args.grid, atol=1e-6)
print(reports["normalized"], "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
