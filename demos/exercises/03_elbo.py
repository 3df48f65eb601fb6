# %% [markdown]
# # Exercise 3: the reparameterized ELBO with the closed-form KL
#
# Lecture, "Evidence Lower BOund" and "Reparameterization trick". For an encoder
# q_phi(z | x) = N(mu, diag(sigma^2)) and the prior p(z) = N(0, I),
#
#     ELBO = E_{z ~ q}[log p_theta(x | z)] - D_KL(q_phi(z | x) || p(z))  <=  log p_theta(x)
#
# with the complexity term in closed form, for z in R^k:
#
#     D_KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum_{j=1}^k (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2)
#
# and the reconstruction term estimated with one reparameterized sample,
# eps ~ N(0, I), z = mu + eps * sigma, so that autograd can differentiate it in mu and sigma.
#
# The model is linear-Gaussian (probabilistic PCA), where everything is known exactly:
# z ~ N(0, I_k), x | z ~ N(W z + b, s^2 I_D), so log p(x) = log N(x; b, W W^T + s^2 I) and the
# true posterior p(z | x) is Gaussian (diagonal here, W having orthogonal columns). Checks:
#
# 1. `check_bound`: the ELBO stays below the exact log p(x) (within its Monte Carlo error);
# 2. `check_bound(tight=True)`: with q = p(z | x) the ELBO equals log p(x) (the latent loss
#    D_KL(q || p(z | x)) is 0): a wrong constant or a KL counted twice shows here;
# 3. the closed-form KL agrees with a Monte Carlo estimate E_q[log q(z) - log p(z)];
# 4. the reparameterized gradient in (mu, sigma) averages to the exact gradient of the ELBO.
#
# The reference answer, for after: `VAE.elbo` and `reparameterize` in `tinygen/vae.py`,
# `kl_divergence` in `tinygen/distributions.py`.

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

import autograd
import autograd.numpy as np
import numpy as onp

from tinygen import plot
from tinygen.distributions import Normal, StandardNormal
from tinygen.testing import Report, check_bound

parser = argparse.ArgumentParser(description="Exercise: the reparameterized ELBO, checked.")
parser.add_argument("--repeats", type=int, default=400, help="independent ELBO estimates per check")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"repeats": 100})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## Your answer
#
# `mu`, `sigma` have shape (n, k); `log_likelihood(x, z)` gives log p_theta(x | z), shape (n,),
# for z of shape (n, k); `rng` is an `np.random.Generator`. Both functions return shape (n,).
# Replace the NaN placeholders (they run, and every check below reports them as wrong).

# %%
# ---- your answer: start ----
def kl_to_prior(mu, sigma):
    """D_KL(N(mu, diag sigma^2) || N(0, I)), one value per row."""
    return np.nan * np.zeros(np.shape(mu)[0])


def elbo(x, mu, sigma, log_likelihood, rng):
    """One-sample reparameterized ELBO: log p(x | mu + eps * sigma) - KL, eps ~ N(0, I)."""
    return np.nan * np.zeros(np.shape(x)[0])
# ---- your answer: end ----


# %% [markdown]
# ## The linear-Gaussian model, its exact evidence and posterior

# %%
D, k, s = 4, 2, 0.5
W = onp.linalg.qr(rng.normal(size=(D, k)))[0] * onp.array([1.5, 0.8])  # orthogonal columns
b = rng.normal(size=D)
x = rng.normal(size=(5, D)) * 1.5 + b


def log_likelihood(x, z):
    """log N(x; z W^T + b, s^2 I), summed over the D coordinates."""
    r = x - np.dot(z, W.T) - b
    return -0.5 * np.sum(r ** 2, axis=1) / s ** 2 - D * np.log(s) - 0.5 * D * np.log(2 * np.pi)


C = W @ W.T + s ** 2 * onp.eye(D)  # Cov(x) = W W^T + s^2 I
r = x - b
log_px = -0.5 * (onp.sum(r * onp.linalg.solve(C, r.T).T, 1) + onp.linalg.slogdet(C)[1] + D * onp.log(2 * onp.pi))
M = W.T @ W + s ** 2 * onp.eye(k)  # p(z | x) = N(M^-1 W^T (x - b), s^2 M^-1), M diagonal here
mu_post, sigma_post = r @ W @ onp.linalg.inv(M), onp.tile(s / onp.sqrt(onp.diag(M)), (x.shape[0], 1))
mu_q, sigma_q = 0.5 * mu_post + 0.3, onp.full_like(sigma_post, 0.8)  # some other (poorer) q

# %% [markdown]
# ## Checks 1 and 2: a lower bound, tight at the exact posterior

