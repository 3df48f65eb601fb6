"""Recipes for the families that ``tinygen.fit`` alone does not train: energy-based models and GANs.

An EBM's maximum likelihood needs negatives from its own sampler (``tinygen.ebm.fit_ebm``), a GAN
alternates two players (``tinygen.gan.fit_gan``). Their recipes are ``Recipe``s with the few extra
fields those functions take, and a ``train`` with the same call and result, (model, params,
history). ``tinygen.recipes`` holds the instances (``RECIPES["ebm"]``, ``["gan"]``, ...); they are
measured seed by seed in benchmarks/REPORT_ebm_gan.md (benchmarks/bench_ebm_gan.py).
"""
from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp

from ._deprecated import refuse_unknown, take_renamed
from ._validate import as_batch, as_rng, check_option, check_positive, check_positive_int
from .data.potentials import gauss_legendre_panels
from .ebm import fit_ebm
from .functional import logsumexp
from .gan import GAN, Discriminator, fit_gan
from .optim import minimize
from .recipe import Recipe

__all__ = ["EBMRecipe", "GANRecipe", "quadrature_nll"]


@dataclass(frozen=True)
class EBMRecipe(Recipe):
    """An EBM by maximum likelihood: ``pretrain`` steps of denoising score matching (a cheap start
    whose density already has the moons' shape), then ``steps`` of persistent contrastive divergence
    (``fit_ebm``, with the Langevin chains that ``build()`` gives the model, kept between updates).

    gradient="quadrature" replaces CD's sampled negatives by the exact expectation on a grid,
    possible in 2-D only: the same maximum-likelihood gradient E_data[grad E] - E_p[grad E], with
    E_p computed by Gauss-Legendre quadrature on the box (panels ``panel_width`` wide, moved at
    random every step when ``shifted``: ``quadrature_nll``), i.e. gradient descent on the exact
    NLL  E_data[E_theta(x)] + log Z_theta. Not a sampler's estimate.
    """
    pretrain: int = 0
    gradient: str = "cd"
    panel_width: float = 0.5
    shifted: bool = False

    def train(self, x, rng=0, steps=None, progress=False, batch_size=None, **renamed):
        """(model, params, history) like ``Recipe.train``; a shorter ``steps`` shortens the
        pretraining in proportion. history["pretrain"] is the DSM phase's record."""
        seed = take_renamed(renamed, "seed", "rng", rng, 0, "EBMRecipe.train")
        refuse_unknown(renamed, "EBMRecipe.train")
        steps = self.steps if steps is None else check_positive_int(steps, "steps")
        batch_size = self.batch_size if batch_size is None else check_positive_int(batch_size, "batch_size")
        as_rng(seed, "rng")
        check_option(self.gradient, "gradient", ("cd", "quadrature"))
        x = as_batch(x, "x", 2)
        model = self.build()
        params, history = model.init(seed), {}
        options = {"lr": self.lr, "rng": seed, "lr_schedule": self.schedule, "progress": progress}
        if self.pretrain:
            pretrain = max(1, self.pretrain * steps // self.steps)
            params, history["pretrain"] = minimize(_on_batches(model.dsm_loss, x, batch_size, pass_rng=True),
                                                   params, pretrain, **options)
        if self.gradient == "quadrature":
            nll = quadrature_nll(model, self.panel_width, self.shifted)
            params, last = minimize(_on_batches(nll, x, batch_size, pass_rng=self.shifted), params, steps, **options)
        else:
            params, last = fit_ebm(model, params, x, steps=steps, batch_size=batch_size, **options)
        history.update(last)
        return model, params, history


def _on_batches(loss, x, batch_size, pass_rng=False):
    """objective(params, rng) = loss(params, batch[, rng]) on a minibatch drawn from rng."""
    def objective(params, rng):
        batch = x[rng.choice(len(x), min(batch_size, len(x)), replace=False)]
        return loss(params, batch, rng) if pass_rng else loss(params, batch)
    return objective


def quadrature_nll(model, panel_width=0.5, shifted=False):
    """nll(params, x) = E_x[E_theta(x)] + log Z_theta, log Z by Gauss-Legendre quadrature on the box.

    Its gradient is the exact maximum-likelihood gradient E_data[grad E] - E_p[grad E] (2-D only).
    Panels ``panel_width`` wide with 8 nodes each: a coarser rule than ``EBM.log_z``'s (the gradient
    needs the bulk of Z, the reported NLL uses the fine one).

    shifted: nll(params, x, rng) moves the panel edges by a fresh random offset u ~ U[0, 1)^2
    (in panel widths) at every call. A fixed rule sees exp(-E) at the same nodes at every step, and
    a sharp enough model can put mass between them that no step is charged for; a rule that moves
    leaves it nowhere to hide. Each step's rule is still a composite rule on the whole box, so its
    log Z, and with it the gradient  E_data[grad E] - sum_j W_j exp(-E(x_j)) grad E(x_j) / Z_hat,
    converge to the exact ones as the panels shrink, whatever u is: a consistent gradient, with the
    rule's own error (tiny once the panels resolve exp(-E)), not an unbiased one (it is a ratio).
    """
    if model.dim != 2:
        raise ValueError(f"model: the quadrature gradient needs dim 2, got {model.dim}")
    panels = [max(1, int(onp.ceil((hi - lo) / check_positive(panel_width, "panel_width")))) for lo, hi in model.box]

    def rule(offset):
        """Nodes x_j (m, 2) and log W_j of the tensor rule whose edges are moved by ``offset``."""
        (t1, w1), (t2, w2) = (gauss_legendre_panels(lo, hi, k, u) for (lo, hi), k, u in zip(model.box, panels, offset))
        g1, g2 = onp.meshgrid(t1, t2, indexing="ij")
        return onp.column_stack([g1.ravel(), g2.ravel()]), onp.log(onp.outer(w1, w2)).ravel()

    def nll_on(params, x, nodes, log_w):
        log_z = logsumexp(-model.energy(params, nodes) + log_w, axis=0)  # log sum_j W_j exp(-E(x_j))
        return np.mean(model.energy(params, x)) + log_z

    if shifted:
        def nll(params, x, rng):
            return nll_on(params, x, *rule(as_rng(rng).uniform(size=2)))
        return nll
    fixed = rule((0.0, 0.0))

    def nll(params, x):
        return nll_on(params, x, *fixed)
    return nll


@dataclass(frozen=True)
class GANRecipe(Recipe):
    """A generator trained against a discriminator by ``fit_gan``: ``lr`` is the generator's
    learning rate, ``lr_d`` the discriminator's, ``schedule`` both schedules; ``loss`` the
    generator's loss. build() returns a ``GAN``, or a flow (then ``disc_hidden`` sizes its
    ``Discriminator``)."""
    lr_d: float = 1e-3
    loss: str = "non_saturating"
    d_steps: int = 1
    disc_hidden: tuple = (64, 64)
    betas: tuple = (0.5, 0.999)  # Adam's (b1, b2) for both players; b1 = 0.5 as in Radford et al. (2016)

    def train(self, x, rng=0, steps=None, progress=False, batch_size=None, **renamed):
        """(model, params, history) like ``Recipe.train``, trained by ``fit_gan``."""
        seed = take_renamed(renamed, "seed", "rng", rng, 0, "GANRecipe.train")
        refuse_unknown(renamed, "GANRecipe.train")
        steps = self.steps if steps is None else check_positive_int(steps, "steps")
        batch_size = self.batch_size if batch_size is None else check_positive_int(batch_size, "batch_size")
        as_rng(seed, "rng")
        model = self.build()
        critic = None if isinstance(model, GAN) else Discriminator(model.dim, hidden=self.disc_hidden)
        params, history = fit_gan(model, model.init(seed), x, steps=steps, rng=seed, batch_size=batch_size,
                                  lr_g=self.lr, lr_d=self.lr_d, loss=self.loss, d_steps=self.d_steps,
                                  discriminator=critic, schedule_g=self.schedule, schedule_d=self.schedule,
                                  betas=self.betas, progress=progress)
        return model, params, history
