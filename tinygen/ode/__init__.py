"""Ordinary differential equations dy/dt = f(t, y), solved so that autograd can differentiate them.

Time (as everywhere in tinygen's continuous flows): t = 0 is the base z, t = 1 the data x, so
solving from 0 to 1 is the lecture's f: z -> x and solving from 1 to 0 is g = f^-1: x -> z.

    ys = odeint(f, y0, t)                      # y at every time in t, ys[0] == y0
    ys = odeint(f, y0, t, method="dopri5")     # adaptive steps, error per step below rtol/atol

The state y is one array, or a tuple of arrays that f returns in the same structure (a
continuous flow carries (z, log-density) together). Both solvers are plain loops of
autograd.numpy operations, so ``autograd.grad`` backpropagates through every step: the
gradient is the exact gradient of the discretized solution (not an adjoint ODE).

The instantaneous change of variables (Chen et al. 2018) for dz/dt = f(t, z):

    d log p(z(t)) / dt = -tr(df/dz)

``trace_exact`` computes tr(df/dz) with D reverse passes, ``trace_hutchinson`` estimates it
with one pass and a random probe, and ``log_density_dynamics`` joins f and -tr into the
right-hand side of the pair (z, log p).
"""
from .solvers import MAX_STEPS, METHODS, RK4_STEPS, TooManyStepsError, odeint
from .trace import PROBES, draw_probe, hutchinson_variance, log_density_dynamics, trace_exact, trace_hutchinson

__all__ = ["MAX_STEPS", "METHODS", "PROBES", "RK4_STEPS", "TooManyStepsError", "draw_probe", "hutchinson_variance",
           "log_density_dynamics", "odeint", "trace_exact", "trace_hutchinson"]