# %%
reports = {
    "below log p(x)": check_bound(lambda g: elbo(x, mu_q, sigma_q, log_likelihood, g), log_px,
                                  repeats=args.repeats, rng=1),
    "tight at p(z|x)": check_bound(lambda g: elbo(x, mu_post, sigma_post, log_likelihood, g), log_px,
                                   tight=True, repeats=args.repeats, rng=2),
}
for name in ("below log p(x)", "tight at p(z|x)"):
    print(reports[name], "\n")

# %% [markdown]
# ## Check 3: the closed-form KL against Monte Carlo
#
# E_q[log q(z) - log p(z)] over many z ~ q, with its standard error: the two must agree within
# 4 standard errors, and the closed form must be >= 0.

# %%
q = Normal(mu_q, sigma_q)
z_mc = q.sample(20 * args.repeats, onp.random.default_rng(3))  # (S, n, k)
terms = q.log_prob(z_mc) - StandardNormal(k).log_prob(z_mc)  # (S, n)
kl_mc, kl_se = terms.mean(0), terms.std(0, ddof=1) / onp.sqrt(terms.shape[0])
kl = onp.asarray(kl_to_prior(mu_q, sigma_q), dtype=float)
report = Report("closed-form KL(q || p(z))", notes=[f"Monte Carlo with {terms.shape[0]} samples per point"])
i = int(onp.nanargmax(onp.abs(kl - kl_mc) / kl_se)) if onp.all(onp.isfinite(kl)) else 0
report.add("KL = E_q[log q - log p] within 4 se", abs(kl[i] - kl_mc[i]), 4 * kl_se[i],
           where=f"point {i + 1}: closed form {kl[i]:.5g}, Monte Carlo {kl_mc[i]:.5g} +- {kl_se[i]:.2g}")
report.add("KL >= 0", -onp.min(kl), 0.0, where=f"KL = {onp.min(kl):.5g}")
reports["closed-form KL"] = report
print(report, "\n")

# %% [markdown]
# ## Check 4: the reparameterized gradient is unbiased
#
# For this model the ELBO has a closed form: E_q[log p(x | z)] = log p(x | mu) - sum_j sigma_j^2
# |W_j|^2 / (2 s^2), so its exact gradient in (mu, sigma) is known; the average of the
# one-sample gradients must match it within 4 standard errors.

# %%
def exact_elbo(mu, sigma):
    return np.sum(log_likelihood(x, mu) - np.sum(sigma ** 2 * np.sum(W ** 2, 0), 1) / (2 * s ** 2)
                  - 0.5 * np.sum(sigma ** 2 + mu ** 2 - 1 - 2 * np.log(sigma), 1))


report = Report("reparameterized gradient", notes=[f"mean of {args.repeats} one-sample gradients"])
exact = autograd.grad(exact_elbo, (0, 1))(mu_q, sigma_q)
try:
    with warnings.catch_warnings():  # the placeholder ignores mu and sigma, and autograd says so
        warnings.filterwarnings("ignore", "Output seems independent of input")
        draws = [autograd.grad(lambda m, sg: np.sum(elbo(x, m, sg, log_likelihood, g)), (0, 1))(mu_q, sigma_q)
                 for g in onp.random.default_rng(4).spawn(args.repeats)]
except (TypeError, ValueError) as err:  # e.g. rng.normal(mu, sigma) cannot be differentiated
    draws = None
    reason = f"autograd could not differentiate elbo ({type(err).__name__}): use z = mu + eps * sigma"
for j, name in enumerate(("mu", "sigma")):
    if draws is None:
        report.add(f"E[d ELBO / d {name}] = exact gradient", onp.inf, 0.0, where=reason)
        continue
    g = onp.array([d[j] for d in draws])
    mean, se = g.mean(0), g.std(0, ddof=1) / onp.sqrt(len(g)) + 1e-12  # 1e-12: a noise-free entry
    t = onp.abs(mean - exact[j]) / se
    t = onp.where(onp.isnan(t), onp.inf, t)
    i = onp.unravel_index(onp.argmax(t), t.shape)
    report.add(f"E[d ELBO / d {name}] = exact gradient", abs(mean[i] - exact[j][i]), 4 * se[i],
               where=f"entry {tuple(int(a) + 1 for a in i)}: mean {mean[i]:.5g} +- {se[i]:.2g}, "
                     f"exact {exact[j][i]:.5g}")
reports["gradient"] = report
print(report, "\n")

# %%
passed = sum(bool(r) for r in reports.values())
print(f"{passed} of {len(reports)} checks pass" + (": well done." if passed == len(reports) else "."))
