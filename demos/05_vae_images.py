# %% [markdown]
# # 05 - A Bernoulli VAE on small binary images
#
# Pixels are binary, so the decoder outputs one logit per pixel:
# p_theta(x | z) = prod_d Bernoulli(x_d; sigmoid(l_d(z))). We show reconstructions
# (encode to mu(x), decode), samples (z ~ N(0, I), then the decoder), and a path
# between two images in latent space.
#
# Then the lecture's warning about the naive estimator p(x) ~ (1/K) sum_k p(x | z_k),
# z_k ~ p(z): it is unbiased, but as the latent dimension grows almost none of the
# K prior draws land where p(x | z) is large, so its log estimate scatters and sits
# far below log p(x). The importance-sampled estimate draws z_k ~ q(z | x) instead.
#
# Run: python demos/05_vae_images.py [--steps N] [--out DIR] [--seed S]

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

from tinygen import data, evaluate, fit, plot
from tinygen.recipes import report
from tinygen.vae import VAE

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default="out/")
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--z-dim", type=int, default=4)
parser.add_argument("--k", type=int, default=200, help="samples per marginal-likelihood estimate")
parser.add_argument("--curse-steps", type=int, default=400, help="training steps per latent size in the last figure")
args = plot.demo_args(parser, quick_values={"steps": 5, "curse_steps": 5, "k": 5})
rng = onp.random.default_rng(args.seed)

# %% Data: 8x8 binary shapes, flattened to x in {0, 1}^64
side = 8
images = data.shapes8(6000, rng=args.seed)
x_train = images[:5000].reshape(-1, side * side).astype(float)
x_test = images[5000:].reshape(-1, side * side).astype(float)
print(f"shapes8: {len(x_train)} training and {len(x_test)} test images of {side}x{side} pixels")

