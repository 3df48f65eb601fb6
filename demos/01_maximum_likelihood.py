# %% [markdown]
# # Maximum likelihood with neural networks (D = 1)
#
# A network f_theta(c) outputs the parameters of p_theta(x | c):
#
# * categorical: l = f_theta(c) in R^K, w = softmax(l), -log p_theta(x | c) = -log w_x
# * normal: (mu, rho) = f_theta(c), sigma = softplus(rho), -log p_theta(x | c) = -log N(x; mu, sigma^2)
#
# and gradient descent minimizes the mean NLL (1/n) sum_i -log p_theta(x^(i) | c^(i)).
# The data below come from known conditionals p(x | c), so we can also watch MLE at work
# as KL minimization: the expected test NLL is E_c[H(p(x | c))] + E_c[KL(p(x | c) || p_theta(x | c))],
# and the gap between the two, the expected KL, shrinks with training and with more data.
#
# Run: python demos/01_maximum_likelihood.py --out out/ --steps 1500

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

import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import evaluate, plot
from tinygen.distributions import Categorical, Normal
from tinygen.mle import CategoricalHead, NormalHead
from tinygen.recipes import report

parser = argparse.ArgumentParser(description="Maximum likelihood with categorical and normal heads.")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=1500, help="training steps per model")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--n", type=int, default=500, help="training pairs (x, c) for the main fits")
args = plot.demo_args(parser, quick_values={"steps": 5, "n": 50})
rng = onp.random.default_rng(args.seed)

# %% [markdown]
# ## Two conditionals we know exactly
#
# c ~ U(-1, 1). Normal: x | c ~ N(sin(3c), (0.1 + 0.2|c|)^2).
# Categorical, K = 3: w(c) = softmax(-4c, 1 - 6c^2, 4c) (class 1 on the left, 2 in the middle, 3 on the right;
# the code stores the classes as 0, 1, 2, the figures and the text count from 1 as the lecture does).


# %%
def true_normal(c):
    return Normal(onp.sin(3 * c), 0.1 + 0.2 * onp.abs(c))  # one row per c, event dimension D = 1


def true_categorical(c):
    return Categorical(onp.hstack([-4 * c, 1 - 6 * c**2, 4 * c]))


def draw(n, rng):
    """n pairs per task: c, x_normal (n, 1), x_class (n,)."""
    c = rng.uniform(-1, 1, size=(n, 1))
    return c, true_normal(c).sample(1, rng)[0], true_categorical(c).sample(1, rng)[0]


c_train, x_train, y_train = draw(args.n, rng)
c_test, x_test, y_test = draw(5000, rng)
# the exact E_c[H(p(x | c))], averaged over the test c's
H_normal = float(onp.mean(true_normal(c_test).entropy()))
H_class = float(onp.mean(true_categorical(c_test).entropy()))
print(f"train n = {args.n}, test n = {len(c_test)}")
print(f"exact E_c[H(p(x|c))]: normal {H_normal:.4f} nats, categorical {H_class:.4f} nats")

# %% [markdown]
# ## Fit both heads, recording the gap to the exact entropy as training proceeds
#
# A negative NLL is not a bug. The normal conditionals are narrow (sigma between 0.1 and
# 0.3), so their densities exceed 1 near the mean, log p > 0 there, and the exact entropy
# E_c[H] is itself negative: a continuous density is not a probability and can be above 1.
# A categorical NLL can never be negative (each w_k <= 1).


# %%
def expected_kl(head, params, x, c, truth):
    """(mean, SE) of log p(x|c) - log p_theta(x|c) over test pairs: E_c[KL], the gap, with paired noise."""
    return evaluate.kl_to_truth(lambda v: head.log_prob(params, v, context=c), lambda v: truth(c).log_prob(v), x)


