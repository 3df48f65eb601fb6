# %% [markdown]
# # Image flows: squeeze, split, the 1 x 1 convolution, dequantization, and Glow on 8 x 8 digits
#
# A flow on images must be invertible with a cheap log-determinant, like any flow, and it
# should also use what images are: neighbouring pixels are related, and coarse shape and fine
# detail live at different scales. Glow (Kingma & Dhariwal 2018) builds one from four pieces:
#
#     squeeze         (C, H, W) -> (4C, H/2, W/2): each 2 x 2 block becomes 4 channels     log|det| = 0
#     1 x 1 conv      x_{:, i, j} = W z_{:, i, j}, one C x C matrix at every pixel          log|det| = H W log|det W|
#     coupling        half the channels scaled and shifted by a CNN of the other half      log|det| = sum alpha
#     split           after each scale half the channels leave as latents, with a prior
#                     N(mu(h_1), sigma(h_1)^2) learned from the half that stays           log|det| = -sum log sigma
#
# The digits are discrete (17 grey levels), a flow's density is continuous: dequantization
# makes the two meet, and gives a bound on the discrete likelihood, in bits per dimension.
# Direction as everywhere in tinygen: f: z -> x (towards the image), g = f^-1: x -> z.
#
# Run: python demos/15_image_flows.py [--out DIR] [--steps N] [--seed S]

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
import json
import os
import sys

import autograd
import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, plot
from tinygen.dequantize import Dequantized, VariationalDequantizer, bits_per_dim
from tinygen.flows import Glow
from tinygen.flows.image import InvConv1x1, Squeeze
from tinygen.testing import perturb

parser = argparse.ArgumentParser(description="Image flows: squeeze, split, 1 x 1 convolution, dequantization, Glow")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=80, help="training steps of each Glow")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 2})

K, D = data.images.DIGITS8_LEVELS, 64
train, valid, test = (split.reshape(len(split), D) for split in data.digits8_split())
print(f"digits: {len(train)} train, {len(valid)} validation, {len(test)} test images of 8 x 8 pixels, "
      f"levels 0..{K - 1}")
fig = plot.image_grid(test[:16].reshape(16, 8, 8) / (K - 1), ncols=8, title="test digits (17 grey levels)")
plot.show(fig, "15_digits", args.out)

# %% [markdown]
# ## Squeeze: space to depth, a permutation of the pixels
#
# Each 2 x 2 block of a channel becomes 4 channels of one pixel: out[4c + 2r + s, i, j] =
# h[c, 2i + r, 2j + s]. Nothing is computed, numbers only move, so the map is a permutation of
# the D coordinates: |det| = 1, log|det| = 0, and it inverts exactly. After it, a 1 x 1
# convolution or a coupling on channels mixes neighbouring pixels.

# %%
squeeze = Squeeze((1, 8, 8))
x0 = test[:1].astype(float)
z0, log_det = squeeze.inverse({}, x0)
back, _ = squeeze.forward({}, z0)
print(f"squeeze: (1, 8, 8) -> {squeeze.out_shape}, log|det| = {log_det[0]}, "
      f"exact inverse: {onp.array_equal(back, x0)}")
fig, axes = plt.subplots(1, 5, figsize=(10, 2.3))
axes[0].imshow(x0.reshape(8, 8), cmap="gray", vmin=0, vmax=K - 1)
axes[0].set_title("x: (1, 8, 8)")
for c in range(4):
    r, s = divmod(c, 2)
    axes[c + 1].imshow(z0.reshape(4, 4, 4)[c], cmap="gray", vmin=0, vmax=K - 1)
    axes[c + 1].set_title(f"channel {c}: offset ({r}, {s})")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("squeeze: every 2 x 2 block becomes 4 channels of a 4 x 4 image")
fig.tight_layout()
plot.show(fig, "15_squeeze", args.out)

# %% [markdown]
# ## The 1 x 1 convolution: log|det| = H W log|det W|
#
# As a map of all D = C H W numbers (channel-major), the convolution's matrix is W kron I_{HW},
# and det(W kron I_{HW}) = det(W)^{HW}. With W = P L U (permutation, unit lower, upper with
# diagonal s) log|det W| = sum_c log|s_c|: O(C) instead of a D x D determinant. Here autograd's
# 64 x 64 Jacobian of the layer on a (4, 4, 4) image, and its slogdet, against the formula.

# %%
conv = InvConv1x1((4, 4, 4), rng=args.seed)
p_conv = perturb(conv.init(args.seed), args.seed, scale=0.5)      # away from W = P
v = onp.random.default_rng(args.seed).standard_normal((1, conv.dim))
J = autograd.jacobian(lambda z: conv.forward(p_conv, z[None])[0][0])(v[0])
_, ld = conv.forward(p_conv, v)
print(f"1 x 1 conv on (4, 4, 4): slogdet of the 64 x 64 Jacobian {onp.linalg.slogdet(J)[1]:.10f}, "
      f"the layer's log-det {ld[0]:.10f}, H W sum_c log s_c = {16 * onp.sum(p_conv['log_s']):.10f}")
fig, ax = plt.subplots(figsize=(5, 4.6))
im = plot.matrix(ax, J, diverging=True, cmap="coolwarm", title="df/dz = W kron I_16 (4 channels x 16 pixels)")
fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
plot.show(fig, "15_conv1x1_jacobian", args.out)

