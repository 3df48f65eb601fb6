"""Diffusion models (DDPM): the forward process, denoising score matching, the bound, the ODE.

Time: t = 0 is the data, t = T the noise, as in DDPM (Ho et al. 2020).

* ``schedule``: beta_t, alpha_bar_t, the closed forms q(x_t | x_0) and q(x_{t-1} | x_t, x_0).
* ``model``: ``Diffusion``, the noise network eps_theta, its loss, the reverse chain, the bound.
* ``probability_flow``: the probability-flow ODE, its samples and its exact log-likelihood.
"""
from .model import Diffusion, time_features
from .schedule import SCHEDULES, Schedule, cosine_betas, linear_betas

__all__ = ["SCHEDULES", "Diffusion", "Schedule", "cosine_betas", "linear_betas", "time_features"]
