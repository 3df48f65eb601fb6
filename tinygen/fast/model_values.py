"""MADE's log-likelihood and sampling, the VAE's importance weights and sampling, untraced, block by block.

The reference methods are ``MADE._log_prob_e``, ``MADE._sample_e`` (arm/made.py),
``VAE.log_weights`` and ``VAE.sample`` (vae.py). With nothing traced and inside ``installed()`` they run here, on
blocks of rows (fast/blocks.py), each block computing exactly what the reference computes for
its rows; the likelihood heads and distributions are the model modules' own functions:

    MADE     (mu_d, rho_d) = NN(x_<d, c) for every d in one pass,  log p(x) = sum_d log p(x_d | x_<d, c)
    sampling x_{o_t} = mu_{o_t}(x_<o_t) + softplus(rho_{o_t}) eps_t,  t = 1..D  (D passes per block)
    VAE      log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x),  z_k = mu(x) + eps_k sigma(x)
             (an IAF posterior: z_k = f(z_0k; h(x)), log q = log q_0 - log|det df/dz_0|, fast/flow_values.py)
    sampling x = m(z) + s eps,  z ~ p(z)  (the decoder block by block)

Randomness is drawn in the reference's order and shape before the blocks start (all D columns of
a MADE's eps at once: a generator's draws of (D, n) equal D draws of n, one after the other), so
the samples and importance weights are the reference's, number for number.
"""
import numpy as onp

from .. import functional as F
from .._validate import as_rng, check_context, check_params, check_positive_int
from ..arm.made import MADE, head_log_prob
from ..vae import VAE, reparameterize
from . import flow_values, plain
from . import made as _traced  # noqa: F401  (its kernel is registered first: the traced case goes to it)
from .blocks import activation, block_rows, mlp_values, mlp_weights, row_blocks, serve_untraced, widest

__all__ = ["made_log_prob", "made_sample", "vae_encoded", "vae_log_weights", "vae_sample"]


def _made_raw(made, e, weights, direct, x, c):
    """Raw outputs (rows, P, D) of mask set e on one block (with the direct path W_d * M_d)."""
    h = x if made.context_dim == 0 else onp.concatenate([x, c], axis=1)
    out = mlp_values(made.nets[e], weights, h)
    if direct is not None:
        out += h @ direct  # the direct connections x -> output
    return out.reshape(x.shape[0], made.n_raw, made.dim)


def _made_weights(made, params, e):
    direct = params["direct"] * made.direct_masks[e] if made.direct else None
    return mlp_weights(made.nets[e], params["net"]), direct


def made_log_prob(made, params, x, context, e, block=None):
    """log p_e(x | c) of mask set e, (n,), block by block."""
    weights, direct = _made_weights(made, params, e)
    log_p = onp.empty(x.shape[0])
    for rows in row_blocks(x.shape[0], block, widest([made.nets[e]])):
        raw = _made_raw(made, e, weights, direct, x[rows], None if context is None else context[rows])
        block_log_p = _gaussian_log_prob(raw, x[rows]) if made.likelihood == "gaussian" else None
        log_p[rows] = head_log_prob(made.likelihood, raw, x[rows]).sum(axis=1) if block_log_p is None else block_log_p
    return log_p


def _gaussian_log_prob(raw, x):
    """sum_d log N(x_d; mu_d, sigma_d^2) = sum_d [-u_d^2 / 2 - log sigma_d] - D log(2 pi) / 2 in plain NumPy,
    u_d = (x_d - mu_d) e^(-log sigma_d), log sigma_d = log softplus(rho_d): the Gaussian head's values to
    rounding without autograd's wrapper per operation (or the unused sigma the head also returns).
    None where some sigma_d < 1e-304: the head's own care for a sigma that underflows takes that block."""
    log_sigma = plain.log_softplus(raw[:, 1])
    if not onp.all(log_sigma > -700.0):
        return None
    u = (x - raw[:, 0]) * onp.exp(-log_sigma)
    return plain.normal_log_density(u, log_sigma)


