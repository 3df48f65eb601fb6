"""The VAE's approximate posterior q_phi(z | x): a Gaussian, or a Gaussian followed by a flow.

    z_0 = mu_phi(x) + eps * sigma_phi(x),  eps ~ N(0, I)          (reparameterization)
    log q_0(z_0 | x) = log N(z_0; mu, sigma^2)
    z_K = f_K o ... o f_1(z_0),  log q_K(z_K | x) = log q_0(z_0 | x) - sum_k log|det df_k/dz_{k-1}|

``ApproximatePosterior`` holds these as methods of ``tinygen.vae.VAE`` (which builds the
encoder, ``self.flow`` and ``self.posterior``); ``model.py`` uses them for the ELBO and
``marginal.py`` for log p(x).
"""
import autograd.numpy as np

from .. import functional as F
from .._validate import as_rng, check_params, check_positive_int
from ..flows.base import Compose
from ..flows.planar import PlanarFlow, planar_forward
from ..nn import dense

__all__ = ["ApproximatePosterior", "reparameterize"]


def reparameterize(mu, sigma, eps):
    """z = mu + eps * sigma, eps ~ N(0, I): z is a differentiable function of (mu, sigma).

    grad_phi E_{q_phi}[f(z)] cannot be taken inside an expectation over a distribution
    that depends on phi; written as E_{eps ~ N(0, I)}[f(mu_phi + eps sigma_phi)] the
    distribution no longer depends on phi and autograd differentiates each sample.
    """
    return mu + eps * sigma


class ApproximatePosterior:
    """Sampling z ~ q(z | x) with log q(z | x), for the Gaussian and the flow posteriors."""

    def _planar_layers(self, enc, h):
        """[(u_k, w_k, b_k)] for k = 1..K, shapes (n, D), (n, D), (n,): the encoder's planar head."""
        D = self.z_dim
        out = dense(enc["planar"], h)
        step = 2 * D + 1
        return [(out[:, k * step:k * step + D], out[:, k * step + D:k * step + 2 * D], out[:, k * step + 2 * D])
                for k in range(self.n_layers)]

    def posterior_flow(self, params, x):
        """(flow, flow_params) of q(z | x) for ONE x (shape (1, x_dim)): z_K = flow(z_0), z_0 ~ q_0.

        For "amortized_planar" these are K ``PlanarFlow`` layers holding that x's (u_k, w_k, b_k),
        so every flow check applies to each x's posterior; for "planar" the shared flow.
        """
        if self.posterior not in ("planar", "amortized_planar"):
            raise ValueError(f"posterior: expected a planar posterior, got {self.posterior!r}")
        check_params(params, self)
        x = self._check_x(x)
        if x.shape[0] != 1:
            raise ValueError(f"x: expected one point, shape (1, {self.x_dim}), got {x.shape}")
        if self.posterior == "planar":
            return self.flow, params["flow"]
        layers = self._planar_layers(params["encoder"], self._encode(params, x)[2])
        return (Compose([PlanarFlow(self.z_dim) for _ in layers]),
                [{"u": u[0], "w": w[0], "b": b[0]} for u, w, b in layers])

    def posterior_sample(self, params, x, rng, n_samples=1):
        """z ~ q(z | x) by reparameterization, with log q(z | x); shapes (S, n, z_dim) and (S, n).

        Also returns (mu, sigma) of the Gaussian q_0.
        """
        x = self._check_x(x)
        z, log_q, (mu, rho) = self._posterior(check_params(params, self), x, rng,
                                              check_positive_int(n_samples, "n_samples"))
        return z, log_q, (mu, F.softplus(rho))

    def _posterior(self, params, x, rng, S):
        """posterior_sample's work on checked inputs; returns (mu, rho), sigma = softplus(rho)."""
        return self._posterior_given(params, x, self._noise(rng, S, x.shape[0]))

    def _noise(self, rng, S, n):
        """eps ~ N(0, I) of shape (S, n, z_dim), for z_0 = mu + eps sigma: the one draw of q's randomness."""
        return as_rng(rng).standard_normal((S, n, self.z_dim))

    def _posterior_given(self, params, x, eps):
        """``_posterior`` with its noise eps ~ N(0, I), shape (S, n, z_dim), given."""
        mu, rho, h = self._encode_rho(params, x)
        sigma = F.softplus(rho)
        S, n = eps.shape[:2]
        z = reparameterize(mu, sigma, eps)  # z_0 = mu + eps * sigma
        # log q_0(z_0 | x), (S, n): (z_0 - mu) / sigma is eps itself, so
        #     log N(z_0; mu, sigma^2) = log N(eps; 0, I) - sum_d log sigma_d,
        # with log sigma = log softplus(rho); exact even where sigma rounds to 0 (z_0 - mu is then 0, not eps sigma)
        log_q = self.prior.log_prob(eps) - np.sum(F.log_softplus(rho), axis=-1)
        if self.flow is not None:
            context = None if self.flow.context_dim == 0 else np.concatenate([h] * S, axis=0)
            zK, log_det = self.flow._forward(params["flow"], np.reshape(z, (S * n, self.z_dim)), context)
            z = np.reshape(zK, (S, n, self.z_dim))
            # log q_K(z_K | x) = log q_0(z_0 | x) - sum_k log|det df_k/dz_{k-1}|
            log_q = log_q - np.reshape(log_det, (S, n))
        elif self.posterior == "amortized_planar":
            for u, w, b in self._planar_layers(params["encoder"], h):  # row i: x_i's own layer k
                z, log_det = planar_forward(u, w, b, z)  # z_k = z_{k-1} + u_hat tanh(w^T z_{k-1} + b)
                log_q = log_q - log_det  # log q_k = log q_{k-1} - log|det df_k/dz_{k-1}|
        return z, log_q, (mu, rho)
