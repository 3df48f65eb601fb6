# %% [markdown]
# # Exercise 2: MADE's degrees and masks
#
# Lecture, "MADE": for an ordering o = (o_1, ..., o_D) of the inputs, one masked network
# outputs every conditional p_theta(x_{o_t} | x_{o_1}, ..., x_{o_{t-1}}) in a single pass.
#
# * input x_d has degree m(d) = t, its position in the ordering (o_t = d);
# * hidden unit k has a degree 1 <= m(k) < D and may only depend on the first m(k) inputs;
# * a hidden unit k is connected to unit k' of the layer below iff **m(k) >= m(k')**;
# * the output for x_d is connected to hidden unit k' iff **m(d) > m(k')** (strictly).
#
# Write the input degrees and the two masks of a one-hidden-layer MADE in the marked cell.
# The network built from them (Bernoulli logits, tanh hidden units) is then checked:
#
# 1. `check_autoregressive`: from autograd's Jacobian, the output at position t reads no
#    input at positions t, ..., D, and (the network claims full connectivity) reads every
#    input at positions 1, ..., t - 1;
# 2. `check_normalized`: p_theta(x) = prod_d p_theta(x_d | x_<d) sums to 1 over all 2^D
#    binary vectors (exact enumeration), which holds only if every conditional is proper.
#
# Indices: in code, dimensions and units count from 0; degrees and positions count from 1,
# as in the lecture. The reference answer, for after: `made_degrees` and `made_masks` in
# `tinygen/arm/made.py`.

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
from tinygen.functional import log_sigmoid
from tinygen.testing import check_autoregressive, check_normalized

parser = argparse.ArgumentParser(description="Exercise: MADE degrees and masks, checked.")
parser.add_argument("--dim", type=int, default=6, help="D, the number of binary inputs")
parser.add_argument("--hidden", type=int, default=16, help="hidden units")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"dim": 5, "hidden": 10})
rng = onp.random.default_rng(args.seed)
D, H = args.dim, args.hidden
order = rng.permutation(D)  # o_t = order[t - 1]
# every hidden degree 1..D-1 at least once (no conditional loses an input), the rest at random
m_hidden = rng.permutation(onp.concatenate([onp.arange(1, D), rng.integers(1, D, size=H - (D - 1))]))
print("ordering (o_1, ..., o_D), 1-based:", [int(d) + 1 for d in order])
print("hidden degrees m(k):", m_hidden.tolist())

# %% [markdown]
# ## Your answer
#
# `input_degrees(order)` returns m(d) for d = 0..D-1, shape (D,). `made_masks(m_in, m_hidden)`
# returns the hidden mask of shape (D, H), entry [d, k] for the connection from input d to
# hidden unit k, and the output mask of shape (H, D), entry [k, d] from hidden unit k to the
# output for x_d, both with entries 0. or 1. Replace the NaN placeholders (they run, and every
# check below reports them as wrong).

# %%
# ---- your answer: start ----
def input_degrees(order):
    """m(d) = t where o_t = d, for every input d."""
    return np.nan * np.zeros(len(order))


def made_masks(m_in, m_hidden):
    """(hidden mask (D, H), output mask (H, D)) from the input and hidden degrees."""
    return np.nan * np.zeros((len(m_in), len(m_hidden))), np.nan * np.zeros((len(m_hidden), len(m_in)))
# ---- your answer: end ----


# %% [markdown]
# ## The masked network and its checks
#
# h = tanh(x (W_1 * M_1) + b_1),  l = h (W_2 * M_2) + b_2,  p_theta(x_d = 1 | x_<d) = sigmoid(l_d):
# a masked weight is multiplied by 0, so that connection does not exist.

# %%
m_in = input_degrees(order)
M1, M2 = (onp.asarray(m, dtype=float) for m in made_masks(m_in, m_hidden))
if M1.shape != (D, H) or M2.shape != (H, D):
    raise ValueError(f"made_masks: expected shapes ({D}, {H}) and ({H}, {D}), got {M1.shape} and {M2.shape}")
params = {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
          "W2": rng.normal(size=(H, D)) / onp.sqrt(H), "b2": rng.normal(size=D)}


def logits(x):
    h = np.tanh(np.dot(x, params["W1"] * M1) + params["b1"])
    return np.dot(h, params["W2"] * M2) + params["b2"]


def log_prob(x):
    """log p_theta(x) = sum_d x_d log sigmoid(l_d) + (1 - x_d) log sigmoid(-l_d)."""
    l = logits(x)
    return np.sum(x * log_sigmoid(l) + (1 - x) * log_sigmoid(-l), axis=1)


reports = {}
x_check = rng.integers(0, 2, size=(3, D)).astype(float)  # binary points, as the data will be
reports["autoregressive"] = check_autoregressive(logits, D, order, x=x_check, full=True)
reports["normalized"] = check_normalized(log_prob, dim=D, support="binary")
for report in reports.values():
    print(report, "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
