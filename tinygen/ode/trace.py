"""The instantaneous change of variables (Chen et al. 2018) for dz/dt = f(t, z):

    d log p(z(t)) / dt = -tr(df/dz)

``trace_exact`` computes tr(df/dz) with D reverse passes, ``trace_hutchinson`` estimates it
with one pass and a random probe, E[eps^T J eps] = tr(J), and ``log_density_dynamics`` joins
f and -tr into the right-hand side of the pair (z, log p) that ``odeint`` integrates.
"""
import autograd.numpy as np
import numpy as onp
from autograd import make_vjp

from .._validate import as_float_array, as_rng, check_callable, check_option, value_of

__all__ = ["PROBES", "draw_probe", "hutchinson_variance", "log_density_dynamics", "trace_exact", "trace_hutchinson"]


def trace_exact(f, t, z):
    """dz/dt = f(t, z) and tr(df/dz) per row, by D reverse passes.

    z has shape (n, D) and f acts on each row separately (row i of f depends on row i of z
    only), so one vector-Jacobian product with the one-hot e_d on every row gives row d of
    each point's Jacobian, and its d-th entry is df_d/dz_d:

        tr(df/dz) = sum_d e_d^T (df/dz) e_d

    Returns (f(t, z) of shape (n, D), trace of shape (n,)). Differentiable (nested vjps).
    """
    vjp, dz = make_vjp(lambda z_: f(t, z_))(z)
    dim = onp.shape(value_of(z))[1]
    eye = onp.eye(dim)
    trace = sum(vjp(onp.broadcast_to(eye[d], onp.shape(value_of(z))))[:, d] for d in range(dim))
    return dz, trace


PROBES = ("rademacher", "gaussian")


def draw_probe(shape, rng, probe="rademacher"):
    """A probe eps with E[eps eps^T] = I: Rademacher (each entry +-1) or standard Gaussian."""
    probe = check_option(probe, "probe", PROBES)
    rng = as_rng(rng)
    if probe == "rademacher":
        return rng.choice([-1.0, 1.0], size=shape)
    return rng.standard_normal(shape)


def trace_hutchinson(f, t, z, eps):
    """dz/dt = f(t, z) and Hutchinson's estimate of tr(df/dz) per row, with one reverse pass.

        tr(A) = E[eps^T A eps]  for any probe with E[eps eps^T] = I   (A = df/dz)

    eps: shape (n, D), one probe per row (``draw_probe``). The estimate is unbiased; its
    variance is given by ``hutchinson_variance``.
    Returns (f(t, z) of shape (n, D), estimate of shape (n,)).
    """
    vjp, dz = make_vjp(lambda z_: f(t, z_))(z)
    return dz, np.sum(vjp(eps) * eps, axis=1)  # eps^T A, then times eps


def hutchinson_variance(jacobian, probe="rademacher"):
    """Var[eps^T A eps] in closed form, with S = (A + A^T) / 2 the symmetric part of A.

        Rademacher:  2 sum_{i != j} S_ij^2   (the diagonal is read exactly: eps_i^2 = 1)
        Gaussian:    2 sum_{i, j}  S_ij^2 = 2 ||S||_F^2

    jacobian: one (D, D) matrix or a batch (n, D, D); returns a float or shape (n,).
    """
    probe = check_option(probe, "probe", PROBES)
    a = as_float_array(jacobian, "jacobian")
    if a.ndim not in (2, 3) or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"jacobian: expected shape (D, D) or (n, D, D), got {a.shape}")
    s = (a + onp.swapaxes(a, -1, -2)) / 2
    total = 2 * onp.sum(s ** 2, axis=(-2, -1))
    if probe == "rademacher":
        total = total - 2 * onp.sum(onp.diagonal(s, axis1=-2, axis2=-1) ** 2, axis=-1)
    return total


def log_density_dynamics(f, eps=None):
    """The right-hand side of the pair (z, log p) under dz/dt = f(t, z):

        d/dt (z, log p(z(t))) = (f(t, z), -tr(df/dz))

    with the exact trace (eps None) or Hutchinson's estimate with the probe eps, held fixed
    for the whole solve. Returns F(t, (z, logp)) -> (dz/dt, dlogp/dt) for ``odeint``.
    """
    check_callable(f, "f", "f(t, z) returning dz/dt")

    def dynamics(t, state):
        z, _ = state
        dz, trace = trace_exact(f, t, z) if eps is None else trace_hutchinson(f, t, z, eps)
        return dz, -trace  # d log p / dt = -tr(df/dz)
    return dynamics
