"""The DDPM forward process: a noise schedule and its closed forms (Ho et al. 2020).

Time: t = 0 is the data, t = T the noise (steps t = 1..T). Each step adds noise,

    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,

and, Gaussians composing into Gaussians, every marginal and posterior is closed-form:

    q(x_t | x_0)          = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),   alpha_bar_t = prod_{s<=t} alpha_s
    q(x_{t-1} | x_t, x_0) = N(mu_tilde_t(x_t, x_0), beta_tilde_t I)

Arrays are indexed by the step: ``beta[t]`` is beta_t, with an entry for t = 0
(beta_0 = 0, alpha_bar_0 = 1: no noise yet), so the code reads like the paper.

Continuous time (for the probability-flow ODE): alpha_bar(t) for real t in [0, T]
interpolates the steps through the angle phi = arccos sqrt(alpha_bar), taken linear
between integers; then sqrt(alpha_bar(t)) = cos phi(t), sigma(t) = sin phi(t), and
beta(t) = -d log alpha_bar(t) / dt = 2 tan phi(t) phi'(t), with alpha_bar(k) = alpha_bar_k.
"""
import numpy as onp

from .._validate import as_float_array, check_option, check_positive_int

__all__ = ["SCHEDULES", "Schedule", "cosine_betas", "linear_betas"]

SCHEDULES = ("linear", "cosine")
# Linear: beta_t = b(t / T) / T with b rising from 0.1 to 20. At T = 1000 this is Ho et al.'s
# beta_1 = 1e-4 .. beta_T = 0.02; with other T the continuous-time process is the same (Song et
# al. 2021's VP process), which keeps the ODE likelihood comparable across T. alpha_bar_T ~ 4e-5:
# x_T is N(0, I) up to a KL of ~1e-4 nats for standardized 2-D data.
BETA_MIN, BETA_MAX = 0.1, 20.0
COSINE_OFFSET = 0.008  # Nichol & Dhariwal's s: keeps beta_1 from being vanishingly small
MAX_BETA = 0.999  # their clip: the cosine's last step would otherwise have beta_T = 1


def linear_betas(T):
    """beta_t = (b_min + (b_max - b_min) (t - 1) / (T - 1)) / T, t = 1..T."""
    t = onp.arange(1, T + 1)
    return (BETA_MIN + (BETA_MAX - BETA_MIN) * (t - 1) / (T - 1)) / T


def cosine_betas(T, s=COSINE_OFFSET):
    """beta_t = min(1 - f(t) / f(t - 1), 0.999), f(t) = cos^2(((t / T + s) / (1 + s)) pi / 2)."""
    f = onp.cos((onp.arange(T + 1) / T + s) / (1 + s) * onp.pi / 2) ** 2
    return onp.minimum(1.0 - f[1:] / f[:-1], MAX_BETA)


class Schedule:
    """beta_1..beta_T and everything derived from them, as float64 arrays indexed 0..T.

    kind: "linear" (default: Ho et al.'s, rescaled to T; see BETA_MIN), "cosine" (Nichol &
    Dhariwal 2021) or an array of T betas in (0, 1). n_steps: T >= 2 (the linear schedule
    needs T >= 21 so that beta_T = 20 / T < 1).
    """

    def __init__(self, kind="linear", n_steps=100):
        if isinstance(kind, str):
            T = check_positive_int(n_steps, "n_steps", minimum=2)
            check_option(kind, "schedule", SCHEDULES)
            if kind == "linear" and T <= BETA_MAX:
                raise ValueError(f"n_steps: expected an int >= {int(BETA_MAX) + 1} for the linear schedule "
                                 f"(beta_T = {BETA_MAX:g} / T must be < 1), got {T}")
            beta = linear_betas(T) if kind == "linear" else cosine_betas(T)
        else:
            beta = as_float_array(kind, "schedule", ndim=1)
            if beta.size < 2 or not onp.all((beta > 0) & (beta < 1)):
                raise ValueError(f"schedule: expected at least 2 betas, each in (0, 1), got {beta.size} betas "
                                 f"in [{beta.min() if beta.size else 'none'}, {beta.max() if beta.size else ''}]")
            kind = "custom"
        self.kind, self.T = kind, len(beta)
        self.beta = onp.concatenate([[0.0], beta])  # beta_0 = 0: index t is step t
        self.alpha = 1.0 - self.beta  # alpha_t = 1 - beta_t
        # alpha_bar_t = prod_{s<=t} (1 - beta_s), as a sum of logs (log1p keeps tiny betas exact)
        self.alpha_bar = onp.exp(onp.cumsum(onp.log1p(-self.beta)))
        self.sigma = onp.sqrt(-onp.expm1(onp.cumsum(onp.log1p(-self.beta))))  # sqrt(1 - alpha_bar_t)
        # beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t  (t >= 1; beta_tilde_1 = 0)
        self.beta_tilde = onp.concatenate([[0.0], self.sigma[:-1] ** 2 / self.sigma[1:] ** 2 * self.beta[1:]])
        self.phi = onp.arctan2(self.sigma, onp.sqrt(self.alpha_bar))  # phi_t = arccos sqrt(alpha_bar_t)

    # ---- closed forms of the forward process ----------------------------------------------------
    def marginal(self, x0, t):
        """Mean and variance of q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).

        t: integer steps, one per row of x0 (shape (n,)) or one for all; variance shape (n, 1).
        """
        t = onp.asarray(t)
        a_bar = self.alpha_bar[t].reshape(-1, 1)
        return onp.sqrt(a_bar) * x0, (1.0 - a_bar) * onp.ones((1, 1))

    def posterior(self, x_t, x0, t):
        """Mean mu_tilde_t and variance beta_tilde_t of q(x_{t-1} | x_t, x_0), t >= 1 (Ho et al. eq. 7):

        mu_tilde_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
                     + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
        """
        t = onp.asarray(t).reshape(-1, 1)
        one_minus = self.sigma[t] ** 2  # 1 - alpha_bar_t
        coef_x0 = onp.sqrt(self.alpha_bar[t - 1]) * self.beta[t] / one_minus
        coef_xt = onp.sqrt(self.alpha[t]) * self.sigma[t - 1] ** 2 / one_minus
        return coef_x0 * x0 + coef_xt * x_t, self.beta_tilde[t]

    # ---- continuous time --------------------------------------------------------------------------
    def phi_at(self, t):
        """phi(t), linear between the steps' phi_k = arccos sqrt(alpha_bar_k); t real in [0, T]."""
        return onp.interp(t, onp.arange(self.T + 1), self.phi)

    def t_at(self, phi):
        """The inverse map: the (real) time t at which the angle is phi (phi_k increases with k)."""
        return onp.interp(phi, self.phi, onp.arange(self.T + 1.0))

    def alpha_bar_at(self, t):
        """alpha_bar(t) = cos^2 phi(t): equal to alpha_bar_k at every step k."""
        return onp.cos(self.phi_at(t)) ** 2

    def sigma_at(self, t):
        """sigma(t) = sqrt(1 - alpha_bar(t)) = sin phi(t)."""
        return onp.sin(self.phi_at(t))
