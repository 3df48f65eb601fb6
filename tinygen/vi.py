"""Reverse KL: fitting a flow q to a density known only up to its normalizer (Rezende & Mohamed 2015).

Maximum likelihood (lecture) minimizes D_KL(p || p_theta) and needs samples of p.
When p is known instead as a formula up to a constant, p(z) = p_tilde(z) / Z
(a posterior p(z | x) = p(x, z) / p(x), an energy exp(-U(z))), there are no
samples, but the other direction can be computed:

    D_KL(q || p) = E_q[log q(z) - log p(z)] = E_q[log q(z) - log p_tilde(z)] + log Z.

log Z does not depend on q, so minimizing the free energy

    F(q) = E_q[log q(z) - log p_tilde(z)]   (= E_q[log q(z) + U(z)])

minimizes the KL, and F >= -log Z because D_KL >= 0. The VAE's ELBO <= log p(x)
is the same inequality, with p_tilde(z) = p(x, z), Z = p(x) and F = -ELBO.

The gradient, by reparameterization as in the VAE: q is a flow z = f_theta(eps),
eps ~ p_base = N(0, I), with (change of variables, forward direction)

    log q(z) = log p_base(eps) - log|det df/deps|,

so F = E_eps[log p_base(eps) - log|det df/deps| - log p_tilde(f_theta(eps))] is an
average over a distribution that does not depend on theta, and autograd
differentiates its Monte Carlo estimate on fresh eps at every step. One forward
pass gives both z and log q(z); the inverse g is never needed. That matters:
a planar flow has no closed-form inverse, and an IAF's inverse takes D passes.

Mode seeking. F weighs log q - log p by q itself: where q ~ 0 nothing is paid,
where p ~ 0 and q > 0 the cost log q - log p is huge. So q keeps away from
where p has no mass and may ignore a whole mode of p. Forward KL (MLE) weighs
by p instead and spreads q over every mode (mode covering).
"""
import warnings

import autograd.numpy as np
import numpy as onp
from autograd import grad
from autograd.tracer import Box

from ._validate import (as_rng, check_finite_number, check_positive, check_positive_int, check_size,
                        value_of)
from .evaluate import nll_stats
from .flows.base import Flow, FlowModel
from .optim import minimize
from .recipe import Recipe

__all__ = ["FIT_OPTIONS", "RECIPE", "anneal_beta", "fit_annealed", "fit_reverse_kl", "recipe", "reverse_kl",
           "sample_with_log_q"]

FIT_OPTIONS = ("lr", "optimizer", "lr_schedule", "evaluate", "eval_every", "log_every", "progress", "callback",
               "max_growth")
MAX_ROWS = 20_000  # samples per pass when estimating (bounds memory)
MAX_ESTIMATE = 10 ** 8  # samples reverse_kl agrees to draw (5000 passes of MAX_ROWS: minutes, not days)


def _as_model(model):
    """A bare Flow becomes FlowModel(flow), z = f(eps) with eps ~ N(0, I)."""
    if isinstance(model, Flow):
        return FlowModel(model)
    if not (hasattr(model, "sample") and hasattr(model, "log_prob")):
        raise TypeError(f"model: expected a flow model (sample and log_prob) or a Flow, got {type(model).__name__}")
    if getattr(model, "context_dim", 0):
        raise ValueError(f"model: expected an unconditional model, got context_dim = {model.context_dim}")
    return model


def _as_target(log_p_tilde):
    """The function z -> log p_tilde(z): a callable, or an object with a log_p_tilde method (a Potential)."""
    fn = getattr(log_p_tilde, "log_p_tilde", log_p_tilde)
    if not callable(fn):
        raise TypeError(f"log_p_tilde: expected a function z -> (n,) or a Potential, got {type(log_p_tilde).__name__}")

    def checked(z):
        out = fn(z)
        n = value_of(z).shape[0]
        v = value_of(out)
        if v.shape != (n,):
            raise ValueError(f"log_p_tilde: expected shape ({n},), got {v.shape}")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"log_p_tilde: expected real numbers, got dtype {v.dtype}")
        # -inf is allowed (p_tilde = 0 there); NaN or +inf at a finite z is a fault of the target
        if onp.any(onp.isnan(v) | (v == onp.inf)):
            raise ValueError(f"log_p_tilde: expected values in [-inf, inf) at the samples of q, "
                             f"got NaN or +inf at {int(onp.sum(onp.isnan(v) | (v == onp.inf)))} of {n} samples")
        return out

    return checked


