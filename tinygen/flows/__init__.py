"""Normalizing flows: x = f(z), z ~ p_z, log p_x(x) = log p_z(g(x)) + log|det dg/dx|."""
from .base import Compose, Flow, FlowModel
from .splines import ElementwiseSpline, rq_spline
from .planar import PlanarFlow, constrained_u, planar_model
from .elementwise import ElementwiseAffine, Exp, Scale, Uniform
from .linear import ActNorm, LULinear, Permutation
from .autoregressive import IAF, MAF, IAFLayer, MAFLayer
from .coupling import AffineCoupling, Coupling, SplineCoupling
from .models import NeuralSplineFlow, RealNVP, coupling_masks
from .continuous import ContinuousFlow
from .glow import FactorOut, Glow, OnKeptHalf

__all__ = ["ActNorm", "AffineCoupling", "Compose", "ContinuousFlow", "Coupling", "ElementwiseAffine",
           "ElementwiseSpline", "Exp", "FactorOut", "Flow", "FlowModel", "Glow", "IAF", "IAFLayer", "LULinear", "MAF",
           "MAFLayer", "NeuralSplineFlow", "OnKeptHalf", "Permutation", "PlanarFlow", "RealNVP", "Scale",
           "SplineCoupling", "Uniform", "constrained_u", "coupling_masks", "planar_model", "rq_spline"]
