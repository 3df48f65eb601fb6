"""Variational autoencoders: the model and its ELBO (``model.py``), the approximate posterior
(``posterior.py``) and the estimates of log p(x) (``marginal.py``)."""
from .marginal import MAX_ROWS, MarginalLikelihood
from .model import LIKELIHOODS, POSTERIORS, VAE
from .posterior import ApproximatePosterior, reparameterize

__all__ = ["ApproximatePosterior", "LIKELIHOODS", "MAX_ROWS", "MarginalLikelihood", "POSTERIORS", "VAE",
           "reparameterize"]
