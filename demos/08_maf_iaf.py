# %% [markdown]
# # Autoregressive flows: MAF and IAF
#
# An affine autoregressive flow transforms every coordinate with a shift mu_d and a
# log-scale alpha_d that a MADE computes from the coordinates before it:
#
# * MAF: x_d = z_d * exp(alpha_d(x_<d)) + mu_d(x_<d). The density needs z = g(x):
#   z_d = (x_d - mu_d(x_<d)) * exp(-alpha_d(x_<d)) reads only x, so ONE MADE pass gives
#   all of z and log|det dg/dx| = -sum_d alpha_d. Sampling must rebuild x one
#   coordinate at a time: D passes.
# * IAF: x_d = z_d * exp(alpha_d(z_<d)) + mu_d(z_<d). Sampling is one pass, the density D passes.
#
# We fit a MAF to two moons, score it against the exact entropy, and time sampling.
#
# Run: python demos/08_maf_iaf.py [--out DIR] [--steps N] [--seed S]

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
import time

import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, evaluate, plot
from tinygen.flows import IAF, MAF, MAFLayer
from tinygen.recipes import RECIPES, report, two_moons_split
from tinygen.testing.spy import count_calls

parser = argparse.ArgumentParser(description="MAF on two moons; IAF vs MAF sampling speed")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="training steps (default: the MAF recipe's)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--n-time", type=int, default=1000, help="points sampled and scored in the timing")
args = plot.demo_args(parser, quick_values={"steps": 5, "n_time": 50})

# %% [markdown]
# ## MAF on two moons (noise 0.05), whose exact entropy H(p) we know
#
# Trained by the MAF recipe of ``tinygen.recipes`` on the tour's split: the same numbers as demo 00.

# %%
x_train, x_test, H = two_moons_split(args.seed)
recipe = RECIPES["maf"]
maf, params, history = recipe.train(x_train, rng=args.seed, steps=args.steps, x_val=x_test[:1000])
n_layers = sum(isinstance(layer, MAFLayer) for layer in maf.flow.layers)  # the reversals between do not count
print(f"{recipe.label}: {n_layers} layers, {tinygen.nn.count_params(params)} parameters, "
      f"{args.steps or recipe.steps} steps, lr {recipe.lr:g} ({recipe.schedule})")

log_p = maf.log_prob(params, x_test)
nll, nll_se = evaluate.nll_stats(log_p)
gap = evaluate.gap_to_entropy(nll, H)
kl, kl_se = evaluate.kl_to_truth(lambda x: maf.log_prob(params, x), data.two_moons_log_prob, x_test)
print(f"test NLL {nll:.4f} +- {nll_se:.4f} nats  (exact entropy {H:.4f}), gap to the entropy {gap:.4f}")
print(f"paired estimate of KL(p || p_theta) on the same test points: {kl:.4f} +- {kl_se:.4f} nats")
report("08/maf/gap", gap)

# %%
bounds = plot.DEFAULT_BOUNDS
fig, axes = plt.subplots(1, 4, figsize=(18, 3.9), layout="constrained")
top = plot.max_density(data.two_moons_log_prob, bounds)  # one colour scale
im = plot.density(axes[0], data.two_moons_log_prob, bounds, title="exact p(x)", vmax=top)
plot.density(axes[1], lambda x: maf.log_prob(params, x), bounds, vmax=top,
             title=f"MAF p(x): test NLL {nll:.3f}, gap {gap:.3f}")
plot.colorbar(im, list(axes[:2]))
plot.samples(axes[2], maf.sample(params, 2000, args.seed), bounds=bounds,
             title="MAF samples (D passes per layer)")
plot.curves(axes[3], {"train minibatch": (history["step"], history["loss"]),
                      "held out": (history["val_step"], history["val_loss"])},
            title="NLL during training", ylabel="nats")
axes[3].axhline(H, color="k", ls="--", lw=1, label="exact entropy H(p)")
axes[3].legend()
axes[3].set_ylim(H - 0.2, H + 1.5)
plot.show(fig, "08_maf_two_moons", args.out)

# %% [markdown]
# ## Samples after each layer: how the flow bends N(0, I) into the moons (colour: angle of z)

# %%
zs = maf.sample_layers(params, 2000, args.seed)
# zs = [z, after MAF 1, after reversal, after MAF 2, ...]: keep the MAF outputs, and swap the
# two coordinates back where an odd number of reversals is still to come, so every panel
# is drawn in the axes of x.
zs = [zs[0]] + [zs[2 * k + 1][:, ::-1] if (n_layers - 1 - k) % 2 else zs[2 * k + 1]
                for k in range(n_layers)]
fig = plot.layer_panels(zs, titles=["z ~ N(0, I)"] + [f"after MAF layer {k + 1}" for k in range(len(zs) - 1)])
plot.show(fig, "08_maf_layers", args.out)

# %% [markdown]
# ## Sampling speed: IAF's one pass against MAF's D passes
#
# The same architecture in D = 2 and in D = 16. MAF must evaluate its MADE D times per
# layer to sample; IAF once. (IAF pays the D passes when it evaluates a density instead.)


# %%
def time_it(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return onp.median(times)


n = args.n_time
for dim in (2, 16):
    row = []
    for cls in (MAF, IAF):
        model = cls(dim, n_layers=n_layers, hidden=(64, 64))
        p = model.init(0)
        made = model.flow.layers[0].made
        t_sample = time_it(lambda: model.sample(p, n, 0), repeats=3)
        with count_calls(made, "outputs") as calls:  # MADE.outputs is one pass of its network
            model.sample(p, n, 0)
        passes = calls.count
        x = model.sample(p, n, 1)
        t_density = time_it(lambda: model.log_prob(p, x), repeats=3)
        row.append(f"{cls.__name__}: sample {1e3 * t_sample:7.1f} ms ({passes:2d} MADE passes/layer), "
                   f"log_prob {1e3 * t_density:7.1f} ms")
    print(f"D = {dim:2d}, n = {n}:  " + "  |  ".join(row))
