"""Ordinary differential equations dy/dt = f(t, y), solved so that autograd can differentiate them.

Classical Runge-Kutta (``method="rk4"``, fixed steps) and Dormand-Prince 5(4) (``"dopri5"``,
adaptive steps with error control), each a plain loop of autograd.numpy operations, so
``autograd.grad`` backpropagates through every step: the gradient is the exact gradient of the
discretized solution (not an adjoint ODE). The state y is one array, or a tuple of arrays that
f returns in the same structure.
"""
import itertools

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from .._threads import in_hot_loop
from .._validate import (
    NonFiniteError,
    as_float_array,
    check_callable,
    check_option,
    check_positive,
    check_positive_int,
    value_of,
)

__all__ = ["MAX_STEPS", "METHODS", "RK4_STEPS", "TooManyStepsError", "odeint"]

METHODS = ("rk4", "dopri5")
RK4_STEPS = 20  # default RK4 steps per interval of t: error ~ (h^5 per step) is ~1e-7 for smooth O(1) fields
MAX_STEPS = 10_000  # dopri5 gives up after this many tried steps (accepted + rejected)


class TooManyStepsError(RuntimeError):
    """dopri5 needed more than ``max_steps`` steps: a stiff field, or rtol/atol too tight."""


# ---- states: one array or a tuple of arrays --------------------------------------------------

def _combine(y, h, coeffs, ks):
    """y + h * sum_i coeffs[i] * ks[i], on an array or on each array of a tuple."""
    if isinstance(y, tuple):
        return tuple(_combine(y[j], h, coeffs, [k[j] for k in ks]) for j in range(len(y)))
    step = sum(c * k for c, k in zip(coeffs, ks) if c != 0)
    return y + h * step


def _parts(y):
    return y if isinstance(y, tuple) else (y,)


def _check_y0(y0):
    if isinstance(y0, tuple):
        if not y0:
            raise ValueError("y0: expected an array or a non-empty tuple of arrays, got an empty tuple")
        return tuple(_check_y0_part(p, f"y0[{i}]") for i, p in enumerate(y0))
    return _check_y0_part(y0, "y0")


def _check_y0_part(y0, name):
    if hasattr(y0, "_value"):  # traced by autograd: check the values, keep the box for the gradient
        as_float_array(value_of(y0), name)
        return y0
    return as_float_array(y0, name)


def _checked(f, y0):
    """f, wrapped so that a wrong shape or a NaN is reported where it happens, naming f."""
    shapes = [onp.shape(value_of(p)) for p in _parts(y0)]
    is_tuple = isinstance(y0, tuple)

    def rhs(t, y):
        dy = f(t, y)
        if isinstance(dy, tuple) != is_tuple or len(_parts(dy)) != len(shapes) or \
                [onp.shape(value_of(p)) for p in _parts(dy)] != shapes:
            got = [onp.shape(value_of(p)) for p in _parts(dy)] if isinstance(dy, (tuple, list)) \
                else onp.shape(value_of(dy))
            want = f"a tuple of arrays of shapes {shapes}" if is_tuple else f"an array of shape {shapes[0]}"
            raise ValueError(f"f: expected f(t, y) to return dy/dt like y, {want}, got {type(dy).__name__} {got}")
        for p in _parts(dy):
            if not onp.all(onp.isfinite(value_of(p))):
                raise NonFiniteError(f"f: returned NaN or inf at t = {t:.6g}")
        return dy
    return rhs


def _check_times(t):
    t = as_float_array(getval(t), "t", ndim=1)
    if t.shape[0] < 2:
        raise ValueError(f"t: expected at least 2 times, got {t.shape[0]}")
    dt = onp.diff(t)
    if not (onp.all(dt > 0) or onp.all(dt < 0)):
        raise ValueError(f"t: expected strictly increasing or strictly decreasing times, got {t.tolist()}")
    return t


@in_hot_loop  # hundreds of small products in a loop: one BLAS thread by default (tinygen/_threads.py)
def odeint(f, y0, t, method="rk4", steps=None, rtol=1e-6, atol=1e-8, max_steps=MAX_STEPS):
    """Solve dy/dt = f(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    f: f(t, y) -> dy/dt, t a float, y and dy/dt of the same structure as y0.
    y0: an array of any shape, or a tuple of arrays. May be traced by autograd.
    t: 1-D, at least 2 times, strictly increasing or strictly decreasing (integrating
       backwards in time is allowed). Times are not differentiated.
    method: "rk4" (classical Runge-Kutta, ``steps`` equal steps per interval t[k] -> t[k+1],
       default 20, error O(h^4)) or "dopri5" (Dormand-Prince 5(4), adaptive, each step's
       error estimate kept below atol + rtol * |y|; ``steps`` is not used).
    Returns an array of shape (len(t),) + y0.shape (for a tuple y0: a tuple of such arrays).
    """
    check_callable(f, "f", "f(t, y) returning dy/dt")
    method = check_option(method, "method", METHODS)
    y0 = _check_y0(y0)
    t = _check_times(t)
    rtol, atol = check_positive(rtol, "rtol"), check_positive(atol, "atol")
    max_steps = check_positive_int(max_steps, "max_steps")
    if method == "rk4":
        steps = RK4_STEPS if steps is None else check_positive_int(steps, "steps")
    elif steps is not None:
        raise ValueError(f"steps: expected None with method='dopri5' (it chooses its own steps), got {steps!r}")
    rhs = _checked(f, y0)
    if method == "rk4":
        ys = _rk4(rhs, y0, t, steps)
    else:
        ys = _dopri5(rhs, y0, t, rtol, atol, max_steps)
    if isinstance(y0, tuple):
        return tuple(np.stack([y[j] for y in ys]) for j in range(len(y0)))
    return np.stack(ys)


