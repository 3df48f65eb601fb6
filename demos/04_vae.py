# %% [markdown]
# # 04 - Variational autoencoder on two moons
#
# A VAE with a 2-D latent space: z ~ N(0, I), x | z ~ N(m_theta(z), s^2), encoder
# q_phi(z | x) = N(mu_phi(x), sigma_phi(x)^2). For any q, the lecture splits the log-evidence into
# three terms:
#
#     log p(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) + KL(q(z|x) || p(z|x))
#              = -(reconstruction loss) - (complexity loss) + (latent loss)
#
# The last one is >= 0, so ELBO = -(reconstruction) - (complexity) <= log p(x). Training maximizes
# the ELBO, and both the encoder (phi) and the decoder (theta) move the reconstruction term:
# it is an expectation over q_phi, which is why the gradient needs the reparameterization
# z = mu_phi(x) + eps sigma_phi(x). The latent loss needs p(z|x), which we do not have; it is
# estimated as log p_hat(x) - ELBO, with the importance-sampled log p_hat(x) =
# log (1/K) sum_k p(x, z_k) / q(z_k|x) (the IWAE bound, which tightens as K grows).
# The test NLL is compared with the exact entropy of the two-moons density (the best possible NLL).
# The same model is then trained with a flow posterior q_K (two IAF layers).
#
# Both VAEs are trained by their recipes in ``tinygen.recipes`` on the tour's split, so the
# numbers here and in demo 00 agree.
#
# Run: python demos/04_vae.py [--steps N] [--out DIR] [--seed S]

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

from tinygen import data, evaluate, plot
from tinygen.recipes import IWAE_K, RECIPES, report, two_moons_split

parser = argparse.ArgumentParser(description="A VAE on two moons: the three ELBO terms, the latent space, densities")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=None, help="training steps (default: the VAE recipes')")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--k", type=int, default=IWAE_K, help="importance samples for the test NLL")
parser.add_argument("--k-curve", type=int, default=50, help="importance samples for the latent loss during training")
args = plot.demo_args(parser, quick_values={"steps": 5, "k": 5, "k_curve": 5})

# %% Data: the tour's two-moons split, and the exact entropy H = -E[log p(x)] of its density
(x_train, _), (x_test, y_test), H = two_moons_split(args.seed, labels=True)
x_val = x_test[:500]  # held-out points on which the three terms are tracked during training
print(f"two moons: exact entropy H = {H:.3f} nats (the lowest achievable test NLL)")


# %% Training, recording the three terms on held-out points
def train(name):
    recipe = RECIPES[name]
    steps = recipe.steps if args.steps is None else args.steps
    record = {"step": [], "reconstruction": [], "complexity": [], "latent": [], "elbo": []}
    every = max(1, steps // 40)

    def callback(step, p, loss):
        if step % every == 0 or step == steps:
            out = vae.elbo(p, x_val, onp.random.default_rng(step), n_samples=4)
            record["step"].append(step)
            for key in ("elbo", "reconstruction", "complexity"):
                record[key].append(float(onp.mean(out[key])))
            record["latent"].append(float(onp.mean(vae.latent_loss(p, x_val, step, k=args.k_curve, n_samples=4))))

    vae = recipe.build()  # the callback reads the model before train() returns it
    print(f"training {recipe.label} ({steps} steps, lr {recipe.lr:g}, {recipe.schedule})", file=sys.stderr)
    vae, params, history = recipe.train(x_train, rng=args.seed, steps=steps, callback=callback)
    return vae, params, record, history


# %% Test NLL: importance-sampled estimate (K = args.k) and the ELBO, each mean +- standard error
def scores(vae, params):
    nll = evaluate.test_nll(vae, params, x_test, rng=args.seed + 2, k=args.k)
    elbo = vae.elbo(params, x_test, args.seed + 3)
    return {"nll": nll, "neg_elbo": evaluate.nll_stats(elbo["elbo"]), "gap": evaluate.gap_to_entropy(nll[0], H),
            "reconstruction": float(onp.mean(elbo["reconstruction"])), "complexity": float(onp.mean(elbo["complexity"]))}


models = {}
for name in ("vae", "vae_iaf"):
    vae, params, record, history = train(name)
    models[name] = (vae, params, record, history, scores(vae, params))

print(f"\n{'posterior':<18} {'test NLL (IWAE K=%d)' % args.k:>22} {'-ELBO':>16} {'gap to H':>9} {'steps/s':>8}")
for name, (_, _, _, history, r) in models.items():
    print(f"{RECIPES[name].label:<18} {r['nll'][0]:>14.3f} +- {r['nll'][1]:.3f} {r['neg_elbo'][0]:>8.3f} +- "
          f"{r['neg_elbo'][1]:.3f} {r['gap']:>9.3f} {history['steps_per_s']:>8.1f}")
print(f"exact entropy H = {H:.3f}\n")
for name, (_, _, record, _, r) in models.items():
    report(f"04/{name}/gap", r["gap"])
    report(f"04/{name}/reconstruction", r["reconstruction"])
    report(f"04/{name}/latent_loss", record["latent"][-1])

# %% [markdown]
# ## The three terms during training
#
# The reconstruction loss E_q[-log p(x|z)] soon becomes **negative**: p(x|z) is a Gaussian
# density with a small learned scale s (the moons are thin), so p(x|z) > 1 near the decoded
# point and its log is positive. A continuous density is not a probability; only the discrete
# (Bernoulli) reconstruction loss of demo 05 stays >= 0. The latent loss KL(q(z|x) || p(z|x))
# is what the ELBO gives away against log p(x); a flow posterior exists to make it smaller.
#
# Both curves first sit on a plateau near 1.9 nats, where the decoder's scale s is still several
# times the moons' noise (0.05) and the latent is barely used (a complexity below 1 nat); how long
# depends on the seed, which is why the recipes train for 5000 steps. Compare the two posteriors in
# the values printed above (each beside its mean and spread over seeds): the IAF posterior lowers the
# latent loss, the part of -ELBO that is not log p(x). benchmarks/REPORT.md ("Defaults") gives both
# test gaps seed by seed, and benchmarks/REPORT_vae_recipes.md their paired differences.

# %% Figure 1: -ELBO = reconstruction + complexity, and the latent loss, for both posteriors
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
for name, (_, _, record, _, _) in models.items():
    steps, label = record["step"], RECIPES[name].label
    axes[0].plot(steps, -onp.array(record["elbo"]), label=f"-ELBO, {label}")
    axes[1].plot(steps, record["reconstruction"], label=label)
    axes[2].plot(steps, record["complexity"], label=label)
    axes[3].plot(steps, record["latent"], label=label)
axes[0].axhline(H, color="k", ls="--", lw=1, label="exact entropy H")
axes[1].axhline(0.0, color="0.6", lw=0.8)
titles = ["-ELBO on held-out points", "reconstruction  E_q[-log p(x|z)]", "complexity  KL(q(z|x) || p(z))",
          f"latent  KL(q(z|x) || p(z|x))\n~ log p_hat(x) - ELBO, IWAE K = {args.k_curve}"]
for ax, title in zip(axes, titles):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8)
axes[0].set_ylim(H - 0.5, max(3.0, H + 1.0))
fig.tight_layout()
plot.show(fig, "04_vae_training", args.out)

