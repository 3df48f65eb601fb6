"""RealNVP and NeuralSplineFlow as density models: structure, normalization, bad input."""
import numpy as onp
import pytest

import tinygen
from tinygen import data, evaluate
from tinygen.flows import (AffineCoupling, Compose, FlowModel, NeuralSplineFlow, Permutation, RealNVP,
                           SplineCoupling, coupling_masks)
from tinygen.testing import perturb

# Midpoint rule on an n x n grid over a box: for a smooth density the error is
# O(h^2) (h = cell width) times the density's curvature, plus the mass outside the box.
BOX = ((-5.0, 6.0), (-5.0, 5.5))  # two moons lie in [-1.2, 2.2] x [-0.7, 1.2]; N(0, I) base
N_GRID = 400                      # h ~ 0.027, a tenth of the narrowest feature below


def _grid_mass(log_prob):
    return evaluate.grid_integral(log_prob, BOX, n=N_GRID)


def _random(model, seed):
    # every leaf moved by ~0.1 (the zero last layers included): away from the identity, O(1) log-scales
    return perturb(model.init(seed), seed, scale=0.1)


def test_public_structure():
    model = RealNVP(2)  # defaults: 8 affine couplings, MLP 2 x 64
    assert isinstance(model, FlowModel) and isinstance(model.flow, Compose)
    assert len(model.flow.layers) == 8
    assert all(isinstance(layer, AffineCoupling) for layer in model.flow.layers)
    assert model.flow.layers[0].hidden == (64, 64)
    onp.testing.assert_array_equal([m.tolist() for m in coupling_masks(2, 4)],
                                   [[1, 0], [0, 1], [1, 0], [0, 1]])
    nsf = NeuralSplineFlow(2, n_layers=4, hidden=(64, 64), bins=8)
    kinds = [type(layer) for layer in nsf.flow.layers]
    assert kinds == [SplineCoupling, Permutation] * 3 + [SplineCoupling]
    for name in ("init", "forward", "inverse", "log_prob", "sample", "loss"):
        assert callable(getattr(model, name)) and callable(getattr(nsf, name))


@pytest.mark.parametrize("dim", [2, 3, 5, 6])
def test_masks_transform_every_coordinate_in_each_pair(dim):
    masks = coupling_masks(dim, 8)
    for a, b in zip(masks[::2], masks[1::2]):
        onp.testing.assert_array_equal(a + b, 1.0)  # complementary: each coordinate once per pair
    if dim >= 4:  # halves and checkerboard both appear, so every pair of coordinates interacts
        assert not onp.array_equal(masks[0], masks[2])


@pytest.mark.parametrize("make", [lambda: RealNVP(2, n_layers=4, hidden=(16, 16)),
                                  lambda: NeuralSplineFlow(2, n_layers=3, hidden=(16, 16))],
                         ids=["realnvp", "nsf"])
def test_random_flow_density_integrates_to_one(make):
    model = make()
    params = _random(model, 0)
    mass = _grid_mass(lambda x: model.log_prob(params, x))
    # The untrained flows are a smooth bend of N(0, I): the midpoint error at h ~ 0.027
    # is ~1e-6, and the mass the random splines push outside the box is ~2e-4 (the
    # integral stays at 1 - 2e-4 when the grid is refined), so 2e-3 is a safe margin.
    assert abs(mass - 1.0) < 2e-3


@pytest.mark.parametrize("make", [lambda: RealNVP(2, n_layers=4, hidden=(32, 32)),
                                  lambda: NeuralSplineFlow(2, n_layers=2, hidden=(32, 32))],
                         ids=["realnvp", "nsf"])
def test_briefly_trained_flow_density_integrates_to_one(make):
    model = make()
    x = data.two_moons(2000, noise=0.05, rng=0)
    params, history = tinygen.fit(model, model.init(0), x, steps=200, batch_size=128, lr=3e-3,
                                  rng=0, progress=False)
    assert history["loss"][-1] < history["loss"][0] - 0.5  # it did learn something
    mass = _grid_mass(lambda v: model.log_prob(params, v))
    # After 200 steps the moons are blurred to widths ~0.2-0.3 (~10 cells): the midpoint
    # error measured at this grid is ~1e-3 (it falls to ~1e-4 at twice the resolution),
    # so 5e-3 is a safe margin that a wrong log-det (an O(1) factor) would still fail.
    assert abs(mass - 1.0) < 5e-3


def test_conditional_realnvp_normalizes_for_every_context():
    model = RealNVP(2, n_layers=4, hidden=(16,), context_dim=2)
    params = _random(model, 1)
    masses = [_grid_mass(lambda x: model.log_prob(params, x, context=[c]))
              for c in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.5])]  # e.g. one-hot moon labels
    onp.testing.assert_allclose(masses, 1.0, atol=2e-3)  # as for the unconditional random flow
    # ... and the context does change the density.
    x = onp.array([[0.5, 0.5]])
    assert model.log_prob(params, x, context=[[1.0, 0.0]]) != model.log_prob(params, x, context=[[0.0, 1.0]])


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match=r"^dim: "):
        RealNVP(1)
    with pytest.raises(ValueError, match=r"^n_layers: "):
        RealNVP(2, n_layers=0)
    with pytest.raises(ValueError, match=r"^bound: "):
        NeuralSplineFlow(2, bound=0.0)
    model = RealNVP(2, n_layers=2, hidden=(4,))
    params = model.init(0)
    with pytest.raises(ValueError, match=r"^x: expected shape \(n, 2\)"):
        model.log_prob(params, onp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^x: expected finite"):
        model.log_prob(params, [[0.0, onp.nan]])
    with pytest.raises(ValueError, match=r"^context: this model is unconditional"):
        model.log_prob(params, onp.zeros((1, 2)), context=[[1.0]])
    with pytest.raises(ValueError, match=r"^z: expected shape"):
        model.forward(params, onp.zeros(2))
