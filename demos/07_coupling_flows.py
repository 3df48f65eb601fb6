# %% [markdown]
# # Coupling flows: RealNVP and a Neural Spline Flow on two moons
#
# A coupling layer copies one part of z and transforms the other part with parameters a
# network computes from the copied part (lecture, "Coupling flows"):
#
#     x_{1:d}   = z_{1:d}
#     x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d})) + mu(z_{1:d})              (RealNVP)
#     z_{d+1:D} = (x_{d+1:D} - mu(x_{1:d})) * exp(-alpha(x_{1:d}))           (inverse g)
#     log|det dg/dx| = -sum_i alpha_i(x_{1:d})
#
# The Neural Spline Flow replaces the affine map by a monotonic rational-quadratic spline.
# Both directions are one network pass, so training (density) and sampling are fast.
# We fit both to two moons, compare with the exact density and entropy, look at the
# samples after every layer and at a coupling Jacobian, and fit a conditional flow p(x | moon).
#
# Run: python demos/07_coupling_flows.py --out out/ --steps 1000 --realnvp-steps 3000

# %%
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import autograd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as onp  # noqa: E402

import tinygen  # noqa: E402
from tinygen import data, evaluate, plot  # noqa: E402
from tinygen.flows import AffineCoupling, NeuralSplineFlow, RealNVP  # noqa: E402

parser = argparse.ArgumentParser(description="RealNVP and a Neural Spline Flow on two moons")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=1000, help="training steps, spline and conditional flows")
parser.add_argument("--realnvp-steps", type=int, default=3000, help="training steps, RealNVP (learns slower)")
parser.add_argument("--lr", type=float, default=2e-3, help="initial Adam step size")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])
os.makedirs(args.out, exist_ok=True)

noise = 0.05
x_train, k_train = data.two_moons(20000, noise=noise, rng=args.seed, labels=True)
x_test, k_test = data.two_moons(5000, noise=noise, rng=args.seed + 1, labels=True)
H = data.two_moons_entropy(noise)
bounds = ((-1.5, 2.5), (-1.0, 1.5))


def train(name, model, steps, context=None, context_test=None, labels_test=None):
    """Fit by maximum likelihood, print test NLL +- SE and the gap to the exact density
    p(x) (NLL - H(p)), or to p(x | k) given labels_test (E[log p - log p_theta] = KL).

    Adam's step size decays along a cosine, lr_t = lr (1 + cos(pi t / T)) / 2: large steps
    early, small ones at the end to settle into the thin moons (this matters more than
    any architecture choice for a short run)."""
    params = model.init(args.seed)
    print(f"{name}: {len(model.flow.layers)} layers, {tinygen.nn.count_params(params)} parameters, "
          f"{steps} steps")
    params, history = tinygen.fit(model, params, x_train, steps=steps, batch_size=256, lr=args.lr,
                                  lr_schedule="cosine", rng=args.seed, context=context)
    log_p = model.log_prob(params, x_test, context=context_test)
    nll, nll_se = evaluate.nll_stats(log_p)
    # KL(p || p_theta) = E_p[log p(x) - log p_theta(x)], on the same test points as the NLL.
    kl, kl_se = evaluate.kl_to_truth(lambda x: model.log_prob(params, x, context=context_test),
                                     lambda x: data.two_moons_log_prob(x, noise=noise, labels=labels_test),
                                     x_test)
    if labels_test is None:
        gap = evaluate.gap_to_entropy(nll, H)
        print(f"  test NLL {nll:.4f} +- {nll_se:.4f} nats; exact entropy H(p) = {H:.4f}, gap {gap:.4f} nats "
              f"(KL(p || p_theta) = {kl:.4f} +- {kl_se:.4f})")
    else:  # no closed-form H(x | k): the gap is the KL to the exact p(x | k)
        gap = kl
        print(f"  test NLL {nll:.4f} +- {nll_se:.4f} nats; gap KL(p(x | k) || p_theta(x | k)) = "
              f"{kl:.4f} +- {kl_se:.4f} nats")
    return params, nll, gap


# %% [markdown]
# ## RealNVP: 8 affine couplings, masks [1, 0] and [0, 1] alternating
#
# RealNVP learns two moons slower than the spline flow, and a short run is sensitive to
# the seed and step size: at 1000 steps the gap ranged from 0.1 to 0.8 nats, at 3000
# steps from 0.05 to 0.3 (the flow must learn to tear N(0, I) into two moons).
# benchmarks/bench_flows.py trains 5000 steps and reaches a gap of about 0.03 nats.

# %%
realnvp = RealNVP(2, n_layers=8, hidden=(64, 64))
p_nvp, nll_nvp, gap_nvp = train("RealNVP", realnvp, args.realnvp_steps)

# %% [markdown]
# ## Neural Spline Flow: 4 spline couplings (8 bins on [-4, 4]) with reversals between

# %%
nsf = NeuralSplineFlow(2, n_layers=4, hidden=(64, 64), bins=8)
p_nsf, nll_nsf, gap_nsf = train("Neural Spline Flow", nsf, args.steps)

# %% [markdown]
# ## Learned densities next to the exact one, and samples x = f(z), z ~ N(0, I)

# %%
fig, axes = plt.subplots(2, 3, figsize=(13, 6.6))
plot.density(axes[0, 0], lambda x: data.two_moons_log_prob(x, noise=noise), bounds, title="exact p(x)")
plot.density(axes[0, 1], lambda x: realnvp.log_prob(p_nvp, x), bounds,
             title=f"RealNVP: NLL {nll_nvp:.3f}, gap {gap_nvp:.3f}")
