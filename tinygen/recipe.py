"""A training recipe: everything that decides a result besides the rng.

One shape for every table of recipes: ``tinygen.recipes.RECIPES`` (two moons, one
per family), ``tinygen.arm.recipes.sequence_recipes`` (sequence models) and
``tinygen.vi.RECIPE`` (reverse-KL fitting). A recipe names the architecture
(``build()``, structure only), the number of Adam steps, the learning rate and
its schedule, and the batch size; ``recipe.train(x, rng)`` runs it:

    model = recipe.build()
    params = model.init(rng)
    params, history = recipe.fit(model, params, x, steps=..., rng=rng, lr=..., lr_schedule=...,
                                 batch_size=..., log_every=...)

``fit`` is ``tinygen.fit`` (maximum likelihood on data x) unless the recipe names
another fitting function with the same call, such as reverse KL, whose ``x`` is the
target density and whose batch is the number of samples of q per step.
"""
import inspect
from dataclasses import dataclass
from typing import Callable, Optional

from ._deprecated import take_renamed
from ._validate import as_rng, check_callable, check_positive_int
from .train import fit as fit_mle

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: ``build()`` makes the model (structure only); ``fit``
    (default: ``tinygen.fit``) is called as ``fit(model, params, x, steps=, rng=, lr=,
    lr_schedule=, batch_size=, log_every=, **keywords)``."""
    label: str
    build: Optional[Callable]
    steps: int
    lr: float
    schedule: str = "cosine"
    batch_size: int = 256
    fit: Callable = fit_mle
    warm_start: Optional["Recipe"] = None

    def train(self, x, rng=0, steps=None, model=None, start=None, **fit_kwargs):
        """(model, params, history): ``self.fit`` of a fresh model from ``model.init(rng)``.

        rng: the init's and the fit's rng (minibatches, Monte Carlo draws). ``steps``
        overrides the recipe's count (a quick run); so do ``lr``, ``batch_size``,
        ``lr_schedule`` and ``log_every``. model: train this model instead of ``build()``'s.
        Other keywords go to the fitting function (``callback``, ``x_val``, ``progress``, ...).
        ``seed=`` is the deprecated name of ``rng=``.

        warm_start: a recipe trained first (same rng, same data) whose trained params, not
        ``model.init(rng)``, start this one, so both models must share one params layout; a
        quick run's ``steps`` overrides both counts, and ``history["warm_start"]`` is the first
        stage's history. start: params to start from instead (for example the warm start's
        result, already trained, so that a benchmark can score both stages of one run).
        """
        rng = take_renamed(fit_kwargs, "seed", "rng", rng, 0, "Recipe.train")
        override = None if steps is None else check_positive_int(steps, "steps")
        steps = self.steps if override is None else override
        as_rng(rng)
        self._check_keywords(fit_kwargs)
        options = {"batch_size": self.batch_size, "lr": self.lr, "lr_schedule": self.schedule,
                   "log_every": max(1, steps // 4), **fit_kwargs}  # the recipe, then the caller's overrides
        if model is None:
            if self.build is None:
                raise TypeError(f"model: the recipe {self.label!r} builds no model; pass model=")
            model = self.build()
        first = None
        if start is None and self.warm_start is None:
            start = model.init(rng)
        elif start is None:
            _, start, first = self.warm_start.train(x, rng=rng, steps=override, **fit_kwargs)
        params, history = self.fit(model, start, x, steps=steps, rng=rng, **options)
        if first is not None:
            history["warm_start"] = first
        return model, params, history

    def _check_keywords(self, fit_kwargs):
        """A keyword the fitting function does not take is a TypeError naming it."""
        check_callable(self.fit, "fit", "fit(model, params, x, steps=, rng=, ...)")
        signature = inspect.signature(self.fit).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
            return  # the fitting function checks its own options
        known = set(signature) - {"model", "params", "x", "steps", "rng"}
        for key in fit_kwargs:
            if key not in known:
                raise TypeError(f"{key}: Recipe.train passes keywords to {self.fit.__name__}, which does not "
                                f"take it; expected one of {sorted(known)}")
