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
# with 1 <= d < D: the lecture writes d <= D, but d = D would copy every coordinate and
# transform none (the identity map).
#
# The Neural Spline Flow replaces the affine map by a monotonic rational-quadratic spline.
# Both directions are one network pass, so training (density) and sampling are fast.
# We fit both to two moons, compare with the exact density and entropy, look at the
# samples after every layer and at a coupling Jacobian, and fit a conditional flow p(x | moon).
#
# Run: python demos/07_coupling_flows.py [--out DIR] [--steps N] [--seed S]

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

import autograd
import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, evaluate, plot
from tinygen.flows import AffineCoupling, RealNVP
from tinygen.recipes import RECIPES, report, two_moons_split

parser = argparse.ArgumentParser(description="RealNVP and a Neural Spline Flow on two moons")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None,
                    help="training steps of every flow (default: the recipes', and 1000 for the conditional flow)")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 3})

(x_train, k_train), (x_test, k_test), H = two_moons_split(args.seed, labels=True)  # the tour's split
bounds = plot.DEFAULT_BOUNDS
COND_STEPS, COND_LR = 1000, 2e-3  # the conditional flow below is this demo's own


def scores(name, model, params, context_test=None, labels_test=None):
    """Print test NLL +- SE and the gap to the exact density p(x) (NLL - H(p)), or to
    p(x | k) given labels_test (E[log p - log p_theta] = KL); return (NLL, gap)."""
    log_p = model.log_prob(params, x_test, context=context_test)
    nll, nll_se = evaluate.nll_stats(log_p)
    # KL(p || p_theta) = E_p[log p(x) - log p_theta(x)], on the same test points as the NLL.
    kl, kl_se = evaluate.kl_to_truth(lambda x: model.log_prob(params, x, context=context_test),
                                     lambda x: data.two_moons_log_prob(x, labels=labels_test), x_test)
    if labels_test is None:
        gap = evaluate.gap_to_entropy(nll, H)
        print(f"{name}: test NLL {nll:.4f} +- {nll_se:.4f} nats; exact entropy H(p) = {H:.4f}, gap {gap:.4f} nats "
              f"(KL(p || p_theta) = {kl:.4f} +- {kl_se:.4f})")
    else:  # no closed-form H(x | k): the gap is the KL to the exact p(x | k)
        gap = kl
        print(f"{name}: test NLL {nll:.4f} +- {nll_se:.4f} nats; gap KL(p(x | k) || p_theta(x | k)) = "
              f"{kl:.4f} +- {kl_se:.4f} nats")
    return nll, gap


def train(name):
    """Fit a family by its recipe (as in the tour). The flows' recipes decay Adam's step size along
    a cosine, lr_t = lr (1 + cos(pi t / T)) / 2: large steps early, small ones at the end to settle
    into the thin moons (this matters more than any architecture choice for a short run)."""
    recipe = RECIPES[name]
    model, params, _ = recipe.train(x_train, rng=args.seed, steps=args.steps)
    print(f"{recipe.label}: {len(model.flow.layers)} layers, {tinygen.nn.count_params(params)} parameters, "
          f"{args.steps or recipe.steps} steps, lr {recipe.lr:g} ({recipe.schedule})")
    nll, gap = scores(recipe.label, model, params)
    report(f"07/{name}/gap", gap)
    return model, params, nll, gap


# %% [markdown]
# ## RealNVP: 8 affine couplings, masks [1, 0] and [0, 1] alternating
#
# RealNVP learns two moons slower than the spline flow, and a short run is sensitive to the
# seed: the flow must learn to tear N(0, I) into two moons, and some runs keep a thin bridge
# between them. The value printed beside the result is the mean and spread over seeds of this
# very recipe.

# %%
realnvp, p_nvp, nll_nvp, gap_nvp = train("realnvp")

# %% [markdown]
# ## Neural Spline Flow: 4 spline couplings (8 bins on [-4, 4]) with reversals between

# %%
nsf, p_nsf, nll_nsf, gap_nsf = train("spline")

# %% [markdown]
# ## Learned densities next to the exact one, and samples x = f(z), z ~ N(0, I)
#
# The three densities share one colour scale (the bar), topped at the exact density's maximum.

# %%
fig, axes = plt.subplots(2, 3, figsize=(14, 7), layout="constrained")
top = plot.max_density(data.two_moons_log_prob, bounds)
im = plot.density(axes[0, 0], data.two_moons_log_prob, bounds, title="exact p(x)", vmax=top)
plot.density(axes[0, 1], lambda x: realnvp.log_prob(p_nvp, x), bounds, vmax=top,
             title=f"RealNVP: NLL {nll_nvp:.3f}, gap {gap_nvp:.3f}")
plot.density(axes[0, 2], lambda x: nsf.log_prob(p_nsf, x), bounds, vmax=top,
             title=f"spline flow: NLL {nll_nsf:.3f}, gap {gap_nsf:.3f}")
plot.colorbar(im, list(axes[0]))
plot.samples(axes[1, 0], x_test[:2000], bounds=bounds, title="data")
plot.samples(axes[1, 1], realnvp.sample(p_nvp, 2000, args.seed), bounds=bounds, title="RealNVP samples")
plot.samples(axes[1, 2], nsf.sample(p_nsf, 2000, args.seed), bounds=bounds, title="spline flow samples")
fig.suptitle(f"two moons (noise 0.05), exact entropy {H:.3f} nats")
plot.show(fig, "07_densities_and_samples", args.out)

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
    plot.show(fig, f"07_layers_{name}", args.out)

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
plot.show(fig, "07_coupling_jacobian", args.out)

# %% [markdown]
# ## A conditional flow p(x | moon): every conditioner also sees the one-hot label c
#
# x_{d+1:D} = z_{d+1:D} * exp(alpha(z_{1:d}, c)) + mu(z_{1:d}, c). The exact p(x | k) is known,
# so the gap is E[log p(x | k) - log p_theta(x | k)] = KL(p(. | k) || p_theta(. | k)) averaged over k.

# %%
onehot = onp.eye(2)
cond = RealNVP(2, n_layers=6, hidden=(32, 32), context_dim=2)
print(f"conditional RealNVP p(x | moon): {args.steps or COND_STEPS} steps", file=sys.stderr)
p_cond, _ = tinygen.fit(cond, cond.init(args.seed), x_train, context=onehot[k_train], steps=args.steps or COND_STEPS,
                        lr=COND_LR, lr_schedule="cosine", rng=args.seed)
nll_cond, gap_cond = scores("conditional RealNVP", cond, p_cond, context_test=onehot[k_test], labels_test=k_test)
report("07/conditional/kl", gap_cond)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), layout="constrained")
top = plot.max_density(lambda x: data.two_moons_log_prob(x, labels=onp.zeros(len(x), int)), bounds)
for k in (0, 1):
    im = plot.density(axes[k], lambda x, k=k: cond.log_prob(p_cond, x, context=onehot[k:k + 1]), bounds, vmax=top,
                      title=f"p_theta(x | moon {k + 1})")
plot.colorbar(im, list(axes[:2]), label="density p(x | moon)")
for k, colour in ((0, "tab:red"), (1, "tab:purple")):
    plot.samples(axes[2], cond.sample(p_cond, 1000, args.seed + k, context=onehot[k:k + 1]), c=colour, s=3,
                 bounds=bounds, label=f"given moon {k + 1}")
axes[2].set_title(f"samples given the label: NLL {nll_cond:.3f}, gap {gap_cond:.3f}")
axes[2].legend(markerscale=3, fontsize=8)
plot.show(fig, "07_conditional", args.out)
