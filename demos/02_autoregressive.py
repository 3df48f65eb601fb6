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
import time

import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, evaluate, plot
from tinygen.arm import MADE, NaiveARM, sequential_log_prob
from tinygen.data import two_moons_log_prob
from tinygen.recipes import RECIPES, report, score, two_moons_split
from tinygen.testing.spy import count_calls

parser = argparse.ArgumentParser(description="Naive ARM vs MADE; MADE on two moons and bars-and-stripes")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None,
                    help="training steps per model (default: the MADE recipe's, as in the tour)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--n-images", type=int, default=3000, help="bars-and-stripes training and test images each")
args = plot.demo_args(parser, quick_values={"steps": 5, "n_images": 300})


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
x_train, x_test, H = two_moons_split(args.seed)
recipe = RECIPES["made"]  # the same MADE, steps and lr as in the tour (demo 00)
print(f"{recipe.label}: {recipe.steps if args.steps is None else args.steps} steps, lr {recipe.lr:g} ({recipe.schedule})",
      file=sys.stderr)
made2, p2, hist2 = recipe.train(x_train, rng=args.seed, steps=args.steps)
r = score(made2, p2, x_test, H)
kl, kl_se = evaluate.kl_to_truth(lambda x: made2.log_prob(p2, x), two_moons_log_prob, x_test)
print(f"two moons, MADE: test NLL {r['nll']:.4f} +- {r['se']:.4f} nats, exact entropy {H:.4f}, gap {r['gap']:.4f} "
      f"(paired KL estimate {kl:.4f} +- {kl_se:.4f})")
report("02/made_two_moons/gap", r["gap"])

bounds = plot.DEFAULT_BOUNDS
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
top = plot.max_density(two_moons_log_prob, bounds)  # one colour scale for both
im = plot.density(axes[0], two_moons_log_prob, bounds, title="exact p(x)", vmax=top)
plot.density(axes[1], lambda x: made2.log_prob(p2, x), bounds, vmax=top,
             title=f"MADE p(x): test NLL {r['nll']:.3f}, gap {r['gap']:.3f} nats")
plot.colorbar(im, list(axes[:2]))
plot.samples(axes[2], made2.sample(p2, 2000, args.seed), bounds=bounds, title="MADE samples")
plot.show(fig, "02_made_two_moons", args.out)

# %% [markdown]
# ## MADE (Bernoulli) on 4x4 bars and stripes
#
# Every image is a set of full rows or a set of full columns: 2^4 + 2^4 - 2 = 30 patterns,
# each with probability 1/30, so the exact entropy is log 30 = 3.401 nats. The 16 pixels are
# flattened row by row into x in {0, 1}^16.

# %%
size = 4
D = size * size
b_train = data.bars_and_stripes(args.n_images, size=size, rng=args.seed).reshape(-1, D)
b_test = data.bars_and_stripes(args.n_images, size=size, rng=args.seed + 1).reshape(-1, D)
H_bs = data.bars_and_stripes_entropy(size)
made16 = MADE(D, hidden=(64, 64), likelihood="bernoulli", rng=args.seed)
p16, hist16 = tinygen.fit(made16, made16.init(args.seed), b_train, steps=args.steps or RECIPES["made"].steps,
                          lr=3e-3, rng=args.seed)
log_p16 = made16.log_prob(p16, b_test)
nll16, se16 = evaluate.nll_stats(log_p16)
print(f"bars and stripes 4x4, MADE: test NLL {nll16:.4f} +- {se16:.4f} nats, "
      f"exact entropy log 30 = {H_bs:.4f}, gap {evaluate.gap_to_entropy(nll16, H_bs):.4f}")
report("02/made_bars_stripes/gap", evaluate.gap_to_entropy(nll16, H_bs))
valid = {tuple(v) for v in b_train.astype(int)}
s16 = made16.sample(p16, 64, args.seed)
print(f"  {sum(tuple(v) in valid for v in s16.astype(int))}/64 samples are valid bars-and-stripes patterns")
fig = plot.image_grid(s16.reshape(-1, size, size), ncols=16, title="MADE samples, 4x4 bars and stripes")
plot.show(fig, "02_made_bars_stripes_samples", args.out)