def made_sample(made, params, n, rng, context, e, block=None):
    """n ancestral samples of a Gaussian MADE's mask set e, block by block, with the reference's noise."""
    eps = as_rng(rng).standard_normal((made.dim, n))  # eps_t for pass t, as the reference draws them
    weights, direct = _made_weights(made, params, e)
    x = onp.zeros((n, made.dim))
    for rows in row_blocks(n, block, widest([made.nets[e]])):
        xb, c = x[rows], None if context is None else context[rows]  # xb: a view, filled column by column
        for t, d in enumerate(made.orders[e]):  # after pass t, column o_t is final
            # the first pass reads x = 0 on every row: without a context its outputs are one row's, for all
            first_only = t == 0 and c is None
            raw = _made_raw(made, e, weights, direct, xb[:1] if first_only else xb, c)
            xb[:, d] = raw[:, 0, d] + plain.softplus(raw[:, 1, d]) * eps[t, rows]
    return x


@serve_untraced(MADE, "_log_prob_e")
def log_prob_e(made, params, x, context, e):
    """``MADE._log_prob_e`` block by block, when nothing is traced (every likelihood head)."""
    return made_log_prob(made, params, x, context, e)


@serve_untraced(MADE, "_sample_e")
def sample_e(made, params, n, rng, context, e):
    """``MADE._sample_e`` block by block, for a Gaussian MADE (the others draw differently)."""
    if made.likelihood != "gaussian":
        return NotImplemented
    return made_sample(made, params, n, rng, context, e)


def _log_px(vae, params, weights, z, x):
    """log p(x | z) (samples, rows): the decoder's MLP in place, then the reference's Gaussian log-density
    (``VAE._decoder_dist``'s learned or fixed s); any other decoder through the reference itself."""
    if vae.likelihood != "gaussian" or vae.decoder_scale == "network":
        return vae._decoder_dist(params, z).log_prob(x)
    loc = mlp_values(vae.decoder, weights, z.reshape(-1, vae.z_dim)).reshape(z.shape[:-1] + (vae.x_dim,))
    if vae.decoder_scale == "learned":  # s = softplus(rho_x), given by its log
        return F.log_normal_pdf_log_scale(x, loc, F.log_softplus(params["rho_x"])).sum(axis=-1)
    return F.log_normal_pdf(x, loc, vae.decoder_scale * onp.ones(vae.x_dim)).sum(axis=-1)


def vae_encoded(vae, params, x, block=None):
    """``VAE._encode_rho``'s (mu, rho, h) block by block: h = act(trunk(x)), (mu, rho) = h W + b; h is
    kept (None otherwise) only for a flow that reads it as its context."""
    enc = params["encoder"]
    trunk = None if vae.trunk is None else mlp_weights(vae.trunk, enc["trunk"])
    act = activation(vae.activation)
    keep_h = vae.flow is not None and vae.flow.context_dim > 0
    n = x.shape[0]
    out = onp.empty((n, enc["head"]["W"].shape[1]))
    h_all = onp.empty((n, vae.feature_dim)) if keep_h else None
    for rows in row_blocks(n, block, widest([vae.trunk] if vae.trunk is not None else [])):
        h = x[rows] if trunk is None else act(mlp_values(vae.trunk, trunk, x[rows]))
        out[rows] = h @ enc["head"]["W"] + enc["head"]["b"]
        if keep_h:
            h_all[rows] = h
    return out[:, :vae.z_dim], out[:, vae.z_dim:], h_all