# ---- classical Runge-Kutta, fixed steps ---------------------------------------------------------

def _rk4(f, y, t, steps):
    ys = [y]
    for t0, t1 in itertools.pairwise(t):
        h = (t1 - t0) / steps
        for i in range(steps):
            s = t0 + i * h
            k1 = f(s, y)                                   # slope at the start
            k2 = f(s + h / 2, _combine(y, h / 2, [1], [k1]))  # at the midpoint, using k1
            k3 = f(s + h / 2, _combine(y, h / 2, [1], [k2]))  # at the midpoint, using k2
            k4 = f(s + h, _combine(y, h, [1], [k3]))       # at the end, using k3
            y = _combine(y, h, [1 / 6, 1 / 3, 1 / 3, 1 / 6], [k1, k2, k3, k4])  # y + h (k1 + 2k2 + 2k3 + k4) / 6
        ys.append(y)
    return ys


# ---- Dormand-Prince 5(4), adaptive steps --------------------------------------------------------
# Butcher tableau: stage i is k_i = f(s + c_i h, y + h sum_j A[i][j] k_j).
C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1]
A = [[],
     [1 / 5],
     [3 / 40, 9 / 40],
     [44 / 45, -56 / 15, 32 / 9],
     [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
     [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
     [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
B5 = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]  # 5th order: the step taken
B4 = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]  # 4th order
E = [b5 - b4 for b5, b4 in zip(B5, B4)]  # y5 - y4 = h sum_i E_i k_i estimates the local error
# The last row of A equals B5, so k_7 = f(s + h, y_new) is the next step's k_1 ("first same as last").


def _error_norm(err, y, y_new, rtol, atol):
    """RMS over all components of err_i / (atol + rtol * max(|y_i|, |y_new_i|)); a step is accepted if <= 1."""
    total, count = 0.0, 0
    for e, a, b in zip(_parts(err), _parts(y), _parts(y_new)):
        scale = atol + rtol * onp.maximum(onp.abs(value_of(a)), onp.abs(value_of(b)))
        total += onp.sum((value_of(e) / scale) ** 2)
        count += onp.size(value_of(e))
    return onp.sqrt(total / count)


def _initial_step(f0, y, span, rtol, atol):
    """A first step small enough that h * |f| is about 1% of |y|'s scale (Hairer, Norsett, Wanner)."""
    d0 = _error_norm(y, y, y, rtol, atol)
    d1 = _error_norm(f0, y, y, rtol, atol)
    h = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    return min(h, abs(span))


def _dopri5(f, y, t, rtol, atol, max_steps):
    direction = onp.sign(t[-1] - t[0])
    s = t[0]
    k1 = f(s, y)
    h = _initial_step(k1, y, t[-1] - t[0], rtol, atol)  # |h|; the sign is `direction`
    ys, tried = [y], 0
    for t_out in t[1:]:
        while direction * (t_out - s) > 0:
            tried += 1
            if tried > max_steps:
                raise TooManyStepsError(
                    f"max_steps: dopri5 tried more than {max_steps} steps and reached t = {s:.6g} of {t[-1]:.6g} "
                    f"(step {h:.3g}); the field may be stiff or rtol/atol too tight: raise max_steps, "
                    f"loosen rtol/atol, or use method='rk4' with fixed steps")
            step = direction * min(h, abs(t_out - s))  # never step past the next output time
            ks = [k1]
            for i in range(1, 7):
                ks.append(f(s + C[i] * step, _combine(y, step, A[i], ks)))
            y_new = _combine(y, step, A[6], ks[:6])     # the 5th-order solution (= B5 weights)
            err = _combine(tuple(0 * getval(p) for p in _parts(y)), step, E, [_parts(getval(k)) for k in ks])
            norm = _error_norm(err, y, y_new, rtol, atol)
            if norm <= 1:  # accept: move on, k_7 becomes the next k_1
                s, y, k1 = s + step, y_new, ks[6]
            # step-size rule: h_new = h * clip(0.9 * norm^(-1/5), 0.2, 5); exponent 1/(4 + 1) for the 4th-order estimate
            factor = 5.0 if norm == 0 else min(5.0, max(0.2, 0.9 * norm ** -0.2))
            h = abs(step) * factor
            if abs(t_out - s) <= 1e-12 * max(1.0, abs(t_out)):
                s = t_out  # rounding: landed on the output time
        ys.append(y)
    return ys