# %% [markdown]
# ## One pass vs D passes
#
# ``sequential_log_prob`` evaluates the SAME MADE the naive way: pass t hides every
# x at position >= t and keeps only conditional t. Because MADE is autoregressive, the
# two agree to rounding. A ``NaiveARM`` (one MLP per conditional) pays D passes both ways.

# %%
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
_, t_made_s = timed(lambda: made16.sample(p16, len(b_test), 0), repeats=1)
with count_calls(made16, "outputs") as made_passes:  # MADE.outputs is one pass of its network
    made16.sample(p16, len(b_test), 0)
print(f"sampling {len(b_test)} images: NaiveARM {naive.n_passes} passes {1e3 * t_naive_s:.1f} ms, "
      f"MADE {made_passes.count} passes {1e3 * t_made_s:.1f} ms (both batched over the images)")

# %% [markdown]
# ## The masks
#
# First a tiny MADE (D = 3, ordering x_2, x_3, x_1 as in the lecture's picture, two
# hidden layers of 5) with its degrees m(k); black = 1 (connection kept). Inputs and
# outputs are numbered from 1 as in the lecture; hidden units k = 1..5. The product of the
# masks says which input each output can reach; drawn in the ordering (x_2, x_3, x_1), it
# is strictly lower triangular: p(x_d | ...) reads only the inputs before x_d.
# Then the bars-and-stripes MADE.

# %%
tiny = MADE(3, hidden=(5, 5), likelihood="bernoulli", order=[1, 2, 0], rng=1)
M1, M2, M3 = tiny.masks
reach = ((M1 @ M2 @ M3) > 0).astype(float)  # reach[k', d] = 1: input x_k' -> output d through some path
m_in, m_h1, m_h2 = tiny.degrees[0]
x_names = [f"$x_{d + 1}$\nm={m}" for d, m in enumerate(m_in)]
h1_names = [f"{k + 1}: m={m}" for k, m in enumerate(m_h1)]
h2_names = [f"{k + 1}: m={m}" for k, m in enumerate(m_h2)]
out_names = [f"$p(x_{d + 1}|.)$\nm={m}" for d, m in enumerate(m_in)]
order = onp.argsort(m_in)  # the ordering x_2, x_3, x_1 (0-based positions 1, 2, 0)
fig, axes = plt.subplots(1, 4, figsize=(16, 4.4), gridspec_kw={"width_ratios": [3, 5, 5, 3]})
plot.matrix(axes[0], M1.T, annotate=True, title="input mask: m(k) >= m(k')", row_labels=h1_names, col_labels=x_names)
plot.matrix(axes[1], M2.T, annotate=True, title="hidden mask: m(k) >= m(k')", row_labels=h2_names, col_labels=h1_names)
plot.matrix(axes[2], M3.T, annotate=True, title="output mask: m(d) > m(k')", row_labels=out_names, col_labels=h2_names)
plot.matrix(axes[3], reach[onp.ix_(order, order)].T, annotate=True, title="output d reaches input k'\n(in the ordering)",
            row_labels=[out_names[d] for d in order], col_labels=[x_names[d] for d in order])
for ax, (rows, cols) in zip(axes, [("layer 1 unit k", "input k'"), ("layer 2 unit k", "layer 1 unit k'"),
                                   ("output d", "layer 2 unit k'"), ("output d", "input k'")]):
    ax.set_ylabel(rows)
    ax.set_xlabel(cols)
plot.show(fig, "02_made_masks_tiny", args.out)
# Units sorted by degree (display only): the masks become staircases.
sort = [onp.argsort(m, kind="stable") for m in made16.degrees[0]] + [onp.arange(D)]
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for l, (ax, M, name) in enumerate(zip(axes, made16.masks, ("input", "hidden", "output"))):
    M = M[onp.ix_(sort[l], sort[l + 1])]
    plot.matrix(ax, M.T, title=f"bars-and-stripes MADE: {name} mask {M.T.shape}\n(black = 1)")
    ax.set_aspect("auto")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("units of the layer below, by degree")
    ax.set_ylabel("units of this layer, by degree")
plot.show(fig, "02_made_masks", args.out)
