"""The probability-flow ODE of a DDPM: a deterministic map with the same marginals q_t (Song et al. 2021).

Time: t = 0 is the data, t = T the noise. In continuous time the forward process has
alpha_bar(t) and beta(t) = -d log alpha_bar / dt (Schedule: the angle phi(t) = arccos
sqrt(alpha_bar(t)) is linear between steps), and the ODE

    dx/dt = -1/2 beta(t) [x + s(x, t)],   s(x, t) = -eps_theta(x, t) / sigma(t),   sigma = sin phi

moves samples of q_0 into samples of q_t. At t = 0 the term eps / sigma is 0 / 0 and near t = T
beta(t) is large, so we integrate in the angle phi instead. By the chain rule, with
d phi / dt = beta cos phi / (2 sin phi) (from sigma^2 = 1 - alpha_bar, d alpha_bar / dt = -beta alpha_bar),

    dx/dphi = (eps_theta(x, t(phi)) - sin(phi) x) / cos(phi),

the same curves, with a right-hand side that stays finite at both ends for a good eps_theta.
This right-hand side is the velocity v = d x_t / d phi of x_t = cos(phi) x_0 + sin(phi) eps, so a
model with prediction="v" hands its network's output to the solver as it is.

The likelihood (instantaneous change of variables, tinygen.ode): along the curve from the data x
(phi = 0) to x_T (phi_T = arccos sqrt(alpha_bar_T)),

    log p(x) = log N(x_T; 0, I) + int_0^{phi_T} tr(d f / d x)(x(phi), phi) dphi

with the exact trace (D reverse passes). The noise end is N(0, I), as in sampling.
"""
import autograd.numpy as np
import numpy as onp

from ..distributions import StandardNormal
from ..ode import log_density_dynamics, odeint

__all__ = ["integrate", "log_prob", "velocity"]


def velocity(model, params, phi, x):
    """dx/dphi = (eps_theta(x, t(phi)) - sin(phi) x) / cos(phi), t(phi) = the schedule's time at angle phi."""
    t = onp.full(np.shape(x)[0], model.schedule.t_at(phi))
    if model.prediction == "v":  # the network's v_theta is dx/dphi itself: no division by cos(phi)
        return model._output(params, t, x)
    return (model._epsilon(params, t, x) - onp.sin(phi) * x) / onp.cos(phi)


def integrate(model, params, x, to_data, **solver):
    """Carry x along the ODE: from the noise (phi_T) to the data (to_data) or back; returns x at the end."""
    ends = [model.schedule.phi[-1], 0.0] if to_data else [0.0, model.schedule.phi[-1]]
    path = odeint(lambda phi, y: velocity(model, params, phi, y), x, onp.array(ends), **solver)
    return path[-1]


def log_prob(model, params, x, **solver):
    """log p(x) = log N(x_T; 0, I) + int tr(df/dx) dphi, (n,), by one solve of (x, log-density)."""
    dynamics = log_density_dynamics(lambda phi, y: velocity(model, params, phi, y))
    phis = onp.array([0.0, model.schedule.phi[-1]])
    xs, delta = odeint(dynamics, (x, onp.zeros(x.shape[0])), phis, **solver)
    # delta = log p_T(x_T) - log p_0(x) = -int tr(df/dx) dphi, so log p_0(x) = log N(x_T; 0, I) - delta
    return StandardNormal(model.dim).log_prob(xs[-1]) - delta[-1]
