"""Hypothesis strategies for property tests: seeds, dimensions, batches, scales, orderings, params.

tinygen's own tests use these; use them in yours:

    from hypothesis import given
    from tinygen.testing.strategies import dims, seeds, perturbed_params

    @given(dim=dims, seed=seeds)
    def test_my_layer(dim, seed):
        check_flow(MyLayer(dim), rng=seed).assert_ok()

Importing this module needs hypothesis (``pip install tinygen[test]``); the checks in
``tinygen.testing`` do not.
"""
import numpy as onp
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from .flows import PERTURB_SCALE, perturb

__all__ = ["batch_sizes", "batches", "dims", "finite_floats", "orderings", "perturbed_params", "positive_floats",
           "seeds", "vectors"]

seeds = st.integers(min_value=0, max_value=2**32 - 1)
dims = st.integers(min_value=1, max_value=6)
batch_sizes = st.integers(min_value=1, max_value=8)


def finite_floats(bound=10.0):
    return st.floats(min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False)


def batches(n, d, bound=10.0):
    """An (n, d) float64 array with entries in [-bound, bound]."""
    return arrays(onp.float64, (n, d), elements=finite_floats(bound))


def positive_floats(low=0.1, high=10.0):
    """Scales sigma in [low, high] (a positive bound keeps densities and KLs well conditioned)."""
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def vectors(d, bound=10.0, elements=None):
    """A (d,) float64 array, entries in [-bound, bound] unless ``elements`` is given."""
    return arrays(onp.float64, (d,), elements=finite_floats(bound) if elements is None else elements)


def orderings(d):
    """An ordering (o_1, ..., o_D) of 0..d-1, as a list (shrinks towards the natural order)."""
    return st.permutations(list(range(d)))


def perturbed_params(model, scale=PERTURB_SCALE):
    """``model.init(seed)`` with every float leaf moved by noise of size ``scale`` (see ``perturb``),
    for a seed hypothesis draws: untrained layers are near the identity, these are not."""
    return seeds.map(lambda seed: perturb(model.init(seed), seed + 1, scale))
