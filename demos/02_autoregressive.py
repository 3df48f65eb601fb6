# %% [markdown]
# # Autoregressive models: the naive ARM and MADE
#
# Product rule: p(x) = prod_d p(x_d | x_1, ..., x_{d-1}). The naive model gives each
# conditional its own network, so evaluating p(x) and sampling both take D forward
# passes (the lecture's ":-("). MADE masks one autoencoder so that output d only sees
# x_<d in the ordering: every hidden unit k gets a degree m(k) in [1, D-1] and is wired
# to the units k' of the previous layer with m(k) >= m(k'); an output for x_d is wired to
# the units with m(d) > m(k'). Then ONE pass gives all D conditionals; sampling still
# needs D passes.
#
# Run: python demos/02_autoregressive.py --out out/ --steps 1500

# %%
import argparse
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as onp  # noqa: E402

import tinygen  # noqa: E402
from tinygen import data, evaluate, plot  # noqa: E402
from tinygen.arm import MADE, NaiveARM, sequential_log_prob  # noqa: E402

parser = argparse.ArgumentParser(description="Naive ARM vs MADE; MADE on two moons and bars-and-stripes")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=1500, help="training steps per model")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
os.makedirs(args.out, exist_ok=True)


def timed(fn, repeats=5):
    """(result, median seconds) of fn()."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(onp.median(times))


# %% [markdown]
# ## MADE (Gaussian) on two moons
#
# p(x_1) = N(mu_1, sigma_1^2) and p(x_2 | x_1) = N(mu_2(x_1), sigma_2(x_1)^2), sigma = softplus(rho).
# Each conditional is a single Gaussian: p(x_1) cannot be the two-humped marginal of the
# moons, and p(x_2 | x_1) cannot have two modes where both arcs sit above the same x_1.
# The gap to the exact entropy shows the price; a MAF (demo 08) stacks such layers to pay less.

# %%
noise = 0.05
x_train = data.two_moons(5000, noise=noise, rng=args.seed)
x_test = data.two_moons(5000, noise=noise, rng=args.seed + 1)
H = data.two_moons_entropy(noise)
made2 = MADE(2, hidden=(64, 64), likelihood="gaussian", seed=args.seed)
p2, hist2 = tinygen.fit(made2, made2.init(args.seed), x_train, steps=args.steps, lr=2e-3, rng=args.seed)
log_p = made2.log_prob(p2, x_test)
nll, nll_se = evaluate.nll_stats(log_p)
gap = evaluate.gap_to_entropy(nll, H)
kl, kl_se = evaluate.kl_to_truth(lambda x: made2.log_prob(p2, x),
                                 lambda x: data.two_moons_log_prob(x, noise=noise), x_test)
print(f"two moons, MADE: test NLL {nll:.4f} +- {nll_se:.4f} nats, exact entropy {H:.4f}, gap {gap:.4f} "
      f"(paired KL estimate {kl:.4f} +- {kl_se:.4f})")

bounds = ((-1.5, 2.5), (-1.0, 1.5))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
plot.density(axes[0], lambda x: data.two_moons_log_prob(x, noise=noise), bounds, title="exact p(x)")
plot.density(axes[1], lambda x: made2.log_prob(p2, x), bounds, title=f"MADE p(x): NLL {nll:.3f}, gap {gap:.3f}")
plot.samples(axes[2], made2.sample(p2, 2000, args.seed), bounds=bounds, title="MADE samples")
print("wrote", plot.save(fig, os.path.join(args.out, "02_made_two_moons.png")))

# %% [markdown]
# ## MADE (Bernoulli) on 4x4 bars and stripes
#
# Every image is a set of full rows or a set of full columns: 2^4 + 2^4 - 2 = 30 patterns,
# each with probability 1/30, so the exact entropy is log 30 = 3.401 nats. The 16 pixels are
# flattened row by row into x in {0, 1}^16.

# %%
size = 4
D = size * size
b_train = data.bars_and_stripes(3000, size=size, rng=args.seed).reshape(-1, D)
b_test = data.bars_and_stripes(3000, size=size, rng=args.seed + 1).reshape(-1, D)
H_bs = data.bars_and_stripes_entropy(size)
made16 = MADE(D, hidden=(64, 64), likelihood="bernoulli", seed=args.seed)
p16, hist16 = tinygen.fit(made16, made16.init(args.seed), b_train, steps=args.steps, lr=3e-3, rng=args.seed)
log_p16 = made16.log_prob(p16, b_test)
nll16, se16 = evaluate.nll_stats(log_p16)
print(f"bars and stripes 4x4, MADE: test NLL {nll16:.4f} +- {se16:.4f} nats, "
      f"exact entropy log 30 = {H_bs:.4f}, gap {evaluate.gap_to_entropy(nll16, H_bs):.4f}")
valid = {tuple(v) for v in b_train.astype(int)}
s16 = made16.sample(p16, 64, args.seed)
print(f"  {sum(tuple(v) in valid for v in s16.astype(int))}/64 samples are valid bars-and-stripes patterns")
fig = plot.image_grid(s16.reshape(-1, size, size), ncols=16, title="MADE samples, 4x4 bars and stripes")
print("wrote", plot.save(fig, os.path.join(args.out, "02_made_bars_stripes_samples.png")))

# %% [markdown]
# ## One pass vs D passes
#
# ``sequential_log_prob`` evaluates the SAME MADE the naive way: pass t hides every
# x at position >= t and keeps only conditional t. Because MADE is autoregressive, the
# two agree to rounding. A ``NaiveARM`` (one MLP per conditional) pays D passes both ways.

# %%
made16.n_passes = 0
one, t_one = timed(lambda: made16.log_prob(p16, b_test))
seq, t_seq = timed(lambda: sequential_log_prob(made16, p16, b_test))
print(f"MADE log_prob on {len(b_test)} images: one pass {1e3 * t_one:.1f} ms, "
      f"naive D = {D} passes {1e3 * t_seq:.1f} ms; max |difference| {onp.max(onp.abs(one - seq)):.2e} nats")
naive = NaiveARM(D, hidden=(64, 64), likelihood="bernoulli")  # 16 networks as deep as the MADE
pn = naive.init(args.seed)
naive.n_passes = 0
_, t_naive = timed(lambda: naive.log_prob(pn, b_test), repeats=1)
print(f"NaiveARM log_prob: {naive.n_passes} passes, {1e3 * t_naive:.1f} ms")
naive.n_passes = 0
_, t_naive_s = timed(lambda: naive.sample(pn, len(b_test), 0), repeats=1)
made16.n_passes = 0
_, t_made_s = timed(lambda: made16.sample(p16, len(b_test), 0), repeats=1)
print(f"sampling {len(b_test)} images: NaiveARM {naive.n_passes} passes {1e3 * t_naive_s:.1f} ms, "
      f"MADE {made16.n_passes} passes {1e3 * t_made_s:.1f} ms (both batched over the images)")

# %% [markdown]
# ## The masks
#
# First a tiny MADE (D = 3, ordering x_2, x_3, x_1 as in the lecture's picture, two
# hidden layers of 5) with its degrees; the product of the masks shows which input each
# output can reach: strictly lower triangular in the ordering. Then the bars-and-stripes MADE.

# %%
tiny = MADE(3, hidden=(5, 5), likelihood="bernoulli", order=[1, 2, 0], seed=1)
M1, M2, M3 = tiny.masks
reach = ((M1 @ M2 @ M3) > 0).astype(float)  # input k' -> output d through some path
m_in, m_h1, m_h2 = tiny.degrees[0]
fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), gridspec_kw={"width_ratios": [3, 5, 5, 3]})
plot.matrix(axes[0], M1.T, annotate=True,
            title=f"W1 mask, hidden k x input k' (black = 1)\nm_in = {m_in.tolist()}\nm_h1 = {m_h1.tolist()}")
plot.matrix(axes[1], M2.T, title=f"W2 mask, m(k) >= m(k')\nm_h2 = {m_h2.tolist()}", annotate=True)
plot.matrix(axes[2], M3.T, title="output mask, m(d) > m(k')", annotate=True)
plot.matrix(axes[3], reach.T, title="output d reaches input k'\n(rows d, columns k')", annotate=True)
print("wrote", plot.save(fig, os.path.join(args.out, "02_made_masks_tiny.png")))
# Units sorted by degree (display only): the masks become staircases.
sort = [onp.argsort(m, kind="stable") for m in made16.degrees[0]] + [onp.arange(D)]
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for l, (ax, M, name) in enumerate(zip(axes, made16.masks, ("W1", "W2", "output"))):
    M = M[onp.ix_(sort[l], sort[l + 1])]
    plot.matrix(ax, M.T, title=f"bars-and-stripes MADE: {name} mask {M.T.shape}\n(out x in, by degree; black = 1)")
    ax.set_aspect("auto")
    ax.set_xticks([])
    ax.set_yticks([])
print("wrote", plot.save(fig, os.path.join(args.out, "02_made_masks.png")))
