# %% [markdown]
# # 04 - Variational autoencoder on two moons
#
# A VAE with a 2-D latent space: z ~ N(0, I), x | z ~ N(m_theta(z), s^2), encoder
# q_phi(z | x) = N(mu_phi(x), sigma_phi(x)^2). Training maximizes the ELBO
#
#     log p(x) >= ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z))
#                      = -(reconstruction loss) - (complexity loss).
#
# The ELBO is only a bound; the test NLL is estimated with the importance-sampled
# bound log (1/K) sum_k p(x, z_k) / q(z_k|x), which tightens as K grows, and is
# compared with the exact entropy of the two-moons density (the best possible NLL).
# The same model is then trained with a flow posterior q_K (IAF by default).
#
# Run: python demos/04_vae.py [--steps N] [--out DIR] [--seed S]

# %%
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as onp  # noqa: E402

from tinygen import data, evaluate, fit, plot  # noqa: E402
from tinygen.vae import VAE  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default="out/")
parser.add_argument("--steps", type=int, default=2500)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--k", type=int, default=500, help="importance samples for the test NLL")
parser.add_argument("--flow", default="iaf", choices=["planar", "iaf"], help="flow posterior to compare")
parser.add_argument("--n-flows", type=int, default=2)
args, _ = parser.parse_known_args()  # tolerate notebook kernels' own arguments
os.makedirs(args.out, exist_ok=True)

# %% Data: two moons, and the exact entropy H = -E[log p(x)] of its density
noise = 0.05
x_train = data.two_moons(20000, noise=noise, rng=args.seed)
x_test, y_test = data.two_moons(2000, noise=noise, rng=args.seed + 1, labels=True)
x_val = x_test[:500]
H = data.two_moons_entropy(noise)
print(f"two moons, noise {noise}: exact entropy H = {H:.3f} nats (the lowest achievable test NLL)")


# %% Training, recording the ELBO and its two parts on held-out points
def train(posterior, label):
    vae = VAE(2, 2, hidden=(64, 64), posterior=posterior, n_flows=args.n_flows, seed=args.seed)
    params = vae.init(args.seed)
    record = {"step": [], "elbo": [], "reconstruction": [], "complexity": []}
    every = max(1, args.steps // 40)

    def callback(step, p, loss):
        if step % every == 0 or step == args.steps:
            out = vae.elbo(p, x_val, onp.random.default_rng(step), n_samples=4)
            record["step"].append(step)
            for key in ("elbo", "reconstruction", "complexity"):
                record[key].append(float(onp.mean(out[key])))

    print(f"training the VAE with a {label} posterior ({args.steps} steps)", file=sys.stderr)
    params, history = fit(vae, params, x_train, steps=args.steps, batch_size=256, lr=5e-3,
                          rng=args.seed, callback=callback)
    return vae, params, record, history


# %% Test NLL: importance-sampled estimate (K = args.k) and the ELBO, each mean +- standard error
def report(vae, params, label):
    nll = evaluate.test_nll(vae, params, x_test, rng=args.seed + 2, k=args.k)
    neg_elbo = evaluate.nll_stats(vae.elbo(params, x_test, args.seed + 3)["elbo"])  # -ELBO >= NLL
    return {"label": label, "nll": nll, "neg_elbo": neg_elbo, "gap": evaluate.gap_to_entropy(nll[0], H)}


models = {}
for posterior, label in ((None, "Gaussian"), (args.flow, f"{args.flow.upper()} x{args.n_flows}")):
    vae, params, record, history = train(posterior, label)
    models[label] = (vae, params, record, history, report(vae, params, label))

print(f"\n{'posterior':<12} {'test NLL (IWAE K=%d)' % args.k:>22} {'-ELBO':>16} {'gap to H':>9} {'steps/s':>8}")
for label, (_, _, _, history, r) in models.items():
    print(f"{label:<12} {r['nll'][0]:>14.3f} +- {r['nll'][1]:.3f} {r['neg_elbo'][0]:>8.3f} +- {r['neg_elbo'][1]:.3f}"
          f" {r['gap']:>9.3f} {history['steps_per_s']:>8.1f}")
print(f"exact entropy H = {H:.3f}")

# %% Figure 1: training curves, -ELBO = reconstruction + complexity, for both posteriors
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for label, (_, _, record, _, _) in models.items():
    steps = record["step"]
    axes[0].plot(steps, -onp.array(record["elbo"]), label=label)
    axes[1].plot(steps, record["reconstruction"], label=label)
    axes[2].plot(steps, record["complexity"], label=label)
axes[0].axhline(H, color="k", ls="--", lw=1, label="exact entropy H")
for ax, title in zip(axes, ["-ELBO (held out)", "reconstruction  E_q[-log p(x|z)]", "complexity  KL(q(z|x) || p(z))"]):
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
axes[0].set_ylim(H - 0.5, max(3.0, H + 1.0))
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "04_vae_training.png")))