# %% Figure 2: the latent space of the Gaussian-posterior VAE, and where the decoder sends it
vae, params = models["vae"][:2]
mu, _ = vae.encode(params, x_test)
g = onp.linspace(-2.5, 2.5, 15)
Z1, Z2 = onp.meshgrid(g, g)  # rows of the grid: z_2 fixed (blue); columns: z_1 fixed (orange)
X = vae.decode(params, onp.column_stack([Z1.ravel(), Z2.ravel()])).reshape(15, 15, 2)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
for i in range(15):
    axes[0].plot(Z1[i], Z2[i], lw=0.5, c="tab:blue", alpha=0.5, label="grid, $z_2$ fixed" if i == 0 else None)
    axes[0].plot(Z1[:, i], Z2[:, i], lw=0.5, c="tab:orange", alpha=0.5, label="grid, $z_1$ fixed" if i == 0 else None)
    axes[1].plot(X[i, :, 0], X[i, :, 1], lw=0.6, c="tab:blue", label="m(z), $z_2$ fixed" if i == 0 else None)
    axes[1].plot(X[:, i, 0], X[:, i, 1], lw=0.6, c="tab:orange", label="m(z), $z_1$ fixed" if i == 0 else None)
for moon, colour in ((0, "tab:red"), (1, "tab:purple")):
    plot.samples(axes[0], mu[y_test == moon], c=colour, s=3, labels=("$z_1$", "$z_2$"), label=f"mu(x), moon {moon + 1}")
axes[0].set_title("latent space: the encoder mean mu(x) of the test set")
axes[0].legend(fontsize=8, markerscale=3, loc="upper right")
axes[1].scatter(x_test[:, 0], x_test[:, 1], s=1, c="0.75", zorder=0, label="test data")
axes[1].set_title("decoder mean m(z) of the latent grid")
axes[1].set_xlabel("$x_1$")
axes[1].set_ylabel("$x_2$")
axes[1].legend(fontsize=8, markerscale=3, loc="upper right")
fig.tight_layout()
plot.show(fig, "04_vae_latent", args.out)

# %% Figure 3: samples and densities: data, samples of both models, IWAE density, exact density
fig, axes = plt.subplots(1, 5, figsize=(19, 3.8), layout="constrained")
plot.samples(axes[0], x_test, title="test data", bounds=plot.DEFAULT_BOUNDS)
for ax, (name, (vae, params, *_)) in zip(axes[1:3], models.items()):
    plot.samples(ax, vae.sample(params, 2000, args.seed + 4), title=f"samples, {RECIPES[name].label}",
                 bounds=plot.DEFAULT_BOUNDS)
vae, params = models["vae_iaf"][:2]
exact = lambda pts: data.two_moons_log_prob(pts)  # noqa: E731
top = plot.max_density(exact)  # one colour scale for both
# The model's density is itself an estimate at every grid point: the IWAE bound with K samples.
# Colours above the exact density's maximum saturate (the estimate's lucky draws do not set the scale).
plot.density(axes[3], lambda pts: vae.log_prob(params, pts, args.seed + 5, k=args.k), n=80, vmax=top,
             title=f"model p(x), {RECIPES['vae_iaf'].label}\n(IWAE estimate, K = {args.k})")
im = plot.density(axes[4], exact, n=200, title="exact p(x)", vmax=top)
plot.colorbar(im, list(axes[3:]))
plot.show(fig, "04_vae_samples", args.out)
