# %% [markdown]
# # The other direction of KL: fitting a flow to a density known up to a constant
#
# Maximum likelihood minimizes D_KL(p || q_theta) and needs samples of p. Often we have
# the opposite: a formula p_tilde(z) = exp(-U(z)) and no samples, with the normalizer
# Z = int p_tilde(z) dz unknown (a posterior p(z | x) = p(x, z) / p(x) is one). Then the
# other direction is computable:
#
#     D_KL(q || p) = E_q[log q(z) - log p_tilde(z)] + log Z,
#
# and log Z does not depend on q. Minimizing the first term, F(q) = E_q[log q + U] (the
# negative ELBO when p_tilde(z) = p(x, z)), fits q; F >= -log Z since the KL is >= 0.
# With q a flow, z = f(eps), eps ~ N(0, I), and log q(z) = log N(eps) - log|det df/deps|
# come out of one forward pass, and F is differentiated by reparameterization
# (`tinygen.vi.fit_reverse_kl`). Here log Z is known by quadrature
# (`tinygen.data.potential`), so every fit is scored by the exact D_KL(q || p).
#
# Run: python demos/09_reverse_kl.py --out out/ [--steps 1000]

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

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as onp

import tinygen
from tinygen import data, evaluate, plot, vi
from tinygen.flows import planar_model

parser = argparse.ArgumentParser(description="Reverse KL: mode seeking, and planar flows on U1-U4")
parser.add_argument("--out", default="out/", help="folder for the PNGs")
parser.add_argument("--steps", type=int, default=150, help="reverse-KL steps per fit on U1-U4")
parser.add_argument("--asym-steps", type=int, default=400, help="steps of each fit to the two-bump target")
parser.add_argument("--ks", default="2,8,32", help="numbers of planar layers K")
parser.add_argument("--n-eval", type=int, default=20000, help="samples for each KL estimate")
parser.add_argument("--grid", type=int, default=120, help="grid points per axis in the density plots")
parser.add_argument("--seed", type=int, default=0)
args = plot.demo_args(parser, quick_values={"steps": 3, "asym_steps": 3, "ks": "2", "n_eval": 200, "grid": 20})
ks = [int(k) for k in args.ks.split(",")]

# %% [markdown]
# ## 1. Mode covering against mode seeking
#
# The target: two well separated Gaussian bumps, written as a user's own unnormalized
# log p_tilde (constants dropped on purpose) and wrapped in `data.Potential`, which finds
# log Z by quadrature. The same flow, planar K = 8 on a learned Gaussian, starts from the
# same q_0 = N((0.5, 0), I), just right of the middle, and is fitted twice:
#
# * forward KL, D_KL(p || q): maximum likelihood on 5000 samples of p (`tinygen.fit`);
# * reverse KL, D_KL(q || p): from the formula alone (`vi.fit_reverse_kl`), no annealing.
#
# The forward KL weighs log p/q by p: it pays wherever p has mass and q does not, so q must
# cover both bumps (and puts mass in the gap between them). The reverse KL weighs by q: it
# pays where q has mass and p does not, so q may sit on one bump and ignore the other, at a
# cost of only log 2 = 0.69 nats (q = one bump of p, renormalized: log q - log p = log 2).

# %%
centres, sd = onp.array([[-2.0, 0.0], [2.0, 0.0]]), 0.6


def log_p_tilde(z):
    # log(exp(-|z - c_1|^2 / (2 sd^2)) + exp(-|z - c_2|^2 / (2 sd^2))): normalizer left out
    sq = anp.stack([anp.sum((z - c) ** 2, axis=1) for c in centres])
    return tinygen.functional.logsumexp(-sq / (2 * sd ** 2), axis=0)


bumps = data.Potential(log_p_tilde, bounds=((-4, 4), (-3, 3)), quad_box=((-8, 8), (-8, 8)), name="two bumps")
print(f"log Z by quadrature {bumps.log_z:.10f}, closed form log(2 * 2 pi sd^2) = {onp.log(4 * onp.pi * sd ** 2):.10f}")
x_p = data.GaussianMixture(centres, sd).sample(5000, rng=args.seed)       # samples of p, for the forward KL
x_eval = data.GaussianMixture(centres, sd).sample(args.n_eval, rng=args.seed + 1)

flow = planar_model(2, 8)
start = flow.init(args.seed)
start[0] = {"log_a": onp.zeros(2), "b": onp.array([0.5, 0.0])}  # q_0 = N((0.5, 0), I), for both fits
fits = {
    "forward KL (MLE on samples)": tinygen.fit(flow, start, x_p, steps=args.asym_steps, lr=2e-2,
                                               lr_schedule="cosine", rng=args.seed)[0],
    # no annealing: a tempered start (vi.RECIPE's anneal) flattens the target at first, so q can
    # spread over both bumps before they appear
    "reverse KL (from the density)": vi.fit_reverse_kl(flow, start, bumps, steps=args.asym_steps, lr=2e-2,
                                                       lr_schedule="cosine", rng=args.seed)[0],
}
print(f"{'fit':<30} {'D_KL(p || q)':>18} {'D_KL(q || p)':>18}  mass of q on the right bump")
for name, p in fits.items():
    fwd = evaluate.kl_to_truth(lambda x: flow.log_prob(p, x), bumps.log_prob, x_eval)  # E_p[log p - log q]
    rev = vi.reverse_kl(flow, p, bumps, n=args.n_eval, rng=args.seed + 2, log_z=bumps.log_z)  # E_q[log q - log p]
    right = float(onp.mean(flow.sample(p, args.n_eval, args.seed + 3)[:, 0] > 0))
    print(f"{name:<30} {fwd[0]:>9.3f} +- {fwd[1]:.3f} {rev[0]:>9.3f} +- {rev[1]:.3f}  {right:.2f}")
