# %% [markdown]
# # Change of variables in 1-D, and elementwise flows
#
# If x = f(z) with f invertible and g = f^-1, then
#
#     p_x(x) = p_z(g(x)) |dg(x)/dx|,   log p_x(x) = log p_z(g(x)) + log|det dg/dx|.
#
# The absolute value matters: for a decreasing f (x = -2z, say) dg/dx < 0, and without it the
# "density" would be negative. Only for an increasing f may it be dropped (the lecture's form).
#
# 1. The lecture's first example: z ~ U(0, 2), x = 4z, so p_x(4) = 1/2 * 1/4 = 1/8.
# 2. The log-normal: z ~ N(mu, sigma^2), x = exp(z), so p_x(x) = p_z(log x) / x.
# 3. Learning f: an elementwise affine flow (it can only shift and stretch a Gaussian) and a
#    rational-quadratic spline flow fitted by maximum likelihood to a skewed, bimodal density.
#    Test NLL is compared with the true entropy H(p) (by quadrature): NLL - H = KL(p || p_theta) >= 0.
#
# Run: python demos/06_change_of_variables.py --out out/ --steps 1500

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

import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import evaluate, plot
from tinygen.distributions import Normal
from tinygen.flows import ElementwiseAffine, ElementwiseSpline, Exp, FlowModel, Scale, Uniform
from tinygen.flows.splines import spline_knots
from tinygen.recipes import report

parser = argparse.ArgumentParser(description="1-D change of variables and elementwise flows")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=1500, help="training steps per flow")
parser.add_argument("--bins", type=int, default=10, help="spline bins K")
parser.add_argument("--n", type=int, default=5000, help="training points")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 5, "n": 200})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## 1. z ~ U(0, 2), x = 4z
#
# The flow is the fixed map `Scale(4)` and the base distribution is `Uniform(0, 2)`.
# The density spreads out by a factor 4, so it drops by a factor 4: p_x(4) = p_z(1) / 4.

# %%
uniform_model = FlowModel(Scale(4.0), base=Uniform(0.0, 2.0))
p_x4 = float(onp.exp(uniform_model.log_prob({}, [[4.0]])[0]))
print(f"z ~ U(0, 2), x = 4z:  p_z(1) = {float(onp.exp(Uniform(0.0, 2.0).log_prob([[1.0]])[0])):.4f},"
      f"  p_x(4) = {p_x4:.4f}  (1/8 = {1 / 8:.4f})")

# %% [markdown]
# ## 2. The log-normal: x = exp(z), z ~ N(mu, sigma^2)