def train(head, x, c, steps, seed, record_every=None, x_val=None, c_val=None, truth=None):
    """Adam at lr 2e-2 for 2/3 of the steps, then 1e-3: without the smaller steps at the end,
    minibatch noise keeps the parameters (and the gap) jittering around the optimum.
    Optionally record (step, test NLL, E_c[KL]) on (x_val, c_val) every record_every steps."""
    curve, offset = [], 0

    def callback(step, params, loss):
        if record_every and ((offset + step) % record_every == 0 or offset + step == 1):
            nll = evaluate.nll_stats(head.log_prob(params, x_val, context=c_val))[0]
            curve.append((offset + step, nll, expected_kl(head, params, x_val, c_val, truth)[0]))

    params = head.init(seed)
    for lr, n_steps in ((2e-2, steps - steps // 3), (1e-3, steps // 3)):
        if n_steps == 0:
            continue
        params, _ = tinygen.fit(head, params, x, context=c, steps=n_steps, batch_size=128, lr=lr, rng=seed + offset,
                                x_val=x_val, context_val=c_val, callback=callback,
                                progress=record_every is not None)
        offset += n_steps
    return params, onp.array(curve)


heads = {"normal": NormalHead(1, hidden=(32,)), "categorical": CategoricalHead(1, 3, hidden=(32,))}
data = {"normal": (x_train, x_test, true_normal, H_normal), "categorical": (y_train, y_test, true_categorical, H_class)}
fits = {}
for name, head in heads.items():
    x_tr, x_te, truth, H = data[name]
    print(f"\n{name} head, {args.steps} steps (loss = train minibatch NLL, val = test NLL):", file=sys.stderr)
    params, curve = train(head, x_tr, c_train, args.steps, args.seed, record_every=max(1, args.steps // 30),
                          x_val=x_te, c_val=c_test, truth=truth)
    nll, nll_se = evaluate.test_nll(head, params, x_te, context=c_test)
    kl, kl_se = expected_kl(head, params, x_te, c_test, truth)
    fits[name] = params, curve
    print(f"{name:>12}: test NLL {nll:.4f} ± {nll_se:.4f} nats, exact E_c[H] {H:.4f}, "
          f"gap {evaluate.gap_to_entropy(nll, H):.4f} ± {nll_se:.4f}; paired E_c[KL] {kl:.4f} ± {kl_se:.4f}")
    shown = onp.unique(onp.linspace(0, len(curve) - 1, 6).astype(int))
    progress = ", ".join(f"step {int(curve[i, 0])}: {curve[i, 2]:.4f}" for i in shown)
    print(f"{'':>14}E_c[KL] during training: {progress}")
    report(f"01/{name}/test_nll", nll)
    report(f"01/{name}/kl", kl)

# %% [markdown]
# ## What the networks learned

# %%
grid = onp.linspace(-1, 1, 201)[:, None]
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ax = axes[0]
w_true, w_fit = true_categorical(grid).probs, heads["categorical"].predict(fits["categorical"][0], grid)
class_colours = ["tab:blue", "tab:orange", "tab:green"]
for k in range(3):
    ax.plot(grid[:, 0], w_true[:, k], "--", color=class_colours[k], lw=1.5)
    ax.plot(grid[:, 0], w_fit[:, k], "-", color=class_colours[k], lw=2, label=f"$w_{k + 1}(c)$")
    seen = c_train[y_train == k, 0]
    ax.plot(seen, onp.full_like(seen, -0.04 - 0.03 * k), "|", color=class_colours[k], ms=6, alpha=0.5)
ax.set_ylim(-0.14, 1.02)
ax.set_xlabel("c")
ax.set_ylabel("$w_k(c) = p(x = k | c)$")
ax.set_title("categorical head: learned (solid) vs true (dashed)\nticks: training labels")
ax.legend(loc="center right")

ax = axes[1]
mu, sigma = heads["normal"].predict(fits["normal"][0], grid)
mu_true, sigma_true = onp.sin(3 * grid[:, 0]), 0.1 + 0.2 * onp.abs(grid[:, 0])
ax.scatter(c_train[:, 0], x_train[:, 0], s=4, color="grey", alpha=0.5, label="training data")
ax.fill_between(grid[:, 0], mu[:, 0] - 2 * sigma[:, 0], mu[:, 0] + 2 * sigma[:, 0], color="tab:blue", alpha=0.25,
                label=r"learned $\mu \pm 2\sigma$")
ax.plot(grid[:, 0], mu[:, 0], color="tab:blue", lw=2)
ax.plot(grid[:, 0], mu_true, "k--", lw=1.5, label=r"true $\mu \pm 2\sigma$")
ax.plot(grid[:, 0], mu_true - 2 * sigma_true, "k:", lw=1)
ax.plot(grid[:, 0], mu_true + 2 * sigma_true, "k:", lw=1)
ax.set_xlabel("c")
ax.set_ylabel("x")
ax.set_title(r"normal head: $\sigma$ = softplus($\rho$) follows the noise")
ax.legend(loc="lower right", fontsize=8)
plot.show(fig, "01_conditional_fits", args.out)

# %% [markdown]
# ## MLE is KL minimization: the gap shrinks with training and with n
#
# gap = test NLL - E_c[H(p(x | c))] = E_c[KL(p(x | c) || p_theta(x | c))] >= 0 (up to test noise),
# estimated as the test mean of log p(x | c) - log p_theta(x | c): pairing each point's exact and
# model log-density cancels most of the noise that the NLL alone carries.
#
# For the n-sweep every model gets the same number of steps. With few pairs the network overfits
# and the gap is large; it falls as n grows until the error left is that of a finite number of
# steps and a finite network (training longer, left panels, lowers that floor).

# %%
ns = [25, 50, 100, 200, 400, 800, 1600, 3200]
n_steps = max(1, 2 * args.steps // 3)
sweep = {"normal": [], "categorical": []}
print(f"\ngap vs n ({n_steps} steps each):")
for n in ns:
    c_n, x_n, y_n = draw(n, onp.random.default_rng(args.seed + n))
    row = []
    for name, head in heads.items():
        _, x_te, truth, _ = data[name]
        params, _ = train(head, {"normal": x_n, "categorical": y_n}[name], c_n, n_steps, args.seed)
        sweep[name].append(expected_kl(head, params, x_te, c_test, truth))
        row.append(f"{name} {sweep[name][-1][0]:.4f} ± {sweep[name][-1][1]:.4f}")
    print(f"  n = {n:5d}: " + ",  ".join(row))

fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
colours = {"normal": "C0", "categorical": "C1"}  # the order plot.curves uses
for name, (_, curve) in fits.items():
    axes[0].plot(curve[:, 0], curve[:, 1], color=colours[name], label=f"{name}: test NLL")
    axes[0].axhline(data[name][3], color=colours[name], ls="--", lw=1, label=f"{name}: exact E[H]")
axes[0].set_xlabel("step")
axes[0].set_ylabel("nats")
axes[0].set_title(f"test NLL approaches the entropy (n = {args.n})")
axes[0].legend(fontsize=8, loc="upper right")
plot.curves(axes[1], {name: (fits[name][1][:, 0], fits[name][1][:, 2]) for name in heads},
            title="gap = test NLL - E[H] = E[KL] during training", ylabel="nats (log scale)")
axes[1].set_yscale("log")
for ax in axes[:2]:  # where train() lowers the learning rate
    ax.axvline(args.steps - args.steps // 3, color="grey", lw=0.8, ls=":")
axes[1].text(args.steps - args.steps // 3, 0.75, " lr 2e-2 -> 1e-3", transform=axes[1].get_xaxis_transform(),
             fontsize=8, color="grey")
ax = axes[2]
for name in heads:
    g = onp.array(sweep[name])
    ax.errorbar(ns, g[:, 0], yerr=2 * g[:, 1], marker="o", capsize=3, color=colours[name], label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("training pairs n")
ax.set_ylabel("nats (log scale)")
ax.set_title(f"gap vs n after {n_steps} steps (bars: ±2 SE)")
ax.text(0.03, 0.04, "at large n what is left is the error\nof finite training and a finite network",
        transform=ax.transAxes, fontsize=8, color="grey")
ax.legend()
fig.tight_layout()
plot.show(fig, "01_gap_to_entropy", args.out)
