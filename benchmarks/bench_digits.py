"""Measure (never asserted): bits per dimension of every family on the 8 x 8 digits' test split.

Every model is trained on the 1,197 training digits (17 grey levels) and scored on the
300 test digits, seeds 0-2, as -log P(x) / (64 log 2) for the DISCRETE image x:

    exact   MADE and PixelCNN put a categorical over the 17 levels on every pixel:
            log P(x) = sum_d log P(x_d | x_<d) is the discrete likelihood itself.
    bound   RealNVP and Glow see y = (x + u) / K, u ~ U[0, 1)^64 (tinygen.dequantize):
                log P(x) >= E_u[log p((x + u) / K)] - D log K,
            and with a variational q(u | x) the same minus E_q[log q(u | x)].
            The VAE and the diffusion model see y' = 2 (x + u) / K - 1 in [-1, 1)^64; the
            scaling by a = 2 adds D log a to the density (change of variables), and their
            own lower bounds replace log p(y'):
                log P(x) >= E_u[L(y')] + D log 2 - D log K,
            with L the importance-sampled bound on K_IW draws (VAE; a lower bound in
            expectation) or the DDPM's variational bound (diffusion, all T terms).
Standard errors: per seed, over the 300 test images; across seeds, of the three seeds' means.

The settings of each model are the dict RECIPES below (kept here, not in tinygen.recipes).
Results go to benchmarks/results_digits.json (one entry per model and seed, written as
each finishes, so --only can rerun a model), samples of seed 0 to benchmarks/digits_samples.png;
``python benchmarks/docs_tables.py`` then renders the table into docs/benchmarks.md and
benchmarks/REPORT_digits.md.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_digits.py [--quick] [--only glow,realnvp] [--seeds 0 1 2]
"""
import argparse
import datetime
import json
import os
import platform
import time

import autograd.numpy as np
import numpy as onp

from tinygen import data, evaluate, fit
from tinygen.arm import MADE, PixelCNN
from tinygen.arm.pixelcnn import masked_conv2d
from tinygen.dequantize import Dequantized, VariationalDequantizer, bits_per_dim
from tinygen.diffusion import Diffusion
from tinygen.distributions import Categorical
from tinygen.fast.pixelcnn import im2col
from tinygen.flows import Glow, RealNVP
from tinygen.nn import ACTIVATIONS, count_params, dense, init_dense
from tinygen.vae import VAE

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results_digits.json")
FIGURE = os.path.join(HERE, "digits_samples.png")
K, D, SIDE = data.images.DIGITS8_LEVELS, 64, 8
IW_SAMPLES = 100     # K_IW of the VAE's importance-sampled bound
N_DEQUANT = 4        # draws of u per test image for every dequantized bound
N_SHOW = 10          # samples per model in the figure

# One recipe per model: the network, then the training (Adam, cosine decay, batch 64).
# Glow and the flat RealNVP have about the same number of parameters (30 k) and the same steps;
# realnvp_long is a control: the flat flow given ten times the steps (about Glow's wall-clock time).
RECIPES = {
    "made": {"label": "MADE (categorical, 17 levels)", "kind": "exact", "hidden": (64, 64),
             "steps": 2000, "lr": 3e-3},
    "pixelcnn": {"label": "PixelCNN (categorical, 17 levels)", "kind": "exact", "n_channels": 32, "n_layers": 5,
                 "steps": 400, "lr": 3e-3},
    "realnvp": {"label": "RealNVP, flat (uniform deq.)", "kind": "bound", "n_layers": 8, "hidden": (30, 30),
                "steps": 400, "lr": 1e-3},
    "realnvp_long": {"label": "RealNVP, flat, 10x the steps (uniform deq.)", "kind": "bound", "n_layers": 8,
                     "hidden": (30, 30), "steps": 4000, "lr": 1e-3},
    "glow": {"label": "Glow, 2 levels x 4 steps (uniform deq.)", "kind": "bound", "hidden_channels": (32, 32),
             "steps": 400, "lr": 1e-3},
    "glow_vardeq": {"label": "Glow, 2 levels x 4 steps (variational deq.)", "kind": "bound",
                    "hidden_channels": (32, 32), "deq_layers": 2, "deq_hidden": (32,), "steps": 400, "lr": 1e-3},
    "vae": {"label": f"VAE, Gaussian decoder (deq., IWAE K={IW_SAMPLES})", "kind": "bound", "z_dim": 8,
            "hidden": (128, 128), "steps": 2000, "lr": 1e-3},
    "diffusion": {"label": "DDPM, T=100 (deq., variational bound)", "kind": "bound", "hidden": (256, 256),
                  "steps": 2000, "lr": 1e-3},
}
QUICK = {"steps": 3}