def vae_log_weights(vae, params, x, rng, k, block=None):
    """log w (K, n) of a VAE with a Gaussian q_0(z | x), followed or not by a flow (an IAF): the encoder
    block by block, then for each of the reference's chunks of samples its eps, and the flow and the
    decoder on blocks of (samples x points)."""
    mu, rho, h = vae_encoded(vae, params, x, block)
    sigma, log_sigma = plain.softplus(rho), plain.log_softplus(rho)
    weights = mlp_weights(vae.decoder, params["decoder"])
    n = x.shape[0]
    log_w, first = onp.empty((k, n)), 0
    nets = [vae.decoder] + ([] if vae.flow is None else flow_values.stack_nets(vae.flow))
    rows_per_block = block_rows(widest(nets))  # rows of (samples x points) per block
    for s in vae._chunks(k, n):
        eps = vae._noise(rng, s, n)  # the reference's draw for this chunk
        for rows in row_blocks(n, max(1, (rows_per_block if block is None else block) // s)):
            z = reparameterize(mu[rows], sigma[rows], eps[:, rows])  # z_k = mu + eps_k sigma
            # log q(z_k | x) = log N(z_k; mu, sigma^2) = log N(eps_k; 0, I) - sum_d log sigma_d, as the reference
            log_q = vae.prior.log_prob(eps[:, rows]) - log_sigma[rows].sum(axis=-1)
            if vae.flow is not None:
                z, log_q = _flow_posterior(vae, params, z, log_q, None if h is None else h[rows])
            log_px = _log_px(vae, params, weights, z, x[rows])
            log_w[first:first + s, rows] = log_px + vae.prior.log_prob(z) - log_q
        first += s
    return log_w


def _flow_posterior(vae, params, z0, log_q0, h):
    """z_K = f(z_0) with the encoder's h as the flow's context (the reference's sample-major rows),
    and log q_K(z_K | x) = log q_0(z_0 | x) - log|det df/dz_0|."""
    s, rows, d = z0.shape
    context = None if vae.flow.context_dim == 0 else onp.concatenate([h] * s, axis=0)
    z, log_det = flow_values.run(vae.flow, params["flow"], z0.reshape(s * rows, d), context, inverse=False)
    return z.reshape(s, rows, d), log_q0 - log_det.reshape(s, rows)


@serve_untraced(VAE, "log_weights")
def log_weights(vae, params, x, rng, k=100):
    """``VAE.log_weights`` block by block, when nothing is traced and q(z | x) is Gaussian, or Gaussian
    followed by a flow the untraced stack runs (an IAF; not the planar flows)."""
    if vae.posterior == "amortized_planar" or (
            vae.flow is not None and not flow_values.applies(vae.flow, params["flow"], None, None)):
        return NotImplemented
    x = vae._check_x(x)  # the reference's checks, in its order
    check_params(params, vae)
    return vae_log_weights(vae, params, x, as_rng(rng), check_positive_int(k, "k"))


def vae_sample(vae, params, z, rng, mean, block=None):
    """x ~ N(m(z), s^2) (or the mean m(z)) for prior draws z (n, z_dim) of a Gaussian VAE with a learned or
    fixed s: the decoder block by block, the noise drawn as ``Normal.sample`` draws it, (1, n, x_dim)."""
    weights = mlp_weights(vae.decoder, params["decoder"])
    loc = onp.empty((z.shape[0], vae.x_dim))
    for rows in row_blocks(z.shape[0], block, widest([vae.decoder])):
        loc[rows] = mlp_values(vae.decoder, weights, z[rows])
    if mean:
        return loc
    if vae.decoder_scale == "learned":  # s = exp(log softplus(rho_x)), as Normal's scale from its log
        scale = onp.exp(plain.log_softplus(params["rho_x"]))
    else:
        scale = vae.decoder_scale * onp.ones(vae.x_dim)
    return loc + scale * rng.standard_normal((1,) + loc.shape)[0]


@serve_untraced(VAE, "sample")
def sample(vae, params, n, rng, context=None, mean=False):
    """``VAE.sample`` with the decoder block by block, for a Gaussian decoder with a learned or fixed s."""
    if vae.likelihood != "gaussian" or vae.decoder_scale == "network":
        return NotImplemented
    rng = as_rng(rng)  # the reference's checks and draws, in its order
    z = vae.prior.sample(check_positive_int(n, "n"), rng)
    check_context(context, z, 0)
    check_params(params, vae)
    return vae_sample(vae, params, z, rng, mean)
