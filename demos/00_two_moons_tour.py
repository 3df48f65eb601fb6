# %% [markdown]
# # The two-moons tour
#
# Every model family of the lecture, trained on the same two-moons split
# (noise 0.05), and compared with the one number that says how close each got:
# the gap between its test NLL and the exact entropy of the data,
#
#     E_p[-log p_theta(x)] - H(p) = D_KL(p || p_theta) >= 0,
#
# (the lecture's "MLE as KL minimization"). The exact density of two moons is
# known (``tinygen.data.two_moons_log_prob``), so the gap is measured, not guessed.
#
# Run: ``python demos/00_two_moons_tour.py`` (about a minute on two cores), or
# ``--steps 5000`` for the benchmark-length runs, ``--models maf,realnvp`` for a
# subset, ``--save DIR`` / ``--load DIR`` to keep and reuse trained parameters.

# %%
import argparse
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinygen
from tinygen import plot
from tinygen.arm import MADE
from tinygen.data import two_moons, two_moons_entropy, two_moons_log_prob
from tinygen.evaluate import gap_to_entropy, test_nll
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP
from tinygen.nn import count_params
from tinygen.vae import VAE

BOUNDS = ((-1.5, 2.5), (-1.0, 1.5))

# name -> (label, constructor, default training steps, Adam's lr, lr schedule).
# The step counts share a one-minute budget on two cores: cheaper models get
# more steps. The flows finish better with a cosine-decayed lr; the VAEs do not
# (at this length the decay stops them while the encoder is still catching up).
MODELS = {
    "made": ("MADE (Gaussian)", lambda: MADE(2, hidden=(64, 64)), 2000, 3e-3, "cosine"),
    "maf": ("MAF-5", lambda: MAF(2, n_layers=5), 1500, 3e-3, "cosine"),
    "realnvp": ("RealNVP-8", lambda: RealNVP(2, n_layers=8), 1500, 2e-3, "cosine"),
    "spline": ("Spline flow-4", lambda: NeuralSplineFlow(2, n_layers=4), 500, 3e-3, "cosine"),
    "vae": ("VAE (Gaussian q)", lambda: VAE(2, 2), 2000, 5e-3, "constant"),
    "vae_iaf": ("VAE (IAF q)", lambda: VAE(2, 2, posterior="iaf"), 1800, 5e-3, "constant"),
}
VAE_K = 200  # importance samples for the VAE's test log-likelihood (IWAE bound)
VAE_K_GRID = 32  # fewer for the picture: it is evaluated at every grid point


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=None, help="training steps for every model (default: per model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--save", default=None, help="folder to save trained params to (one .npz per model)")
    p.add_argument("--load", default=None, help="folder to load params from instead of training")
    args = p.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {list(MODELS)}")
    args.models = names
    return args


def model_log_prob(model, params, x, rng):
    """log p_theta(x) on a batch; the VAE's is the importance-sampled bound with K samples."""
    if isinstance(model, VAE):
        return model.log_prob(params, x, rng, k=VAE_K_GRID)
    return model.log_prob(params, x)


# %%
def main(argv=None):
    args = parse(argv)
    rng = np.random.default_rng(args.seed)
    x_train = two_moons(args.n_train, rng=rng)
    x_test = two_moons(args.n_test, rng=rng)
    entropy = two_moons_entropy(0.05)
    print(f"two moons, noise 0.05: {args.n_train} train / {args.n_test} test points, "
          f"exact entropy H = {entropy:.4f} nats")

    rows, fitted = [], {}
    for name in args.models:
        label, build, default_steps, lr, schedule = MODELS[name]
        model = build()
        steps = args.steps or default_steps
        params = model.init(args.seed)
        path = None if args.load is None else os.path.join(args.load, f"{name}.npz")
        start = time.perf_counter()
        if path is not None:
            params = tinygen.load(path, like=params)
            steps = 0
            print(f"\n{label}: loaded {path}", file=sys.stderr)
        else:
            print(f"\n{label}: training {steps} steps", file=sys.stderr)
            params, _ = tinygen.fit(model, params, x_train, steps=steps, batch_size=256, lr=lr,
                                    rng=args.seed, log_every=max(1, steps // 4), lr_schedule=schedule)
        seconds = time.perf_counter() - start
        if args.save:
            tinygen.save(os.path.join(args.save, f"{name}.npz"), params)
        kwargs = {"k": VAE_K} if isinstance(model, VAE) else {}
        nll, se = test_nll(model, params, x_test, rng=args.seed, **kwargs)
        rows.append({"model": label, "params": count_params(params), "steps": steps, "seconds": seconds,
                     "nll": nll, "se": se, "gap": gap_to_entropy(nll, entropy)})
        fitted[name] = (f"{label}\ngap {rows[-1]['gap']:.3f} nats", model, params)

    print(f"\n{'model':<18}{'params':>8}{'steps':>7}{'seconds':>9}   {'test NLL':>16}{'gap to H':>10}")
    for r in rows:
        print(f"{r['model']:<18}{r['params']:>8}{r['steps']:>7}{r['seconds']:>9.1f}   "
              f"{r['nll']:>8.4f} ± {r['se']:.4f}{r['gap']:>10.4f}")
    print(f"(exact entropy {entropy:.4f} nats; the gap estimates KL(p || p_theta), up to its standard error)")

    # %% One panel: the exact density, then each model's density (top) and samples (bottom).
    cols = 1 + len(fitted)
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols, 5.4), squeeze=False)
    plot.density(axes[0, 0], lambda p: two_moons_log_prob(p), BOUNDS, n=80, title="exact density")
    plot.samples(axes[1, 0], x_test[:1000], title="data", bounds=BOUNDS)
    for j, (name, (label, model, params)) in enumerate(fitted.items(), start=1):
        grid_rng = np.random.default_rng(args.seed)
        # The VAE's grid density is a noisy K-sample estimate: clip its colours at the 99th percentile.
        plot.density(axes[0, j], lambda p: model_log_prob(model, params, p, grid_rng), BOUNDS, n=80,
                     title=label, clip=0.99 if isinstance(model, VAE) else None)
        plot.samples(axes[1, j], model.sample(params, 1000, args.seed), title="samples", bounds=BOUNDS)
    fig.suptitle(f"two moons: exact density (H = {entropy:.3f} nats) and every model family\n"
                 "gap = test NLL - H, an estimate of KL(p || p_theta)")
    path = plot.save(fig, os.path.join(args.out, "00_tour.png"))
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
