# %% [markdown]
# # Diffusion models (DDPM) on two moons
#
# A diffusion model turns data into noise in T small Gaussian steps and learns to undo them
# (Ho et al. 2020). Time as in DDPM: t = 0 is the data, t = T the noise.
#
#     forward:  q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t
#               q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),   alpha_bar_t = prod_{s<=t} alpha_s
#     reverse:  p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I), from x_T ~ N(0, I)
#     training: L_simple = E ||eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t)||^2
#
# The network predicts the noise eps that was added; that is the score up to a factor,
# s(x, t) = grad_x log q_t(x) = -E[eps | x_t = x] / sigma_t with sigma_t = sqrt(1 - alpha_bar_t).
# We look at the noising, the reverse chain, the score field against the exact one (two moons
# noised stay two moons, rescaled, with more noise), and at two likelihoods of the same model:
# the variational bound of the chain and the exact likelihood of the probability-flow ODE
# (Song et al. 2021), each against the exact entropy.
#
# Run: python demos/12_diffusion.py [--out DIR] [--steps N] [--seed S]

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
import sys

import autograd
import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, evaluate, plot
from tinygen.diffusion import Schedule
from tinygen.recipes import NOISE, RECIPES, two_moons_split
from tinygen.testing import check_diffusion_bound

parser = argparse.ArgumentParser(description="A DDPM on two moons: noising, the reverse chain, the score, the bound")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
parser.add_argument("--n-train", type=int, default=20000)
parser.add_argument("--n-test", type=int, default=2000, help="test points (the ODE likelihood is the slow part)")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 3, "n_train": 300, "n_test": 60})
(x_train, x_test, H) = two_moons_split(args.seed, n_train=args.n_train, n_test=args.n_test)
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## The forward process: q(x_t | x_0) at several t
#
# T = 100 steps of the linear schedule (Ho et al.'s beta_1 = 1e-4 .. beta_T = 0.02 at T = 1000,
# rescaled to T; see `tinygen.diffusion.Schedule`). Because two moons are arcs blurred by
# N(0, 0.05^2 I), x_t = sqrt(alpha_bar_t) x_0 + sigma_t eps is again two moons, shrunk by
# sqrt(alpha_bar_t), with noise sqrt(alpha_bar_t 0.05^2 + sigma_t^2): the marginal q_t has an exact
# density, drawn behind the samples.

# %%
T = 100
schedule = Schedule("linear", T)


def log_q(t, noise_fn=data.two_moons_log_prob):
    """log q_t(x) of noised two moons: x = sqrt(a) y with y two moons of noise sqrt(0.05^2 + (1 - a) / a),
    so log q_t(x) = log p_y(x / sqrt(a)) - log a (the Jacobian of x = sqrt(a) y in 2-D is a), a = alpha_bar_t."""
    a = schedule.alpha_bar[t]
    noise = onp.sqrt(NOISE ** 2 + (1 - a) / a)
    if noise_fn is data.two_moons_log_prob:
        return lambda x: data.two_moons_log_prob(x / onp.sqrt(a), noise=noise) - onp.log(a)
    log_p = noise_fn(noise)  # an autograd-differentiable log p_y, for the exact score below
    return lambda x: log_p(x / onp.sqrt(a)) - onp.log(a)


show_t = [0, 5, 10, 20, 40, 100]
x0 = x_test[:1000]
fig, axes = plt.subplots(2, len(show_t), figsize=(2.9 * len(show_t), 5.8), layout="constrained")
box = ((-3.0, 3.0), (-3.0, 3.0))
for ax_q, ax_x, t in zip(axes[0], axes[1], show_t):
    mean, var = schedule.marginal(x0, onp.full(len(x0), t))  # q(x_t | x_0) = N(mean, var I)
    x_t = mean + onp.sqrt(var) * rng.standard_normal(x0.shape)
    plot.density(ax_q, (lambda x: data.two_moons_log_prob(x)) if t == 0 else log_q(t), box, n=120, labels=None,
                 title=f"q_t, t = {t}")
    plot.samples(ax_x, x_t, c="tab:blue", s=2, bounds=box, labels=None,
                 title=f"alpha_bar = {schedule.alpha_bar[t]:.3f}")
    for ax in (ax_q, ax_x):
        ax.set_xticks([])
        ax.set_yticks([])
