"""check_autoregressive: output at position t depends only on inputs at earlier positions.

For an ordering o = (o_1, ..., o_D), an autoregressive network computes the
parameters of p(x_{o_t} | x_{o_1}, ..., x_{o_{t-1}}) from the earlier inputs only:

    out_{o_t} does not depend on x_{o_s} for any s >= t     (the autoregressive property)
    out_{o_t} depends on x_{o_s} somewhere, for every s < t  (full connectivity, if claimed)

Two ways to see a dependence, both used:

* autograd's Jacobian at a few points: d out_{o_t} / d x_{o_s}. A masked weight
  multiplies by exactly 0.0, so a forbidden derivative is exactly zero, not merely
  small: the tolerance is 0 (``atol`` raises it, for a model that masks by a large
  negative logit rather than a product with 0). But a derivative misses what is not
  smooth or not traced: an integer lookup W[argmax(e)], a branch np.where(x > 0, ...),
  a call to plain NumPy. So also:
* changing the input: every input position s is changed (a sign flip and random
  steps of several sizes for real inputs, every other symbol for one-hot or integer
  tokens) and the outputs at positions t <= s must stay as they were.

The report names the method that found a leak, where, and by how much.
"""
import warnings

import autograd
import numpy as onp

from .._validate import (
    as_float_array,
    as_rng,
    check_labels,
    check_positive_int,
    permutation,
)
from .report import Report

__all__ = ["check_autoregressive"]

STEPS = (1e-3, 1.0, 10.0)  # random steps, times (1 + |x|): small, unit and large changes of a real input
MAX_SYMBOLS = 8  # the symbols tried per position: all others, or a random sample of this many
# Outputs of the same function on a batch of another size may round differently (BLAS picks
# its kernels by shape); a change below 1e-10 (1 + max |out|) is rounding, not a dependence.
ROUNDING = 1e-10


