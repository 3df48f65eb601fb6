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
import autograd.numpy as np
import numpy as onp

from ._validate import as_rng, check_positive, check_positive_int, value_of
from .evaluate import nll_stats
from .flows.base import Flow, FlowModel
from .optim import minimize

FIT_OPTIONS = ("lr", "optimizer", "lr_schedule", "evaluate", "eval_every", "log_every", "progress", "callback",
               "max_growth")
MAX_ROWS = 20_000  # samples per pass when estimating (bounds memory)


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
        if value_of(out).shape != (n,):
            raise ValueError(f"log_p_tilde: expected shape ({n},), got {value_of(out).shape}")
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
    rng = as_rng(rng)
    if isinstance(getattr(model, "flow", None), Flow) and hasattr(model, "base"):
        eps = model.base.sample(rng, n)
        z, log_det = model.flow.forward(params, eps)
        return z, model.base.log_prob(eps) - log_det  # log q(z) = log p_base(eps) - log|det df/deps|
    z = model.sample(params, n, rng)
    return z, model.log_prob(params, z)


def anneal_beta(step, anneal, beta_start=0.01):
    """beta_t = beta_0 + (1 - beta_0) (t - 1) / (T - 1) for t <= T = ``anneal``, then 1 (anneal = 0: always 1)."""
    if anneal <= 1 or step >= anneal:
        return 1.0
    return beta_start + (1.0 - beta_start) * (step - 1) / (anneal - 1)


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
    beta_start = check_positive(beta_start, "beta_start")
    if beta_start > 1:
        raise ValueError(f"beta_start: expected a number in (0, 1], got {beta_start}")
    for key in fit_options:
        if key not in FIT_OPTIONS:
            raise TypeError(f"{key}: fit_reverse_kl does not take this option; expected one of {list(FIT_OPTIONS)}")
    fit_options.setdefault("lr", 1e-3)
    clock = {"step": 0}  # minimize evaluates the objective once per step

    def free_energy(p, r):
        clock["step"] += 1
        beta = anneal_beta(clock["step"], anneal, beta_start)
        z, log_q = sample_with_log_q(model, p, n_samples, r)
        return np.mean(log_q - beta * target(z))  # F_beta = E_q[log q(z) - beta log p_tilde(z)]

    params, history = minimize(free_energy, params, steps, rng=rng, **fit_options)
    history["beta"] = [anneal_beta(t, anneal, beta_start) for t in history["step"]]
    return params, history


def recipe(steps):
    """The training recipe of demo 09 and benchmarks/bench_vi.py, as keywords for ``fit_reverse_kl``.

    256 samples of q per step, Adam with lr 2e-2 decayed by a cosine schedule, and the
    target annealed (beta from 0.01 to 1) over the first half of the steps.
    """
    steps = check_positive_int(steps, "steps")
    return {"steps": steps, "n_samples": 256, "lr": 2e-2, "lr_schedule": "cosine", "anneal": steps // 2}


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
    n = check_positive_int(n, "n")
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
    return bound + float(log_z), se
