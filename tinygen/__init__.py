"""tinygen: a small, exact, readable engine for deep generative models (NumPy + autograd).

Layers, lowest first: functional -> distributions -> nn -> optim -> models
(mle, arm, flows, vae) -> evaluate. ``plot`` is for demos and is not imported here.
"""
from . import data, distributions, evaluate, functional, nn, optim
from .io import load, save
from .optim import NonFiniteLossError, fit
from . import mle

__version__ = "0.1.0"
