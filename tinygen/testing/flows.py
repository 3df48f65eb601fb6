"""check_flow: a flow layer's inverse and hand-written log-determinants, by property.

For any flow (x, log|det df/dz|) = forward(params, z) and (z, log|det dg/dx|) =
inverse(params, x) with g = f^-1 (the lecture's direction):

    g(f(z)) = z  and  f(g(x)) = x                        (invertibility)
    log|det df/dz| = log|det J_f(z)|, J_f from autograd    (the hand-written log-det)
    log|det dg/dx| + log|det df/dz| = 0 at x = f(z)        (inverse function theorem)

at O(1) inputs and, for the log-dets, far out too; and every trainable parameter must reach
the output (else it cannot learn).
"""
import numbers

import autograd
import numpy as onp

from .._validate import as_batch, as_rng, check_positive, check_positive_int
from .gradients import PERTURB_SCALE, gradient_reach, leaves, perturb  # public here too
from .report import Report, fmt

__all__ = ["PERTURB_SCALE", "check_flow", "check_tolerance", "gradient_reach", "leaves", "perturb"]


def check_tolerance(value, name):
    """A tolerance: a finite number >= 0 (inf would pass anything, NaN nothing)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite number >= 0, got {type(value).__name__}")
    if not (onp.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _context(flow, context, n, rng):
    c_dim = getattr(flow, "context_dim", 0) or 0
    if context is None:
        return rng.standard_normal((n, c_dim)) if c_dim else None
    c = as_batch(context, "context", c_dim or None)
    if c.shape[0] == 1:
        return onp.repeat(c, n, axis=0)
    if c.shape[0] != n:
        raise ValueError(f"context: expected 1 or {n} rows (one per test point), got shape {c.shape}")
    return c


def _row(c, i):
    return None if c is None else c[i:i + 1]


def _describe(out):
    """What a user's method returned, for an error message: "a tuple (ndarray (4, 2), float)"."""
    def one(a):
        shape = onp.shape(a) if isinstance(a, (onp.ndarray, numbers.Number)) or hasattr(a, "shape") else None
        return type(a).__name__ + ("" if shape is None else f" {shape}")
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} ({', '.join(one(a) for a in out)})"
    return f"a single {one(out)}"


def _call(flow, direction, params, v, c):
    """flow.forward or flow.inverse at v, held to the contract: (values (n, D), log_det (n,))."""
    out = getattr(flow, direction)(params, v, context=c)
    n, dim = v.shape
    contract = (f"flow.{direction}: expected a pair (values, log_det) of shapes (n, D) = ({n}, {dim}) "
                f"and (n,) = ({n},), got ")
    if not isinstance(out, (tuple, list)) or len(out) != 2 or any(a is None or isinstance(a, (str, bytes))
                                                                     for a in out):
        raise TypeError(contract + _describe(out))
    try:
        values, log_det = (onp.asarray(a, dtype=float) for a in out)
    except (TypeError, ValueError) as err:
        raise TypeError(contract + _describe(out)) from err
    if values.shape != (n, dim) or log_det.shape != (n,):
        raise ValueError(contract + _describe(out))
    return values, log_det


def _round_trip(report, name, flow, first, second, params, v, c, atol, label):
    """|second(first(v)) - v| relative to max(1, |v|, |first(v)|), worst over the points."""
    u, _ = _call(flow, first, params, v, c)
    if not onp.all(onp.isfinite(u)):
        i = int(onp.flatnonzero(~onp.all(onp.isfinite(u), axis=1))[0])
        report.add(name, onp.inf, atol, where=f"at {label}[{i}] = {fmt(v[i])}: {first} gave {fmt(u[i])}")
        return
    back, _ = _call(flow, second, params, u, c)
    scale = onp.maximum(1.0, onp.maximum(onp.abs(v), onp.abs(u)).max(axis=1))
    err = onp.abs(back - v).max(axis=1) / scale
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add(name, err[i], atol, where=f"at {label}[{i}] = {fmt(v[i])}: came back as {fmt(back[i])}")


