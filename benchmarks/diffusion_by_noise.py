"""Where a diffusion model's ODE likelihood loses its nats: the exact noise prediction above a noise level.

Two moons are arcs blurred by N(0, 0.05^2 I), so every marginal of the forward process is known:
x_t = sqrt(alpha_bar) x_0 + sigma eps is two moons shrunk by sqrt(alpha_bar), blurred by
sqrt(alpha_bar 0.05^2 + sigma^2), and the best noise prediction is exact,

    eps*(x, t) = E[eps | x_t = x] = -sigma_t grad_x log q_t(x)        (Tweedie).

With eps* at every t the probability-flow ODE gives the exact log p. A trained model's ODE
with its own eps_theta where sigma_t < s and eps* where sigma_t >= s therefore loses only what
the network's errors below the noise level s cost: E[log p(x) - log p_s(x)] over test points,
one column per s, from the data end (s small) to the whole network (s = 1). Reading a row from
left to right shows at which noise levels the nats go. Each row is one way of training the
model on the tour's split (seed 0), the last the recipe ``RECIPES["diffusion"]``.

    OMP_NUM_THREADS=1 python benchmarks/diffusion_by_noise.py [--seed 0] [--n 400] [--quick] [--render]

Writes benchmarks/results_diffusion_noise.json and benchmarks/REPORT_diffusion_noise.md.
"""
import argparse
import dataclasses
import json
import os
import time

import autograd
import common
import numpy as onp

from tinygen import data, recipes
from tinygen.diffusion import Diffusion, probability_flow

HERE = os.path.dirname(os.path.abspath(__file__))
JSON = os.path.join(HERE, "results_diffusion_noise.json")
REPORT = os.path.join(HERE, "REPORT_diffusion_noise.md")
LEVELS = (0.0, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)  # s: the network below sigma_t = s, eps* above
RECIPE = recipes.RECIPES["diffusion"]
# each way of training: Diffusion's options, the schedule's last log-SNR, steps and batch (seed 0)
VARIANTS = {
    "eps, plain MLP, log-SNR down to -9.9, 5000 steps of 256 (the first recipe)":
        ({"prediction": "eps", "x_features": 0}, -9.9, 5000, 256),
    "v, Fourier features of x_t, log-SNR down to -9.9, 5000 steps of 1024":
        ({"prediction": "v", "x_features": 3}, -9.9, 5000, 1024),
    "the recipe: v, Fourier features, log-SNR down to -5, 10000 steps of 1024": None,
}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--n", type=int, default=400, help="test points scored by every ODE solve")
parser.add_argument("--quick", action="store_true", help="3 steps, 20 points: a check that it runs; nothing written")
parser.add_argument("--render", action="store_true", help="only rewrite the markdown from the JSON")


def exact_epsilon(schedule, t, x):
    """eps*(x, t) = -sigma grad log q_t(x) for two moons, at one real time t (all rows)."""
    sigma = float(schedule.sigma_at(onp.array([t]))[0])
    if sigma == 0.0:
        return 0.0 * x  # eps* = -sigma * (a finite score) -> 0 at the data end (x may carry a trace)
    a = 1.0 - sigma ** 2  # alpha_bar(t)
    log_p = data.potentials.two_moons_log_p(onp.sqrt(recipes.NOISE ** 2 + sigma ** 2 / a))
    score = autograd.elementwise_grad(lambda z: log_p(z / onp.sqrt(a)))(x)  # the constant -log a drops
    return -sigma * score


class ExactAbove:
    """What probability_flow reads from a model, with eps_theta below sigma_t = level and eps* above."""

    prediction = "eps"  # the solver then forms its velocity from _epsilon, whatever the model predicts

    def __init__(self, model, level):
        self.model, self.level, self.schedule, self.dim = model, level, model.schedule, model.dim

    def _epsilon(self, params, t, x):
        if float(self.schedule.sigma_at(t[:1])[0]) < self.level:
            return self.model._epsilon(params, t, x)
        return exact_epsilon(self.schedule, float(t[0]), x)


def variant_recipe(options):
    if options is None:
        return RECIPE
    kwargs, log_snr_last, steps, batch = options
    schedule = recipes.log_snr_betas(100, log_snr_last=log_snr_last)
    return dataclasses.replace(RECIPE, build=lambda: Diffusion(2, hidden=(128, 128), n_steps=100, schedule=schedule,
                                                               **kwargs), steps=steps, batch_size=batch)


def measure(args):
    x_train, x_test, _ = recipes.two_moons_split(args.seed)
    if args.quick:
        x_train, x_test = x_train[:300], x_test[:20]
    x = x_test[:args.n]
    true = data.two_moons_log_prob(x)
    rows = {}
    for label, options in VARIANTS.items():
        recipe = variant_recipe(options)
        start = time.perf_counter()
        model, params, _ = recipe.train(x_train, rng=args.seed, steps=3 if args.quick else None, progress=False)
        trained = time.perf_counter() - start
        lost = [float(onp.mean(true - probability_flow.log_prob(ExactAbove(model, level), params, x, method="dopri5",
                                                                 rtol=1e-5, atol=1e-5)))
                for level in LEVELS]
        rows[label] = {"lost": lost, "steps": recipe.steps, "batch": recipe.batch_size, "train_seconds": trained}
        print(f"{label}: " + ", ".join(f"{v:.3f}" for v in lost), flush=True)
    return rows


def render(result):
    lines = ["# Where the diffusion model's ODE likelihood loses its nats", "",
             "Generated by `benchmarks/diffusion_by_noise.py` from `results_diffusion_noise.json`; do not edit by "
             "hand.", "",
             f"Two moons, the tour's split (seed {result['seed']}), the first {result['n']} test points. Each cell: "
             "the mean of log p(x) - log p_s(x) in nats, where p_s is the probability-flow ODE's density with the "
             "trained eps_theta at noise levels sigma_t < s and the exact eps* = -sigma_t grad log q_t above. "
             "s = 0 is eps* everywhere (the check: 0 up to the solver's error); s = 1 is the trained model, its "
             "whole gap on these points. A column-to-column rise is what the network's errors between the two "
             "noise levels cost.", ""]
    head = ["how it was trained", "steps", "batch"] + [f"s = {s:g}" for s in LEVELS]
    body = [[label, row["steps"], row["batch"]] + [f"{v:.3f}" for v in row["lost"]]
            for label, row in result["rows"].items()]
    lines += common.markdown_table(head, body).splitlines()
    lines += ["", "The training seconds, on a shared machine, are in the JSON.", "",
              f"- `{result['command']}`, written {result['date']}; {result['machine']}"]
    return "\n".join(lines) + "\n"


def main():
    args = parser.parse_args()
    if args.render:
        with open(JSON) as f:
            result = json.load(f)
    else:
        rows = measure(args)
        if args.quick:
            return
        result = {"seed": args.seed, "n": args.n, "levels": list(LEVELS), "rows": rows,
                  "command": common.command("benchmarks/diffusion_by_noise.py"),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": common.machine(date=False)}
        common.write_json(result, JSON)
    with open(REPORT, "w") as f:
        f.write(render(result))
    print(f"written {JSON} and {REPORT}")


if __name__ == "__main__":
    main()