if not plot.quick():  # a quick run's few steps are no test of these
    print("expected at the defaults (measured by a run of this demo): forward fit 0.485 / 1.030 nats, half of q "
          "on the right bump; reverse fit 5.525 / 0.694 nats (~ log 2), all of q on the right bump")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
plot.density(axes[0], bumps.log_prob, bumps.bounds, n=args.grid, title="target p (two bumps)")
for ax, (name, p) in zip(axes[1:], fits.items()):
    plot.density(ax, lambda x, p=p: flow.log_prob(p, x), bumps.bounds, n=args.grid, title=f"q fitted by {name}")
plot.show(fig, "09_kl_asymmetry", args.out)

# %% [markdown]
# ## 2. The planar-flow figure of Rezende & Mohamed (2015), measured
#
# The four potentials U1-U4 of the paper (`data.potential("U1")`, ...; U2-U4 carry a wide
# Gaussian envelope along z_1, since as written they have no normalizer, see
# `tinygen/data/potentials.py`). For each, planar flows with K = 2, 8, 32 layers are fitted
# by reverse KL with annealing (beta rises from 0.01 to 1 over the first half), and scored
# by the exact D_KL(q || p) with its standard error. A short run: in 150 steps K = 32 is
# already the best on every target, but far from converged (on U1 it holds one of the two
# lobes, KL ~ log 2). After 1000 steps (`benchmarks/bench_vi.py`, `benchmarks/REPORT_vi.md`)
# K = 32 reaches 0.020 (U1), 0.109 (U2), 0.156 (U3) and 0.071 (U4) nats, against RealNVP
# (170 parameters) 0.150, 0.045, 0.203, 0.301 and the spline flow (200) 0.043, 0.047, 0.219, 0.126.

# %%
# D_KL(q || p) at these defaults (150 steps, seed 0), measured by benchmarks/bench_vi.py
# (benchmarks/REPORT_vi.md, second table).
EXPECTED = {("U1", 2): 2.282, ("U1", 8): 0.852, ("U1", 32): 0.720, ("U2", 2): 1.577, ("U2", 8): 0.831,
            ("U2", 32): 0.510, ("U3", 2): 1.105, ("U3", 8): 0.947, ("U3", 32): 0.684, ("U4", 2): 1.261,
            ("U4", 8): 1.050, ("U4", 32): 0.763}
if (args.steps, args.seed, args.n_eval) != (150, 0, 20000):
    EXPECTED = {}  # measured at the defaults only
names = ["U1", "U2", "U3", "U4"]
fitted = {}
for name in names:
    target = data.potential(name)
    for K in ks:
        model = planar_model(2, K)
        _, params, _ = vi.RECIPE.train(target, rng=args.seed, steps=args.steps, model=model, progress=False)
        kl = vi.reverse_kl(model, params, target, n=args.n_eval, rng=args.seed + 1, log_z=target.log_z)
        fitted[name, K] = (model, params, kl)
    print(f"{name} done ({', '.join(f'K={K}: {fitted[name, K][2][0]:.3f}' for K in ks)})", flush=True)

print(f"\nD_KL(q || p) in nats, {args.steps} steps per fit (expected: benchmark value at the defaults)")
print(f"{'target':<7} {'log Z':>8} " + " ".join(f"{'K = ' + str(K):>26}" for K in ks))
for name in names:
    cells = []
    for K in ks:
        kl, se = fitted[name, K][2]
        expected = EXPECTED.get((name, K))
        cells.append(f"{kl:.3f} +- {se:.3f}" + (f" ({expected:.3f})" if expected is not None else " (-)"))
    print(f"{name:<7} {data.potential(name).log_z:>8.4f} " + " ".join(f"{c:>26}" for c in cells))

# %%
fig, axes = plt.subplots(len(names), 1 + len(ks), figsize=(2.6 * (1 + len(ks)), 2.6 * len(names)), squeeze=False)
for row, name in enumerate(names):
    target = data.potential(name)
    plot.density(axes[row, 0], target.log_prob, target.bounds, n=args.grid, title=f"exp(-{name}) / Z")
    for col, K in enumerate(ks, start=1):
        model, params, (kl, se) = fitted[name, K]
        plot.density(axes[row, col], lambda x, m=model, p=params: m.log_prob(p, x), target.bounds, n=args.grid,
                     title=f"K = {K}: KL {kl:.2f}")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plot.show(fig, "09_planar_u1_u4", args.out)

# %% [markdown]
# ## The same bound in a VAE
#
# With p_tilde(z) = p_theta(x, z) the normalizer is Z = p_theta(x), and F = -ELBO:
# ELBO = log p(x) - D_KL(q(z | x) || p(z | x)), the lecture's latent loss. A flow posterior
# (`VAE(posterior="amortized_planar")`, where the encoder emits every planar layer per x,
# or `"iaf"`) shrinks that KL exactly as the flows above shrink D_KL(q || p);
# `benchmarks/REPORT_vi.md` reports the VAE's gap with the shared and amortized planar posteriors.
