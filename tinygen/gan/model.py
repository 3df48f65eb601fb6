"""Generative adversarial networks (Goodfellow et al. 2014), judged against the exact density.

A generator x = G(z), z ~ N(0, I), and a discriminator D(x) = sigma(l(x)) in (0, 1),
where l is the logit (an MLP). They play the minimax game

    min_G max_D V(D, G) = E_{x~p}[log D(x)] + E_{z~N(0,I)}[log(1 - D(G(z)))].

D's loss is -V. G's loss is either the minimax one, E_z[log(1 - D(G(z)))], or the
non-saturating one, -E_z[log D(G(z))], whose gradient does not vanish when D
rejects the fakes confidently. Every log D is computed as log sigma(l) = -softplus(-l)
and log(1 - D) as log sigma(-l), so neither is ever log 0.

For a fixed G with density q, the best discriminator is D*(x) = p(x) / (p(x) + q(x)), and
V(D*, G) = 2 JS(p || q) - log 4 (``value_function``, ``js_divergence`` by quadrature).

``fit_gan`` alternates the two updates, each network with its own Adam and learning
rate schedule. The generator can be any model with a reparameterized
``sample(params, n, rng)``: a ``GAN``, or a tinygen flow (``RealNVP``), which keeps
its exact ``log_prob`` after adversarial training. A GAN has no density, so it is
judged by ``sample_quality`` (the mean true log-density of its samples) and
``coverage`` (the share of the true mass its samples reach, per arc or per mode).
"""
import time

import autograd.numpy as np
import numpy as onp
from autograd import value_and_grad
from autograd.tracer import getval

from .._threads import in_hot_loop
from .._validate import (NonFiniteError, as_batch, as_rng, check_hidden, check_option, check_params,
                         check_positive_int, check_tree, param_shapes)
from ..functional import log_sigmoid, sigmoid
from ..nn import MLP
from ..optim import Adam, NonFiniteLossError

__all__ = ["Discriminator", "GAN", "discriminator_loss", "fit_gan", "generator_loss"]


class Discriminator:
    """D(x) = sigma(l(x)) with the logit l an MLP: (data_dim, hidden..., 1)."""

    def __init__(self, data_dim, hidden=(64, 64), activation="relu"):
        self.data_dim = check_positive_int(data_dim, "data_dim")
        self.net = MLP((self.data_dim,) + check_hidden(hidden) + (1,), activation=activation)

    def init(self, rng):
        return self.net.init(as_rng(rng))

    def logit(self, params, x):
        """l(x) = log D(x) - log(1 - D(x)), shape (n,)."""
        return self.net.apply(check_params(params, self), as_batch(x, "x", self.data_dim))[:, 0]

    def __call__(self, params, x):
        """D(x) = sigma(l(x)) in (0, 1), shape (n,)."""
        return sigmoid(self.logit(params, x))


class GAN:
    """Generator MLP (latent_dim, hidden..., data_dim) and a ``Discriminator``; params
    {"generator": ..., "discriminator": ...} from ``init(rng)``."""

    def __init__(self, data_dim, latent_dim=2, hidden=(64, 64), activation="relu"):
        self.data_dim = check_positive_int(data_dim, "data_dim")
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.generator = MLP((self.latent_dim,) + check_hidden(hidden) + (self.data_dim,), activation=activation)
        self.critic = Discriminator(self.data_dim, hidden, activation)

    def init(self, rng):
        rng = as_rng(rng)
        return {"generator": self.generator.init(rng), "discriminator": self.critic.init(rng)}

    def generate(self, params, z):
        """x = G(z), z of shape (n, latent_dim)."""
        return self.generator.apply(params["generator"], as_batch(z, "z", self.latent_dim))

    def sample(self, params, n, rng, context=None):
        """x = G(z), z ~ N(0, I): reparameterized, so gradients flow from x to the generator."""
        check_params(params, self)
        z = as_rng(rng).standard_normal((check_positive_int(n, "n"), self.latent_dim))
        return self.generate(params, z)

    def discriminator(self, params, x):
        """D(x) in (0, 1), shape (n,)."""
        return self.critic(params["discriminator"], x)

    def discriminator_logit(self, params, x):
        """l(x) with D(x) = sigma(l(x)), shape (n,)."""
        return self.critic.logit(params["discriminator"], x)


