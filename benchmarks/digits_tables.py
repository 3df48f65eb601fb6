"""The digits' bits-per-dimension table, rendered from benchmarks/results_digits.json (bench_digits.py).

Per model: what the number is (exact / bound), parameters, steps, the mean over seeds of the
test bits/dim with the standard error of that mean (over seeds), each seed's value with its
standard error over the 300 test images, and the training time of one seed. Then the verdict
the issue asks for: the multi-scale Glow against the flat RealNVP of about the same size.
"""
import json
import math

ORDER = ("made", "pixelcnn", "realnvp", "realnvp_long", "glow", "glow_vardeq", "vae", "diffusion")
LEVELS, DIM = 17, 64


def load(path):
    with open(path) as f:
        return json.load(f)


def seed_stats(entry):
    """(mean over seeds, its standard error over seeds or None for one seed, [per-seed dicts])."""
    runs = [entry["seeds"][k] for k in sorted(entry["seeds"], key=int)]
    values = [r["bpd"] for r in runs]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None, runs
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)   # sample variance over seeds
    return mean, math.sqrt(var / len(values)), runs


def _verdict(models):
    """Glow (uniform) against the flat RealNVP at the same steps: the difference of seed means, with its SE."""
    if not all(models.get(k, {}).get("seeds") for k in ("glow", "realnvp")):
        return "Glow against the flat RealNVP: not measured."
    (g, g_se, _), (r, r_se, _) = seed_stats(models["glow"]), seed_stats(models["realnvp"])
    se = math.sqrt((g_se or 0.0) ** 2 + (r_se or 0.0) ** 2)
    better = "lower (better)" if g < r else "higher (worse)"
    text = (f"Multi-scale Glow ({models['glow']['params']:,} params) against the flat RealNVP "
            f"({models['realnvp']['params']:,} params), same steps and batch: {g:.3f} against {r:.3f} bits/dim, "
            f"Glow {better} by {abs(r - g):.3f} ± {se:.3f} (difference of the seed means ± its standard error)")
    if models.get("realnvp_long", {}).get("seeds"):
        long, long_se, runs = seed_stats(models["realnvp_long"])
        text += (f"; the flat RealNVP given {runs[0]['steps']} steps reaches {long:.3f}, so Glow is "
                 f"{'still lower' if g < long else 'higher'} by {abs(long - g):.3f}")
    return text + "."


def table(results):
    """The markdown table and its verdict, for the docs page and the report."""
    models = results["models"]
    names = [k for k in ORDER if k in models] + [k for k in models if k not in ORDER]
    lines = ["| Model | Number | Params | Steps | Test bits/dim, seeds' mean ± SE | Each seed (± SE over test images) "
             "| Seconds per seed |",
             "|---|---|---:|---:|---:|---|---:|"]
    commands, dates = set(), []
    for name in names:
        entry = models[name]
        if not entry.get("seeds"):
            continue
        mean, se, runs = seed_stats(entry)
        spread = f"± {se:.3f}" if se is not None else "(one seed)"
        seeds = ", ".join(f"{r['bpd']:.3f} ± {r['se']:.3f}" for r in runs)
        seconds = sum(r["seconds"] for r in runs) / len(runs)
        lines.append(f"| {entry['label']} | {entry['kind']} | {entry['params']:,} | {runs[0]['steps']} | "
                     f"{mean:.3f} {spread} | {seeds} | {seconds:.0f} |")
        commands.update(r["command"] for r in runs)
        dates += [r["date"] for r in runs]
    seeds_run = ", ".join(sorted({k for m in models.values() for k in m.get("seeds", {})}, key=int))
    lines += ["", _verdict(models), "",
              f"For scale: a model that ignores its input (uniform over the 17 levels) scores "
              f"log2 17 = {math.log2(LEVELS):.3f} bits/dim. \"exact\": the discrete likelihood itself; "
              f"\"bound\": an upper bound on the discrete bits/dim (dequantization, and for the VAE and DDPM "
              f"their own variational bounds). Seeds: {seeds_run}.",
              f"Measured by {', '.join(f'`{c}`' for c in sorted(commands))} between {min(dates)} and {max(dates)} "
              f"(one BLAS thread, on a shared 2-core machine: the seconds are loaded-machine times)."]
    return "\n".join(lines)
