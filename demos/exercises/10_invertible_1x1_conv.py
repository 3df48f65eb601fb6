# %% [markdown]
# # Exercise 10: the invertible 1 x 1 convolution and its log-determinant
#
# Lecture, "Glow". An image h has C channels of H x W pixels. Glow mixes the channels with
# an invertible 1 x 1 convolution: the same C x C matrix W acts on the channel vector of
# every pixel (i, j),
#
#     forward f:   x_{:, i, j} = W z_{:, i, j}
#     inverse g:   z_{:, i, j} = W^-1 x_{:, i, j}
#
# As one map of all D = C H W numbers (channel-major order, h.reshape(n, D)) its matrix is
# the Kronecker product W kron I_{HW}: block c, c' is W_{c c'} times the H W x H W identity.
# What is log|det df/dz|? Hint: det(A kron I_m) = det(A)^m. (A D x D determinant costs
# O(D^3); your answer should cost one C x C determinant, however large the image.)
# Write the three functions in the marked cell; the layer built from them is then checked:
#
# 1. `check_flow`: g(f(z)) = z, f(g(x)) = x, your log-dets against slogdet of autograd's
#    D x D Jacobian in both directions, their cancelling, a gradient for every entry of W;
# 2. your forward map and log-det against the Kronecker matrix W kron I_{HW} built
#    explicitly, and its slogdet, on three image shapes;
# 3. the LU form Glow trains, W = P L U (P a permutation, L unit lower triangular, U upper
#    triangular with diagonal s): your log-det equals H W sum_c log|s_c|.
#
# The reference answer, for after: `InvConv1x1` in `tinygen/flows/image.py`.

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
from tinygen.flows.linear import LULinear
from tinygen.testing import Report, check_flow, perturb

parser = argparse.ArgumentParser(description="Exercise: the invertible 1 x 1 convolution, checked.")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser)

# %% [markdown]
# ## Your answer
#
# `z` and `x` are images of shape (n, C, H, W) and `W` is the C x C matrix. Replace the NaN
# placeholders (they run, and every check below reports them as wrong). `np` is autograd's
# numpy: `np.einsum`, `np.tensordot`, `np.linalg.inv` and `np.linalg.slogdet` all have gradients.

# %%
# ---- your answer: start ----
def conv1x1_forward(z, W):
    """x[:, :, i, j] = W z[:, :, i, j] at every pixel (i, j): shape (n, C, H, W)."""
    return np.nan * z


def conv1x1_inverse(x, W):
    """z[:, :, i, j] = W^-1 x[:, :, i, j] at every pixel (i, j): shape (n, C, H, W)."""
    return np.nan * x


def conv1x1_log_det(W, height, width):
    """log|det df/dz| of the whole layer on a height x width image: one number."""
    return np.nan
# ---- your answer: end ----


# %% [markdown]
# ## The layer built from your formulas
#
# At the flow interface the image is flat, (n, D); the layer reshapes to (n, C, H, W) and back.
# Its one parameter is W, started near a random rotation so that it is far from the identity.

# %%
class MyConv1x1:
    """A flow with forward(params, z) -> (x, log|det df/dz|) and inverse(params, x) -> (z, log|det dg/dx|)."""

    context_dim = 0

    def __init__(self, shape):
        self.shape = shape
        self.dim = int(onp.prod(shape))

    def init(self, rng):
        C = self.shape[0]
        q, _ = onp.linalg.qr(onp.random.default_rng(rng).standard_normal((C, C)))
        return {"W": q + 0.3 * onp.eye(C)}

    def _apply(self, step, v, W):
        out = step(np.reshape(v, (v.shape[0],) + self.shape), W)
        return np.reshape(out, (v.shape[0], self.dim))

    def forward(self, params, z, context=None):
        log_det = conv1x1_log_det(params["W"], *self.shape[1:]) * np.ones(z.shape[0])
        return self._apply(conv1x1_forward, z, params["W"]), log_det

    def inverse(self, params, x, context=None):
        log_det = -conv1x1_log_det(params["W"], *self.shape[1:]) * np.ones(x.shape[0])
        return self._apply(conv1x1_inverse, x, params["W"]), log_det


reports = {"check_flow": check_flow(MyConv1x1((3, 2, 4)), rng=args.seed)}
print(reports["check_flow"], "\n")

# %% [markdown]
# ## Against the D x D matrix, built explicitly
#
# For each shape: x from your forward against (W kron I_{HW}) z, and your log-det against
# slogdet(W kron I_{HW}). float64 round-off on these sizes is ~1e-13; 1e-9 leaves room and
# still catches any wrong formula (a missing factor H W is off by O(1)).

# %%
rng = onp.random.default_rng(args.seed)
report = Report("the 1 x 1 convolution as a D x D matrix", notes=["shapes (C, H, W): (2, 2, 2), (3, 2, 4), (4, 4, 4)"])
for shape in ((2, 2, 2), (3, 2, 4), (4, 4, 4)):
    C, H, Wd = shape
    W = rng.standard_normal((C, C)) + 0.5 * onp.eye(C)
    big = onp.kron(W, onp.eye(H * Wd))                         # W kron I_{HW}, D x D
    z = rng.standard_normal((2,) + shape)
    x = onp.asarray(conv1x1_forward(z, W)).reshape(2, -1)
    report.add(f"forward = (W kron I) z, shape {shape}", onp.max(onp.abs(x - z.reshape(2, -1) @ big.T)), 1e-9,
               where="your forward is not W applied at every pixel")
    got, (_, want) = float(conv1x1_log_det(W, H, Wd)), onp.linalg.slogdet(big)
    report.add(f"log|det| = slogdet(W kron I), shape {shape}", abs(got - want) / max(1.0, abs(want)), 1e-9,
               where=f"yours {got:.6f}, slogdet {want:.6f}")
reports["kronecker"] = report
print(report, "\n")

# %% [markdown]
# ## The LU form: log|det W| = sum_c log|s_c|
#
# Glow parametrizes W = P L U so that this determinant costs O(C). tinygen's `LULinear` holds
# the factors; its diagonal is s_c = exp(log_s_c).

# %%
lu = LULinear(4, rng=args.seed)
lu_params = perturb(lu.init(args.seed), args.seed, scale=0.5)
report = Report("the LU form of W", notes=["C = 4 on an 8 x 8 image, LU factors perturbed away from the identity"])
got = float(conv1x1_log_det(lu.weight(lu_params), 8, 8))
want = 8 * 8 * float(onp.sum(lu_params["log_s"]))
report.add("log|det| = H W sum_c log s_c", abs(got - want) / max(1.0, abs(want)), 1e-9,
           where=f"yours {got:.6f}, H W sum_c log s_c = {want:.6f}")
reports["lu"] = report
print(report, "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