fig.suptitle("the forward process: the exact marginal q_t (top) and x_t ~ q(x_t | x_0) for test points x_0 (bottom)")
plot.show(fig, "12_noising", args.out)
cosine = Schedule("cosine", T)
fig, ax = plt.subplots(figsize=(6, 3.4))
for s, style in ((schedule, "-"), (cosine, "--")):
    ax.plot(onp.arange(T + 1), onp.sqrt(s.alpha_bar), style, color="tab:blue", label=f"sqrt(alpha_bar_t), {s.kind}")
    ax.plot(onp.arange(T + 1), s.sigma, style, color="tab:red", label=f"sigma_t, {s.kind}")
ax.set(xlabel="step t", title="signal and noise scales: x_t = sqrt(alpha_bar_t) x_0 + sigma_t eps")
ax.legend(fontsize=8)
plot.show(fig, "12_schedules", args.out)

# %% [markdown]
# ## Training eps_theta by denoising score matching
#
# One step: a batch of x_0, one t ~ U{1..T} and one eps ~ N(0, I) per point, and a regression
# of eps on x_t. No chain, no ODE.
#
# The recipe's network outputs v = sqrt(alpha_bar_t) eps - sigma_t x_0 instead of eps
# (`prediction="v"`, Salimans & Ho 2022), and eps_theta = sigma_t x_t + sqrt(alpha_bar_t) v_theta:
# the same regression, weighted by 1 / alpha_bar_t. Why: near the noise end eps* is almost x_t,
# and the probability-flow ODE below divides an eps-network's small errors there by
# sqrt(alpha_bar_t) -> 0; v is that ODE's velocity itself, so its errors reach the density
# undivided.

# %%
# the recipe the tour and benchmarks/bench_continuous.py train (tinygen.recipes), as demo 07 does: its
# schedule's log signal-to-noise ratio falls linearly (recipes.log_snr_betas), which puts more of its
# T steps at the small noise levels where the moons' detail lives than the linear schedule above
recipe = RECIPES["diffusion"]
print(f"{recipe.label}: {args.steps or recipe.steps} steps, lr {recipe.lr:g} ({recipe.schedule}), "
      f"batch {recipe.batch_size}", file=sys.stderr)
model, params, _ = recipe.train(x_train, rng=args.seed, steps=args.steps)
schedule = model.schedule  # from here on the trained model's schedule: the chain, q_t and its exact score

# %% [markdown]
# ## The reverse chain, step by step
#
# x_T ~ N(0, I), then for t = T..1
#
#     x_{t-1} = mu_theta(x_t, t) + sigma_t z,
#     mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t)
#
# with sigma_t^2 = beta_tilde_t, the variance of the posterior q(x_{t-1} | x_t, x_0), and
# sigma_1^2 = beta_1 at the last step. The loop below is that formula; it draws the same numbers in
# the same order as `Diffusion.sample`, so both give the same points.

# %%
s = schedule
n_chain = 300 if plot.quick() else 2000  # points run down the chain (a quick run only checks the code)
draws = onp.random.default_rng(args.seed)
x = draws.standard_normal((n_chain, 2))  # x_T
chain = {T: x}
for t in range(T, 0, -1):
    eps_hat = model.epsilon(params, t, x)
    mu = (x - s.beta[t] / s.sigma[t] * eps_hat) / onp.sqrt(s.alpha[t])
    sigma_t = onp.sqrt(s.beta_tilde[t] if t > 1 else s.beta[1])
    x = mu + sigma_t * draws.standard_normal(x.shape)
    chain[t - 1] = x
same = onp.abs(chain[0] - model.sample(params, n_chain, args.seed)).max()
print(f"the loop against Diffusion.sample with the same seed: max difference {same:.1e}")
fig, axes = plt.subplots(1, len(show_t), figsize=(2.9 * len(show_t), 3.1), layout="constrained")
for ax, t in zip(axes, show_t[::-1]):
    plot.samples(ax, chain[t], s=2, bounds=box, labels=None, title=f"x_{{{t}}}", c="tab:purple")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("ancestral sampling: the reverse chain from x_T ~ N(0, I) to x_0")
plot.show(fig, "12_reverse_chain", args.out)

# %% [markdown]
# ## The score field s(x, t) = -eps_theta(x, t) / sigma_t against the exact score
#
# The exact score grad_x log q_t(x) comes from autograd on the exact noised density above.
# The number under each panel is the noise-prediction error in the units the loss sees,
# E_{x ~ q_t} sigma_t^2 |s_theta(x, t) - grad log q_t(x)|^2 = E |eps_theta - E[eps | x_t]|^2.

