# %% [markdown]
# # Autoregressive models on sequences: RNN, causal convolutions, masked self-attention
#
# The product rule p(x) = prod_t p(x_t | x_1, ..., x_{t-1}) holds for any network whose
# output at position t reads x_<t only. The lecture names three such architectures beyond
# MADE: a recurrent network (the hidden state carries x_<t), a stack of causal 1-D
# convolutions (output t reads inputs before t), and masked self-attention (position t
# attends to positions <= t), the core of large language models. Each emits logits l_t and
# p(x_t = i | x_<t) = softmax(l_t)_i.
#
# The data have a known answer: a stationary order-2 Markov chain over V = 4 symbols
# (``tinygen.data.MarkovSource``), whose entropy rate and exact H(x_1..x_T) are computable.
# Each model's gap is (test NLL - H(x_1..x_T)) / T in nats per symbol: KL(p || p_model) / T.
#
# Then the lecture's applications table in small: inpainting (image -> image) with a
# PixelCNN and class-conditional generation (label -> image) with a conditional MADE.
#
#     python demos/10_sequences.py --out out/ --steps 400

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
from tinygen import data, plot
from tinygen.arm import PixelCNN, MADE
from tinygen.arm.recipes import sequence_recipes
from tinygen.data.sequences import decode
from tinygen.evaluate import kl_to_truth, nll_stats
from tinygen.nn import count_params

parser = argparse.ArgumentParser(description="Sequence ARMs against an exact entropy rate; inpainting; label -> image")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=400, help="training steps per sequence model")
parser.add_argument("--seq-len", type=int, default=16, help="T, the length of every sequence")
parser.add_argument("--n-train", type=int, default=4000)
parser.add_argument("--n-test", type=int, default=2000)
parser.add_argument("--name-steps", type=int, default=400, help="training steps on the first names")
parser.add_argument("--image-steps", type=int, default=300, help="training steps for the inpainting PixelCNN")
parser.add_argument("--made-steps", type=int, default=1000, help="training steps for the class-conditional MADE")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 5, "n_train": 200, "n_test": 100, "name_steps": 5,
                                            "image_steps": 5, "made_steps": 5})
T = args.seq_len

# %% [markdown]
# ## The source: an order-2 Markov chain with an exact entropy rate
#
# x_1, x_2 ~ pi (stationary), then x_t ~ P(. | x_{t-2}, x_{t-1}). The entropy rate is
# H_rate = - sum_s pi(s) sum_c P(c | s) log P(c | s); the first two symbols carry the
# marginal entropy of pi instead, so H(x_1..x_T) = H(pi) + (T - 2) H_rate.

# %%
src = data.MarkovSource()  # V = 4, order 2, Dirichlet(0.5) transition table from seed 0
x_train = src.sample(args.n_train, args.seed, T=T)
x_test = src.sample(args.n_test, args.seed + 1, T=T)
H_T = src.entropy(T)
print(f"V = {src.vocab_size}, order {src.order}: entropy rate {src.entropy_rate():.4f} nats/symbol "
      f"(log V = {onp.log(src.vocab_size):.4f}); H(x_1..x_{T}) / T = {H_T / T:.4f}")
print("three source sequences:", ["".join(map(str, s + 1)) for s in x_test[:3]], "(symbols 1..4)")

# %% [markdown]
# ## Four models, one contract
#
# Training is teacher forcing: the network reads (<start>, x_1, ..., x_{T-1}) and emits all
# T conditionals in ONE pass. Sampling takes T passes (x_t must exist before it can be read).
# Expected at the defaults (400 steps, seed 0): the RNN, the causal convolution and the
# transformer within about 0.01 nats/symbol of the truth (gaps near 0.005), MADE near 0.29
# behind: it reads each token as one number, shares no weights across positions, and each
# conditional only gets the few hidden units whose degree is exactly t - 1.

