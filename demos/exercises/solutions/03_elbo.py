"""Exercise 3, reference solution: the closed-form KL to N(0, I) and the reparameterized ELBO."""
import autograd.numpy as np


def kl_to_prior(mu, sigma):
    """D_KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2), per row."""
    return 0.5 * np.sum(sigma ** 2 + mu ** 2 - 1.0 - 2.0 * np.log(sigma), axis=1)


def elbo(x, mu, sigma, log_likelihood, rng):
    """One-sample reparameterized ELBO: log p(x | z) - KL, with z = mu + eps * sigma, eps ~ N(0, I).

    The noise eps is drawn apart from (mu, sigma), so z is a differentiable function of them.
    """
    eps = rng.standard_normal(np.shape(mu))
    z = mu + eps * sigma
    return log_likelihood(x, z) - kl_to_prior(mu, sigma)