# %% [markdown]
# ## Dequantization: a bound on the discrete likelihood
#
# A digit x has D = 64 pixels in {0, ..., K-1}. A density p on [0, 1)^D gives the image the
# probability of its unit cell, P(x) = int p_v(x + u) du over u in [0, 1)^D, where the model
# sees y = (x + u) / K, so p_v(x + u) = p((x + u) / K) K^-D (change of variables). For any
# density q(u | x) on the cell, Jensen's inequality gives
#
#     log P(x) = log E_q[p_v(x + u) / q(u | x)] >= E_q[log p((x + u) / K)] - D log K - E_q[log q(u | x)]
#
# Uniform dequantization is q = 1 (log q = 0); variational dequantization learns q, a conditional
# flow squashed into (0, 1)^D by a sigmoid, with the image as its context, and the bound is tight
# when q(u | x) = p_v(x + u) / P(x). Bits per dimension: -log P(x) / (D log 2); from a bound on
# log P, an upper bound on them. Two Glows (2 levels x 4 steps), trained the same number of steps:

# %%
def fit_glow(dequantizer):
    model = Dequantized(Glow((1, 8, 8), levels=2, steps_per_level=4, hidden_channels=(32, 32)), K, dequantizer)
    params = model.init(args.seed, x=train)
    print(f"training Glow ({'variational' if dequantizer else 'uniform'} dequantization): {args.steps} steps",
          file=sys.stderr)
    params, _ = tinygen.fit(model, params, train, steps=args.steps, batch_size=64, lr=1e-3, rng=args.seed)
    log_p = model.log_prob(params, test, rng=1, n_samples=4)        # the bound per test image, 4 draws of u
    nll, se = tinygen.evaluate.nll_stats(log_p)
    return model, params, bits_per_dim(nll, D), bits_per_dim(se, D)


glow, p_glow, bpd_u, se_u = fit_glow(None)
glow_v, p_glow_v, bpd_v, se_v = fit_glow(VariationalDequantizer(D, K, n_layers=2, hidden=(32,)))
print(f"test bits/dim after {args.steps} steps (upper bounds): uniform {bpd_u:.3f} +- {se_u:.3f}, "
      f"variational {bpd_v:.3f} +- {se_v:.3f}; a uniform guess over 17 levels: log2(17) = {onp.log2(K):.3f}")
results = os.path.join(os.path.dirname(os.path.abspath(tinygen.__file__)), os.pardir, "benchmarks",
                       "results_digits.json")
if os.path.exists(results):   # the benchmark's longer runs, for comparison
    with open(results) as f:
        for name, entry in json.load(f)["models"].items():
            if name.startswith("glow") and entry["seeds"]:
                runs = list(entry["seeds"].values())
                print(f"  benchmarks/bench_digits.py, {entry['label']}: {onp.mean([r['bpd'] for r in runs]):.3f} "
                      f"bits/dim after {runs[0]['steps']} steps ({len(runs)} seeds)")

# %% [markdown]
# What the learned q(u | x) does: for one test digit, the distribution of u at a black pixel
# (level 0), a white one (level 16) and one in between, against the uniform.

# %%
x_one = test[:1]
pixels = [int(onp.argmin(x_one[0])), int(onp.argmax(x_one[0])), int(onp.argmin(onp.abs(x_one[0] - K // 2)))]
u, _ = glow_v.dequantizer.sample(p_glow_v["dequantizer"], onp.repeat(x_one, 2000, axis=0).astype(float), args.seed)
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, d in zip(axes, pixels):
    ax.hist(u[:, d], bins=30, range=(0, 1), density=True, color="tab:blue", label="q(u | x)")
    ax.axhline(1.0, color="k", ls="--", label="uniform")
    ax.set_title(f"pixel {d}, level x_d = {x_one[0, d]}")
    ax.set_xlabel("u_d")
axes[0].legend()
fig.tight_layout()
plot.show(fig, "15_variational_u", args.out)

# %% [markdown]
# ## Split: the latents factored out first hold the fine detail
#
# z = g(x) has 64 numbers: the last 32 left after the first scale (4 x 4 resolution), the first
# 32 after the second (2 x 2). Keep the first 32 of a test digit's z and redraw the last 32 from
# N(0, 0.7^2): the digit keeps its coarse shape, the detail changes.

# %%
z, _ = glow.model.inverse(p_glow["model"], (test[:4] + 0.5) / K)      # the cell centres of 4 test digits
rng = onp.random.default_rng(args.seed)
rows = [test[:4]]
for _ in range(3):
    z_new = onp.concatenate([z[:, :32], 0.7 * rng.standard_normal((4, 32))], axis=1)
    y = glow.model.forward(p_glow["model"], z_new)[0]
    rows.append(onp.clip(onp.floor(K * onp.asarray(y)), 0, K - 1))
grid = onp.stack(rows, axis=1).reshape(-1, 8, 8) / (K - 1)           # each digit's row: itself, then 3 redraws
fig = plot.image_grid(grid, ncols=4, title="each row: a test digit, then its fine latents redrawn")
plot.show(fig, "15_split", args.out)

# %% [markdown]
# ## Samples at several temperatures
#
# x = f(z), z ~ N(0, T^2 I): T < 1 draws from the centre of the base, trading diversity for
# cleaner digits (Glow's paper samples at T = 0.7).

# %%
temperatures = (0.5, 0.7, 0.85, 1.0)
rows = [glow.sample(p_glow, 8, args.seed, temperature=T) for T in temperatures]
fig = plot.image_grid(onp.concatenate(rows).reshape(-1, 8, 8) / (K - 1), ncols=8,
                      title="Glow samples; rows: T = " + ", ".join(map(str, temperatures)))
plot.show(fig, "15_temperatures", args.out)
