"""MAF and IAF: pass counts, triangular Jacobians, round trips, identity at init, normalization.

(The generic registry test in test_flows_generic.py also runs them through
invertibility, log-det vs autograd and gradient checks.)
"""
import autograd
import numpy as onp
import pytest
from autograd.misc import flatten
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.evaluate import grid_integral
from tinygen.flows import IAF, MAF, IAFLayer, MAFLayer
from tinygen.testing.spy import count_calls
from tinygen.testing.strategies import seeds

LAYERS = [MAFLayer, IAFLayer]


def _perturbed(flow, seed, scale=0.3):
    """Random params with the zero-initialized output layer(s) replaced by random weights."""
    rng = onp.random.default_rng(seed)
    flat, unflatten = flatten(flow.init(rng))
    return unflatten(flat + scale * rng.standard_normal(flat.shape))


@pytest.mark.parametrize("cls", LAYERS)
@settings(max_examples=15)
@given(dim=st.integers(2, 5), seed=seeds, context=st.booleans())
def test_round_trip_log_det_and_triangular_jacobian(cls, dim, seed, context):
    flow = cls(dim, hidden=(10,), context_dim=2 if context else 0, order="random", rng=seed)
    params = _perturbed(flow, seed)
    rng = onp.random.default_rng(seed + 1)
    z = rng.standard_normal((4, dim))
    c = rng.standard_normal((4, 2)) if context else None
    x, ld_f = flow.forward(params, z, c)
    z_back, ld_g = flow.inverse(params, x, c)
    # Affine maps with |alpha| < 2 on O(1) inputs: rounding error ~1e-15 per pass, 1e-10 is ample.
    onp.testing.assert_allclose(z_back, z, atol=1e-10)
    onp.testing.assert_allclose(ld_f, -ld_g, atol=1e-10)
    for i in range(2):
        ci = None if c is None else c[i:i + 1]
        J = autograd.jacobian(lambda v: flow.forward(params, v[None], ci)[0][0])(z[i])
        # dx_d / dz_j = 0 for j after d in the ordering: triangular in the ordering,
        Jo = J[onp.ix_(flow.order, flow.order)]
        assert onp.all(onp.triu(Jo, k=1) == 0)
        # so log|det| is the sum of log-diagonal entries; 1e-10 for rounding as above.
        assert abs(onp.sum(onp.log(onp.abs(onp.diag(J)))) - ld_f[i]) < 1e-10


def test_maf_density_is_one_pass_and_sampling_d_passes_iaf_the_other_way():
    dim = 4
    for cls, fast, slow in ((MAFLayer, "inverse", "forward"), (IAFLayer, "forward", "inverse")):
        flow = cls(dim, hidden=(8,))
        params = flow.init(0)
        u = onp.random.default_rng(0).standard_normal((100, dim))
        with count_calls(flow.made, "outputs") as passes:
            getattr(flow, fast)(params, u)
        assert passes.count == 1, cls.__name__
        with count_calls(flow.made, "outputs") as passes:
            getattr(flow, slow)(params, u)
        assert passes.count == dim, cls.__name__


@pytest.mark.parametrize("cls", [MAF, IAF])
def test_models_start_at_the_identity(cls):
    model = cls(3, n_layers=3, hidden=(8,))
    params = model.init(0)
    x = onp.random.default_rng(0).standard_normal((5, 3))
    z, log_det = model.inverse(params, x)
    # Zero output layers: mu = alpha = 0; the two reversals cancel out (3 layers).
    onp.testing.assert_array_equal(z, x)
    onp.testing.assert_array_equal(log_det, onp.zeros(5))


@pytest.mark.parametrize("cls", [MAF, IAF])
def test_model_density_integrates_to_one_in_2d(cls):
    model = cls(2, n_layers=2, hidden=(8,))
    params = _perturbed(model, 3, scale=0.2)
    # midpoint rule on [-20, 20]^2, cells of width h = 0.05
    total = grid_integral(lambda x: model.log_prob(params, x), ((-20, 20), (-20, 20)), n=800)
    # Each layer may stretch by up to e^2, so the tails reach far: the mass outside
    # [-10, 10]^2 was measured at ~1e-4, outside [-20, 20]^2 below 1e-5. ReLU kinks make
    # the density only piecewise smooth (midpoint error O(h^2)); halving h moved the sum
    # by < 1e-5. 1e-4 covers both while a wrong log-det (off by O(0.1)) fails by far.
    assert abs(total - 1.0) < 1e-4


def test_iaf_with_context_samples_depend_on_the_context():
    model = IAF(2, n_layers=2, hidden=(8,), context_dim=3)
    params = _perturbed(model, 0)
    a = model.sample(params, 5, 0, context=onp.zeros((1, 3)))
    b = model.sample(params, 5, 0, context=onp.ones((1, 3)))
    assert onp.max(onp.abs(a - b)) > 1e-3
    lp = model.log_prob(params, a, context=onp.zeros((5, 3)))
    assert lp.shape == (5,) and onp.all(onp.isfinite(lp))


def test_training_a_maf_lowers_the_nll():
    from tinygen import fit

    rng = onp.random.default_rng(0)
    x = rng.standard_normal((512, 2)) * [0.3, 1.0] + [1.0, -1.0]
    x[:, 1] += x[:, 0] ** 2
    model = MAF(2, n_layers=2, hidden=(16,))
    params = model.init(0)
    before = float(model.loss(params, x))
    params, _ = fit(model, params, x, steps=150, lr=3e-3, progress=False)
    assert float(model.loss(params, x)) < before - 0.5  # starts at N(0, I), a poor fit


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match=r"^x: "):
        MAFLayer(3, hidden=(4,)).inverse(MAFLayer(3, hidden=(4,)).init(0), onp.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^z: "):
        IAFLayer(3, hidden=(4,)).forward(IAFLayer(3, hidden=(4,)).init(0), onp.full((1, 3), onp.nan))
    with pytest.raises(ValueError, match=r"^context: "):
        MAF(2, n_layers=2, hidden=(4,), context_dim=1).log_prob(
            MAF(2, n_layers=2, hidden=(4,), context_dim=1).init(0), onp.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"^order: "):
        MAFLayer(3, order=[0, 1, 1])
    with pytest.raises(ValueError, match=r"^hidden: "):
        IAF(5, hidden=(3,))
    with pytest.raises(ValueError, match=r"^n_layers: "):
        MAF(2, n_layers=0)