# %%
results = {}
for k, (name, recipe) in enumerate(sequence_recipes(src.vocab_size, T, rng=args.seed).items()):
    print(f"--- {name}", flush=True)
    model, params, hist = recipe.train(x_train, rng=args.seed, steps=args.steps, x_val=x_test,
                                       eval_every=max(1, args.steps // 20))
    model.n_passes = 0
    log_p = model.log_prob(params, x_test)
    passes_log_p = model.n_passes
    model.n_passes = 0
    samples = onp.asarray(model.sample(params, 5, rng=args.seed + k), dtype=int)
    results[name] = {"model": model, "params": params, "hist": hist, "log_p": log_p,
                     "passes": (passes_log_p, model.n_passes), "samples": samples}

# gap = (NLL - H(x_1..x_T)) / T; the paired estimate mean(log p(x) - log p_model(x)) / T of the
# same KL / T has a far smaller standard error (the per-sequence noise cancels), so it is shown too
print(f"\n{'model':12s} {'params':>7s} {'steps':>6s} {'seconds':>8s} {'NLL/symbol':>16s} {'gap':>7s} "
      f"{'paired KL/T':>17s}  passes")
for name, r in results.items():
    nll, se = nll_stats(r["log_p"])
    kl, kl_se = kl_to_truth(lambda _: r["log_p"], src.log_prob, x_test)
    print(f"{name:12s} {count_params(r['params']):7d} {args.steps:6d} {r['hist']['seconds']:8.1f} "
          f"{nll / T:8.4f} +- {se / T:.4f} {src.gap(nll, T):7.4f} {kl / T:8.4f} +- {kl_se / T:.4f}  "
          f"log p of {len(x_test)}: {r['passes'][0]}, sampling: {r['passes'][1]}")
print(f"{'truth':12s} {'':7s} {'':6s} {'':8s} {H_T / T:8.4f}")
if not plot.quick():  # a quick run's few steps are no test of these
    print("expected at the defaults: gaps about 0.005 (RNN), 0.004 (causal conv), 0.006 (transformer), 0.29 (MADE)")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
plot.curves(ax, {name: (r["hist"]["val_step"], onp.asarray(r["hist"]["val_loss"]) / T) for name, r in results.items()},
            title=f"held-out NLL per symbol, T = {T}", ylabel="nats / symbol")
ax.axhline(H_T / T, color="k", ls="--", lw=1, label="exact H(x_1..x_T) / T")
ax.legend()
plot.show(fig, "10_sequences_training", args.out)

# %% [markdown]
# ## Who reads what
#
# Left: the transformer's causal mask, M[t, s] = 1 iff s <= t, over the shifted input
# (position s holds x_{s-1}; position 1 the start token). Middle: the dilated causal
# convolutions seen from the last output: dilations 1, 2, 4, 8 with kernel 2 reach back
# R = 1 + (2 - 1)(1 + 2 + 4 + 8) = 16 positions. Right: what l_t depends on, the same strictly
# lower-triangular pattern for all three (from the receptive field; the tests check it with
# autograd's Jacobian).

# %%
conv = results["causal conv"]["model"]
tf = results["transformer"]["model"]
reach = onp.zeros((conv.n_layers + 1, T))  # rows: input u (bottom), layer 1..L; 1 where the last output looks
seen = {T - 1}
reach[conv.n_layers, T - 1] = 1
for l in reversed(range(conv.n_layers)):
    seen = {p - j * conv.dilations[l] for p in seen for j in range(conv.kernel_size) if p - j * conv.dilations[l] >= 0}
    reach[l, sorted(seen)] = 1
t_idx, s_idx = onp.meshgrid(onp.arange(T), onp.arange(T), indexing="ij")
reads = ((s_idx < t_idx) & (s_idx >= t_idx - conv.receptive_field)).astype(float)
fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 1.4, 1]})
plot.matrix(axes[0], tf.mask, title="causal attention mask M[t, s]\n(query t attends key s; black = 1)")
plot.matrix(axes[1], reach[::-1], title=f"causal conv, kernel 2, dilations {conv.dilations}\n"
            f"positions the output at t = {T} reads, layer by layer (R = {conv.receptive_field})")
axes[1].set_yticks(range(conv.n_layers + 1), [f"layer {l}" for l in range(conv.n_layers, 0, -1)] + ["input u"])
plot.matrix(axes[2], reads, title="l_t depends on x_s (all three models)")
for ax, (ylab, xlab) in zip(axes, [("query t", "key s"), ("", "position"), ("output t", "input x_s")]):
    ax.set_xticks(range(0, T, 3), range(1, T + 1, 3))  # 1-based positions, as in the lecture
    if ax is not axes[1]:
        ax.set_yticks(range(0, T, 3), range(1, T + 1, 3))
    ax.set_xlabel(xlab)
    ax.set_ylabel(ylab)
plot.show(fig, "10_sequences_masks", args.out)

# %% [markdown]
# ## What the transformer attends to
#
# The source is order 2: p(x_t | x_<t) depends on x_{t-2} and x_{t-1} only, which sit at
# the shifted positions s = t - 1 and s = t. Averaged over the test sequences, the trained
# heads put their weight A[t, s] there: at the defaults one head follows the diagonal s = t
# (x_{t-1}), another the one below it (x_{t-2}), the other two spread out. Expected: about
# 0.66 of the weight, over all heads and positions, on those two positions.

# %%
maps = tf.attention_maps(results["transformer"]["params"], x_test[:500])[0].mean(axis=0)  # (heads, T, T)
fig, axes = plt.subplots(1, tf.n_heads, figsize=(3.4 * tf.n_heads, 3.4))
for k, ax in enumerate(axes):
    ax.imshow(maps[k], cmap="Greys", vmin=0, vmax=1)
    ax.set_title(f"head {k + 1}: mean A[t, s]")
    ax.set_xticks(range(0, T, 5), range(1, T + 1, 5))  # 1-based positions
    ax.set_yticks(range(0, T, 5), range(1, T + 1, 5))
    ax.set_xlabel("key s (holds x_{s-1})")
