"""Exercise 7, reference solution: the mean and variance of the DDPM posterior q(x_{t-1} | x_t, x_0)."""
import numpy as onp


def posterior_mean(x_t, x0, t, beta, alpha_bar):
    """mu_tilde_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
                    + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,  alpha_t = 1 - beta_t."""
    t = onp.asarray(t)[:, None]  # one step per row, broadcast over the D coordinates
    coef_x0 = onp.sqrt(alpha_bar[t - 1]) * beta[t] / (1 - alpha_bar[t])
    coef_xt = onp.sqrt(1 - beta[t]) * (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t])
    return coef_x0 * x0 + coef_xt * x_t


def posterior_variance(t, beta, alpha_bar):
    """beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t, shape (n, 1)."""
    t = onp.asarray(t)[:, None]
    return (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t]) * beta[t]
