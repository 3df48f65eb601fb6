# %% [markdown]
# # Exercise 9: the optimal discriminator and the value of the game
#
# Goodfellow et al. (2014, "Generative Adversarial Nets") let a discriminator D and a generator G
# with density p_g play min_G max_D V(D, G),
#
#     V(D, G) = E_{x ~ p_data}[log D(x)] + E_{x ~ p_g}[log(1 - D(x))]
#             = int p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx.
#
# For a fixed G the integrand a log D + b log(1 - D) is largest at D = a / (a + b), so
# (their Proposition 1) the optimal discriminator is
#
#     D*_G(x) = p_data(x) / (p_data(x) + p_g(x)),
#
# and at it (their Theorem 1) the value is a Jensen-Shannon divergence,
#
#     C(G) = V(D*_G, G) = -log(4) + 2 JSD(p_data || p_g),
#
# whose minimum -log 4 is reached only at p_g = p_data, where D* = 1/2 everywhere. Here both
# densities are known (two Gaussians), so you can write D* and V yourself. Checks:
#
# 1. `check_discriminator`: your D* against the optimum, on a quadrature grid;
# 2. the closed form: your V(D*, G) equals -log 4 + 2 JSD(p_data || p_g) (JSD by quadrature);
# 3. the optimum is a maximum: any other D (here D = 1/2, and a D that is too sure) has a lower V;
# 4. a perfect generator, p_g = p_data: D* = 1/2 everywhere and V = -log 4.
#
# The reference answer, for after: `optimal_logit` and `value_function` in `tinygen/gan/judge.py`.

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

import numpy as onp

from tinygen import plot
from tinygen.gan import js_divergence, quadrature_grid
from tinygen.testing import Report, check_discriminator

parser = argparse.ArgumentParser(description="Exercise: the optimal discriminator, checked.")
parser.add_argument("--panels", type=int, default=48, help="Gauss-Legendre panels per axis of the grid")
args = plot.demo_args(parser, quick_values={"panels": 24})

# %% [markdown]
# ## Your answer
#
# `log_p` and `log_q` are arrays of log p_data(x) and log p_g(x) at the same points, shape (n,).
# `d` holds D(x) at those points and `w` the quadrature weights, so that an integral
# int f(x) dx is sum_i w_i f(x_i). Compute D* from the log-densities without ever forming
# 0 / 0 (where both densities underflow); V(D, G) as the quadrature sum of its integrand.
# Replace the NaN placeholders (they run, and every check below reports them as wrong).

# %%
# ---- your answer: start ----
def optimal_discriminator(log_p, log_q):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), shape (n,)."""
    return onp.nan * onp.zeros(onp.shape(log_p))


def value(d, log_p, log_q, w):
    """V(D, G) = int p_data log D + p_g log(1 - D) dx, by the quadrature sum_i w_i (...)."""
    return onp.nan
# ---- your answer: end ----


# %% [markdown]
# ## Two known densities: the data and a generator that is off
#
# p_data = N((0, 0), 0.5^2 I) and p_g = N((0.8, 0.3), 0.7^2 I), on a box that holds both
# (their mass outside it is below 1e-10).

# %%
BOX = ((-5.0, 5.0), (-5.0, 5.0))


def gaussian(mean, s):
    mean = onp.asarray(mean, dtype=float)
    return lambda x: -onp.sum((x - mean) ** 2, axis=1) / (2 * s ** 2) - onp.log(2 * onp.pi * s ** 2)


log_data, log_gen = gaussian([0.0, 0.0], 0.5), gaussian([0.8, 0.3], 0.7)
x, w = quadrature_grid(BOX, args.panels)
lp, lq = log_data(x), log_gen(x)
reports = {}

# %% [markdown]
# ## Check 1: D* against the optimum

# %%
reports["D*"] = check_discriminator(lambda v: onp.asarray(optimal_discriminator(log_data(v), log_gen(v)), float),
                                    log_data, log_gen, BOX, tolerance=1e-6, value_tolerance=1e-9,
                                    panels=args.panels)  # a formula, not a trained network: equal to rounding
print(reports["D*"], "\n")

# %% [markdown]
# ## Checks 2 and 3: the value at D* is -log 4 + 2 JSD, and it is a maximum

# %%
d_star = onp.asarray(optimal_discriminator(lp, lq), dtype=float)
v_star = float(value(d_star, lp, lq, w))
closed = -onp.log(4) + 2 * js_divergence(log_data, log_gen, BOX, args.panels)
report = Report("V(D*, G) = -log 4 + 2 JSD(p_data || p_g)", notes=[f"{len(x)} quadrature nodes"])
# 1e-8: -log 4 takes both masses to be 1, the grid integrates them to within about 1e-9
report.add("V(D*, G) = -log 4 + 2 JSD", onp.nan_to_num(abs(v_star - closed), nan=onp.inf), 1e-8,
           where=f"your V(D*, G) = {v_star:.8f}, -log 4 + 2 JSD = {closed:.8f}")
reports["value"] = report
print(report, "\n")

report = Report("D* maximizes V(., G)")
for name, d in (("D = 1/2", onp.full(len(x), 0.5)),
                ("D too sure, sigma(2 logit D*)", 1 / (1 + (1 / d_star - 1) ** 2))):
    v = float(value(d, lp, lq, w))
    report.add(f"V({name}) < V(D*)", onp.nan_to_num(v - v_star, nan=onp.inf), 0.0, ok=bool(v < v_star),
               where=f"V = {v:.6f} against V(D*) = {v_star:.6f}")
reports["maximum"] = report
print(report, "\n")

# %% [markdown]
# ## Check 4: a perfect generator

# %%
d_same = onp.asarray(optimal_discriminator(lp, lp), dtype=float)
v_same = float(value(d_same, lp, lp, w))
report = Report("p_g = p_data")
report.add("D* = 1/2 everywhere", onp.nan_to_num(onp.abs(d_same - 0.5).max(), nan=onp.inf), 1e-12,
           where=f"D* ranges over [{d_same.min():.6g}, {d_same.max():.6g}]")
report.add("V(D*, G) = -log 4", onp.nan_to_num(abs(v_same + onp.log(4)), nan=onp.inf), 1e-8,  # as in check 2
           where=f"V = {v_same:.10f}, -log 4 = {-onp.log(4):.10f}")
reports["perfect G"] = report
print(report, "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