def discriminator_loss(logit_real, logit_fake):
    """-V(D, G) = -E_p[log D(x)] - E_z[log(1 - D(G(z)))], with log(1 - sigma(l)) = log sigma(-l)."""
    return -np.mean(log_sigmoid(logit_real)) - np.mean(log_sigmoid(-logit_fake))


def generator_loss(logit_fake, loss="non_saturating"):
    """minimax: E_z[log(1 - D(G(z)))];  non_saturating: -E_z[log D(G(z))]."""
    if loss == "minimax":
        return np.mean(log_sigmoid(-logit_fake))
    return -np.mean(log_sigmoid(logit_fake))


# ------------------------------------------------------------- training: alternating updates

def _split(model, params, discriminator, rng):
    """(generator model, its params, discriminator, its params) for a GAN or any reparameterized sampler."""
    if isinstance(model, GAN):
        if discriminator is not None:
            raise ValueError("discriminator: a GAN brings its own, got another one")
        check_params(params, model)
        return _GeneratorOf(model), params["generator"], model.critic, params["discriminator"]
    if not callable(getattr(model, "sample", None)):
        raise TypeError(f"model: expected a GAN or a model with sample(params, n, rng), got {type(model).__name__}")
    dim = getattr(model, "dim", None)
    if discriminator is None:
        discriminator = Discriminator(dim)
    if not isinstance(discriminator, Discriminator):
        raise TypeError(f"discriminator: expected a tinygen.gan.Discriminator, got {type(discriminator).__name__}")
    if isinstance(params, dict) and set(params) == {"generator", "discriminator"}:
        params_g, params_d = params["generator"], check_params(params["discriminator"], discriminator)
    else:
        params_g, params_d = params, discriminator.init(rng)
    check_tree(params_g, param_shapes(params_g), "params")  # a tree of real arrays (the flow checks the rest)
    return model, params_g, discriminator, params_d


class _GeneratorOf:
    """A GAN's generator seen as a sampler of its own params (so a flow and a GAN train alike)."""

    def __init__(self, gan):
        self.gan = gan

    def sample(self, params_g, n, rng):
        z = as_rng(rng).standard_normal((n, self.gan.latent_dim))
        return self.gan.generator.apply(params_g, z)


def _check_finite(loss, grads, whose):
    """NonFiniteError unless a loss and its gradient pytree are finite."""
    if not onp.isfinite(loss):
        raise NonFiniteError(f"{whose} loss is {float(loss)}")
    check_tree(grads, param_shapes(grads), f"{whose} gradient", finite=True)


def _lr_at(lr, schedule, step, steps):
    """eta_t: constant, or cosine eta (1 + cos(pi (t - 1) / T)) / 2 as in ``optim.fit``."""
    return lr if schedule == "constant" else lr * 0.5 * (1 + onp.cos(onp.pi * (step - 1) / steps))