def _log_det_vs_autograd(report, name, flow, direction, params, v, c, atol, label):
    """Hand-written log|det| against slogdet of autograd's D x D Jacobian, point by point."""
    fn = getattr(flow, direction)
    _, log_det = _call(flow, direction, params, v, c)
    worst, where = -1.0, ""
    for i in range(v.shape[0]):
        J = autograd.jacobian(lambda p, i=i: fn(params, p[None], context=_row(c, i))[0][0])(v[i])
        with onp.errstate(invalid="ignore"):  # a NaN Jacobian is reported below, not warned about
            sign, exact = onp.linalg.slogdet(onp.asarray(J, dtype=float))
        err = abs(log_det[i] - exact) / max(1.0, abs(exact))
        err = onp.inf if sign == 0 or not onp.isfinite(err) else err  # NaN or a singular J fails
        if err > worst:
            worst = err
            where = (f"at {label}[{i}] = {fmt(v[i])}: hand-written {log_det[i]:.6g}, autograd "
                     + ("singular Jacobian" if sign == 0 else f"{exact:.6g}"))
    report.add(name, worst, atol, where=where)


def check_flow(flow, params=None, *, rng=0, context=None, n=4, bound=3.0, atol=1e-6, points=None, large=None,
               log_det_atol=None, gradients=True):
    """Check an invertible layer by property; returns a Report (truthy iff every property was verified).

    flow: anything with ``dim``, ``init(rng)``, ``forward(params, z, context=None)`` and
    ``inverse(params, x, context=None)`` returning a pair (values (n, D), log|det| (n,)), and
    ``context_dim`` for a conditional layer (then a context is drawn unless given; a given
    context of m > 1 rows, one per point, sets n = m). A forward or inverse that returns
    anything else raises a TypeError / ValueError naming ``flow.forward`` / ``flow.inverse``.
    params: any (the init, the identity, trained ones); None draws ``flow.init(rng)`` and
    perturbs every float leaf (see ``perturb``).
    Points: n uniform in [-bound, bound]^D used as z and n more as x (or ``points``, used as
    both); ``large`` inputs (default 10 * bound) test finiteness and invertibility far out,
    and both hand-written log-dets against autograd there (where the map is finite).
    Gradients: see ``tinygen.testing.gradients`` (decided on perturbed copies where they
    vanish at the given params; a row that cannot be decided says so and is not a pass).

    Tolerance ``atol`` is on errors relative to max(1, |value|): a round trip is off by
    max_d |g(f(z))_d - z_d| / max(1, |z|, |x|), a log-det by |ld - slogdet J| / max(1, |slogdet J|).
    In float64 a few layers of smooth arithmetic agree to ~1e-12 on O(1) inputs; the default
    1e-6 leaves room for ill-conditioned Jacobians and still catches any wrong formula,
    which is off by O(1e-2) or more. ``log_det_atol`` (default atol) holds the log-dets to
    their own tolerance. ``gradients=False`` drops the gradient row, for a layer whose
    parameters are rightly constant at some sizes (LULinear's L and U in 1-D).
    Cost: 4 n Jacobians of D backward passes each.
    """
    rng = as_rng(rng)
    n = check_positive_int(n, "n")
    bound = check_positive(bound, "bound")
    atol = check_tolerance(atol, "atol")
    log_det_atol = atol if log_det_atol is None else check_tolerance(log_det_atol, "log_det_atol")
    large = 10.0 * bound if large is None else check_positive(large, "large")
    dim = getattr(flow, "dim", None)
    if not hasattr(flow, "forward") or not hasattr(flow, "inverse") or not isinstance(dim, numbers.Integral):
        raise TypeError(f"flow: expected a flow with forward, inverse and an int dim, got {type(flow).__name__}")
    dim = check_positive_int(dim, "flow.dim")
    if params is None:
        params = perturb(flow.init(rng), rng)
    rows = onp.shape(context)[0] if context is not None and onp.ndim(context) == 2 else 1
    if points is None and rows > 1:
        n = rows  # one test point per context row
    z = rng.uniform(-bound, bound, (n, dim)) if points is None else as_batch(points, "points", dim)
    x = rng.uniform(-bound, bound, (n, dim)) if points is None else z
    n = z.shape[0]
    c = _context(flow, context, n, rng)
    where = f"in [-{bound:g}, {bound:g}]^{dim} as z and {n} more as x" if points is None else "given, as z and as x"
    report = Report(f"check_flow({type(flow).__name__}, dim={dim})",
                    notes=[f"{n} points {where}; large inputs |z| ~ {large:g}"])

    # the contract first (each call raises, naming flow.forward / flow.inverse, if it is broken)
    fz, ld_f = _call(flow, "forward", params, z, c)
    _call(flow, "inverse", params, x, c)

    _round_trip(report, "inverse(forward(z)) = z", flow, "forward", "inverse", params, z, c, atol, "z")
    _round_trip(report, "forward(inverse(x)) = x", flow, "inverse", "forward", params, x, c, atol, "x")
    _log_det_vs_autograd(report, "forward log_det = log|det df/dz| (autograd)", flow, "forward", params, z, c,
                         log_det_atol, "z")
    _log_det_vs_autograd(report, "inverse log_det = log|det dg/dx| (autograd)", flow, "inverse", params, x, c,
                         log_det_atol, "x")
    # log|det df/dz| at z and log|det dg/dx| at x = f(z) are negatives of each other
    finite = onp.all(onp.isfinite(fz), axis=1)  # (a tinygen Flow refuses a non-finite x)
    ld_back = onp.full(n, onp.nan)
    if finite.any():
        ld_back[finite] = _call(flow, "inverse", params, fz[finite], _rows(c, finite))[1]
    err = onp.abs(ld_f + ld_back) / onp.maximum(1.0, onp.abs(ld_f))
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add("log_dets cancel: forward(z) + inverse(f(z)) = 0", err[i], log_det_atol,
               where=f"at z[{i}] = {fmt(z[i])}: forward {ld_f[i]:.6g}, inverse {ld_back[i]:.6g}")
    if gradients:
        # at 2n standard normal points, whatever the bound: far out a spline is the identity and a
        # clamp saturates, where a zero gradient is right
        gradient_reach(report, flow, params, rng.standard_normal((2 * n, dim)),
                       None if c is None else onp.concatenate([c, c]), rng)
    _large_inputs(report, flow, params, n, c, large, rng, atol, log_det_atol)
    return report


