"""Variational autoencoder (lecture: latent variable models, ELBO, reparameterization).

Generative model:  z ~ p(z) = N(0, I),  x | z ~ p_theta(x | z)  (decoder)
Marginal:          p_theta(x) = int p(z) p_theta(x | z) dz = E_{p(z)}[p_theta(x | z)]  (intractable)
Encoder:           q_phi(z | x) = N(mu_phi(x), sigma_phi(x)^2),  sigma = softplus(rho)

The lecture's decomposition, for any q:
    log p(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) + KL(q(z|x) || p(z|x))
             >= E_q[log p(x|z)] - KL(q(z|x) || p(z)) = ELBO
    reconstruction loss = E_q[-log p(x|z)],  complexity loss = KL(q(z|x) || p(z)),
    latent loss = KL(q(z|x) || p(z|x)) = log p(x) - ELBO (estimated by ``latent_loss``).

With ``posterior="planar"`` or ``"iaf"`` the Gaussian is only the start of a flow:
    z_0 ~ q_0 = N(mu, sigma^2),  z_K = f_K o ... o f_1(z_0),
    log q_K(z_K | x) = log q_0(z_0 | x) - sum_k log|det df_k/dz_{k-1}|
and the complexity is estimated by Monte Carlo, E_q[log q_K(z_K | x) - log p(z_K)].
With "planar" the layers' parameters are shared by all x (the flow depends on x
only through q_0); with "amortized_planar" the encoder emits (u_k, w_k, b_k) for
every x, as in Rezende & Mohamed (2015), each x's layers keeping w_k^T u_hat_k > -1;
the IAF layers read the encoder's last hidden features h(x) as their context.
"""
import numbers
import warnings

import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._deprecated import refuse_unknown, take_renamed
from .._validate import (as_batch, as_float_array, as_rng, check_binary, check_context, check_hidden, check_option,
                        check_params, check_positive, check_positive_int)
from ..distributions import Bernoulli, Normal, StandardNormal, kl_divergence
from ..flows.autoregressive import IAF
from ..flows.base import Compose
from ..flows.linear import Permutation
from ..flows.planar import PlanarFlow
from ..nn import ACTIVATIONS, MLP, dense, init_dense
from .marginal import MarginalLikelihood
from .posterior import ApproximatePosterior

__all__ = ["LIKELIHOODS", "POSTERIORS", "VAE"]

LIKELIHOODS = ("gaussian", "bernoulli")
POSTERIORS = ("gaussian", "planar", "amortized_planar", "iaf")