# %%
score_t = [2, 5, 10, 25, 50]
X, Y, grid = plot.grid_points(plot.DEFAULT_BOUNDS, 13)
fig, axes = plt.subplots(1, len(score_t), figsize=(3.3 * len(score_t), 3.3), layout="constrained")
for ax, t in zip(axes, score_t):
    exact_score = autograd.elementwise_grad(lambda x, t=t: log_q(t, data.potentials.two_moons_log_p)(x))
    mean, var = s.marginal(x0, onp.full(len(x0), t))
    x_t = mean + onp.sqrt(var) * rng.standard_normal(x0.shape)  # x_t ~ q_t
    err = onp.mean(onp.sum((model.score(params, t, x_t) - exact_score(x_t)) ** 2, axis=1)) * s.sigma[t] ** 2
    fields = ((exact_score(grid), "k", "exact"), (model.score(params, t, grid), "tab:red", "learned"))
    for field, colour, name in fields:
        # arrows scaled by sigma_t (= -E[eps | x]): comparable lengths at every t
        ax.quiver(X, Y, *(s.sigma[t] * field).T.reshape(2, *X.shape), color=colour, angles="xy", label=name,
                  alpha=0.8)
    plot.samples(ax, x_t, c="0.7", s=1, bounds=plot.DEFAULT_BOUNDS, labels=None)
    ax.set_title(f"t = {t}, sigma_t = {s.sigma[t]:.2f}")
    ax.set_xlabel(f"eps error {err:.3f}")
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].legend(fontsize=8, loc="lower left")
fig.suptitle("sigma_t s(x, t): exact (black) and learned -eps_theta (red); grey: x_t ~ q_t")
plot.show(fig, "12_score_field", args.out)

# %% [markdown]
# ## Two likelihoods of one model: the bound and the probability-flow ODE
#
# The variational bound (Ho et al. eq. 5) lower-bounds the log-likelihood of the reverse chain,
#
#     log p_theta(x_0) >= E_q[log p(x_0 | x_1)] - sum_{t>=2} KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))
#                         - KL(q(x_T | x_0) || N(0, I))
#
# while the probability-flow ODE dx/dt = -1/2 beta(t) [x + s_theta(x, t)] is a deterministic map
# with the same marginals q_t, whose log-likelihood is exact through the instantaneous change of
# variables (as in demo 11). They are two densities of the same network; the bound sits below the
# ODE on average (`tinygen.testing.check_diffusion_bound` checks it within its Monte Carlo error).
# Red points in the scatter are single draws of the bound above the ODE's log p(x): the bound is an
# estimate with one draw per term, and it bounds the chain's density, which is not the ODE's.

# %%
log_p_ode = model.log_prob(params, x_test)  # one ODE solve per point, with the exact trace
elbo = model.elbo(params, x_test, args.seed)  # one draw of x_t per term of the bound
nll_ode, se_ode = evaluate.nll_stats(log_p_ode)
nll_bound, se_bound = evaluate.nll_stats(elbo)
gap_ode = evaluate.gap_to_entropy(nll_ode, H)
print(f"probability-flow ODE: test NLL {nll_ode:.4f} +- {se_ode:.4f} nats, gap to H(p) = {H:.4f}: "
      f"{gap_ode:.4f} nats (exact)")
print(f"variational bound:    -ELBO {nll_bound:.4f} +- {se_bound:.4f} nats, gap {nll_bound - H:.4f} nats (a bound)")
below = elbo <= log_p_ode
print(f"bound below the ODE likelihood at {below.mean():.0%} of {len(x_test)} test points; "
      f"mean (ODE - bound) {onp.mean(log_p_ode - elbo):.4f} nats")
print(check_diffusion_bound(model, params, x_test[:200], log_evidence=log_p_ode[:200], repeats=10, rng=args.seed))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
lo, hi = onp.percentile(onp.concatenate([elbo, log_p_ode]), [1, 100])
lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)  # a margin around the points
axes[0].plot([lo, hi], [lo, hi], "k-", lw=1, label="bound = ODE")
axes[0].scatter(log_p_ode, elbo, s=3, c=onp.where(below, "tab:blue", "tab:red"))
axes[0].set(xlim=(lo, hi), ylim=(lo, hi), xlabel="log p(x), probability-flow ODE (exact)",
            ylabel="ELBO(x), one draw per term", title="per test point: the bound against the ODE")
axes[0].legend(fontsize=8)
top = plot.max_density(data.two_moons_log_prob)
# an ODE solve per grid point: a coarser grid than the other demos' (and a tiny one in a quick run)
im = plot.density(axes[1], lambda x: model.log_prob(params, x), n=12 if plot.quick() else 80, vmax=top,
                  title=f"ODE density: NLL {nll_ode:.3f}, gap {gap_ode:.3f}")
plot.colorbar(im, axes[1])
plot.show(fig, "12_bound_and_ode", args.out)