class LevelPixelCNN(PixelCNN):
    """PixelCNN with a K-way softmax per pixel: the binary model's masked trunk, a K-logit head.

        p(x) = prod_d Categorical(x_d; softmax(l_d(x_<d))),   pixels enter as 2 x / (K - 1) - 1.
    """

    def __init__(self, levels, **kwargs):
        super().__init__(SIDE, SIDE, **kwargs)
        self.levels = levels

    def init(self, rng):
        params = super().init(rng)
        params["out"] = init_dense(rng, self.n_channels, self.levels, "glorot")
        return params

    def _logits(self, params, x):
        act = ACTIVATIONS[self.activation]
        h = 2.0 * x[..., None] / (self.levels - 1) - 1.0      # (n, H, W, 1) in [-1, 1]
        for l, (layer, m) in enumerate(zip(params["conv"], self.masks)):
            a = act(self._conv(h, layer, m))
            h = h + a if (self.residual and l > 0) else a
        return dense(params["out"], act(h))                   # (n, H, W, K)

    def _conv(self, h, layer, m):
        # the fast path serves PixelCNN itself only (not subclasses): take its exact patch gather here
        return masked_conv2d(h, layer, m, gather=im2col)

    def log_prob(self, params, x, context=None):
        n = x.shape[0]
        logits = np.reshape(self._logits(params, x), (n, self.dim, self.levels))
        return np.sum(Categorical(logits).log_prob(np.reshape(x, (n, self.dim)).astype(int)), axis=1)

    def loss(self, params, x, rng=None, context=None):
        return -np.mean(self.log_prob(params, x))

    def sample(self, params, n, rng, context=None):
        rng = onp.random.default_rng(rng)                       # one stream for all D draws
        x = onp.zeros((n, self.height, self.width))
        for d in range(self.dim):
            i, j = divmod(d, self.width)
            x[:, i, j] = Categorical(self._logits(params, x[:, :i + 1])[:, i, j]).sample(1, rng)[0]
        return x


class ScaledBound:
    """A continuous model trained by its own loss on y' = 2 (x + u) / K - 1, scored by its own bound:

        log P(x) >= E_u[L(y')] + D log 2 - D log K,   L(y') <= log p(y') (the model's bound).
    """

    def __init__(self, model, bound):
        self.model, self.bound, self.dim = model, bound, D

    def init(self, rng):
        return self.model.init(rng)

    def _y(self, x, rng):
        x = onp.reshape(x, (x.shape[0], D))
        return 2.0 * (x + rng.uniform(size=x.shape)) / K - 1.0

    def loss(self, params, x, rng, context=None):
        return self.model.loss(params, self._y(x, rng), rng)

    def log_prob(self, params, x, rng):
        rng = onp.random.default_rng(rng)
        draws = [self.bound(params, self._y(x, rng), rng) for _ in range(N_DEQUANT)]
        return onp.mean(draws, axis=0) + D * onp.log(2.0) - D * onp.log(K)

    def sample(self, params, n, rng):
        y = (onp.asarray(self.model.sample(params, n, rng)) + 1.0) / 2.0
        return onp.clip(onp.floor(K * y), 0, K - 1).astype(onp.int64)


