"""Checks for diffusion models: a noise schedule, a score, a bound. Point them at your own.

    alpha_bar_t = prod_{s<=t} (1 - beta_s),  0 < alpha_bar_t < 1       (check_schedule)
    s(x, t) = grad_x log p_t(x) for a density known in closed form     (check_score)
    E[bound(x)] <= log p(x) within its Monte Carlo error                (check_diffusion_bound)

A schedule whose alpha_bar is not the product of its steps makes q(x_t | x_0) disagree with
the chain it claims to describe; a score off by a factor sigma_t (the noise prediction
-eps_hat taken for the score) points the right way with the wrong length; a "bound" above
the exact log-likelihood is no bound. Each fails its row here.
"""
import autograd
import autograd.numpy as np
import numpy as onp

from .._validate import as_batch, as_float_array, check_callable, check_positive
from .bound import check_bound
from .report import Report, fmt

__all__ = ["check_diffusion_bound", "check_schedule", "check_score"]


def check_schedule(schedule, alpha_bar=None, *, rtol=1e-10):
    """beta_t in (0, 1), alpha_bar_t = prod_{s<=t} (1 - beta_s) and 0 < alpha_bar_t < 1; returns a Report.

    schedule: an object with ``beta`` and ``alpha_bar`` indexed by the step 0..T (entry 0 the
    data: beta_0 = 0, alpha_bar_0 = 1), such as ``tinygen.diffusion.Schedule`` or a ``Diffusion``
    (its ``.schedule``); or an array of beta_1..beta_T with ``alpha_bar`` its alpha_bar_1..alpha_bar_T.
    rtol: the product is compared in relative error; summing T <= 10^4 logs in float64 errs by
    ~1e-13, any other formula (1 - sum beta, a cosine not renormalized after clipping) by far more.
    """
    rtol = check_positive(rtol, "rtol")
    if alpha_bar is None:
        schedule = getattr(schedule, "schedule", schedule)  # a Diffusion holds its Schedule
        if not hasattr(schedule, "beta") or not hasattr(schedule, "alpha_bar"):
            raise TypeError(f"schedule: expected an object with beta and alpha_bar (or an array of betas), "
                            f"got {type(schedule).__name__}")
        beta = as_float_array(schedule.beta, "schedule.beta", ndim=1)[1:]
        alpha_bar = as_float_array(schedule.alpha_bar, "schedule.alpha_bar", ndim=1)[1:]
    else:
        beta = as_float_array(schedule, "schedule", ndim=1)
        alpha_bar = as_float_array(alpha_bar, "alpha_bar", ndim=1)
    if beta.shape != alpha_bar.shape or beta.size == 0:
        raise ValueError(f"alpha_bar: expected one value per beta, shape {beta.shape}, got {alpha_bar.shape}")
    report = Report(f"check_schedule(T={beta.size})", notes=["steps t = 1..T"])
    outside = onp.maximum(-beta, beta - 1)  # > 0 outside [0, 1]; = 0 at an end (also refused)
    i = int(onp.argmax(outside))
    report.add("0 < beta_t < 1", outside[i], 0.0, ok=bool(onp.all((beta > 0) & (beta < 1))),
               where=f"t = {i + 1}: beta_t = {beta[i]:.6g}")
    with onp.errstate(divide="ignore", invalid="ignore"):
        product = onp.exp(onp.cumsum(onp.log1p(-beta)))  # prod_{s<=t} (1 - beta_s)
        err = onp.abs(alpha_bar - product) / product
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add("alpha_bar_t = prod_{s<=t} (1 - beta_s)", err[i], rtol,
               where=f"t = {i + 1}: alpha_bar_t = {alpha_bar[i]:.6g}, product = {product[i]:.6g}")
    outside = onp.maximum(-alpha_bar, alpha_bar - 1)
    i = int(onp.argmax(outside))
    report.add("0 < alpha_bar_t < 1", outside[i], 0.0, ok=bool(onp.all((alpha_bar > 0) & (alpha_bar < 1))),
               where=f"t = {i + 1}: alpha_bar_t = {alpha_bar[i]:.6g}")
    return report


def check_score(score, log_density, x, times=None, *, rtol=1e-6):
    """A score against autograd's gradient of a log-density known in closed form; returns a Report.

    score(t, x) -> (n, D) and log_density(t, x) -> (n,) at each t in ``times`` (a diffusion's
    s(x, t) against grad_x log q_t(x)), or score(x) and log_density(x) when times is None.
    Error per point: |s - grad log p| / max(1, |grad log p|) (largest component); float64
    gradients of smooth closed forms agree to ~1e-12, a wrong factor is off by O(1).
    """
    check_callable(score, "score", "score(t, x) returning (n, D)")
    check_callable(log_density, "log_density", "log_density(t, x) returning (n,)")
    x = as_batch(x, "x")
    rtol = check_positive(rtol, "rtol")
    report = Report(f"check_score(n={x.shape[0]})", notes=["reference: autograd's grad_x of log_density"])
    for t in [None] if times is None else list(onp.atleast_1d(as_float_array(times, "times"))):
        args = () if t is None else (t,)
        exact = onp.asarray(autograd.grad(lambda y, args=args: np.sum(log_density(*args, y)))(x))
        got = onp.asarray(score(*args, x), dtype=float)
        if got.shape != x.shape:
            raise ValueError(f"score: expected shape {x.shape}, got {got.shape}")
        err = onp.max(onp.abs(got - exact), axis=1) / onp.maximum(1.0, onp.max(onp.abs(exact), axis=1))
        err = onp.where(onp.isnan(err), onp.inf, err)
        i = int(onp.argmax(err))
        report.add("score = grad_x log p" + ("" if t is None else f" at t = {t:.4g}"), err[i], rtol,
                   where=f"at x = {fmt(x[i])}: score {fmt(got[i])}, grad log p {fmt(exact[i])}")
    return report


def check_diffusion_bound(model, params, x, log_evidence=None, *, repeats=20, rng=0, n_se=4.0):
    """A diffusion model's bound ``model.elbo(params, x, rng)`` stays below log p(x); returns a Report.

    log_evidence: the exact log p(x), (n,); default ``model.log_prob(params, x)`` (the probability-
    flow ODE). The bound is averaged over ``repeats`` independent draws and compared within
    n_se standard errors (see ``check_bound``). Note: the ELBO bounds the reverse chain's
    likelihood; the ODE defines a second density with the same q_t, the two agreeing as the chain
    fits q. Below the ODE likelihood is what a trained or a badly fitted model shows in practice.
    """
    x = as_batch(x, "x")
    if log_evidence is None:
        log_evidence = model.log_prob(params, x)
    return check_bound(lambda r: model.elbo(params, x, r), log_evidence, repeats=repeats, rng=rng, n_se=n_se)