def _jacobian_dependencies(fn, x, dim):
    """A[p, t, s] = max |d out[position t] / d in[position s]| at point p, for natural positions."""
    A = []
    for p in range(x.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "output seems independent of input": see below
            J = onp.abs(onp.asarray(autograd.jacobian(lambda v: fn(v[None])[0])(x[p]), dtype=float))
        # J has shape (dim, *P, dim, *F): reduce the per-position features on both sides
        J = J.reshape(dim, -1, dim, int(onp.prod(x.shape[2:], dtype=int)))
        A.append(J.max(axis=(1, 3)))
    return onp.array(A)


def _variants(x, kind, n_classes, rng):
    """Changed copies of x: (n, dim, m, *F), copy [p, s, j] = x[p] with position s changed (the j-th way)."""
    dim = x.shape[1]
    if kind == "real":
        v = x[:, :, None]
        steps = [(1.0 + onp.abs(v)) * h * rng.standard_normal(v.shape) for h in STEPS]
        new = onp.concatenate([-v] + [v + s for s in steps], axis=2)  # a sign flip, then random steps
    else:
        V = x.shape[2] if kind == "one-hot" else n_classes
        token = x.argmax(-1) if kind == "one-hot" else x.astype(int)  # (n, dim)
        m = min(V - 1, MAX_SYMBOLS)
        # the j-th other symbol: token + shift_j (mod V), shifts 1..V-1 (all, or a random sample)
        shifts = onp.arange(1, V) if m == V - 1 else 1 + rng.choice(V - 1, m, replace=False)
        new = (token[:, :, None] + shifts) % V  # (n, dim, m)
        if kind == "one-hot":
            new = onp.eye(V)[new]
    m = new.shape[2]
    copies = onp.repeat(x[:, None, None], dim, axis=1).repeat(m, axis=2)  # (n, dim_s, m, dim, *F)
    s = onp.arange(dim)
    copies[:, s, :, s] = onp.moveaxis(new, 1, 0)  # copy [p, s, j] gets the new value at position s
    return copies


def _change_dependencies(fn, x, out0, kind, n_classes, rng):
    """C[p, t, s] = max |out[position t] change| when input position s of point p is changed."""
    n, dim = x.shape[:2]
    copies = _variants(x, kind, n_classes, rng)
    m = copies.shape[2]
    # one call per (position, way) on a batch shaped like x, row p a copy of point p: a fn
    # that pairs its rows with something of x's size (a context c per point) still works
    out = onp.array([[onp.asarray(fn(copies[:, s, j]), dtype=float).reshape(n, dim, -1) for j in range(m)]
                     for s in range(dim)])  # (dim_s, m, n, dim, P)
    out = out.transpose(2, 0, 1, 3, 4)
    diff = onp.abs(out - out0.reshape(n, 1, 1, dim, -1))
    diff = onp.where(onp.isnan(diff), onp.inf, diff)  # a NaN that was not there is a change
    return diff.max(axis=(2, 4)).transpose(0, 2, 1)  # (points, out position t, in position s)


def _leak_row(report, method, D, allowed_tol, later, pos, what):
    leak = onp.where(later[None], D, 0.0)
    p, d, e = onp.unravel_index(onp.argmax(leak), leak.shape)
    report.add(f"output o_t reads no input o_s with s >= t ({method})", leak.max(), allowed_tol,
               where=f"output for x_{d + 1} (t = {pos[d] + 1}) reads x_{e + 1} (s = {pos[e] + 1}): "
                     f"{what} {leak[p, d, e]:.3g} at point {p}")


def check_autoregressive(fn, dim, order=None, *, x=None, n_points=3, rng=0, full=False, atol=0.0, n_classes=None):
    """Check that ``fn``'s output at position o_t reads no input o_s with s >= t; returns a Report.

    fn: maps inputs (n, dim) or (n, dim, F) (F features per position, e.g. one-hot tokens)
    to outputs (n, dim) or (n, dim, P) whose axis 1 is the position (transpose MADE's
    (n, P, D) outputs first). order: the ordering (o_1, ..., o_D) as a permutation of
    0..dim-1; None is the natural order. x: the points (default ``n_points`` standard
    normal rows, which suits real-valued inputs; pass one-hot x for token models).
    Inputs are changed the way they can vary: x of shape (n, dim, V) whose rows are one-hot
    is read as tokens and each token is changed to other symbols ("changed symbol"); with
    ``n_classes`` K, x (n, dim) holds integer tokens 0..K-1, changed the same way; otherwise
    x is real and is changed by a sign flip and random steps ("finite perturbation").
    full=True also requires every earlier input to be read (by either method, at one of the
    points at least: a ReLU may switch a path off at one point). A fn that autograd cannot
    trace is checked by changing inputs only, and the report says so. Positions and
    dimensions are 1-based in the report, as in the lecture (x_1, ..., x_D).
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a function of a batch of inputs, got {type(fn).__name__}")
    dim = check_positive_int(dim, "dim")
    o = onp.arange(dim) if order is None else permutation(dim, order)
    rng = as_rng(rng)
    if not isinstance(full, bool):
        raise TypeError(f"full: expected True or False, got {type(full).__name__}")
    atol = float(as_float_array(atol, "atol", ndim=0))
    if atol < 0:
        raise ValueError(f"atol: expected a number >= 0, got {atol}")
    if x is None:
        x = rng.standard_normal((check_positive_int(n_points, "n_points"), dim))
    x = as_float_array(x, "x")
    if x.ndim < 2 or x.shape[1] != dim or x.shape[0] < 1:
        raise ValueError(f"x: expected shape (n, {dim}) or (n, {dim}, F), got {x.shape}")
    if n_classes is not None:
        n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
        if x.ndim != 2:
            raise ValueError(f"x: expected integer tokens of shape (n, {dim}) with n_classes, got {x.shape}")
        check_labels(x, n_classes, "x")
        kind = "integer"
    elif x.ndim == 3 and x.shape[2] >= 2 and onp.all((x == 0) | (x == 1)) and onp.all(x.sum(-1) == 1):
        kind = "one-hot"
    else:
        kind = "real"
    out0 = onp.asarray(fn(x), dtype=float)
    if out0.ndim < 2 or out0.shape[:2] != x.shape[:2]:
        raise ValueError(f"fn: expected outputs of shape (n, {dim}) or (n, {dim}, P) (axis 1 the position), "
                         f"got {out0.shape} for input {x.shape}")
    pos = onp.empty(dim, dtype=int)
    pos[o] = onp.arange(dim)  # pos[d] = t - 1 where o_t = d
    later = pos[None, :] >= pos[:, None]  # later[d, e]: input e is at or after output d's position
    method = "changed symbol" if kind != "real" else "finite perturbation"
    report = Report(f"check_autoregressive({getattr(fn, '__name__', type(fn).__name__)}, dim={dim})",
                    notes=[f"at {x.shape[0]} points; order (o_1..o_D) = {[int(d) + 1 for d in o]} (1-based)"])
    try:
        A = _jacobian_dependencies(fn, x, dim)  # (points, out position d, in position e), natural indices
    except Exception as err:  # noqa: BLE001 -- any failure to trace: fall back on changing inputs
        A = None
        report.notes.append(f"autograd Jacobian: not computed, fn is not traceable ({type(err).__name__}: {err})")
    if A is not None:
        _leak_row(report, "autograd Jacobian", A, atol, later, pos, "|derivative|")
    C = _change_dependencies(fn, x, out0, kind, n_classes, rng)
    tol = max(atol, ROUNDING * (1.0 + float(onp.nanmax(onp.abs(out0), initial=0.0))))
    _leak_row(report, method, C, tol, later, pos, "output changes by")
    report.notes.append(f"{method}: each input position changed "
                        + ("by a sign flip and random steps of " + ", ".join(f"{h:g}" for h in STEPS)
                           + " x (1 + |x|)" if kind == "real" else "to other symbols")
                        + f"; a change above {tol:.2g} is a dependence")
    if full:
        seen = (C > tol).any(axis=0) | (False if A is None else (A > atol).any(axis=0))
        missing = ~seen & ~later
        d, e = (onp.argwhere(missing)[0] if missing.any() else (0, 0))
        report.add("output o_t reads every input o_s with s < t (full=True)", int(missing.sum()), 0,
                   where=f"{int(missing.sum())} missing, e.g. output for x_{d + 1} (t = {pos[d] + 1}) "
                         f"never reads x_{e + 1} (s = {pos[e] + 1})")
    return report
