"""check_flow: a flow layer's inverse and hand-written log-determinants, by property.

For any flow (x, log|det df/dz|) = forward(params, z) and (z, log|det dg/dx|) =
inverse(params, x) with g = f^-1 (the lecture's direction):

    g(f(z)) = z  and  f(g(x)) = x                        (invertibility)
    log|det df/dz| = log|det J_f(z)|, J_f from autograd    (the hand-written log-det)
    log|det dg/dx| + log|det df/dz| = 0 at x = f(z)        (inverse function theorem)

and every trainable parameter must reach the output (else it cannot learn).
"""
import numbers
import warnings

import autograd
import autograd.numpy as np
import numpy as onp

from .._validate import as_batch, as_rng, check_positive, check_positive_int
from .report import Report, fmt

PERTURB_SCALE = 0.5


def perturb(params, rng=0, scale=PERTURB_SCALE):
    """A copy of a params pytree with N(0, s^2) noise added to every float leaf.

    s = scale for vectors and scalars, scale / sqrt(rows) for a weight matrix (so a
    layer's outputs move by O(scale) whatever its width). Untrained layers start
    near the identity (zero last layers, ActNorm's s = t = 0), where a wrong
    log-det (0 instead of sum alpha) would go unnoticed: perturbing moves them away.
    """
    rng = as_rng(rng)
    if isinstance(params, dict):
        return {key: perturb(params[key], rng, scale) for key in params}
    if isinstance(params, (list, tuple)):
        return type(params)(perturb(p, rng, scale) for p in params)
    a = onp.asarray(params)
    if a.dtype.kind != "f":
        return params  # integer structure (if any) is not trainable
    s = scale / onp.sqrt(a.shape[0]) if a.ndim == 2 else scale
    return a + s * rng.standard_normal(a.shape)


def leaves(tree, path="params"):
    """[(path, leaf)] for the float leaves of a pytree, with readable paths like params[0]['W']."""
    if isinstance(tree, dict):
        return [item for key in tree for item in leaves(tree[key], f"{path}[{key!r}]")]
    if isinstance(tree, (list, tuple)):
        return [item for i, t in enumerate(tree) for item in leaves(t, f"{path}[{i}]")]
    return [(path, tree)] if onp.asarray(tree).dtype.kind == "f" else []