# %% Train a Bernoulli VAE
vae = VAE(side * side, args.z_dim, hidden=(128, 64), likelihood="bernoulli")
params = vae.init(args.seed)
print(f"training a Bernoulli VAE, z_dim = {args.z_dim} ({args.steps} steps)", file=sys.stderr)
params, history = fit(vae, params, x_train, steps=args.steps, batch_size=128, lr=3e-3, rng=args.seed,
                      x_val=x_test[:500], eval_every=max(1, args.steps // 10))
nll, se = evaluate.test_nll(vae, params, x_test, rng=args.seed + 1, k=args.k)
elbo = vae.elbo(params, x_test, args.seed + 2)
print(f"test NLL (IWAE K={args.k}): {nll:.2f} +- {se:.2f} nats "
      f"({evaluate.bits_per_dim(nll, side * side):.3f} bits/pixel);  -ELBO {-onp.mean(elbo['elbo']):.2f} = "
      f"reconstruction {onp.mean(elbo['reconstruction']):.2f} + complexity {onp.mean(elbo['complexity']):.2f}")
report("05/test_nll", nll, fmt=".2f")
report("05/reconstruction", onp.mean(elbo["reconstruction"]), fmt=".2f")
# A Bernoulli p(x|z) is a probability (<= 1), so this reconstruction loss is >= 0, unlike the
# Gaussian one of demo 04; NLLs of binary images are likewise never negative.

# %% Figure 1: test images (top) and their reconstructions p(x_d = 1 | z = mu(x)) (bottom)
originals = x_test[:12]
recon = vae.decode(params, vae.encode(params, originals)[0])
fig = plot.image_grid(onp.concatenate([originals, recon]).reshape(-1, side, side), ncols=12,
                      title="test images (top) and reconstructions from mu(x) (bottom)")
plot.show(fig, "05_vae_reconstructions", args.out)

# %% Figure 2: samples: decoder probabilities (top two rows) and binary draws x ~ p(x | z) (bottom)
probs = vae.sample(params, 16, args.seed + 3, mean=True)
draws = vae.sample(params, 8, args.seed + 4)
fig = plot.image_grid(onp.concatenate([probs, draws]).reshape(-1, side, side), ncols=8,
                      title="samples: p(x|z) for z ~ N(0, I) (rows 1-2), binary draws (row 3)")
plot.show(fig, "05_vae_samples", args.out)

# %% Figure 3: interpolation z_t = (1 - t) mu(x_a) + t mu(x_b), decoded, for three pairs
paths = [vae.interpolate(params, x_test[i], x_test[j], steps=10) for i, j in ((0, 1), (2, 3), (4, 5))]
fig = plot.image_grid(onp.concatenate(paths).reshape(-1, side, side), ncols=10,
                      title="latent interpolation between pairs of test images")
plot.show(fig, "05_vae_interpolation", args.out)

# %% Figure 4: the curse of dimensionality of the naive estimator
# For each latent size, train a VAE, then estimate log p(x) of the same test images
# R times with K samples, from the prior (naive) and from q(z | x) (importance sampled).
z_dims = (1, 2, 4, 8, 16)
R, n_eval = 10, 40
x_eval = x_test[:n_eval]
rows = []
for d in z_dims:
    model = VAE(side * side, d, hidden=(128, 64), likelihood="bernoulli")
    p = fit(model, model.init(args.seed), x_train, steps=args.curse_steps, batch_size=128, lr=2e-3,
            rng=args.seed, progress=False)[0]
    naive = onp.array([model.log_prob_prior_mc(p, x_eval, 100 + r, k=args.k) for r in range(R)])
    iw = onp.array([model.log_prob(p, x_eval, 200 + r, k=args.k) for r in range(R)])
    # reference: the best estimate we have, IWAE with many samples
    ref = model.log_prob(p, x_eval, 999, k=20 * args.k)
    # KL(q(z|x) || p(z)): how much smaller than the prior the region of z that explains x is;
    # the naive estimator needs about exp(KL) prior draws to hit it once
    kl = float(onp.mean(model.elbo(p, x_eval, 300)["complexity"]))
    rows.append((d, naive.std(0).mean(), iw.std(0).mean(), (ref - naive.mean(0)).mean(), (ref - iw.mean(0)).mean(), kl))
    print(f"z_dim {d:>2} (KL(q||p) {kl:4.1f} nats): spread of log p_hat over {R} runs (K={args.k}): naive "
          f"{rows[-1][1]:5.2f}, importance {rows[-1][2]:5.3f};  shortfall below log p(x): naive "
          f"{rows[-1][3]:5.2f}, importance {rows[-1][4]:5.3f} nats")
rows = onp.array(rows)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].semilogy(rows[:, 0], rows[:, 1], "o-", label="naive, z ~ p(z)")
axes[0].semilogy(rows[:, 0], rows[:, 2], "s-", label="importance, z ~ q(z|x)")
axes[0].set_title(f"std of log p_hat(x) over {R} runs, K = {args.k}")
axes[0].set_ylabel("std of log p_hat(x) (nats, log scale)")
axes[1].semilogy(rows[:, 0], onp.maximum(rows[:, 3], 1e-3), "o-", label="naive, z ~ p(z)")
axes[1].semilogy(rows[:, 0], onp.maximum(rows[:, 4], 1e-3), "s-", label="importance, z ~ q(z|x)")
axes[1].set_title(f"log p(x) - E[log p_hat(x)]  (ref: IWAE K = {20 * args.k})\nvalues below 1e-3 drawn at 1e-3",
                  fontsize=10)
axes[1].set_ylabel("shortfall (nats, log scale)")
for ax in axes:
    for d, a, y in zip(rows[:, 0], rows[:, 5], rows[:, 1] if ax is axes[0] else onp.maximum(rows[:, 3], 1e-3)):
        ax.annotate(f"KL {a:.1f}", (d, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_ylim(top=ax.get_ylim()[1] * 2.5)  # room for the labels
    ax.set_xscale("log", base=2)
    ax.set_xticks(z_dims, [str(d) for d in z_dims])
    ax.set_xlabel("latent dimension (z_dim)")
    ax.legend()
fig.suptitle("naive vs importance-sampled estimates of log p(x); labels: mean KL(q(z|x) || p(z)) in nats", fontsize=10)
fig.tight_layout()
plot.show(fig, "05_vae_curse", args.out)
