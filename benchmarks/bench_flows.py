"""Benchmark: RealNVP-8 and a Neural Spline Flow on two moons (quality and speed).

Both: MLP conditioners 2 x 64 (ReLU), batch 256, Adam with lr 1e-3 decayed to 0 along a
cosine over the run, 5000 steps, two moons noise 0.05 (20000 training points).
Prints the median steps/s over timing windows, test NLL +- SE on 20000 held-out points
and the gap to the exact entropy, KL(p || p_theta) (targets: RealNVP <= 0.10 nats,
spline flow <= 0.04 nats). If torch is importable, the same RealNVP (same masks, same
soft clamp, float64, one thread) is timed in PyTorch in this run and the speed ratio
printed (the spline is not re-implemented in torch).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_flows.py [--steps 5000] [--constant-lr]
"""
import argparse
import time

import numpy as onp

import tinygen
from tinygen import data, evaluate
from tinygen.flows import NeuralSplineFlow, RealNVP

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--constant-lr", action="store_true", help="no cosine decay")
parser.add_argument("--torch-steps", type=int, default=1000)
parser.add_argument("--window", type=int, default=250, help="steps per timing window")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

noise = 0.05
x_train = data.two_moons(20000, noise=noise, rng=args.seed)
x_test = data.two_moons(20000, noise=noise, rng=args.seed + 1)
H = data.two_moons_entropy(noise)


def median_rate(stamps, window):
    """Median steps/s over consecutive windows of ``window`` steps (robust to a busy machine)."""
    t = onp.asarray(stamps)[::window]
    return float(onp.median(window / onp.diff(t))) if len(t) > 1 else float("nan")


def run(name, model, target):
    """Train with Adam (+ cosine decay lr_t = lr (1 + cos(pi t / T)) / 2), report quality and speed."""
    stamps = []
    params, hist = tinygen.fit(model, model.init(args.seed), x_train, steps=args.steps, batch_size=256,
                               lr=args.lr, lr_schedule="constant" if args.constant_lr else "cosine",
                               rng=args.seed, log_every=max(1, args.steps // 5),
                               callback=lambda step, p, loss: stamps.append(time.perf_counter()))
    log_p = model.log_prob(params, x_test)
    nll, nll_se = evaluate.nll_stats(log_p)
    gap = evaluate.gap_to_entropy(nll, H)
    kl, kl_se = evaluate.kl_to_truth(lambda x: model.log_prob(params, x),
                                     lambda x: data.two_moons_log_prob(x, noise=noise), x_test)
    rate = median_rate(stamps, args.window)
    verdict = "met" if gap <= target else f"NOT met, by {gap - target:.3f}"
    print(f"{name}: test NLL {nll:.4f} +- {nll_se:.4f} (entropy {H:.4f}), gap {gap:.4f} nats "
          f"(KL to the truth {kl:.4f} +- {kl_se:.4f}; target <= {target}: {verdict}); "
          f"{rate:.1f} steps/s (median), {hist['steps_per_s']:.1f} (mean)", flush=True)
    return rate


schedule = "constant" if args.constant_lr else "cosine-decayed"
print(f"two moons noise {noise}, {args.steps} steps, batch 256, Adam lr {args.lr} ({schedule})")
realnvp = RealNVP(2, n_layers=8, hidden=(64, 64))
rate_nvp = run("RealNVP-8", realnvp, target=0.10)
run("NeuralSplineFlow-4 (8 bins)", NeuralSplineFlow(2, n_layers=4, hidden=(64, 64), bins=8), target=0.04)


def torch_rate():
    """Steps/s of RealNVP-8 in PyTorch: masks [1, 0]/[0, 1], MLP 1-64-64-2, soft clamp, Adam."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    layers = realnvp.flow.layers
    s_max = layers[0].s_max

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(1, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                   torch.nn.ReLU(), torch.nn.Linear(64, 2))

    nets = torch.nn.ModuleList(mlp() for _ in layers).double()
    masks = [(int(layer.idx_cond[0]), int(layer.idx_trans[0])) for layer in layers]

    def log_prob(x):
        log_det = torch.zeros(x.shape[0], dtype=x.dtype)
        for net, (i, j) in zip(reversed(nets), reversed(masks)):  # g = g_1 o ... o g_K
            out = net(x[:, i:i + 1])
            alpha = s_max * torch.tanh(out[:, 0] / s_max)
            z_j = (x[:, j] - out[:, 1]) * torch.exp(-alpha)
            x = torch.stack([x[:, 0], z_j] if j == 1 else [z_j, x[:, 1]], dim=1)
            log_det = log_det - alpha
        return -0.5 * (x ** 2).sum(1) - onp.log(2 * onp.pi) + log_det

    opt = torch.optim.Adam(nets.parameters(), lr=args.lr)
    xt = torch.tensor(x_train)
    rng = onp.random.default_rng(args.seed)
    stamps = []
    for _ in range(args.torch_steps):
        batch = xt[rng.integers(0, len(xt), 256)]
        loss = -log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        stamps.append(time.perf_counter())
    return median_rate(stamps, min(args.window, max(1, args.torch_steps // 4)))


try:
    import torch  # noqa: F401
except ImportError:
    print("torch not importable: tinygen figures only")
else:
    rate_torch = torch_rate()
    print(f"RealNVP-8 PyTorch {torch.__version__}: {rate_torch:.1f} steps/s (median); "
          f"tinygen / torch = {rate_nvp / rate_torch:.2f}")
