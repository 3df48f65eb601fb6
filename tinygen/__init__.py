"""tinygen: a small, exact, readable engine for deep generative models (NumPy + autograd).

Layers, lowest first: functional -> distributions -> nn -> optim -> models
(mle, arm, flows, vae, vi) -> evaluate. ``fast`` registers faster kernels for some
model methods (``with tinygen.fast.disabled():`` runs the reference code only).
``plot`` is for demos and is not imported here.
"""
from . import arm, data, distributions, evaluate, flows, functional, mle, nn, ode, optim, vae, vi
from . import diffusion, ebm, gan  # after flows: a flow can be a GAN's generator
from . import fast  # after the models: it registers kernels for their methods
from ._validate import NonFiniteError
from .io import load, save
from .optim import LossDivergedError, NonFiniteLossError, fit

__all__ = ["LossDivergedError", "NonFiniteError", "NonFiniteLossError", "arm", "data", "diffusion", "distributions",
           "ebm", "evaluate", "fast", "fit", "flows", "functional", "gan", "load", "mle", "nn", "ode", "optim", "save",
           "vae", "vi"]

__version__ = "0.1.0"
