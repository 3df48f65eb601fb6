"""Generative adversarial networks (Goodfellow et al. 2014), judged against the exact density.

``model``: the generator and discriminator MLPs, the minimax and non-saturating losses, and
``fit_gan`` (alternating updates; a flow can be the generator). ``judge``: the optimal
discriminator D* = p / (p + q) with V(D*, G) = 2 JS(p || q) - log 4, and the judging of
samples against a known density (``sample_quality``, ``coverage``).
"""
from .judge import coverage, js_divergence, optimal_logit, quadrature_grid, sample_quality, value_function
from .model import GAN, Discriminator, discriminator_loss, fit_gan, generator_loss

__all__ = ["GAN", "Discriminator", "coverage", "discriminator_loss", "fit_gan", "generator_loss", "js_divergence",
           "optimal_logit", "quadrature_grid", "sample_quality", "value_function"]
