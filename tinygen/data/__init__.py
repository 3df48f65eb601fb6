"""Data sets with known truth, in one place for every demo and test.

``toys``: 2-D toys with exact log densities (two moons and its entropy, mixtures,
checkerboard, rings) and a standardizer. ``potentials``: unnormalized 2-D targets
exp(-U(z)) for reverse-KL fitting (Rezende & Mohamed's U1-U4, two moons, a user's
own), with log Z by quadrature. ``images``: small binary images (bars-and-stripes
with its exact entropy, 8 x 8 shapes, the 8 x 8 digits
with 17 grey levels and a fixed split). ``sequences``: a
stationary Markov source with an exact entropy rate, and first names (from the
package ``names`` when it is installed). Nothing is downloaded.
"""
from . import arcs, images, potentials, sequences, toys
from .potentials import Potential, potential
from .images import SHAPES, bars_and_stripes, bars_and_stripes_entropy, bars_and_stripes_patterns, digits8, shapes8
from .images import digits8_levels, digits8_split
from .sequences import MarkovSource, first_names
from .toys import (MOONS_BOUNDS, TOYS, Checkerboard, CircleArcs, GaussianMixture, Standardizer, eight_gaussians,
                   moons, rings, standardize, toy, two_moons, two_moons_entropy, two_moons_log_prob)

__all__ = ["Checkerboard", "CircleArcs", "GaussianMixture", "MOONS_BOUNDS", "MarkovSource", "Potential", "SHAPES",
           "Standardizer", "TOYS", "arcs", "bars_and_stripes", "bars_and_stripes_entropy", "bars_and_stripes_patterns",
           "digits8", "digits8_levels", "digits8_split", "eight_gaussians", "first_names", "images", "moons",
           "potential", "potentials", "rings", "sequences", "shapes8", "standardize", "toy", "toys", "two_moons",
           "two_moons_entropy", "two_moons_log_prob"]