def _rows(c, keep):
    return None if c is None else c[keep]


def _large_inputs(report, flow, params, n, c, large, rng, atol, log_det_atol):
    """Far out, |z_d| ~ large: f(z) finite and g(f(z)) = z (relative to |z|), and both hand-written
    log-dets against autograd where the map is finite there.

    Invertibility is asked in this direction only, since a flow need not map onto all of R^D (Exp
    reaches x > 0 only, and its inverse refuses x <= 0); for the same reason the inverse's log-det
    is compared at the points x = f(z) of its range that the large z reach.
    The log-det tolerance stays relative, |ld - slogdet J| / max(1, |slogdet J|): far out the
    log-dets grow (log cosh z ~ |z|) and an absolute tolerance would demand digits float64 lacks.
    """
    z_big = large * onp.sign(rng.standard_normal((n, flow.dim))) * rng.uniform(0.5, 1.0, (n, flow.dim))
    big = Report("")
    _round_trip(big, "", flow, "forward", "inverse", params, z_big, c, atol, "z")
    report.add(f"finite and invertible at |z| ~ {large:g}", big.rows[0].worst, atol, where=big.rows[0].where)
    with onp.errstate(all="ignore"):  # overflow far out is what is being sorted here
        x_big, ld = _call(flow, "forward", params, z_big, c)
    keep = onp.all(onp.isfinite(x_big), axis=1) & onp.isfinite(ld)
    if keep.any():  # where f itself overflows, the row above already fails
        _log_det_vs_autograd(report, f"forward log_det = autograd at |z| ~ {large:g}", flow, "forward", params,
                             z_big[keep], _rows(c, keep), log_det_atol, "z")
        _log_det_vs_autograd(report, f"inverse log_det = autograd at x = f(z), |z| ~ {large:g}", flow, "inverse",
                             params, x_big[keep], _rows(c, keep), log_det_atol, "x")
