# %% [markdown]
# # Exercise 1: the softmax and softplus likelihood heads
#
# Lecture, "MLE with neural networks" (D = 1): a network outputs the parameters of p_theta(x),
# and training minimizes the mean negative log-likelihood (1/n) sum_i -log p_theta(x^(i)).
#
# * **categorical**: f_theta = l in R^K, w_i = e^{l_i} / sum_{j=1}^K e^{l_j}, and -log p_theta(x) = -log w_x
# * **normal**: f_theta = (mu, rho), sigma = log(1 + e^rho) > 0, and -log p_theta(x) = -log N(x; mu, sigma^2)
#
# Write both NLLs in the marked cell. They are checked by property, not against stored numbers:
#
# 1. exp(-NLL) is a distribution: it sums to 1 over the K classes, it integrates to 1 over x;
# 2. gradient descent on the mean NLL of a data set finds the closed-form MLE: w_i = the
#    frequency of class i, mu = the sample mean, sigma = the sample standard deviation (1/n).
#
# Hint: -log w_x = logsumexp(l) - l_x; subtract max(l) before exponentiating, or use
# `tinygen.functional.logsumexp`. Categories x are the numbers 0..K-1 (index 0 is the lecture's class 1).
#
# The reference answer, for after: `tinygen/mle.py` (`CategoricalHead`, `NormalHead`) and
# `tinygen/functional.py` (`log_softmax`, `softplus`, `log_normal_pdf`).

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
import warnings

import autograd.numpy as np
import numpy as onp

from tinygen import plot
from tinygen.functional import logsumexp  # noqa: F401  (for your answer)
from tinygen.optim import NonFiniteLossError, minimize
from tinygen.testing import Report, check_normalized

parser = argparse.ArgumentParser(description="Exercise: softmax and softplus NLLs, checked.")
parser.add_argument("--steps", type=int, default=500, help="gradient descent steps per fit")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 300})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## Your answer
#
# `logits` has shape (n, K) and `x` shape (n,) with integer values 0..K-1; `x`, `mu` and `rho`
# in the normal NLL have shape (n,). Each returns the per-example NLL, shape (n,). Replace the
# NaN placeholders (they run, and every check below reports them as wrong).

# %%
# ---- your answer: start ----
def categorical_nll(logits, x):
    """-log w_x with w = softmax(l), one value per row."""
    return np.nan * np.zeros(np.shape(x))


def normal_nll(x, mu, rho):
    """-log N(x; mu, sigma^2) with sigma = softplus(rho) = log(1 + e^rho)."""
    return np.nan * np.zeros(np.shape(x))
# ---- your answer: end ----


# %% [markdown]
# ## Check 1: exp(-NLL) is normalized
#
# For fixed logits, sum_{x=0}^{K-1} exp(-NLL(l, x)) = 1 (exact enumeration of the K classes);
# for fixed (mu, rho), int exp(-NLL(x, mu, rho)) dx = 1 (midpoint rule on a box 12 sigma wide).

# %%
reports = {}
K = 4
l = rng.normal(size=K) * 2
reports["categorical sums to 1"] = check_normalized(
    lambda x: -categorical_nll(np.tile(l, (x.shape[0], 1)), x[:, 0].astype(int)),
    dim=1, support="categorical", n_classes=K)
mu0, rho0 = 0.7, -0.3  # sigma = softplus(-0.3) = 0.55
reports["normal integrates to 1"] = check_normalized(
    lambda x: -normal_nll(x[:, 0], mu0 * np.ones(x.shape[0]), rho0 * np.ones(x.shape[0])),
    dim=1, bounds=(mu0 - 12, mu0 + 12), atol=1e-8)  # Gaussian tails: the grid rule is exact to ~1e-15
for name in ("categorical sums to 1", "normal integrates to 1"):
    print(reports[name], "\n")


# %% [markdown]
# ## Check 2: gradient descent recovers the closed-form MLE
#
# Unconditional heads (no input c): theta = l, or theta = (mu, rho), is a free vector. Plain
# gradient descent theta <- theta - eta grad (1/n) sum_i NLL(theta, x^(i)) from theta = 0 must
# land on the closed form. Both objectives are smooth and convex near the optimum with
# curvature O(1), so at step size 0.2 to 1 the error shrinks geometrically, far below the
# 1e-4 tolerance within a few hundred steps.

# %%
def gradient_descent(objective, theta, lr):
    """theta after args.steps gradient steps, or None when the objective is NaN / infinite."""
    try:
        with warnings.catch_warnings():  # the placeholder ignores theta, and autograd says so
            warnings.filterwarnings("ignore", "Output seems independent of input")
            theta, _ = minimize(lambda p, r: objective(p), theta, steps=args.steps, lr=lr, optimizer="sgd",
                                progress=False)
    except NonFiniteLossError:
        return None
    return theta


def mle_report(title, pairs):
    """One row per (name, recovered, closed form); a failed fit (None) fails every row."""
    report = Report(title, notes=[f"plain gradient descent, {args.steps} steps from theta = 0"])
    for name, got, want in pairs:
        err = onp.inf if got is None else float(onp.max(onp.abs(onp.asarray(got) - want)))
        where = ("the NLL was NaN or infinite" if got is None else
                 f"gradient descent found {onp.round(got, 5).tolist()}, closed form {onp.round(want, 5).tolist()}")
        report.add(name, err, 1e-4, where=where)
    return report


x_cat = rng.choice(K, size=400, p=[0.1, 0.2, 0.3, 0.4])
freq = onp.bincount(x_cat, minlength=K) / x_cat.size  # closed form: w_i = n_i / n
theta = gradient_descent(lambda p: np.mean(categorical_nll(np.tile(p["l"], (x_cat.size, 1)), x_cat)),
                         {"l": onp.zeros(K)}, lr=1.0)
w = None if theta is None else onp.exp(theta["l"] - logsumexp(theta["l"]))
reports["categorical MLE"] = mle_report("categorical MLE by gradient descent",
                                        [("softmax(l) = class frequencies n_i / n", w, freq)])

x_norm = 1.5 + 0.5 * rng.standard_normal(400)
theta = gradient_descent(lambda p: np.mean(normal_nll(x_norm, p["mu"] * np.ones(x_norm.size),
                                                      p["rho"] * np.ones(x_norm.size))),
                         {"mu": 0.0, "rho": 0.0}, lr=0.2)
mu_hat = None if theta is None else theta["mu"]
sigma_hat = None if theta is None else onp.log1p(onp.exp(theta["rho"]))
reports["normal MLE"] = mle_report("normal MLE by gradient descent",
                                   [("mu = sample mean", mu_hat, x_norm.mean()),
                                    ("sigma = sample std (1/n)", sigma_hat, x_norm.std())])
for name in ("categorical MLE", "normal MLE"):
    print(reports[name], "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
