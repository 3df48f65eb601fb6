"""Train several recipes at once, one process per core.

Every recipe's training is a loop of small steps on one core (one BLAS thread, see
``tinygen.fast``), so a machine with two cores can train two families at the same time:

    runs = train_recipes(["maf", "realnvp", "spline"], x_train, rng=0)
    model, params, history, seconds = runs["maf"]

Each recipe runs in a fresh Python process of its own (started with ``spawn`` on every system:
a forked child would inherit the parent's threads and locks in whatever state they were). A
run depends only on its recipe, its data and its rng, and each process computes it with the
same code and one BLAS thread, so the params are the same numbers as training the recipes one
after another here (tests/test_parallel.py compares them bit for bit). What the parallel run
costs: starting each process (importing tinygen, about a second) and copying x to it.
"""
import numbers
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from ._validate import check_positive_int

__all__ = ["train_recipes", "usable_cores"]


def usable_cores():
    """The cores this process may run on (its CPU affinity where the system says, else the count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _train(name, x, rng, steps):
    """One recipe of ``tinygen.recipes.RECIPES`` trained here: (model, params, history, seconds)."""
    from .recipes import RECIPES  # in the worker: its own import of the table (a recipe's build is a lambda)
    start = time.perf_counter()
    model, params, history = RECIPES[name].train(x, rng=rng, steps=steps, progress=False)
    return model, params, history, time.perf_counter() - start


def _cost(name):
    """A rough measure of a recipe's training time, to start the longest first: steps x batch x parameters."""
    from .nn import count_params
    from .recipes import RECIPES
    recipe = RECIPES[name]
    return recipe.steps * recipe.batch_size * count_params(recipe.build().init(0))


def train_recipes(names, x, rng=0, steps=None, workers=None, on_done=None):
    """{name: (model, params, history, seconds)} for each ``tinygen.recipes.RECIPES[name]`` trained on x.

    names: recipe names (``RECIPES``' keys); the result keeps their order.
    rng: an int seed, each recipe's init and fit rng, as in ``Recipe.train``.
    steps: overrides every recipe's count (a quick run), as in ``Recipe.train``.
    workers: processes (default: the usable cores, at most one per recipe); 1 trains them here,
        one after another, in the order given. With more, the recipes that cost most start first,
        so the workers finish close together.
    on_done(name, seconds): called here as each recipe finishes (in the order they finish).
    seconds: the wall time of that recipe's training, in its own process.
    """
    from .recipes import RECIPES
    names = list(names)
    for name in names:
        RECIPES[name]  # an unknown name is a KeyError naming the known ones, before any process starts
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"rng: expected an int seed (sent to each process), got {type(rng).__name__}")
    workers = min(len(names), usable_cores()) if workers is None else check_positive_int(workers, "workers")
    done = {}
    if workers <= 1 or len(names) <= 1:
        for name in names:
            done[name] = _train(name, x, rng, steps)
            if on_done is not None:
                on_done(name, done[name][3])
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_train, name, x, rng, steps): name
                       for name in sorted(names, key=_cost, reverse=True)}
            for future in as_completed(futures):
                name = futures[future]
                done[name] = future.result()
                if on_done is not None:
                    on_done(name, done[name][3])
    return {name: done[name] for name in names}
