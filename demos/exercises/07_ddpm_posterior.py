# %% [markdown]
# # Exercise 7: the DDPM posterior q(x_{t-1} | x_t, x_0)
#
# Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", eqs. 6-7). The forward process
# q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I) has, with alpha_t := 1 - beta_t
# and alpha_bar_t := prod_{s=1}^t alpha_s, the marginal q(x_t | x_0) = N(x_t; sqrt(alpha_bar_t) x_0,
# (1 - alpha_bar_t) I), and the posterior of one step back, given the data, is Gaussian too:
#
#     q(x_{t-1} | x_t, x_0) = N(x_{t-1}; mu_tilde_t(x_t, x_0), beta_tilde_t I)
#     mu_tilde_t(x_t, x_0) = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
#                            + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
#     beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t
#
# It is what the reverse chain imitates (the bound's KL terms compare p_theta(x_{t-1} | x_t) with
# it), and it follows from Bayes' rule: q(x_{t-1} | x_t, x_0) is proportional to
# q(x_t | x_{t-1}) q(x_{t-1} | x_0), a product of two Gaussians in x_{t-1}. Write the mean and the
# variance in the marked cell; they are then checked:
#
# 1. in closed form, against conditioning the joint Gaussian of (x_{t-1}, x_t) given x_0 (per
#    coordinate: mean m_1 + C / V_2 (x_t - m_2), variance V_1 - C^2 / V_2), at every t = 2..T;
# 2. by Monte Carlo: draw x_t ~ q(x_t | x_0), then x_{t-1} from your posterior; the x_{t-1} must
#    then follow q(x_{t-1} | x_0), and (x_{t-1}, x_t) must have the forward process's covariance.
#
# The reference answer, for after: `Schedule.posterior` in `tinygen/diffusion/schedule.py`.

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
from tinygen.diffusion import Schedule
from tinygen.testing import Report

parser = argparse.ArgumentParser(description="Exercise: the DDPM posterior mean and variance, checked.")
parser.add_argument("--draws", type=int, default=200000, help="Monte Carlo draws per step checked")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"draws": 20000})
rng = onp.random.default_rng(args.seed)
schedule = Schedule("linear", n_steps=50)
# indexed by the step 0..T: beta[0] = 0, alpha_bar[0] = 1
beta, alpha_bar, T = schedule.beta, schedule.alpha_bar, schedule.T

# %% [markdown]
# ## Your answer
#
# `beta` and `alpha_bar` are arrays indexed by the step, 0..T (so `beta[t]` is beta_t and
# `alpha_bar[t - 1]` is alpha_bar_{t-1}; alpha_t = 1 - beta_t). `t` is an integer array of shape
# (n,), 2 <= t <= T, one step per row of `x_t` and `x0` (shape (n, D)). Return the mean, shape
# (n, D), and the variance, shape (n, 1). Replace the NaN placeholders (they run, and every check
# below reports them as wrong).

# %%
# ---- your answer: start ----
def posterior_mean(x_t, x0, t, beta, alpha_bar):
    """mu_tilde_t(x_t, x_0) of q(x_{t-1} | x_t, x_0)."""
    return onp.nan * x_t


def posterior_variance(t, beta, alpha_bar):
    """beta_tilde_t, shape (n, 1)."""
    return onp.nan * onp.ones((len(t), 1))
# ---- your answer: end ----


# %% [markdown]
# ## 1. Against conditioning the joint Gaussian
#
# Given x_0, per coordinate: x_{t-1} = sqrt(alpha_bar_{t-1}) x_0 + sqrt(1 - alpha_bar_{t-1}) e and
# x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) e', so (x_{t-1}, x_t) is Gaussian with means
# m_1 = sqrt(alpha_bar_{t-1}) x_0, m_2 = sqrt(alpha_bar_t) x_0, variances V_1 = 1 - alpha_bar_{t-1},
# V_2 = 1 - alpha_bar_t and covariance C = sqrt(alpha_t) V_1. Conditioning a Gaussian on one of its
# coordinates (the Schur complement) gives the posterior, with no formula of the paper used.