plot.density(axes[0, 2], lambda x: nsf.log_prob(p_nsf, x), bounds,
             title=f"spline flow: NLL {nll_nsf:.3f}, gap {gap_nsf:.3f}")
plot.samples(axes[1, 0], x_test[:2000], bounds=bounds, title="data")
plot.samples(axes[1, 1], realnvp.sample(p_nvp, 2000, args.seed), bounds=bounds, title="RealNVP samples")
plot.samples(axes[1, 2], nsf.sample(p_nsf, 2000, args.seed), bounds=bounds, title="spline flow samples")
fig.suptitle(f"two moons (noise {noise}), exact entropy {H:.3f} nats")
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "07_densities_and_samples.png")))

# %% [markdown]
# ## Samples after every layer, z_0 ~ N(0, I) -> z_K = x (colour: the angle of z_0)
#
# Each affine coupling moves points only along one axis (the one its mask transforms),
# by an amount that depends on the other coordinate.

# %%
for name, model, params in (("realnvp", realnvp, p_nvp), ("spline", nsf, p_nsf)):
    zs = model.sample_layers(params, 2000, args.seed)
    titles = ["$z_0$"] + [f"$z_{{{k}}}$: {type(layer).__name__}"
                          for k, layer in enumerate(model.flow.layers, start=1)]
    titles[-1] = titles[-1].replace(f"z_{{{len(zs) - 1}}}", f"z_{{{len(zs) - 1}}} = x")
    fig = plot.layer_panels(zs, bounds=((-3.5, 3.5), (-3.5, 3.5)), titles=[t.replace("Coupling", "")
                                                                          for t in titles])
    print("wrote", plot.save(fig, os.path.join(args.out, f"07_layers_{name}.png")))

# %% [markdown]
# ## The Jacobian of a coupling layer is block triangular
#
# dg/dx = [[I_d, 0], [dz_{d+1:D}/dx_{1:d}, diag(exp(-alpha(x_{1:d})))]], so its determinant is the
# product of the diagonal. Left: layer 7 of the trained RealNVP at the point it sees for a
# test x (D = 2). Right: a random 6-D coupling with mask [1, 1, 1, 0, 0, 0].

# %%
layers = realnvp.flow.layers
x0 = x_test[:1]
# g = g_1 o ... o g_8 starts at the layer next to x; layer 7 (mask [1, 0]) sees h = g_8(x).
h, _ = layers[-1].inverse(p_nvp[-1], x0)
layer, p_layer = layers[-2], p_nvp[-2]
J2 = autograd.jacobian(lambda v: layer.inverse(p_layer, v[None])[0][0])(h[0])
_, ld2 = layer.inverse(p_layer, h)
print(f"Jacobian dg_7/dh of RealNVP layer 7 (mask {layer.mask.astype(int)}) at h = {h[0].round(3)}:\n"
      f"{J2.round(4)}")
print(f"  log|det| from autograd + slogdet {onp.linalg.slogdet(J2)[1]:.6f}, hand-written {ld2[0]:.6f}")
coupling6 = AffineCoupling(6, [1, 1, 1, 0, 0, 0], hidden=(16,))
p6 = coupling6.init(args.seed)
rng = onp.random.default_rng(args.seed)
p6["conditioner"][-1]["W"] = 0.3 * rng.standard_normal(p6["conditioner"][-1]["W"].shape)
J6 = autograd.jacobian(lambda v: coupling6.inverse(p6, v[None])[0][0])(rng.standard_normal(6))
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
plot.matrix(axes[0], J2, annotate=True, diverging=True, cmap="coolwarm",
            title=f"trained RealNVP layer 7, mask {layer.mask.astype(int)}")
im = plot.matrix(axes[1], J6, diverging=True, cmap="coolwarm", title="random 6-D coupling, mask [1 1 1 0 0 0]")
fig.colorbar(im, ax=axes[1], fraction=0.046)
for ax in axes:
    ax.set_xlabel("input coordinate j (x_j)")
    ax.set_ylabel("output coordinate i (z_i)")
fig.suptitle("dg/dx = [[I, 0], [dz_{d+1:D}/dx_{1:d}, diag(exp(-alpha))]]: block lower triangular")
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "07_coupling_jacobian.png")))

# %% [markdown]
# ## A conditional flow p(x | moon): every conditioner also sees the one-hot label c
#
# x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d}, c)) + mu(z_{1:d}, c). The exact p(x | k) is known,
# so the gap is E[log p(x | k) - log p_theta(x | k)] = KL(p(. | k) || p_theta(. | k)) averaged over k.

# %%
onehot = onp.eye(2)
cond = RealNVP(2, n_layers=6, hidden=(32, 32), context_dim=2)
p_cond, nll_cond, gap_cond = train("conditional RealNVP p(x | moon)", cond, args.steps,
                                   context=onehot[k_train], context_test=onehot[k_test], labels_test=k_test)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for k in (0, 1):
    plot.density(axes[k], lambda x, k=k: cond.log_prob(p_cond, x, context=onehot[k:k + 1]), bounds,
                 title=f"p_theta(x | moon {k})")
both = onp.concatenate([cond.sample(p_cond, 1000, args.seed + k, context=onehot[k:k + 1]) for k in (0, 1)])
plot.samples(axes[2], both, c=onp.repeat([0, 1], 1000), bounds=bounds,
             title=f"samples given the label: NLL {nll_cond:.3f}, gap {gap_cond:.3f}")
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "07_conditional.png")))
