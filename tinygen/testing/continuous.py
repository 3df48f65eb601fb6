"""Checks for your own continuous-time pieces: a log-density ODE and a trace estimator.

    from tinygen.testing import check_log_density_ode, check_trace_estimator
    check_log_density_ode(my_dynamics, dim=2).assert_ok()
    check_trace_estimator(my_estimator, dim=3).assert_ok()

* ``check_log_density_ode``: your right-hand side of the pair (z, log p), solved for a short
  time, changes log p by -log|det| of the flow map's Jacobian (autograd through the solve):
  the instantaneous change of variables, d log p / dt = -tr(dv/dz), integrated.
* ``check_trace_estimator``: your stochastic estimate of tr(dv/dz) averages, over many
  draws, to the exact trace (autograd's Jacobian) within its standard error.
"""
import autograd.numpy as anp
import numpy as onp
from autograd import jacobian

from .._validate import as_rng, check_callable, check_positive, check_positive_int
from ..nn import MLP
from ..ode import odeint
from .report import Report

__all__ = ["check_log_density_ode", "check_trace_estimator", "random_field"]


def _fmt(v):
    return onp.array2string(onp.asarray(v), precision=4, separator=", ")


def check_log_density_ode(dynamics, dim, *, rng=0, n=4, t1=0.5, scale=1.0, atol=1e-6):
    """The log-density ODE against the flow map's log-determinant; returns a Report.

    dynamics: F(t, (z, logp)) -> (dz/dt, dlogp/dt) with z of shape (m, D) and logp of shape
    (m,), rows independent: the right-hand side ``tinygen.ode.odeint`` solves for a CNF.
    For n points z_0 ~ N(0, scale^2 I) it solves (z, 0) from t = 0 to t1 with dopri5 at
    rtol = atol = 1e-10 and requires

        logp(t1) - logp(0) = -log|det dz(t1)/dz(0)|

    the Jacobian taken by autograd through the same solve. Both sides carry the solver's
    error (~1e-9 at these tolerances); a wrong sign or a missing term in dlogp/dt is off by
    O(t1 * |tr|), far above the default atol 1e-6. A short t1 keeps the solve cheap and the
    flow map well conditioned.
    """
    check_callable(dynamics, "dynamics", "F(t, (z, logp)) returning (dz/dt, dlogp/dt)")
    dim = check_positive_int(dim, "dim")
    n = check_positive_int(n, "n")
    t1, scale, atol = check_positive(t1, "t1"), check_positive(scale, "scale"), check_positive(atol, "atol")
    z0 = scale * as_rng(rng).standard_normal((n, dim))
    solver = {"method": "dopri5", "rtol": 1e-10, "atol": 1e-10}

    def solve(z):  # one point (D,) -> (z(t1), logp(t1) - logp(0))
        z_t, logp = odeint(dynamics, (z[None], anp.zeros(1)), [0.0, t1], **solver)
        return z_t[-1, 0], logp[-1, 0]

    errors = []
    for z in z0:
        _, delta = solve(z)
        _, log_det = onp.linalg.slogdet(jacobian(lambda y: solve(y)[0])(z))
        errors.append((abs(delta + log_det), delta, -log_det))
    i = int(onp.argmax([e[0] for e in errors]))
    report = Report(f"check_log_density_ode(dim={dim})",
                    notes=[f"{n} points z ~ N(0, {scale:g}^2 I), solved from t = 0 to {t1:g} by dopri5 (tol 1e-10)"])
    report.add("log p changes by -log|det dz(t1)/dz(0)| (d log p/dt = -tr dv/dz)", errors[i][0], atol,
               where=f"at z = {_fmt(z0[i])}: the ODE gave {errors[i][1]:.6g}, -log|det J| = {errors[i][2]:.6g}")
    return report


def random_field(dim, rng=0, hidden=16):
    """A smooth random velocity field v(t, z) = MLP([z, t]) (tanh), for trying estimators."""
    net = MLP((dim + 1, hidden, dim), activation="tanh")
    params = net.init(as_rng(rng))
    return lambda t, z: net(params, anp.concatenate([z, t * anp.ones((anp.shape(z)[0], 1))], axis=1))


def check_trace_estimator(estimator, dim, *, field=None, rng=0, n=3, draws=2000, t=0.5, n_se=4.0):
    """A stochastic trace estimator against the exact trace; returns a Report.

    estimator: est(f, t, z, rng) -> shape (m,), one estimate of tr(df/dz) per row of z
    (m, D), e.g. Hutchinson's eps^T (df/dz) eps with a fresh probe per row.
    field: v(t, z) on rows of z (default ``random_field(dim, rng)``).
    At n points z ~ N(0, I) it averages ``draws`` estimates (the point repeated ``draws``
    times, one call) and requires |mean - tr| <= n_se standard errors, where tr is the trace
    of autograd's Jacobian and the standard error is the estimates' sd / sqrt(draws). An
    unbiased estimator fails this with probability about 6e-5 per point at n_se = 4; a probe
    with E[eps eps^T] = c I != I is off by (c - 1) tr, many standard errors at 2000 draws.
    An estimator with zero spread (an exact trace) is held to 1e-9 instead.
    """
    check_callable(estimator, "estimator", "est(f, t, z, rng) returning one trace estimate per row")
    dim = check_positive_int(dim, "dim")
    n, draws = check_positive_int(n, "n"), check_positive_int(draws, "draws", minimum=2)
    n_se = check_positive(n_se, "n_se")
    rng = as_rng(rng)
    f = random_field(dim, rng) if field is None else check_callable(field, "field", "v(t, z)")
    worst, where = 0.0, ""
    for z in rng.standard_normal((n, dim)):
        exact = onp.trace(jacobian(lambda y: f(t, y[None])[0])(z))
        est = onp.asarray(estimator(f, t, onp.tile(z, (draws, 1)), rng), dtype=float)
        if est.shape != (draws,):
            raise ValueError(f"estimator: expected one estimate per row, shape ({draws},), got {est.shape}")
        se = est.std(ddof=1) / onp.sqrt(draws)
        gap = abs(est.mean() - exact)
        score = gap / se if se > 0 else (0.0 if gap <= 1e-9 else onp.inf)
        if not score <= worst:  # also catches NaN
            worst = score
            where = f"at z = {_fmt(z)}: mean {est.mean():.6g} +- {se:.3g} (se) against tr = {exact:.6g}"
    report = Report(f"check_trace_estimator(dim={dim})",
                    notes=[f"{n} points, {draws} estimates each, at t = {t:g}"])
    report.add("unbiased: mean estimate within n_se standard errors of tr(df/dz)", worst, n_se, where=where)
    return report