class VAE(ApproximatePosterior, MarginalLikelihood):
    """A VAE with an MLP encoder and decoder; ``hidden`` is used for both (``()``: linear).

    likelihood: "gaussian" (p(x|z) = N(m_theta(z), s^2)) or "bernoulli" (logits l_theta(z)).
    decoder_scale (Gaussian only): "learned" (one s_d = softplus(rho_d) per dimension),
        "network" (s_theta(z) = softplus of a second decoder head) or a positive number (fixed s).
    posterior: None / "gaussian", "planar" (n_layers planar layers, one set of parameters for
        all x), "amortized_planar" (n_layers planar layers whose u, w, b the encoder emits
        per x: the paper's construction; "planar" stays as an option, for comparison, and
        benchmarks/REPORT_vi.md measures both) or "iaf" (n_layers IAF layers with
        flow_hidden units, context = encoder features; the stack starts as the identity).
    """

    def __init__(self, x_dim, z_dim, hidden=(64, 64), likelihood="gaussian", posterior=None,
                 n_layers=4, decoder_scale="learned", activation="relu", flow_hidden=(32, 32), rng=0, **renamed):
        n_layers = take_renamed(renamed, "n_flows", "n_layers", n_layers, 4, "VAE")
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "VAE")
        refuse_unknown(renamed, "VAE")
        self.x_dim = check_positive_int(x_dim, "x_dim")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.hidden = check_hidden(hidden)
        for name, value, options in (("likelihood", likelihood, LIKELIHOODS),
                                     ("posterior", "gaussian" if posterior is None else posterior, POSTERIORS)):
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected one of {list(options)}, got {type(value).__name__}")
            check_option(value, name, options)
        self.likelihood = likelihood
        self.posterior = "gaussian" if posterior is None else posterior
        if isinstance(decoder_scale, str):
            check_option(decoder_scale, "decoder_scale", ("learned", "network"))
        elif isinstance(decoder_scale, numbers.Real) and not isinstance(decoder_scale, bool):
            decoder_scale = check_positive(decoder_scale, "decoder_scale")
        else:
            raise TypeError(f"decoder_scale: expected 'learned', 'network' or a positive number, "
                            f"got {type(decoder_scale).__name__}")
        self.decoder_scale = decoder_scale
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        # encoder: h = act(trunk(x)) (h = x without hidden layers), then [mu, rho] = dense(h)
        # Encoder and decoder start with zero hidden biases, unlike nn's default: with spread biases
        # the decoder can fit the data's mean without using z, and on two moons the VAE then stayed
        # longer on the plateau where the latent is unused (seed 0 of its recipe ended at a test gap
        # of 1.08 nats with spread biases, 0.06 with zero ones). The IAF posterior's MADEs, flow
        # conditioners, keep nn's default.
        self.trunk = MLP((self.x_dim,) + self.hidden, activation, spread_bias=False) if self.hidden else None
        self.feature_dim = self.hidden[-1] if self.hidden else self.x_dim
        n_out = self.x_dim * (2 if likelihood == "gaussian" and decoder_scale == "network" else 1)
        self.decoder = MLP((self.z_dim,) + self.hidden + (n_out,), activation, spread_bias=False)
        self.prior = StandardNormal(self.z_dim)  # p(z) = N(0, I)
        self.flow = None
        self.n_layers = check_positive_int(n_layers, "n_layers")
        if self.posterior == "planar":
            self.flow = Compose([PlanarFlow(self.z_dim) for _ in range(self.n_layers)])
        elif self.posterior == "iaf":  # the IAF stack (with reversals), context = h(x)
            layers = IAF(self.z_dim, n_layers=self.n_layers, hidden=check_hidden(flow_hidden, "flow_hidden"),
                         context_dim=self.feature_dim, rng=rng).flow.layers
            # Each IAF layer starts as the identity (mu = alpha = 0), but between K layers there are
            # K - 1 reversals of z: for an even K, z_K would start as z_0 reversed, a posterior that is
            # not q_0. One more reversal makes the whole flow the identity at init, so q_K starts as
            # q_0 and the VAE starts as the Gaussian-posterior VAE built from the same seed.
            if (self.n_layers - 1) % 2 == 1:
                layers = layers + [Permutation(self.z_dim, order="reverse")]
            self.flow = Compose(layers)

    @property
    def n_flows(self):
        """Deprecated name of ``n_layers`` (the posterior flow's number of layers)."""
        warnings.warn("VAE.n_flows is deprecated, use VAE.n_layers", DeprecationWarning, stacklevel=2)
        return self.n_layers

    # ---- parameters -------------------------------------------------------------------------
    def init(self, rng):
        rng = as_rng(rng)
        params = {
            "encoder": {"trunk": self.trunk.init(rng) if self.trunk else [],
                        "head": init_dense(rng, self.feature_dim, 2 * self.z_dim)},
            "decoder": self.decoder.init(rng),
        }
        if self.likelihood == "gaussian" and self.decoder_scale == "learned":
            params["rho_x"] = onp.zeros(self.x_dim)  # s = softplus(0) = log 2 ~ 0.69 to start
        if self.flow is not None:
            params["flow"] = self.flow.init(rng)
        if self.posterior == "amortized_planar":
            # [u_k, w_k, b_k] for k = 1..K from h(x): small weights and a small random bias for
            # u, w (at u = w = 0 every gradient of a planar layer vanishes), b starting at 0
            D, K = self.z_dim, self.n_layers
            head = init_dense(rng, self.feature_dim, K * (2 * D + 1))
            bias = 0.1 * rng.standard_normal((K, 2 * D + 1)) * (onp.arange(2 * D + 1) < 2 * D)
            params["encoder"]["planar"] = {"W": 0.1 * head["W"], "b": bias.ravel()}
        return params

    # ---- checks -----------------------------------------------------------------------------
    def _check_x(self, x, name="x"):
        x = as_batch(x, name, self.x_dim)
        if self.likelihood == "bernoulli":
            check_binary(x, name)
        return x

    # ---- encoder / decoder ------------------------------------------------------------------
    def _encode_rho(self, params, x):
        """mu_phi(x), rho_phi(x) (sigma = softplus(rho)), and the features h(x)."""
        enc = params["encoder"]
        h = x if self.trunk is None else ACTIVATIONS[self.activation](self.trunk.apply(enc["trunk"], x))
        out = dense(enc["head"], h)
        return out[:, :self.z_dim], out[:, self.z_dim:], h

    def _encode(self, params, x):
        """mu_phi(x), sigma_phi(x) = softplus(rho_phi(x)), and the features h(x)."""
        mu, rho, h = self._encode_rho(params, x)
        return mu, F.softplus(rho), h

    def encode(self, params, x):
        """(mu, sigma) of q_phi(z | x) = N(mu, sigma^2), each (n, z_dim)."""
        check_params(params, self)
        mu, sigma, _ = self._encode(params, self._check_x(x))
        return mu, sigma

    def decoder_dist(self, params, z):
        """p_theta(x | z) as a Normal or Bernoulli; z of shape (..., z_dim) gives parameters (..., x_dim)."""
        return self._decoder_dist(check_params(params, self), z)

    def _decoder_dist(self, params, z):
        out = self.decoder.apply(params["decoder"], z)  # the MLP keeps z's leading (sample) axes
        if self.likelihood == "bernoulli":
            return Bernoulli(out)  # p(x_d = 1 | z) = sigmoid(l_d(z))
        # s = softplus(rho) given by its log (log_softplus), finite where s rounds to 0
        if self.decoder_scale == "network":
            return Normal(out[..., :self.x_dim], log_scale=F.log_softplus(out[..., self.x_dim:]))
        if self.decoder_scale == "learned":
            return Normal(out, log_scale=F.log_softplus(params["rho_x"]))
        return Normal(out, self.decoder_scale * onp.ones(self.x_dim))

    def decode(self, params, z):
        """Decoder mean E[x | z] (Gaussian) or probabilities p(x_d = 1 | z) (Bernoulli), (n, x_dim)."""
        d = self.decoder_dist(params, as_batch(z, "z", self.z_dim))
        return d.probs if self.likelihood == "bernoulli" else d.loc

    # ---- ELBO ---------------------------------------------------------------------------------
    def elbo(self, params, x, rng, n_samples=1, analytic_kl=True):
        """Per-sample ELBO and its two parts, a dict of (n,) arrays.

        "reconstruction" = E_q[-log p(x|z)]   (S-sample Monte Carlo average)
        "complexity"     = KL(q(z|x) || p(z)) (closed form for the Gaussian q unless
                           analytic_kl=False; else E_q[log q(z|x) - log p(z)] by Monte Carlo)
        "elbo"           = -reconstruction - complexity <= log p(x)
        """
        x = self._check_x(x)
        return self._elbo(check_params(params, self), x, rng, check_positive_int(n_samples, "n_samples"),
                          analytic_kl)

    def _elbo(self, params, x, rng, n_samples, analytic_kl):
        """elbo's work on checked inputs (tinygen.fast may replace it for the Gaussian and IAF VAEs)."""
        return self._elbo_given(params, x, self._noise(rng, n_samples, x.shape[0]), analytic_kl)

    def _elbo_given(self, params, x, eps, analytic_kl):
        """``_elbo`` with its noise eps ~ N(0, I), shape (S, n, z_dim), given."""
        z, log_q, (mu, rho) = self._posterior_given(params, x, eps)
        # log p(x) = E_q[log p(x)]                                           (no z inside)
        #          = E_q[log p(x|z) p(z) / p(z|x)]                            (Bayes' rule)
        #          = E_q[log p(x|z)] - E_q[log q(z|x)/p(z)] + E_q[log q(z|x)/p(z|x)]
        #          = -reconstruction - complexity + KL(q || p(z|x)) >= -reconstruction - complexity
        reconstruction = -np.mean(self._decoder_dist(params, z).log_prob(x), axis=0)
        if self.posterior == "gaussian" and analytic_kl:
            complexity = kl_divergence(Normal(mu, log_scale=F.log_softplus(rho)), self.prior)
        else:
            complexity = np.mean(log_q - self.prior.log_prob(z), axis=0)
        return {"elbo": -reconstruction - complexity, "reconstruction": reconstruction,
                "complexity": complexity}

    def loss(self, params, x, rng=None, context=None):
        """Negative ELBO averaged over the batch, one reparameterized sample per x."""
        check_context(context, x, 0)
        if rng is None:
            raise ValueError("rng: the negative ELBO is a Monte Carlo estimate; pass an rng or an int seed")
        return -np.mean(self.elbo(params, x, rng)["elbo"])

    # ---- generation ---------------------------------------------------------------------------
    def sample(self, params, n, rng, context=None, mean=False):
        """x ~ p_theta(x | z), z ~ p(z) (mean=True: the decoder mean / probabilities instead)."""
        rng = as_rng(rng)
        z = self.prior.sample(check_positive_int(n, "n"), rng)
        check_context(context, z, 0)
        if mean:
            return self.decode(params, z)
        return self.decoder_dist(params, z).sample(1, rng)[0]

    def interpolate(self, params, x_a, x_b, steps=8):
        """Decode z_t = (1 - t) mu(x_a) + t mu(x_b), t in [0, 1]: shape (steps, x_dim)."""
        steps = check_positive_int(steps, "steps", minimum=2)
        check_params(params, self)
        ends = []
        for name, point in (("x_a", x_a), ("x_b", x_b)):
            point = self._check_x(onp.reshape(as_float_array(point, name), (1, -1)), name)
            ends.append(self._encode(params, point)[0])
        mu_a, mu_b = ends
        t = onp.linspace(0.0, 1.0, steps)[:, None]
        return self.decode(params, (1 - t) * mu_a + t * mu_b)