# %%
mu, sigma = 0.0, 0.5
lognormal = FlowModel(Exp(), base=Normal(onp.array([mu]), onp.array([sigma])))
x_ln = lognormal.sample({}, 20000, rng)
grid_ln = onp.linspace(0.01, 5.0, 500)[:, None]
p_ln = onp.exp(lognormal.log_prob({}, grid_ln))  # p_z(log x) / x, via the flow
hist_ln, edges_ln = onp.histogram(x_ln[:, 0], bins=80, range=(0, 5), density=True)
print(f"log-normal (mu = {mu}, sigma = {sigma}): sample mean {x_ln.mean():.4f}, "
      f"exact exp(mu + sigma^2 / 2) = {onp.exp(mu + sigma ** 2 / 2):.4f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
u = onp.linspace(-1, 9, 1001)[:, None]
axes[0].plot(u[:, 0], onp.exp(Uniform(0.0, 2.0).log_prob(u)), label="p_z, z ~ U(0, 2)")
axes[0].plot(u[:, 0], onp.exp(uniform_model.log_prob({}, u)), label="p_x, x = 4z")
axes[0].plot([4.0], [p_x4], "ko")
axes[0].annotate("p_x(4) = 1/8", (4.0, p_x4), textcoords="offset points", xytext=(8, 10))
axes[0].set_xlabel("z or x")
axes[0].set_ylabel("density")
axes[0].legend()
axes[0].set_title("scaling by 4 divides the density by 4")
axes[1].bar(edges_ln[:-1], hist_ln, width=onp.diff(edges_ln), align="edge", alpha=0.4, label="histogram of exp(z)")
axes[1].plot(grid_ln[:, 0], p_ln, "C3", label="p_z(log x) / x")
axes[1].set_xlabel("x")
axes[1].set_ylabel("density")
axes[1].legend()
axes[1].set_title(f"log-normal, z ~ N({mu}, {sigma}^2)")
zz = onp.linspace(-2, 2, 400)
axes[2].plot(zz, onp.exp(zz), "C2")
axes[2].set_xlabel("z")
axes[2].set_ylabel("x = f(z) = exp(z)")
axes[2].set_title("f stretches z > 0, squeezes z < 0")
plot.show(fig, "06_change_of_variables", args.out)

# %% [markdown]
# ## 3. Fitting elementwise flows to a skewed, bimodal density
#
# p(x) = 0.3 N(x; -1.6, 0.35^2) + 0.7 SkewedBump(x), the bump being exp(w) with w ~ N(0, 0.45^2)
# shifted to start at -0.4 (a log-normal, right-skewed). Both flows use z ~ N(0, 1).

# %%
W1, M1, S1 = 0.3, -1.6, 0.35
SHIFT, S2 = -0.4, 0.45


def true_log_prob(x):
    """log p(x) for (n, 1) points: a Gaussian bump mixed with a shifted log-normal."""
    x = x[:, 0]
    log_g = -0.5 * ((x - M1) / S1) ** 2 - onp.log(S1 * onp.sqrt(2 * onp.pi))
    y = onp.maximum(x - SHIFT, 1e-300)
    log_ln = onp.where(x > SHIFT, -0.5 * (onp.log(y) / S2) ** 2 - onp.log(y * S2 * onp.sqrt(2 * onp.pi)), -onp.inf)
    return onp.logaddexp(onp.log(W1) + log_g, onp.log(1 - W1) + log_ln)


def true_sample(n, rng):
    first = rng.random(n) < W1
    return onp.where(first, M1 + S1 * rng.standard_normal(n), SHIFT + onp.exp(S2 * rng.standard_normal(n)))[:, None]


x_train, x_test = true_sample(args.n, rng), true_sample(20000, rng)
# True entropy H = -int p log p dx by the trapezoid rule on a fine grid (p is smooth and
# below 1e-9 outside [-4, 15]; the grid step 1e-4 puts the quadrature error far below 1e-6).
xs = onp.linspace(-4.0, 15.0, 190_001)[:, None]
log_p_true = true_log_prob(xs)
integrand = onp.where(onp.isfinite(log_p_true), -onp.exp(log_p_true) * log_p_true, 0.0)
H = onp.sum((integrand[1:] + integrand[:-1]) / 2) * (xs[1, 0] - xs[0, 0])
mass = onp.sum((onp.exp(log_p_true[1:]) + onp.exp(log_p_true[:-1])) / 2) * (xs[1, 0] - xs[0, 0])
print(f"true density: mass by quadrature {mass:.8f}, entropy H = {H:.4f} nats")

# %%
flows = {
    "elementwise affine": ElementwiseAffine(1),
    f"elementwise spline (K = {args.bins})": ElementwiseSpline(1, bins=args.bins, bound=3.0),
}
fitted, histories = {}, {}
for name, flow in flows.items():
    model = FlowModel(flow)
    print(f"fitting {name} ...", flush=True)
    params, history = tinygen.fit(model, flow.init(args.seed), x_train, steps=args.steps, batch_size=1024,
                                  lr=1e-2, rng=args.seed, x_val=x_test[:2000], eval_every=50)
    fitted[name] = (model, params)
    histories[name] = (history["val_step"], history["val_loss"])
    nll, se = evaluate.test_nll(model, params, x_test)
    # NLL - H estimates KL(p || p_theta); the paired difference has a far smaller SE than the NLL
    kl, kl_se = evaluate.kl_to_truth(lambda x: model.log_prob(params, x), true_log_prob, x_test)
    print(f"{name:>28}: test NLL {nll:.4f} +- {se:.4f} nats; gap to H = {H:.4f}: "
          f"NLL - H = {evaluate.gap_to_entropy(nll, H):.4f}, paired KL estimate {kl:.4f} +- {kl_se:.4f}")
    report(f"06/{name.split(' (')[0].replace(' ', '_')}/kl", kl, fmt=".4f")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
grid = onp.linspace(-3.5, 5.0, 800)[:, None]
axes[0].hist(x_train[:, 0], bins=120, range=(-3.5, 5), density=True, color="0.8", label="training data")
axes[0].plot(grid[:, 0], onp.exp(true_log_prob(grid)), "k", lw=2, label="true p(x)")
for (name, (model, params)), c in zip(fitted.items(), ["C0", "C3"]):
    axes[0].plot(grid[:, 0], onp.exp(model.log_prob(params, grid)), c, lw=1.5, label=name)
axes[0].set_xlabel("x")
axes[0].set_ylabel("density")
axes[0].legend()
axes[0].set_title("learned densities p_theta(x) = p_z(g(x)) |g'(x)|")
plot.curves(axes[1], histories, title="held-out NLL during training", ylabel="nats")
axes[1].axhline(H, color="k", ls="--", lw=1)
axes[1].text(axes[1].get_xlim()[1], H, " H(p)", va="bottom", ha="right")
axes[1].set_ylim(H - 0.2, H + 1.5)
plot.show(fig, "06_fitted_densities", args.out)

# %% [markdown]
# ## The spline's transfer function
#
# x = f(z) is the identity outside [-B, B]; inside, K rational-quadratic pieces join at the
# knots (z^(k), x^(k)). Where f is flat, a wide range of z lands in a small range of x:
# that is where p_x piles up mass (p_x = p_z(g(x)) / f'(g(x))).

# %%
spline_name = list(fitted)[1]
model, params = fitted[spline_name]
flow = model.flow
zs = onp.linspace(-5.5, 5.5, 1000)[:, None]
xs_f, log_df = flow.forward(params, zs)
z_knots, x_knots = (k[0] for k in spline_knots(params["widths"], params["heights"], flow.bound))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
axes[0].plot(zs[:, 0], xs_f[:, 0], "C3", label="x = f(z)")
axes[0].plot(zs[:, 0], zs[:, 0], "k:", lw=1, label="identity (tails)")
axes[0].plot(z_knots, x_knots, "ko", ms=4, label="knots (z^(k), x^(k))")
for b in (-flow.bound, flow.bound):
    axes[0].axvline(b, color="0.7", lw=0.8)
axes[0].set_xlabel("z ~ N(0, 1)")
axes[0].set_ylabel("x")
axes[0].legend()
axes[0].set_title(f"learned spline, K = {flow.bins}, B = {flow.bound:g}")
axes[1].plot(zs[:, 0], onp.exp(log_df), "C3")
axes[1].plot(z_knots, onp.exp(flow.forward(params, z_knots[:, None])[1]), "ko", ms=4)
axes[1].set_yscale("log")
axes[1].set_xlabel("z")
axes[1].set_ylabel("f'(z)")
axes[1].set_title("slope f'(z) (log scale): small slope = high density in x")
plot.show(fig, "06_spline_transfer", args.out)
