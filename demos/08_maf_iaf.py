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
# Run: python demos/08_maf_iaf.py --out out/ --steps 3000

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
from tinygen.flows import IAF, MAF  # noqa: E402

parser = argparse.ArgumentParser(description="MAF on two moons; IAF vs MAF sampling speed")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=3000, help="training steps")
parser.add_argument("--layers", type=int, default=5, help="MAF layers")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
os.makedirs(args.out, exist_ok=True)

# %% [markdown]
# ## MAF on two moons (noise 0.05), whose exact entropy H(p) we know

# %%
noise = 0.05
x_train = data.two_moons(5000, noise=noise, rng=args.seed)
x_test = data.two_moons(5000, noise=noise, rng=args.seed + 1)
H = data.two_moons_entropy(noise)

maf = MAF(2, n_layers=args.layers, hidden=(64, 64), seed=args.seed)
params = maf.init(args.seed)
print(f"MAF: {args.layers} layers, {tinygen.nn.count_params(params)} parameters, {args.steps} steps")
params, history = tinygen.fit(maf, params, x_train, steps=args.steps, batch_size=256, lr=args.lr,
                              rng=args.seed, x_val=x_test[:1000])

log_p = maf.log_prob(params, x_test)
nll, nll_se = evaluate.nll_stats(log_p)
gap = evaluate.gap_to_entropy(nll, H)
kl, kl_se = evaluate.kl_to_truth(lambda x: maf.log_prob(params, x),
                                 lambda x: data.two_moons_log_prob(x, noise=noise), x_test)
print(f"test NLL {nll:.4f} +- {nll_se:.4f} nats  (exact entropy {H:.4f}), gap to the entropy {gap:.4f}")
print(f"paired estimate of KL(p || p_theta) on the same test points: {kl:.4f} +- {kl_se:.4f} nats")
print("(a short run: benchmarks/bench_maf.py trains 5000 steps on 20000 points and gets much closer)")

# %%
bounds = ((-1.5, 2.5), (-1.0, 1.5))
fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
plot.density(axes[0], lambda x: data.two_moons_log_prob(x, noise=noise), bounds, title="exact p(x)")
plot.density(axes[1], lambda x: maf.log_prob(params, x), bounds,
             title=f"MAF p(x): test NLL {nll:.3f}, gap {gap:.3f}")
plot.samples(axes[2], maf.sample(params, 2000, args.seed), bounds=bounds,
             title="MAF samples (D passes per layer)")
plot.curves(axes[3], {"train": (history["step"], history["loss"]),
                      "held out": (history["val_step"], history["val_loss"])},
            title="NLL during training", ylabel="nats")
axes[3].axhline(H, color="k", ls="--", lw=1, label="exact entropy H(p)")
axes[3].legend()
axes[3].set_ylim(H - 0.2, H + 1.5)
print("wrote", plot.save(fig, os.path.join(args.out, "08_maf_two_moons.png")))

# %% [markdown]
# ## Samples after each layer: how the flow bends N(0, I) into the moons (colour: angle of z)

# %%
zs = maf.sample_layers(params, 2000, args.seed)
# zs = [z, after MAF 1, after reversal, after MAF 2, ...]: keep the MAF outputs, and swap the
# two coordinates back where an odd number of reversals is still to come, so every panel
# is drawn in the axes of x.
zs = [zs[0]] + [zs[2 * k + 1][:, ::-1] if (args.layers - 1 - k) % 2 else zs[2 * k + 1]
                for k in range(args.layers)]
fig = plot.layer_panels(zs, titles=["z ~ N(0, I)"] + [f"after MAF layer {k + 1}" for k in range(len(zs) - 1)])
print("wrote", plot.save(fig, os.path.join(args.out, "08_maf_layers.png")))

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


n = 1000
for dim in (2, 16):
    row = []
    for cls in (MAF, IAF):
        model = cls(dim, n_layers=args.layers, hidden=(64, 64))
        p = model.init(0)
        made = model.flow.layers[0].made
        made.n_passes = 0
        t_sample = time_it(lambda: model.sample(p, n, 0), repeats=3)
        passes = made.n_passes // 3
        x = model.sample(p, n, 1)
        t_density = time_it(lambda: model.log_prob(p, x), repeats=3)
        row.append(f"{cls.__name__}: sample {1e3 * t_sample:7.1f} ms ({passes:2d} MADE passes/layer), "
                   f"log_prob {1e3 * t_density:7.1f} ms")
    print(f"D = {dim:2d}, n = {n}:  " + "  |  ".join(row))
