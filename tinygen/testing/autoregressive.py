"""check_autoregressive: output at position t depends only on inputs at earlier positions.

For an ordering o = (o_1, ..., o_D), an autoregressive network computes the
parameters of p(x_{o_t} | x_{o_1}, ..., x_{o_{t-1}}) from the earlier inputs only:

    d out_{o_t} / d x_{o_s} = 0   for every s >= t          (the autoregressive property)
    d out_{o_t} / d x_{o_s} != 0  somewhere, for every s < t  (full connectivity, if claimed)

Both are read off autograd's Jacobian at a few points. A masked weight multiplies
by exactly 0.0, so a forbidden derivative is exactly zero, not merely small: the
tolerance for the first property is 0 (``atol`` raises it, for a model that masks
by a large negative logit rather than a product with 0).
"""
import autograd
import numpy as onp

from .._validate import as_float_array, as_rng, check_positive_int, permutation
from .report import Report


def _dependencies(fn, x, dim):
    """A[p, t, s] = max |d out[position t] / d in[position s]| at point p, for natural positions."""
    out = onp.asarray(fn(x[:1]))
    if out.ndim < 2 or out.shape[0] != 1 or out.shape[1] != dim:
        raise ValueError(f"fn: expected outputs of shape (n, {dim}) or (n, {dim}, P) (axis 1 the position), "
                         f"got {out.shape} for input {x[:1].shape}")
    A = []
    for p in range(x.shape[0]):
        J = onp.abs(onp.asarray(autograd.jacobian(lambda v: fn(v[None])[0])(x[p]), dtype=float))
        # J has shape (dim, *P, dim, *F): reduce the per-position features on both sides
        J = J.reshape(dim, -1, dim, int(onp.prod(x.shape[2:], dtype=int)))
        A.append(J.max(axis=(1, 3)))
    return onp.array(A)


def check_autoregressive(fn, dim, order=None, *, x=None, n_points=3, rng=0, full=False, atol=0.0):
    """Check that ``fn``'s output at position o_t reads no input o_s with s >= t; returns a Report.

    fn: maps inputs (n, dim) or (n, dim, F) (F features per position, e.g. one-hot tokens)
    to outputs (n, dim) or (n, dim, P) whose axis 1 is the position (transpose MADE's
    (n, P, D) outputs first). order: the ordering (o_1, ..., o_D) as a permutation of
    0..dim-1; None is the natural order. x: the points (default ``n_points`` standard
    normal rows, which suits real-valued inputs; pass one-hot x for token models).
    full=True also requires every earlier input to be read (at one of the points at least:
    a ReLU may switch a path off at one point). Positions and dimensions are 1-based in the
    report, as in the lecture (x_1, ..., x_D).
    """
    dim = check_positive_int(dim, "dim")
    o = onp.arange(dim) if order is None else permutation(dim, order)
    rng = as_rng(rng)
    if x is None:
        x = rng.standard_normal((check_positive_int(n_points, "n_points"), dim))
    x = as_float_array(x, "x")
    if x.ndim < 2 or x.shape[1] != dim or x.shape[0] < 1:
        raise ValueError(f"x: expected shape (n, {dim}) or (n, {dim}, F), got {x.shape}")
    A = _dependencies(fn, x, dim)  # (points, out position d, in position e), natural indices
    pos = onp.empty(dim, dtype=int)
    pos[o] = onp.arange(dim)  # pos[d] = t - 1 where o_t = d
    later = pos[None, :] >= pos[:, None]  # later[d, e]: input e is at or after output d's position
    report = Report(f"check_autoregressive({getattr(fn, '__name__', type(fn).__name__)}, dim={dim})",
                    notes=[f"autograd Jacobian at {x.shape[0]} points; order (o_1..o_D) = "
                           f"{[int(d) + 1 for d in o]} (1-based)"])
    leak = onp.where(later[None], A, 0.0)
    p, d, e = onp.unravel_index(onp.argmax(leak), leak.shape)
    report.add("output o_t reads no input o_s with s >= t", leak.max(), atol,
               where=f"output for x_{d + 1} (t = {pos[d] + 1}) reads x_{e + 1} (s = {pos[e] + 1}): "
                     f"|derivative| {leak[p, d, e]:.3g} at point {p}")
    if full:
        seen = A.max(axis=0) > atol  # read at one of the points at least
        missing = ~seen & ~later
        d, e = (onp.argwhere(missing)[0] if missing.any() else (0, 0))
        report.add("output o_t reads every input o_s with s < t (full=True)", int(missing.sum()), 0,
                   where=f"{int(missing.sum())} missing, e.g. output for x_{d + 1} (t = {pos[d] + 1}) "
                         f"never reads x_{e + 1} (s = {pos[e] + 1})")
    return report