@in_hot_loop  # one BLAS thread by default: see tinygen/_threads.py
def fit_gan(model, params, x, steps=2000, rng=0, batch_size=256, lr_g=1e-3, lr_d=1e-3, loss="non_saturating",
            d_steps=1, discriminator=None, schedule_g="constant", schedule_d="constant", betas=(0.5, 0.999),
            log_every=None, progress=False):
    """Train a generator against a discriminator by alternating gradient steps; returns (params, history).

    Each step: ``d_steps`` updates of D on -V(D, G) (a real batch and a fresh fake batch), then one
    update of G on ``loss`` ("non_saturating" or "minimax"), each with its own Adam (b1, b2 = betas,
    b1 = 0.5 as in Radford et al. 2016) and learning-rate schedule ("constant" or "cosine").
    model: a ``GAN`` (params from its init), or any model with a reparameterized
        ``sample(params, n, rng)``, such as ``tinygen.flows.RealNVP``: then ``discriminator`` is a
        ``Discriminator`` (default ``Discriminator(model.dim)``) and params are the flow's own, or
        {"generator": flow params, "discriminator": D params} to continue a run.
    Returned params are always {"generator": ..., "discriminator": ...}: for a flow,
    ``flow.log_prob(params["generator"], x)`` is its exact density after adversarial training.
    history: "step", "loss_d", "loss_g" per step, and "seconds". A non-finite loss stops the run
    with ``optim.NonFiniteLossError`` holding the last finite params.
    """
    rng = as_rng(rng)
    steps, batch_size = check_positive_int(steps, "steps"), check_positive_int(batch_size, "batch_size")
    d_steps = check_positive_int(d_steps, "d_steps")
    check_option(loss, "loss", ("non_saturating", "minimax"))
    check_option(schedule_g, "schedule_g", ("constant", "cosine"))
    check_option(schedule_d, "schedule_d", ("constant", "cosine"))
    generator, params_g, critic, params_d = _split(model, params, discriminator, rng)
    x = as_batch(x, "x", critic.data_dim)
    opt_g, opt_d = Adam(lr_g, *betas), Adam(lr_d, *betas)
    state_g, state_d = opt_g.init(params_g), opt_d.init(params_d)
    b = min(batch_size, len(x))

    def d_objective(p_d, real, fake):
        return discriminator_loss(critic.logit(p_d, real), critic.logit(p_d, fake))

    def g_objective(p_g, p_d, r):
        return generator_loss(critic.logit(p_d, generator.sample(p_g, b, r)), loss)

    d_grad, g_grad = value_and_grad(d_objective), value_and_grad(g_objective)
    history = {"step": [], "loss_d": [], "loss_g": [], "seconds": 0.0}
    log_every = max(1, steps // 10) if log_every is None else check_positive_int(log_every, "log_every")
    start = time.perf_counter()
    good = {"generator": params_g, "discriminator": params_d}  # the last params whose step was finite
    for step in range(1, steps + 1):
        opt_d.lr, opt_g.lr = _lr_at(lr_d, schedule_d, step, steps), _lr_at(lr_g, schedule_g, step, steps)
        before = {"generator": params_g, "discriminator": params_d}
        try:
            for _ in range(d_steps):
                real = x[rng.choice(len(x), b, replace=False)]
                fake = onp.asarray(getval(generator.sample(params_g, b, rng)))  # D's step does not move G
                loss_d, g_d = d_grad(params_d, real, fake)
                _check_finite(loss_d, g_d, "the discriminator's")
                params_d, state_d = opt_d.update(params_d, g_d, state_d)
            loss_g, g_g = g_grad(params_g, params_d, rng)
            _check_finite(loss_g, g_g, "the generator's")
        except NonFiniteError as err:  # the data were checked finite: the params went bad
            history["seconds"] = time.perf_counter() - start
            raise NonFiniteLossError(f"fit_gan: {err} at step {step}; try smaller learning rates; the error's "
                                     ".params holds the last finite parameters", good, history) from err
        params_g, state_g = opt_g.update(params_g, g_g, state_g)
        good = before
        history["step"].append(step)
        history["loss_d"].append(float(loss_d))
        history["loss_g"].append(float(loss_g))
        if progress and (step % log_every == 0 or step == steps):
            print(f"step {step:>6}/{steps}  loss_d {loss_d:8.4f}  loss_g {loss_g:8.4f}", flush=True)
    history["seconds"] = time.perf_counter() - start
    return {"generator": params_g, "discriminator": params_d}, history