# %% Figure 2: the latent space of the Gaussian-posterior VAE, and where the decoder sends it
vae, params = models["Gaussian"][:2]
mu, _ = vae.encode(params, x_test)
g = onp.linspace(-2.5, 2.5, 15)
Z1, Z2 = onp.meshgrid(g, g)  # rows of the grid: z_2 fixed (blue); columns: z_1 fixed (orange)
X = vae.decode(params, onp.column_stack([Z1.ravel(), Z2.ravel()])).reshape(15, 15, 2)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for i in range(15):
    axes[0].plot(Z1[i], Z2[i], lw=0.5, c="tab:blue", alpha=0.5)
    axes[0].plot(Z1[:, i], Z2[:, i], lw=0.5, c="tab:orange", alpha=0.5)
    axes[1].plot(X[i, :, 0], X[i, :, 1], lw=0.6, c="tab:blue")
    axes[1].plot(X[:, i, 0], X[:, i, 1], lw=0.6, c="tab:orange")
plot.samples(axes[0], mu, c=y_test, s=3, title="latent space: mu(x) of the test set, coloured by moon")
axes[0].set_xlabel("$z_1$")
axes[0].set_ylabel("$z_2$")
axes[1].scatter(x_test[:, 0], x_test[:, 1], s=1, c="0.75", zorder=0)
axes[1].set_title("decoder mean m(z) of the latent grid (grey: test data)")
axes[1].set_xlabel("$x_1$")
axes[1].set_ylabel("$x_2$")
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "04_vae_latent.png")))

# %% Figure 3: samples and densities: data, samples of both models, IWAE density, exact density
fig, axes = plt.subplots(1, 5, figsize=(18, 3.4))
plot.samples(axes[0], x_test, title="test data", bounds=plot.DEFAULT_BOUNDS)
for ax, (label, (vae, params, *_)) in zip(axes[1:3], models.items()):
    plot.samples(ax, vae.sample(params, 2000, args.seed + 4), title=f"samples, {label} posterior",
                 bounds=plot.DEFAULT_BOUNDS)
vae, params = models[list(models)[-1]][:2]
im = plot.density(axes[3], lambda pts: vae.log_prob(params, pts, args.seed + 5, k=32), n=80,
                  title=f"model p(x), IWAE K=32 ({list(models)[-1]})\ncolours clipped at the 99th percentile")
# A few grid points get a lucky draw whose weight p(x, z_k) / q(z_k | x) is far too large, and one
# such point would set the whole colour scale: clip the colours at the 99th percentile instead.
im.set_clim(0.0, onp.quantile(onp.asarray(im.get_array()), 0.99))
plot.density(axes[4], lambda pts: data.two_moons_log_prob(pts, noise=noise), n=200, title="exact p(x)")
fig.tight_layout()
print("wrote", plot.save(fig, os.path.join(args.out, "04_vae_samples.png")))