# %%
t = onp.arange(2, T + 1)  # every step with a posterior of positive variance
x0 = rng.standard_normal((len(t), 2))
x_t = rng.standard_normal((len(t), 2)) * 1.5
a_t = (1 - beta[t])[:, None]
m1, m2 = onp.sqrt(alpha_bar[t - 1])[:, None] * x0, onp.sqrt(alpha_bar[t])[:, None] * x0
V1, V2 = (1 - alpha_bar[t - 1])[:, None], (1 - alpha_bar[t])[:, None]
C = onp.sqrt(a_t) * V1  # Cov(x_{t-1}, x_t | x_0) = sqrt(alpha_t) Var(x_{t-1} | x_0)
mean_joint, var_joint = m1 + C / V2 * (x_t - m2), V1 - C ** 2 / V2

mean, var = posterior_mean(x_t, x0, t, beta, alpha_bar), posterior_variance(t, beta, alpha_bar)
report = Report(f"closed form, t = 2..{T}", notes=["against conditioning the joint Gaussian of (x_{t-1}, x_t) | x_0"])
# the two routes are the same algebra in float64: they agree to ~1e-15 relative; a wrong factor is off by O(1)
got = {"mean mu_tilde_t": onp.broadcast_to(mean, x_t.shape),
       "variance beta_tilde_t": onp.broadcast_to(var, (len(t), 1))}
for name, want in (("mean mu_tilde_t", mean_joint), ("variance beta_tilde_t", var_joint)):
    err = onp.abs(got[name] - want).max(axis=1) / onp.abs(want).max(axis=1)
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add(f"{name} (relative error)", err[i], 1e-10,
               where=f"t = {t[i]}: yours {got[name][i].round(6)}, joint Gaussian {want[i].round(6)}")
reports = {"closed form": report}
print(report, "\n")

# %% [markdown]
# ## 2. Monte Carlo: one step back from x_t lands on q(x_{t-1} | x_0)
#
# Fix x_0, draw x_t ~ q(x_t | x_0), then x_{t-1} ~ N(mu_tilde_t(x_t, x_0), beta_tilde_t I) with your
# formulas. If they are right, (x_{t-1}, x_t) has the forward process's joint law: x_{t-1} has mean
# m_1 and variance V_1, and Cov(x_{t-1}, x_t) = C. Each is compared within 5 standard errors of its
# Monte Carlo estimate (a false alarm about once in 10^6 per number).

# %%
report = Report("Monte Carlo", notes=[f"{args.draws} draws at each of t = 2, {T // 2}, {T}; x_0 = (0.5, -1)"])
worst = {"mean of x_{t-1}": (0.0, ""), "variance of x_{t-1}": (0.0, ""), "Cov(x_{t-1}, x_t)": (0.0, "")}
x0_fixed = onp.array([0.5, -1.0])
for step in (2, T // 2, T):
    n = args.draws
    steps = onp.full(n, step)
    x_t = onp.sqrt(alpha_bar[step]) * x0_fixed + onp.sqrt(1 - alpha_bar[step]) * rng.standard_normal((n, 2))
    x0_rows = onp.broadcast_to(x0_fixed, (n, 2))
    mean = posterior_mean(x_t, x0_rows, steps, beta, alpha_bar)
    x_prev = mean + onp.sqrt(posterior_variance(steps, beta, alpha_bar)) * rng.standard_normal((n, 2))
    v1 = 1 - alpha_bar[step - 1]
    targets = {  # (estimates per draw, their exact mean); Var of a squared deviation of a Gaussian is 2 V^2
        "mean of x_{t-1}": (x_prev, onp.sqrt(alpha_bar[step - 1]) * x0_fixed),
        "variance of x_{t-1}": ((x_prev - onp.sqrt(alpha_bar[step - 1]) * x0_fixed) ** 2, onp.full(2, v1)),
        "Cov(x_{t-1}, x_t)": ((x_prev - onp.sqrt(alpha_bar[step - 1]) * x0_fixed)
                              * (x_t - onp.sqrt(alpha_bar[step]) * x0_fixed),
                              onp.full(2, onp.sqrt(1 - beta[step]) * v1)),
    }
    for name, (values, exact) in targets.items():
        se = values.std(axis=0, ddof=1) / onp.sqrt(n)
        z = onp.abs(values.mean(axis=0) - exact) / se
        z = onp.where(onp.isnan(z), onp.inf, z).max()
        if not z <= worst[name][0]:
            worst[name] = (z, f"t = {step}: estimate {values.mean(axis=0).round(4)}, exact {exact.round(4)}")
for name, (z, where) in worst.items():
    report.add(f"{name} (standard errors off)", z, 5.0, where=where)
reports["monte carlo"] = report
print(report, "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