def sample_with_log_q(model, params, n, rng):
    """z ~ q and log q(z), shapes (n, D) and (n,), differentiable in params.

    A flow model (``model.flow`` and ``model.base``): eps ~ base, (z, log_det) =
    flow.forward(eps), log q(z) = log p_base(eps) - log|det df/deps|: one pass, no inverse.
    Any other model: z = model.sample(...) (which must be reparameterized for the
    gradient to reach params) and log q(z) = model.log_prob(params, z).
    """
    model = _as_model(model)
    n = check_positive_int(n, "n")
    check_size(n * (getattr(model, "dim", None) or 1), "n", n, "a batch of n samples of q")
    rng = as_rng(rng)
    if isinstance(getattr(model, "flow", None), Flow) and hasattr(model, "base"):
        eps = model.base.sample(n, rng)
        z, log_det = model.flow.forward(params, eps)
        return z, model.base.log_prob(eps) - log_det  # log q(z) = log p_base(eps) - log|det df/deps|
    z = model.sample(params, n, rng)
    return z, model.log_prob(params, z)


def anneal_beta(step, anneal, beta_start=0.01):
    """beta_t = beta_0 + (1 - beta_0) (t - 1) / (T - 1) for t <= T = ``anneal``, then 1 (anneal = 0: always 1).

    step t >= 1 counts from 1 like ``minimize``; beta_0 = ``beta_start`` in (0, 1].
    """
    step = check_positive_int(step, "step")
    anneal = check_positive_int(anneal, "anneal", minimum=0)
    beta_start = _check_beta_start(beta_start)
    if anneal <= 1 or step >= anneal:
        return 1.0
    return beta_start + (1.0 - beta_start) * (step - 1) / (anneal - 1)


def _check_beta_start(beta_start):
    beta_start = check_positive(beta_start, "beta_start")
    if beta_start > 1:
        raise ValueError(f"beta_start: expected a number in (0, 1], got {beta_start}")
    return beta_start


def _check_dims(model, target):
    """A target that knows its dimension (a Potential) must match the model's."""
    dim, target_dim = getattr(model, "dim", None), getattr(target, "dim", None)
    if dim is not None and target_dim is not None and dim != target_dim:
        raise ValueError(f"log_p_tilde: expected a target over the model's {dim} dimensions, "
                         f"got a {target_dim}-D target")


def _probe(model, params, target, rng):
    """Before training: does the gradient of F reach params through z, and z through log p_tilde?

    A plain-NumPy target or a sample drawn without reparameterization would otherwise fail
    deep inside NumPy, or silently train on a gradient that is missing a term.
    """
    z0 = value_of(sample_with_log_q(model, params, 8, rng)[0])
    target(z0)  # shape and values, on plain arrays
    traced = {}

    def through_target(z):
        out = target(z)
        traced["target"] = isinstance(out, Box)
        return np.sum(out)

    def through_model(p):
        z, log_q = sample_with_log_q(model, p, 8, 0)
        traced["z"] = isinstance(z, Box)
        return np.sum(z) + np.sum(log_q)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autograd warns when the output does not depend on the input
        try:
            grad(through_target)(z0)
        except (TypeError, ValueError, AttributeError) as err:  # the plain call above worked: tracing broke it
            raise TypeError(f"log_p_tilde: expected a function autograd can differentiate in z (written with "
                            f"autograd.numpy), got one that fails when z is traced ({type(err).__name__}: {err})"
                            ) from err
        if not traced["target"]:
            raise TypeError("log_p_tilde: expected a function autograd can differentiate in z (written with "
                            "autograd.numpy), got one whose value autograd cannot trace back to z")
        grad(through_model)(params)
    if not traced["z"]:
        raise TypeError(f"model: expected a reparameterized sample z = f_theta(eps), differentiable in params, "
                        f"got a {type(model).__name__} whose sample(params, n, rng) does not depend on params "
                        "through autograd (the gradient of F would miss its main term)")


