# %% [markdown]
# # Exercise 6: the instantaneous change of variables
#
# Chen et al. 2018 ("Neural Ordinary Differential Equations", Theorem 1) and Grathwohl et al.
# 2019 (FFJORD): if z(t) moves by dz/dt = f(z(t), t), its log-density changes at the rate
#
#     d log p(z(t)) / dt = -Tr(df/dz(t))
#
# so a continuous normalizing flow carries the pair (z, log p) by one ODE,
#
#     d/dt [z(t), log p(z(t))] = [f(z(t), t), -Tr(df/dz(t))]
#
# and over [t_0, t_1] the change in log p is -log|det dz(t_1)/dz(t_0)|, the discrete change of
# variables. (tinygen writes the field f(t, z), time first, and rows of z are points.)
# Write the right-hand side of that ODE for two fields, working out the trace by hand:
#
# 1. a linear field f(t, z) = A z: its Jacobian is A;
# 2. f(t, z) = tanh(W z + t c), elementwise: its Jacobian is diag(1 - f_i^2) W, so
#    Tr(df/dz) = sum_i (1 - f_i^2) W_ii.
#
# Your right-hand sides are then checked:
#
# 1. `check_log_density_ode` for each field: solved for a short time, log p changes by
#    -log|det| of the flow map's Jacobian, taken by autograd through the solve;
# 2. for the linear field, the flow map over [0, 1] is e^A, so log p must change by
#    -log|det e^A| = -Tr A (Jacobi's formula), along every path;
# 3. for the tanh field, your trace against the trace of autograd's Jacobian at random points.
#
# The reference answer, for after: `tinygen.ode.log_density_dynamics` (with `trace_exact`).

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
from scipy.linalg import expm

from tinygen import plot
from tinygen.ode import odeint
from tinygen.testing import Report, check_log_density_ode

parser = argparse.ArgumentParser(description="Exercise: the instantaneous change of variables, checked.")
parser.add_argument("--points", type=int, default=8, help="points each check tries")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"points": 3})
rng = onp.random.default_rng(args.seed)
A = onp.array([[0.3, -2.0], [1.5, 0.5]])  # the linear field's matrix, D = 2
W = rng.standard_normal((3, 3))  # the tanh field's weights, D = 3
c = rng.standard_normal(3)

# %% [markdown]
# ## Your answer
#
# `state` is the pair `(z, logp)`, z of shape (n, D) (one point per row) and logp of shape (n,).
# Return the pair `(dz/dt, dlogp/dt)` of the same shapes. Use `np` (autograd.numpy): the checks
# differentiate through your code. Replace the NaN placeholders (they run, and every check below
# reports them as wrong).

# %%
# ---- your answer: start ----
def linear_rhs(t, state):
    """d/dt (z, log p) for f(t, z) = A z."""
    z, logp = state
    return np.nan * z, np.nan * logp


def tanh_rhs(t, state):
    """d/dt (z, log p) for f(t, z) = tanh(W z + t c), the trace written out by hand."""
    z, logp = state
    return np.nan * z, np.nan * logp
# ---- your answer: end ----


# %% [markdown]
# ## The checks
#
# A right-hand side that returns NaN makes the solver stop with an error naming f; here that
# error is turned into a failed row, so that every check runs.

# %%
def guarded(title, check):
    """Run a check; an error raised by the solver (a NaN, a wrong shape) becomes a failed row."""
    try:
        return check()
    except (ValueError, ArithmeticError) as error:
        report = Report(title)
        report.add("the right-hand side can be solved", onp.inf, 0.0, where=str(error))
        return report


reports = {}
# log p(t1) - log p(0) against -log|det dz(t1)/dz(0)| through dopri5 at tolerance 1e-10: both sides
# carry ~1e-9 of solver error, a wrong sign or a missing term is off by O(t1 |Tr|) ~ 0.1 (the default atol 1e-6)
for name, rhs, dim in (("linear: check_log_density_ode", linear_rhs, 2), ("tanh: check_log_density_ode", tanh_rhs, 3)):
    reports[name] = guarded(name, lambda rhs=rhs, dim=dim: check_log_density_ode(rhs, dim, rng=args.seed,
                                                                                    n=args.points))
    print(reports[name], "\n")


def linear_flow_map_check():
    """log p(z(1)) - log p(z(0)) = -log|det e^A| for every path, z(0) ~ N(0, I)."""
    z0 = rng.standard_normal((args.points, 2))
    _, logp = odeint(linear_rhs, (z0, onp.zeros(len(z0))), [0.0, 1.0], method="dopri5", rtol=1e-10, atol=1e-10)
    want = -onp.linalg.slogdet(expm(A))[1]  # the flow map of dz/dt = A z over [0, 1] is e^A
    err = onp.abs(logp[-1] - want)
    report = Report("linear field over [0, 1]", notes=[f"{len(z0)} paths from z(0) ~ N(0, I)"])
    i = int(onp.argmax(onp.where(onp.isnan(err), onp.inf, err)))
    # dopri5 at 1e-10 integrates a constant rate to ~1e-12; 1e-8 leaves room, a wrong trace is off by O(1)
    report.add("log p changes by -log|det e^A|", err[i], 1e-8,
               where=f"path from {z0[i].round(3)}: your ODE gave {logp[-1][i]:.6g}, -log|det e^A| = {want:.6g}")
    return report


def tanh_trace_check():
    """Your dlogp/dt against -Tr of autograd's Jacobian of f(t, z) = tanh(W z + t c)."""
    report = Report("tanh field: the trace", notes=[f"{args.points} points z ~ N(0, I), t ~ U(0, 1)"])
    worst, where = 0.0, ""
    for z, t in zip(rng.standard_normal((args.points, 3)), rng.uniform(size=args.points)):
        jac = autograd.jacobian(lambda y, t=t: np.tanh(W @ y + t * c))(z)
        _, dlogp = tanh_rhs(t, (z[None], onp.zeros(1)))
        err = abs(float(dlogp[0]) + onp.trace(jac))
        if not err <= worst:  # also catches NaN
            worst, where = err, (f"at z = {z.round(3)}, t = {t:.3f}: your dlogp/dt {float(dlogp[0]):.6g}, "
                                 f"-Tr(df/dz) = {-onp.trace(jac):.6g}")
    report.add("dlogp/dt = -Tr(df/dz) (autograd's Jacobian)", worst, 1e-12, where=where)  # float64 rounding only
    return report


reports["linear flow map"] = guarded("linear field over [0, 1]", linear_flow_map_check)
print(reports["linear flow map"], "\n")
reports["tanh trace"] = guarded("tanh field: the trace", tanh_trace_check)
print(reports["tanh trace"], "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
