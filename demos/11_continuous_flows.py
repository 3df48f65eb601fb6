# %% [markdown]
# # Continuous flows and flow matching on two moons
#
# A continuous normalizing flow moves points along a velocity field dz/dt = v_theta(t, z), from
# the base z(0) ~ N(0, I) at t = 0 to the data x = z(1) at t = 1: solving the ODE from 0 to 1 is
# the lecture's f: z -> x, solving it back from 1 to 0 is g = f^-1. The change of variables
# becomes a differential equation (Chen et al. 2018, the instantaneous change of variables):
#
#     d log p(z(t)) / dt = -tr(dv/dz)(t, z(t))
#     log p_x(x) = log N(g(x); 0, I) - integral_0^1 tr(dv/dz)(t, z(t)) dt,      z(1) = x
#
# so the log-determinant of the discrete flows becomes an integral of a trace, and the trace of
# a D x D Jacobian needs no determinant at all. We check the equation on a linear field, where
# every quantity is closed-form; compare the exact trace with Hutchinson's estimator (FFJORD,
# Grathwohl et al. 2019) and its variance as the dimension grows; then fit v_theta to two moons by
# conditional flow matching (Lipman et al. 2023: regression on the velocity of straight paths,
# no ODE in the training step) and, briefly, by maximum likelihood through the ODE.
#
# Run: python demos/11_continuous_flows.py [--out DIR] [--steps N] [--ml-steps N] [--seed S]

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
from scipy.linalg import expm

import tinygen
from tinygen import data, plot
from tinygen.distributions import StandardNormal
from tinygen.ode import (
    PROBES,
    draw_probe,
    hutchinson_variance,
    log_density_dynamics,
    odeint,
    trace_exact,
    trace_hutchinson,
)
from tinygen.recipes import RECIPES, score, two_moons_split
from tinygen.testing.continuous import random_field

parser = argparse.ArgumentParser(description="Continuous normalizing flows and flow matching on two moons")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="flow-matching training steps (default: the recipe's)")
parser.add_argument("--ml-steps", type=int, default=None,
                    help="maximum-likelihood steps, continuing from the flow-matching fit (default: the recipe's)")
parser.add_argument("--draws", type=int, default=20000, help="Hutchinson estimates per point in the trace lab")
parser.add_argument("--n-train", type=int, default=20000)
parser.add_argument("--n-test", type=int, default=5000)
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 3, "ml_steps": 1, "draws": 200, "n_train": 300,
                                            "n_test": 100})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## The instantaneous change of variables on a linear field
#
# For v(t, z) = A z the flow map is z(t) = e^{tA} z(0), its Jacobian e^{tA} has
# log|det e^{tA}| = t tr A, and the density of z(t) for z(0) ~ N(0, I) is N(0, e^{tA} e^{tA}^T).
# The ODE for (z, log p) must therefore give log p(z(t)) = log N(z(0); 0, I) - t tr A, which is
# also the closed-form Gaussian density at the point z(t). A has complex eigenvalues (a spiral)
# and tr A = 0.8 > 0: the points spiral outwards and the density along each path falls by 0.8
# nats per unit of time.

# %%
A = onp.array([[0.3, -2.0], [1.5, 0.5]])


def linear_field(t, z):
    return z @ A.T  # v(t, z) = A z, one row per point


base = StandardNormal(2)
z0 = rng.standard_normal((6, 2))
times = onp.linspace(0.0, 1.0, 21)
# d/dt (z, log p) = (A z, -tr A): tinygen.ode.log_density_dynamics takes the exact trace by autograd
zs, log_p_ode = odeint(log_density_dynamics(linear_field), (z0, base.log_prob(z0)), times, method="dopri5",
                       rtol=1e-10, atol=1e-10)
flow_maps = [expm(t * A) for t in times]  # e^{tA}
zs_exact = onp.stack([z0 @ M.T for M in flow_maps])
log_p_exact = onp.stack([-0.5 * onp.sum(onp.linalg.solve(M @ M.T, z.T).T * z, axis=1)
                         - onp.log(2 * onp.pi) - onp.linalg.slogdet(M)[1]  # log N(z; 0, M M^T), D = 2
                         for M, z in zip(flow_maps, zs_exact)])