def fit_reverse_kl(model, params, log_p_tilde, steps=2000, n_samples=256, rng=0, anneal=0, beta_start=0.01,
                   **fit_options):
    """Fit the flow q_theta to p = p_tilde / Z by stochastic reverse KL; returns (params, history).

    model: a flow model (``FlowModel``, ``RealNVP``, ``NeuralSplineFlow``, ``IAF``, ``MAF``,
        ``flows.planar_model(...)``) or a bare ``Flow`` (base N(0, I)); see ``sample_with_log_q``.
    log_p_tilde: z (n, D) -> (n,), autograd-traceable in z, or a ``data.Potential``.
    Each step minimizes the Monte Carlo free energy on ``n_samples`` fresh eps ~ N(0, I):

        F_beta = (1/S) sum_s [log q(z_s) - beta_t log p_tilde(z_s)],   z_s = f_theta(eps_s)

    anneal: with T = anneal > 1 steps, beta_t rises linearly from ``beta_start`` to 1 over
        the first T steps (the paper's annealing: a flat, tempered target p_tilde^beta first,
        so q spreads out before the target's valleys appear), then stays 1.
    fit_options: ``lr`` (default 1e-3), ``optimizer``, ``lr_schedule``, ``evaluate``,
        ``eval_every``, ``log_every``, ``progress``, ``callback``, ``max_growth``, as in
        ``optim.minimize``, which is the loop (NaN guard: ``NonFiniteLossError`` with the last
        finite params).
    history: ``fit``'s, with "loss" = F_beta per step (at beta = 1 an estimate of the bound
        F >= -log Z) and "beta" = beta_t per step.
    """
    model = _as_model(model)
    target = _as_target(log_p_tilde)
    steps = check_positive_int(steps, "steps")
    n_samples = check_positive_int(n_samples, "n_samples")
    anneal = check_positive_int(anneal, "anneal", minimum=0)
    beta_start = _check_beta_start(beta_start)
    _check_dims(model, log_p_tilde)
    for key in fit_options:
        if key not in FIT_OPTIONS:
            raise TypeError(f"{key}: fit_reverse_kl does not take this option; expected one of {list(FIT_OPTIONS)}")
    fit_options.setdefault("lr", 1e-3)
    check_size(n_samples * (getattr(model, "dim", None) or 1), "n_samples", n_samples,
               "a batch of n_samples samples of q")
    _probe(model, params, target, as_rng(0))
    clock = {"step": 0}  # minimize evaluates the objective once per step

    def free_energy(p, r):
        clock["step"] += 1
        beta = anneal_beta(clock["step"], anneal, beta_start)
        z, log_q = sample_with_log_q(model, p, n_samples, r)
        return np.mean(log_q - beta * target(z))  # F_beta = E_q[log q(z) - beta log p_tilde(z)]

    params, history = minimize(free_energy, params, steps, rng=rng, **fit_options)
    history["beta"] = [anneal_beta(t, anneal, beta_start) for t in history["step"]]
    return params, history


def fit_annealed(model, params, log_p_tilde, steps=2000, rng=0, batch_size=256, **fit_options):
    """``fit_reverse_kl`` with the target annealed over the first half of the steps (anneal = steps // 2)
    and ``batch_size`` samples of q per step: the fitting function of ``RECIPE``."""
    steps = check_positive_int(steps, "steps")
    return fit_reverse_kl(model, params, log_p_tilde, steps=steps, n_samples=batch_size, rng=rng,
                          anneal=steps // 2, **fit_options)


# The training recipe of demo 09 and benchmarks/bench_vi.py: 256 samples of q per step, Adam with
# lr 2e-2 decayed by a cosine schedule, and the target annealed (beta from 0.01 to 1) over the first
# half of the steps. It builds no model: ``RECIPE.train(log_p_tilde, rng, steps, model=flow)``.
RECIPE = Recipe("reverse KL, annealed", None, 2000, 2e-2, "cosine", 256, fit=fit_annealed)


def recipe(steps):
    """Deprecated: ``RECIPE`` (a ``Recipe``); this gives its keywords for ``fit_reverse_kl``."""
    warnings.warn("tinygen.vi.recipe(steps) is deprecated, use tinygen.vi.RECIPE.train(log_p_tilde, rng, steps, "
                  "model=...)", DeprecationWarning, stacklevel=2)
    steps = check_positive_int(steps, "steps")
    return {"steps": steps, "n_samples": RECIPE.batch_size, "lr": RECIPE.lr, "lr_schedule": RECIPE.schedule,
            "anneal": steps // 2}


def reverse_kl(model, params, log_p_tilde, n=10000, rng=0, log_z=None):
    """(estimate, standard error) of D_KL(q || p) when ``log_z`` is given, else of the bound.

    With log w(z) = log p_tilde(z) - log q(z) on n samples z ~ q:
        F = E_q[log q(z) - log p_tilde(z)] ~ -(1/n) sum_i log w(z_i)   (>= -log Z)
        D_KL(q || p) = F + log Z                                        (>= 0)
    The standard error is std_i(log w(z_i)) / sqrt(n); log Z adds none (it is a number).
    It goes to 0 as q -> p, since then log w = log Z for every z.
    """
    model = _as_model(model)
    target = _as_target(log_p_tilde)
    _check_dims(model, log_p_tilde)
    n = check_positive_int(n, "n")
    if n > MAX_ESTIMATE:
        raise ValueError(f"n: expected at most MAX_ESTIMATE = {MAX_ESTIMATE:,} samples, got {n:,}")
    log_z = None if log_z is None else check_finite_number(log_z, "log_z")
    rng = as_rng(rng)
    log_w = []
    for start in range(0, n, MAX_ROWS):
        z, log_q = sample_with_log_q(model, params, min(MAX_ROWS, n - start), rng)
        log_w.append(onp.asarray(target(z) - log_q, dtype=onp.float64))
    log_w = onp.concatenate(log_w)
    if onp.any(onp.isnan(log_w)):
        raise ValueError("log_p_tilde: expected no NaN at samples of q, got NaN")
    if onp.any(log_w == -onp.inf):  # p_tilde(z) = 0 where q(z) > 0: the divergence is infinite
        return onp.inf, onp.inf
    bound, se = nll_stats(log_w)  # (-mean log w, std / sqrt(n))
    if log_z is None:
        return bound, se
    return bound + log_z, se
