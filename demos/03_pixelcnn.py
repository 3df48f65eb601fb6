# %% [markdown]
# # PixelCNN vs MADE on small binary images
#
# Both are autoregressive models, p(x) = prod_d p(x_d | x_1, ..., x_{d-1}), over
# the pixels in raster order, each x_d a Bernoulli. MADE flattens the image and
# masks a dense network; PixelCNN masks convolutions (mask A in the first layer,
# B after it), so it shares weights across positions and knows which pixels are
# neighbours. Both evaluate p(x) in one pass and sample in D passes.
#
# 4x4 bars and stripes has a known entropy (log 30 nats: 30 equally likely
# images), so the test NLL can be compared with the best achievable value.
# The 8x8 shapes have no known entropy; we report nats and bits per pixel.
#
#     python demos/03_pixelcnn.py --out out/ --steps 400

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
import numpy as np

from tinygen import data, fit, plot
from tinygen.arm import MADE, PixelCNN, mask
from tinygen.evaluate import bits_per_dim, gap_to_entropy, nll_stats
from tinygen.recipes import report

parser = argparse.ArgumentParser(description="PixelCNN vs MADE on 4x4 bars and stripes and 8x8 shapes")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=400, help="training steps per model and data set")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--n-train", type=int, default=2000)
parser.add_argument("--n-test", type=int, default=1000)
args = plot.demo_args(parser, quick_values={"steps": 5, "n_train": 100, "n_test": 100})
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## The masks
# Kernel entry (r, c) multiplies the pixel at offset (r - 2, c - 2) from the
# output pixel. A excludes the centre (the pixel being predicted), B keeps it
# (its feature there already depends only on earlier pixels).

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.6))
for ax, kind in zip(axes, "AB"):
    plot.matrix(ax, mask(kind, 5), title=f"mask {kind} (5 x 5)", annotate=True, cmap="Blues")
    ax.add_patch(plt.Rectangle((1.5, 1.5), 1, 1, fill=False, edgecolor="crimson", lw=2.5))
    ax.set_xlabel("column offset c - 2")
    ax.set_ylabel("row offset r - 2")
    ax.set_xticks(range(5), range(-2, 3))
    ax.set_yticks(range(5), range(-2, 3))
fig.suptitle("masked kernels (red: the centre = the pixel being predicted)")
fig.tight_layout()
plot.show(fig, "03_pixelcnn_masks", args.out)

# %% [markdown]
# ## Training both models on both data sets
# MADE sees a flat vector (n, H W); PixelCNN sees images (n, H, W). Same
# steps and batch size for both; each has its own learning rate. A MADE step
# is several times cheaper (one small matmul per layer), compare the seconds.

# %%


def train(name, model, x_train, x_test, lr):
    """Fit model, return (params, history, test log p)."""
    print(f"--- {name}: {args.steps} steps", flush=True)
    params = model.init(rng)
    params, hist = fit(model, params, x_train, steps=args.steps, batch_size=64, lr=lr, rng=rng,
                       x_val=x_test, eval_every=max(1, args.steps // 10), log_every=max(1, args.steps // 4))
    print(f"    {hist['seconds']:.1f} s", flush=True)
    return params, hist, model.log_prob(params, x_test)


results = {}
sets = {
    "bars and stripes 4x4": (data.bars_and_stripes(args.n_train, size=4, rng=rng),
                             data.bars_and_stripes(args.n_test, size=4, rng=rng)),
    "shapes 8x8": (data.shapes8(args.n_train, rng=rng), data.shapes8(args.n_test, rng=rng)),
}
for set_name, (x_train, x_test) in sets.items():
    n, H, W = x_train.shape
    flat = lambda x: x.reshape(len(x), H * W)  # noqa: E731
    pixelcnn = PixelCNN(H, W, n_channels=16, n_layers=4, kernel_size=7)
    made = MADE(H * W, hidden=(256, 256), likelihood="bernoulli")
    results[set_name] = {
        "PixelCNN": (pixelcnn,) + train(f"PixelCNN, {set_name}", pixelcnn, x_train, x_test, 3e-3),
        "MADE": (made,) + train(f"MADE, {set_name}", made, flat(x_train), flat(x_test), 1e-2),
    }

# %% [markdown]
# ## Test NLL
# Mean over the held-out images (1000 by default), with its standard error. A perfect model of
# bars and stripes reaches the entropy log 30 = 3.401 nats; the gap is
# KL(p_data || p_model) plus estimation noise.

# %%
entropy = data.bars_and_stripes_entropy(4)
print(f"\nbars and stripes 4x4: exact entropy log 30 = {entropy:.4f} nats")
for model_name, (_, _, _, log_p) in results["bars and stripes 4x4"].items():
    mean, se = nll_stats(log_p)
    print(f"  {model_name:9s} test NLL {mean:.4f} +- {se:.4f} nats   gap {gap_to_entropy(mean, entropy):+.4f} nats")
    report(f"03/{model_name}/bars_stripes_gap", gap_to_entropy(mean, entropy))
print("shapes 8x8 (D = 64):")
for model_name, (_, _, _, log_p) in results["shapes 8x8"].items():
    mean, se = nll_stats(log_p)
    print(f"  {model_name:9s} test NLL {mean:.3f} +- {se:.3f} nats = {bits_per_dim(mean, 64):.4f} bits/dim")
    report(f"03/{model_name}/shapes_bits_per_dim", bits_per_dim(mean, 64), fmt=".4f", unit="bits/dim")

# %% [markdown]
# ## Samples: data (top row), PixelCNN (middle), MADE (bottom)

# %%
for set_name, (x_train, _) in sets.items():
    n, H, W = x_train.shape
    rows = [x_train[:8]]
    for model, params, _, _ in results[set_name].values():
        s = model.sample(params, 8, rng)
        rows.append(s.reshape(8, H, W))
    fig = plot.image_grid(np.concatenate(rows), ncols=8, title=f"{set_name}: samples")
    for k, ax in enumerate(fig.axes):  # frame each image: an all-white one would vanish
        ax.add_patch(plt.Rectangle((-0.5, -0.5), W, H, fill=False, edgecolor="0.5", lw=1))
        if k % 8 == 0:
            ax.text(-0.15, 0.5, ["data", "PixelCNN", "MADE"][k // 8], transform=ax.transAxes,
                    ha="right", va="center")
    plot.show(fig, f"03_pixelcnn_samples_{set_name.split()[0]}", args.out)

# %% [markdown]
# ## Training curves (held-out NLL)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, (set_name, res) in zip(axes, results.items()):
    plot.curves(ax, {m: (h["val_step"], h["val_loss"]) for m, (_, _, h, _) in res.items()},
                title=set_name, ylabel="test NLL (nats)")
    if set_name.startswith("bars"):
        ax.axhline(entropy, color="k", ls="--", lw=1, label="entropy log 30")
        ax.legend()
fig.tight_layout()
plot.show(fig, "03_pixelcnn_training", args.out)