print(f"tr A = {onp.trace(A):.2f}; over {len(z0)} paths and {len(times)} times, the ODE against the closed "
      f"form:\n  max |z(t) - e^(tA) z(0)| = {onp.abs(zs - zs_exact).max():.2e}, "
      f"max |log p ODE - log N(z(t); 0, e^(tA) e^(tA)^T)| = {onp.abs(log_p_ode - log_p_exact).max():.2e}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
box = ((-4.0, 4.0), (-4.0, 4.0))
X, Y, grid = plot.grid_points(box, 17)
V = linear_field(0.0, grid)
axes[0].quiver(X, Y, V[:, 0].reshape(X.shape), V[:, 1].reshape(X.shape), color="0.6")
for k in range(len(z0)):
    axes[0].plot(zs[:, k, 0], zs[:, k, 1], "-", lw=1.5)
    axes[0].plot(*zs[0, k], "o", color=axes[0].lines[-1].get_color())
    axes[1].plot(times, log_p_exact[:, k], "-", color=axes[0].lines[-1].get_color())
    axes[1].plot(times, log_p_ode[:, k], "o", ms=3, color=axes[0].lines[-1].get_color())
axes[0].set(xlim=box[0], ylim=box[1], xlabel="$z_1$", ylabel="$z_2$", aspect="equal",
            title="v(t, z) = A z and six paths z(t), t in [0, 1] (dot: z(0))")
axes[1].set(xlabel="t", ylabel="log p(z(t))",
            title="log p along each path: ODE (dots), closed form (lines); slope -tr A")
plot.show(fig, "11_linear_field", args.out)

# %% [markdown]
# ## The trace-estimator lab: exact trace against Hutchinson's estimator
#
# The exact trace tr(dv/dz) = sum_d e_d^T (dv/dz) e_d costs D reverse passes (`trace_exact`).
# Hutchinson's estimator costs one: for any random probe eps with E[eps eps^T] = I,
#
#     tr(J) = E[eps^T J eps]
#
# with Rademacher probes (entries +-1) or Gaussian ones. It is unbiased; its variance is, with
# S = (J + J^T) / 2 the symmetric part, 2 sum_{i != j} S_ij^2 (Rademacher: eps_i^2 = 1 reads the
# diagonal exactly) and 2 ||S||_F^2 (Gaussian), `tinygen.ode.hutchinson_variance`. Below: a
# random smooth field in 2-D (a small tanh MLP of (z, t)), many estimates at one point, and the
# variance as D grows, measured and in closed form. In 2-D a Rademacher estimate takes only two
# values, tr J +- (J_12 + J_21): the diagonal is read exactly, the off-diagonal part is the noise.

# %%
T_LAB = 0.5
field = random_field(2, rng=args.seed, hidden=32)
z = rng.standard_normal((1, 2))
_, exact = trace_exact(field, T_LAB, z)
J = autograd.jacobian(lambda y: field(T_LAB, y[None])[0])(z[0])
print(f"at z = {z[0].round(3)}: exact trace {exact[0]:.5f} (D reverse passes), "
      f"tr of autograd's Jacobian {onp.trace(J):.5f}")
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
zs_lab = onp.repeat(z, args.draws, axis=0)
estimates = {probe: trace_hutchinson(field, T_LAB, zs_lab, draw_probe(zs_lab.shape, rng, probe))[1] for probe in PROBES}
bins = onp.linspace(*onp.quantile(onp.concatenate(list(estimates.values())), [0.002, 0.998]), 61)
for (probe, est), colour in zip(estimates.items(), ("tab:blue", "tab:orange")):
    se = est.std(ddof=1) / onp.sqrt(args.draws)
    print(f"  {probe:10s}: mean of {args.draws} estimates {est.mean():.5f} +- {se:.5f} (se); variance "
          f"{est.var(ddof=1):.5f} measured, {hutchinson_variance(J, probe):.5f} in closed form")
    axes[0].hist(onp.clip(est, bins[0], bins[-1]), bins=bins, alpha=0.5, color=colour, label=f"{probe} probes")
axes[0].axvline(exact[0], color="k", lw=1.5, label="exact trace")
axes[0].set(xlabel="eps^T (dv/dz) eps (the tails clipped into the end bins)", ylabel="count", yscale="log",
            title=f"{args.draws} Hutchinson estimates at one point, D = 2")
axes[0].legend(fontsize=8)

# the variance against the dimension: fields in D dimensions, the same probes
dims = [2, 4, 8, 16, 32] if not plot.quick() else [2, 4]
measured = {probe: [] for probe in PROBES}
closed = {probe: [] for probe in PROBES}
n_points = 2 if plot.quick() else 5  # the variance differs from point to point: average over a few
for dim in dims:
    field_d = random_field(dim, rng=args.seed + dim, hidden=32)
    z_d = rng.standard_normal((n_points, dim))
    J_d = onp.stack([autograd.jacobian(lambda y, f=field_d: f(T_LAB, y[None])[0])(p) for p in z_d])  # (points, D, D)
    zs_d = onp.repeat(z_d, args.draws, axis=0)  # each point `draws` times in a row
    for probe in PROBES:
        _, est = trace_hutchinson(field_d, T_LAB, zs_d, draw_probe(zs_d.shape, rng, probe))
        measured[probe].append(est.reshape(n_points, args.draws).var(axis=1, ddof=1).mean())
        closed[probe].append(hutchinson_variance(J_d, probe).mean())
for probe, colour in zip(PROBES, ("tab:blue", "tab:orange")):
    axes[1].plot(dims, closed[probe], "-", color=colour, label=f"{probe}: closed form")
    axes[1].plot(dims, measured[probe], "o", color=colour, label=f"{probe}: measured")
axes[1].set(xscale="log", yscale="log", xlabel="dimension D", ylabel=f"Var[eps^T J eps], mean over {n_points} points",
            title="the estimator's variance grows with D")
axes[1].minorticks_off()
axes[1].set_xticks(dims, [str(d) for d in dims])
axes[1].legend(fontsize=8)
plot.show(fig, "11_trace_lab", args.out)
print("variance by D (measured / closed form):")
for dim, *row in zip(dims, *(measured[p] for p in PROBES), *(closed[p] for p in PROBES)):
    print(f"  D = {dim:3d}: rademacher {row[0]:9.4f} / {row[2]:9.4f}   gaussian {row[1]:9.4f} / {row[3]:9.4f}")

# %% [markdown]
# ## Flow matching on two moons
#
# Conditional flow matching draws a base point z ~ N(0, I), a data point x and a time
# t ~ U(0, 1), puts x_t = (1 - t) z + t x on the straight path between them, and regresses the
# field on that path's velocity u = x - z:
#
#     loss = E |v_theta(t, x_t) - (x - z)|^2
#
# Its minimizer is v*(t, y) = E[x - z | x_t = y], whose ODE carries N(0, I) at t = 0 exactly to the
# data at t = 1. Training never solves the ODE; the density, as for every CNF, does (dopri5, the
# exact trace). The test NLL is compared with the exact entropy H(p) of two moons: the gap
# NLL - H estimates KL(p || p_theta) >= 0.

# %%
(x_train, x_test, H) = two_moons_split(args.seed, n_train=args.n_train, n_test=args.n_test)
# the recipe the tour and benchmarks/bench_continuous.py train (tinygen.recipes), as demo 07 does
fm_recipe = RECIPES["flow_matching"]
print(f"{fm_recipe.label}: {args.steps or fm_recipe.steps} steps, lr {fm_recipe.lr:g} ({fm_recipe.schedule}), "
      f"batch {fm_recipe.batch_size}", file=sys.stderr)
fm, p_fm, _ = fm_recipe.train(x_train, rng=args.seed, steps=args.steps)
s_fm = score(fm, p_fm, x_test, H)
print(f"flow matching: test NLL {s_fm['nll']:.4f} +- {s_fm['se']:.4f} nats; exact entropy H(p) = {H:.4f}, "
      f"gap {s_fm['gap']:.4f} nats ({s_fm['params']} parameters)")

# %% [markdown]
# ## The same field by maximum likelihood through the ODE
#
# The likelihood objective solves the ODE (RK4, 8 steps, with the exact trace) in every training
# step and backpropagates through it: about a second per step here, against a few milliseconds
# for a flow-matching step. So we only continue a flow-matching fit for a few hundred steps at a
# small learning rate; a CNF trained by likelihood from scratch needs thousands of such steps.
#
# Which fit: a shorter one than above (`RECIPES["cnf"].warm_start`, 5000 steps). A field fitted
# longer is sharper, and the likelihood steps then learn to profit from the error of their coarse
# 8-step RK4 solve instead of fitting the data (on seed 0, 400 steps from a 10000-step fit ended
# 0.084 nats from H, from a 5000-step fit 0.046).

# %%
cnf_recipe = RECIPES["cnf"]  # the same field, the other loss, warm-started from its own flow-matching fit
_, p_start, _ = cnf_recipe.warm_start.train(x_train, rng=args.seed, steps=args.steps)
ml_steps = args.ml_steps or cnf_recipe.steps
print(f"maximum likelihood: {ml_steps} steps from {args.steps or cnf_recipe.warm_start.steps} flow-matching steps, "
      f"lr {cnf_recipe.lr:g}", file=sys.stderr)
cnf, p_ml, _ = cnf_recipe.train(x_train, rng=args.seed, steps=args.ml_steps, start=p_start)
s_ml = score(cnf, p_ml, x_test, H)
print(f"CNF, {ml_steps} likelihood steps from the shorter fit: test NLL {s_ml['nll']:.4f} +- {s_ml['se']:.4f} nats, "
      f"gap {s_ml['gap']:.4f} nats")

# %% [markdown]
# ## The learned densities next to the exact one, samples and paths
#
# Samples are z ~ N(0, I) carried from t = 0 to 1. Every regression target is a straight path,
# yet the paths of the fitted field bend: many straight paths cross each point x_t, and the field
# is their average there, E[x - z | x_t]. The thin moons are where a short fit falls short: the
# density is blurred across them, and a little mass stays between the moons.

# %%
bounds = plot.DEFAULT_BOUNDS
fig, axes = plt.subplots(2, 3, figsize=(14, 7), layout="constrained")
top = plot.max_density(data.two_moons_log_prob, bounds)
im = plot.density(axes[0, 0], data.two_moons_log_prob, bounds, title="exact p(x)", vmax=top)
# an ODE solve with the exact trace per grid point: a 100 x 100 grid keeps it to seconds
plot.density(axes[0, 1], lambda x: fm.log_prob(p_fm, x), bounds, n=100, vmax=top,
             title=f"flow matching: NLL {s_fm['nll']:.3f}, gap {s_fm['gap']:.3f}")
plot.density(axes[0, 2], lambda x: cnf.log_prob(p_ml, x), bounds, n=100, vmax=top,
             title=f"CNF, + {ml_steps} likelihood steps: gap {s_ml['gap']:.3f}")
plot.colorbar(im, list(axes[0]))
plot.samples(axes[1, 0], x_test[:2000], bounds=bounds, title="data")
plot.samples(axes[1, 1], fm.sample(p_fm, 2000, args.seed), bounds=bounds, title="flow-matching samples x = f(z)")
path_times = onp.linspace(0.0, 1.0, 21)
z_start = onp.random.default_rng(args.seed).standard_normal((60, 2))
FIELD_SOLVER = {"method": "dopri5", "rtol": 1e-5, "atol": 1e-5}  # adaptive: few steps where the field is smooth
paths = odeint(lambda t, y: fm.velocity(p_fm, t, y), z_start, path_times, **FIELD_SOLVER)  # (times, points, 2)
for k in range(z_start.shape[0]):
    axes[1, 2].plot(paths[:, k, 0], paths[:, k, 1], "-", lw=0.7, color="0.5")
plot.samples(axes[1, 2], paths[0], c="tab:blue", s=8, label="z(0) ~ N(0, I)")
plot.samples(axes[1, 2], paths[-1], c="tab:red", s=8, label="x = z(1)")
axes[1, 2].set_title("paths z(t), t from 0 to 1")
axes[1, 2].legend(fontsize=8, loc="lower left")
fig.suptitle(f"two moons (noise 0.05), exact entropy {H:.3f} nats")
plot.show(fig, "11_densities_and_samples", args.out)

# %% [markdown]
# ## The velocity field v_theta(t, x) at several times
#
# Arrows: the learned field; dots: samples carried to time t. At t = 0 the field spreads the
# Gaussian towards the moons; near t = 1 it points into the moons from both sides.

# %%
field_times = [0.0, 0.25, 0.5, 0.75, 1.0]
box = ((-3.0, 3.5), (-3.0, 3.0))
X, Y, grid = plot.grid_points(box, 15)
points = odeint(lambda t, y: fm.velocity(p_fm, t, y), fm.base.sample(1000, rng), field_times, **FIELD_SOLVER)
fig, axes = plt.subplots(1, len(field_times), figsize=(3.2 * len(field_times), 3.3), layout="constrained")
for ax, t, pts in zip(axes, field_times, points):
    V = fm.velocity(p_fm, t, grid)
    ax.quiver(X, Y, V[:, 0].reshape(X.shape), V[:, 1].reshape(X.shape), color="0.4", angles="xy")
    plot.samples(ax, pts, c="tab:red", s=2, bounds=box, labels=None, title=f"t = {t:g}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("flow matching: v_theta(t, x) (arrows) and samples z(t) (dots)")
plot.show(fig, "11_velocity_field", args.out)