axes[0].set_ylabel("query t")
plot.show(fig, "10_attention", args.out)
weight_on_last_two = onp.mean([maps[:, t, max(t - 1, 0):t + 1].sum(axis=-1).mean() for t in range(T)])
print(f"transformer: mean attention weight on the two shifted positions that hold x_(t-2), x_(t-1): "
      f"{weight_on_last_two:.2f} (1 = all of it)")

# %%
print("samples (symbols 1..4), temperature 1:")
for name, r in results.items():
    print(f"  {name:12s}", " ".join("".join(map(str, s + 1)) for s in r["samples"]))

# %% [markdown]
# ## First names
#
# If the small package ``names`` is installed, it ships the US census first-name lists:
# every name of at most 8 letters becomes a sequence of T = 9 symbols over "." + a..z, padded
# with "." (the end). A causal convolution learns them; lower temperature tau sharpens each
# softmax(l_t / tau) towards its most likely letter. At the defaults (400 steps) about one
# drawn name in twenty is a real one; most of the others look like names.

# %%
try:
    names = data.first_names(max_len=8)
except ImportError as err:
    print("no text set:", err)
else:
    order = onp.random.default_rng(args.seed).permutation(len(names))
    name_recipe = sequence_recipes(27, names.shape[1], rng=args.seed)["causal conv"]
    name_model, name_params, name_hist = name_recipe.train(names[order], rng=args.seed, steps=args.name_steps)
    known = set(decode(names))
    for tau in (1.0, 0.7):
        drawn = decode(name_model.sample(name_params, 20, rng=args.seed, temperature=tau))
        print(f"tau = {tau}: {sum(w in known for w in drawn)}/20 are real names:", " ".join(w or "(empty)" for w in drawn))

# %% [markdown]
# ## Image -> image: inpainting with a PixelCNN
#
# Give the top half of an 8 x 8 shape, draw the bottom half. In raster order every given
# pixel comes before every missing one, so drawing x_d ~ p(x_d | x_<d) for the bottom rows
# samples p(bottom | top) exactly. (A hole in the middle would not be exact: pixels after it
# that are known would be ignored when drawing it.)

# %%
img_train, lab_train = data.shapes8(3000, rng=args.seed, labels=True)
img_test, lab_test = data.shapes8(500, rng=args.seed + 1, labels=True)
pixelcnn = PixelCNN(8, 8, n_channels=16, n_layers=4, kernel_size=7)
p_cnn, _ = tinygen.fit(pixelcnn, pixelcnn.init(args.seed), img_train, steps=args.image_steps, batch_size=64,
                       lr=3e-3, rng=args.seed, log_every=max(1, args.image_steps // 4))
print(f"PixelCNN test NLL {-pixelcnn.log_prob(p_cnn, img_test).mean():.2f} nats per image (about 9.0 at the defaults)")
given = img_test[:8]
completions = [pixelcnn.inpaint(p_cnn, given, rng=args.seed + k) for k in range(3)]
shown_top = given.copy()
shown_top[:, 4:] = 0.5  # grey: the missing half
fig = plot.image_grid(onp.concatenate([given, shown_top, *completions]), ncols=8,
                      title="rows: test image, top half given, three completions of the bottom half")
plot.show(fig, "10_inpainting", args.out)

# %% [markdown]
# ## Label -> image: class-conditional MADE
#
# MADE's context c (here the one-hot shape label) has degree 0, so it reaches every
# conditional: p(x | c) = prod_d p(x_d | x_<d, c). One row of samples per label.

# %%
K = len(data.SHAPES)
cmade = MADE(64, hidden=(256, 256), likelihood="bernoulli", context_dim=K, rng=args.seed)
p_cm, _ = tinygen.fit(cmade, cmade.init(args.seed), img_train.reshape(-1, 64), context=onp.eye(K)[lab_train],
                      steps=args.made_steps, batch_size=64, lr=1e-2, rng=args.seed,
                      log_every=max(1, args.made_steps // 4))
right = cmade.log_prob(p_cm, img_test.reshape(-1, 64), context=onp.eye(K)[lab_test])
wrong = cmade.log_prob(p_cm, img_test.reshape(-1, 64), context=onp.eye(K)[(lab_test + 1) % K])
print(f"conditional MADE: test NLL {-right.mean():.2f} nats with the true label, {-wrong.mean():.2f} with a wrong one "
      "(about 7.1 and 23 at the defaults)")
rows = [cmade.sample(p_cm, 8, rng=args.seed + k, context=onp.eye(K)[[k]]).reshape(8, 8, 8) for k in range(K)]
fig = plot.image_grid(onp.concatenate(rows), ncols=8, title="one row per label: " + ", ".join(data.SHAPES))
plot.show(fig, "10_label_to_image", args.out)