def _tolerance(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
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


def _call(fn, params, v, c):
    out, log_det = fn(params, v, context=c)
    return onp.asarray(out, dtype=float), onp.asarray(log_det, dtype=float)


def _round_trip(report, name, first, second, params, v, c, atol, label):
    """|second(first(v)) - v| relative to max(1, |v|, |first(v)|), worst over the points."""
    u, _ = _call(first, params, v, c)
    if not onp.all(onp.isfinite(u)):
        i = int(onp.flatnonzero(~onp.all(onp.isfinite(u), axis=1))[0])
        first_name = "forward" if label == "z" else "inverse"
        report.add(name, onp.inf, atol, where=f"at {label}[{i}] = {fmt(v[i])}: {first_name} gave {fmt(u[i])}")
        return
    back, _ = _call(second, params, u, c)
    scale = onp.maximum(1.0, onp.maximum(onp.abs(v), onp.abs(u)).max(axis=1))
    err = onp.abs(back - v).max(axis=1) / scale
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add(name, err[i], atol, where=f"at {label}[{i}] = {fmt(v[i])}: came back as {fmt(back[i])}")


def _log_det_vs_autograd(report, name, fn, params, v, c, atol, label):
    """Hand-written log|det| against slogdet of autograd's D x D Jacobian, point by point."""
    _, log_det = _call(fn, params, v, c)
    worst, where = -1.0, ""
    for i in range(v.shape[0]):
        J = autograd.jacobian(lambda p: fn(params, p[None], context=_row(c, i))[0][0])(v[i])
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
    """Check an invertible layer by property; returns a Report (truthy iff all hold).

    flow: anything with ``dim``, ``init(rng)``, ``forward(params, z, context=None)`` and
    ``inverse(params, x, context=None)`` returning (values (n, D), log|det| (n,)), and
    ``context_dim`` for a conditional layer (then a context is drawn unless given; a given
    context of m > 1 rows, one per point, sets n = m).
    params: None draws ``flow.init(rng)`` and perturbs every float leaf (see ``perturb``).
    Points: n uniform in [-bound, bound]^D used as z and n more as x (or ``points``, used as
    both); ``large`` inputs (default 10 * bound) test finiteness and invertibility far out.

    Tolerance ``atol`` is on errors relative to max(1, |value|): a round trip is off by
    max_d |g(f(z))_d - z_d| / max(1, |z|, |x|), a log-det by |ld - slogdet J| / max(1, |slogdet J|).
    In float64 a few layers of smooth arithmetic agree to ~1e-12 on O(1) inputs; the default
    1e-6 leaves room for ill-conditioned Jacobians and still catches any wrong formula,
    which is off by O(1e-2) or more. ``log_det_atol`` (default atol) holds the log-dets to
    their own tolerance. ``gradients=False`` drops the gradient row, for a layer whose
    parameters are rightly constant at some sizes (LULinear's L and U in 1-D).
    Cost: 2 n Jacobians of D backward passes each.
    """
    rng = as_rng(rng)
    n = check_positive_int(n, "n")
    bound = check_positive(bound, "bound")
    atol = _tolerance(atol, "atol")
    log_det_atol = atol if log_det_atol is None else _tolerance(log_det_atol, "log_det_atol")
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

    # shapes first: the other properties index into the outputs
    (fz, ld_f), (gx, ld_g) = _call(flow.forward, params, z, c), _call(flow.inverse, params, x, c)
    bad = [f"{name} gave {a.shape} and log_det {b.shape}" for name, a, b in
           (("forward", fz, ld_f), ("inverse", gx, ld_g)) if a.shape != (n, dim) or b.shape != (n,)]
    report.add(f"shapes (n, D) = ({n}, {dim}) and log_det (n,)", len(bad), 0,
               where=f"expected ({n}, {dim}) and ({n},); " + "; ".join(bad))
    if bad:
        return report

    _round_trip(report, "inverse(forward(z)) = z", flow.forward, flow.inverse, params, z, c, atol, "z")
    _round_trip(report, "forward(inverse(x)) = x", flow.inverse, flow.forward, params, x, c, atol, "x")
    _log_det_vs_autograd(report, "forward log_det = log|det df/dz| (autograd)", flow.forward, params, z, c,
                         log_det_atol, "z")
    _log_det_vs_autograd(report, "inverse log_det = log|det dg/dx| (autograd)", flow.inverse, params, x, c,
                         log_det_atol, "x")
    # log|det df/dz| at z and log|det dg/dx| at x = f(z) are negatives of each other
    finite = onp.all(onp.isfinite(fz), axis=1)  # (a tinygen Flow refuses a non-finite x)
    ld_back = onp.full(n, onp.nan)
    if finite.any():
        ld_back[finite] = _call(flow.inverse, params, fz[finite], None if c is None else c[finite])[1]
    err = onp.abs(ld_f + ld_back) / onp.maximum(1.0, onp.abs(ld_f))
    err = onp.where(onp.isnan(err), onp.inf, err)
    i = int(onp.argmax(err))
    report.add("log_dets cancel: forward(z) + inverse(f(z)) = 0", err[i], log_det_atol,
               where=f"at z[{i}] = {fmt(z[i])}: forward {ld_f[i]:.6g}, inverse {ld_back[i]:.6g}")
    if gradients:
        # at 2n standard normal points, whatever the bound: far out a spline is the identity and a
        # clamp saturates, where a zero gradient is right
        _gradients(report, flow, params, rng.standard_normal((2 * n, dim)),
                   None if c is None else onp.concatenate([c, c]), rng)

    # far out: f(z) finite and g(f(z)) = z (relative to |z|); only this direction, since a
    # flow need not map onto all of R^D (Exp reaches x > 0 only)
    z_big = large * onp.sign(rng.standard_normal((n, dim))) * rng.uniform(0.5, 1.0, (n, dim))
    big = Report("")
    _round_trip(big, "", flow.forward, flow.inverse, params, z_big, c, atol, "z")
    report.add(f"finite and invertible at |z| ~ {large:g}", big.rows[0].worst, atol, where=big.rows[0].where)
    return report


def _gradients(report, flow, params, v, c, rng):
    """Every float leaf of params gets a finite gradient, nonzero somewhere, from a random
    linear function of both directions' outputs and log-dets."""
    named = leaves(params)
    if not any(onp.size(leaf) for _, leaf in named):
        report.add("every parameter gets a gradient (no parameters)", 0, 0)
        return
    w = rng.standard_normal(v.shape)

    def objective(p):
        out, ld_f = flow.forward(p, v, context=c)
        back, ld_g = flow.inverse(p, v, context=c)
        return np.sum(w * out) + np.sum(ld_f) + np.sum(w * back) + np.sum(ld_g)

    with warnings.catch_warnings():  # a leaf the output ignores makes autograd warn; we report it
        warnings.simplefilter("ignore")
        grads = leaves(autograd.grad(objective)(params))
    named = [(path, onp.asarray(g)) for (path, leaf), (_, g) in zip(named, grads) if onp.size(leaf)]  # skip empty
    bad = [f"{path} (shape {g.shape}): " + ("non-finite" if not onp.all(onp.isfinite(g)) else "zero")
           for path, g in named if not onp.all(onp.isfinite(g)) or not onp.any(g != 0)]
    label = f"{len(named)} leaves" if len(named) > 1 else "1 leaf"
    report.add(f"every parameter gets a gradient ({label})", len(bad), 0,
               where="no gradient reaches " + ", ".join(bad))