def build(name, recipe, train):
    """(model, init params, data in the model's shape, score(params, x, rng) -> per-image log P bound)."""
    flat = train.reshape(len(train), D)
    if name == "made":
        model = MADE(D, recipe["hidden"], "categorical", n_classes=K)
        return model, model.init, flat, lambda p, x, r: model.log_prob(p, x)
    if name == "pixelcnn":
        model = LevelPixelCNN(K, n_channels=recipe["n_channels"], n_layers=recipe["n_layers"])
        return model, model.init, train.astype(float), lambda p, x, r: model.log_prob(p, x)
    if name.startswith(("realnvp", "glow")):
        if name.startswith("realnvp"):
            flow = RealNVP(D, n_layers=recipe["n_layers"], hidden=recipe["hidden"])
        else:
            flow = Glow((1, SIDE, SIDE), levels=2, steps_per_level=4, hidden_channels=recipe["hidden_channels"])
        deq = (VariationalDequantizer(D, K, n_layers=recipe["deq_layers"], hidden=recipe["deq_hidden"])
               if name == "glow_vardeq" else None)
        model = Dequantized(flow, K, dequantizer=deq)
        return (model, lambda rng: model.init(rng, x=flat), flat,
                lambda p, x, r: model.log_prob(p, x, rng=r, n_samples=N_DEQUANT))
    if name == "vae":
        vae = VAE(D, recipe["z_dim"], recipe["hidden"])
        model = ScaledBound(vae, lambda p, y, r: vae.log_prob(p, y, rng=r, k=IW_SAMPLES))
    else:
        ddpm = Diffusion(D, recipe["hidden"])
        model = ScaledBound(ddpm, ddpm.elbo)
    return model, model.init, flat, model.log_prob


def run_one(name, recipe, seed, split, quick):
    train, _, test = split
    model, init, x_train, score = build(name, recipe, train)
    x_test = test.reshape(len(test), D) if x_train.ndim == 2 else test.astype(float)
    params = init(seed)
    steps = QUICK["steps"] if quick else recipe["steps"]
    t0 = time.perf_counter()
    params, _ = fit(model, params, x_train, steps=steps, batch_size=64, lr=recipe["lr"], rng=seed, progress=False)
    seconds = time.perf_counter() - t0
    log_p = onp.asarray(score(params, x_test, 1000 + seed), dtype=float)
    nll, se = evaluate.nll_stats(log_p)
    samples = onp.asarray(model.sample(params, N_SHOW, seed)).reshape(N_SHOW, D)
    return {"bpd": bits_per_dim(nll, D), "se": bits_per_dim(se, D), "seconds": seconds, "steps": steps,
            "params": count_params(params), "samples": samples.astype(int).tolist()}


def figure(results, path):
    """Samples of every model (seed 0) and test digits, one row each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    entries = [results["models"][k] for k in RECIPES if k in results["models"]]
    rows = [(e["label"], e["seeds"]["0"]["samples"]) for e in entries if "0" in e["seeds"]]
    test = data.digits8_split()[2][:N_SHOW].reshape(N_SHOW, D)
    rows = [("test digits (data)", test)] + rows
    fig, axes = plt.subplots(len(rows), N_SHOW, figsize=(0.8 * N_SHOW + 3.2, 0.85 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(N_SHOW):
            ax = axes[r, c]
            ax.imshow(onp.reshape(images[c], (SIDE, SIDE)), cmap="gray", vmin=0, vmax=K - 1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.3, h_pad=0.2, w_pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['steps']} steps per model (a smoke test)")
    parser.add_argument("--only", default=",".join(RECIPES), help="comma-separated models to (re)run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--figure", default=FIGURE)
    args = parser.parse_args(argv)
    names = args.only.split(",")
    for name in names:
        if name not in RECIPES:
            raise SystemExit(f"--only: expected names from {list(RECIPES)}, got {name!r}")
    results = {"models": {}}
    if os.path.exists(args.results):
        with open(args.results) as f:
            results = json.load(f)
    split = data.digits8_split()
    command = "OMP_NUM_THREADS=1 python benchmarks/bench_digits.py" + (" --quick" if args.quick else "")
    for name in names:
        recipe = RECIPES[name]
        entry = results["models"].setdefault(name, {})
        entry.update({"label": recipe["label"], "kind": recipe["kind"],
                      "recipe": {k: v for k, v in recipe.items() if k not in ("label", "kind")}})
        entry.setdefault("seeds", {})
        for seed in args.seeds:
            out = run_one(name, recipe, seed, split, args.quick)
            out.update({"command": command, "machine": platform.processor() or platform.machine(),
                        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
            entry["seeds"][str(seed)] = out
            entry["params"] = out["params"]
            print(f"{name} seed {seed}: {out['bpd']:.3f} +- {out['se']:.3f} bits/dim ({recipe['kind']}), "
                  f"{out['params']} params, {out['steps']} steps in {out['seconds']:.0f} s", flush=True)
            with open(args.results, "w") as f:
                json.dump(results, f, indent=1)
    figure(results, args.figure)
    print(f"wrote {args.results} and {args.figure}")


if __name__ == "__main__":
    main()
