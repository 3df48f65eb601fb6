"""log p(x) of a latent-variable model, estimated: importance sampling (IWAE), the prior, the latent loss.

The marginal p_theta(x) = int p(z) p_theta(x | z) dz has no closed form; three estimates
of it, for any model with a prior p(z), a decoder p_theta(x | z) and a posterior q(z | x)
that can be sampled with its log-density:

    IWAE (``log_prob``):    log p(x) ~ log (1/K) sum_k p(x, z_k) / q(z_k | x),   z_k ~ q(z | x)
    prior (``log_prob_prior_mc``):   p(x) ~ (1/K) sum_k p(x | z_k),   z_k ~ p(z)
    latent loss:            KL(q(z|x) || p(z|x)) = log p(x) - ELBO

``MarginalLikelihood`` holds them as methods; ``tinygen.vae.VAE`` inherits them. A model
using it provides ``prior``, ``_check_x(x)``, ``_posterior(params, x, rng, S)`` ->
(z (S, n, d), log q (S, n), ...), ``_decoder_dist(params, z)`` and ``elbo``.
"""
import autograd.numpy as np

from .. import functional as F
from .._validate import as_rng, check_context, check_params, check_positive_int

__all__ = ["MAX_ROWS", "MarginalLikelihood"]

MAX_ROWS = 100_000  # rows per network pass when estimating with many samples (bounds memory)


class MarginalLikelihood:
    """The estimates of log p(x) above, as methods of a latent-variable model."""

    def _chunks(self, k, n):
        """Split K samples into chunks of at most MAX_ROWS rows of (samples x points)."""
        size = max(1, MAX_ROWS // n)
        return [min(size, k - i) for i in range(0, k, size)]

    def log_weights(self, params, x, rng, k=100):
        """log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x), z_k ~ q(z | x): shape (K, n)."""
        x = self._check_x(x)
        check_params(params, self)
        k = check_positive_int(k, "k")
        rng = as_rng(rng)
        out = []
        for s in self._chunks(k, x.shape[0]):
            z, log_q, _ = self._posterior(params, x, rng, s)
            out.append(self._decoder_dist(params, z).log_prob(x) + self.prior.log_prob(z) - log_q)
        return np.concatenate(out, axis=0)

    def log_prob(self, params, x, rng=0, k=100, context=None):
        """Importance-sampled (IWAE) estimate, (n,):

            log p(x) ~ log (1/K) sum_k p(x, z_k) / q(z_k | x),   z_k ~ q(z | x)

        A lower bound in expectation, increasing with K to log p(x) (K = 1: the ELBO).
        rng defaults to seed 0 so ``log_prob(params, x)`` fits the density-model contract.
        """
        check_context(context, x, 0)
        log_w = self.log_weights(params, x, rng, k)
        return F.logsumexp(log_w, axis=0) - np.log(log_w.shape[0])

    def latent_loss(self, params, x, rng, k=100, n_samples=1, analytic_kl=False):
        """Estimate of the ELBO's third term, the latent loss KL(q(z|x) || p(z|x)), (n,):

            KL(q(z|x) || p(z|x)) = log p(x) - ELBO ~ log p_hat_K(x) - ELBO_hat

        log p_hat_K is the importance-sampled estimate with ``k`` samples (``log_prob``) and
        ELBO_hat the ``n_samples`` Monte Carlo ELBO. E[log p_hat_K] <= log p(x), so the estimate
        is low on average, by the IWAE bound's own gap, which shrinks as k grows; k = 1 gives 0
        in expectation. Both parts are noisy: a single value can be negative. By default the
        ELBO is the Monte Carlo one, E_q[log p(x, z) / q(z|x)]: when q is the true posterior
        every sample of it equals log p(x), and so does log p_hat_K, so the estimate is 0 exactly.
        """
        rng = as_rng(rng)
        elbo = self.elbo(params, x, rng, n_samples, analytic_kl=analytic_kl)["elbo"]
        return self.log_prob(params, x, rng, k=k) - elbo

    def log_prob_prior_mc(self, params, x, rng, k=1000):
        """Naive Monte Carlo over the prior (lecture), (n,):

            p(x) ~ (1/K) sum_k p(x | z_k),  z_k ~ p(z),   in log space with logsumexp.

        Unbiased for p(x) (not for log p(x)), but in high dimension almost no z_k
        lands where p(x | z) is large: the variance explodes (curse of dimensionality).
        The same K prior draws serve every x (one decoder pass per draw).
        """
        x = self._check_x(x)
        check_params(params, self)
        k = check_positive_int(k, "k")
        rng = as_rng(rng)
        out = []
        for s in self._chunks(k, x.shape[0]):
            z = self.prior.sample(s, rng)  # (s, z_dim)
            d = self._decoder_dist(params, z[:, None, :])  # parameters (s, 1, x_dim)
            out.append(d.log_prob(x))  # log p(x_i | z_k), (s, n)
        log_p = np.concatenate(out, axis=0)
        return F.logsumexp(log_p, axis=0) - np.log(k)
