"""Normalizing flows: x = f(z), z ~ p_z, log p_x(x) = log p_z(g(x)) + log|det dg/dx|."""
from .base import Compose, Flow, FlowModel
