"""Coupling layers: mask checks, identity at init, the lecture's block-triangular Jacobian,
the soft clamp on alpha, and the context."""
import autograd
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen.flows import AffineCoupling, Compose, FlowModel, SplineCoupling
from tinygen.testing.strategies import seeds


def _perturb(layer, params, rng, scale=0.3):
    last = params["conditioner"][-1]
    last["W"] = last["W"] + scale * rng.standard_normal(last["W"].shape)
    last["b"] = last["b"] + scale * rng.standard_normal(last["b"].shape)
    return params


@st.composite
def masks(draw, min_dim=2, max_dim=6):
    dim = draw(st.integers(min_dim, max_dim))
    m = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=dim, max_size=dim))
    if all(m) or not any(m):
        m[0] = 1.0 - m[0]
    return onp.array(m)


LAYERS = {
    "affine": lambda dim, mask, **kw: AffineCoupling(dim, mask, hidden=(8,), **kw),
    "spline": lambda dim, mask, **kw: SplineCoupling(dim, mask, hidden=(8,), bins=4, bound=3.0, **kw),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("mask, why", [
    ([1, 0, 2], "0s and 1s"),
    ([0.5, 1, 0], "0s and 1s"),
    ([1, 0], "length 3"),
    ([[1, 0, 1]], "axes"),
    ([1, 1, 1], "at least one 0"),
    ([0, 0, 0], "at least one 1"),
])
def test_bad_masks_are_rejected(kind, mask, why):
    with pytest.raises(ValueError, match=rf"^mask: .*{why}"):
        LAYERS[kind](3, mask)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"^s_max: "):
        AffineCoupling(2, [1, 0], s_max=0.0)
    with pytest.raises(ValueError, match=r"^bins: "):
        SplineCoupling(2, [1, 0], bins=0)
    with pytest.raises(ValueError, match=r"^bound: "):
        SplineCoupling(2, [1, 0], bound=-1.0)
    with pytest.raises(TypeError, match=r"^hidden: "):
        AffineCoupling(2, [1, 0], hidden="64")
    with pytest.raises(ValueError, match=r"^activation: "):
        AffineCoupling(2, [1, 0], activation="sigmoidish")


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=20)
@given(mask=masks(), seed=seeds)
def test_identity_at_init(kind, mask, seed):
    """The zero last layer gives alpha = mu = 0 (affine) or equal bins with unit knot
    slopes (spline): f(z) = z and log|det| = 0 before any training."""
    dim = mask.size
    layer = LAYERS[kind](dim, mask, context_dim=2)
    params = layer.init(seed)
    rng = onp.random.default_rng(seed)
    z, c = 2 * rng.standard_normal((6, dim)), rng.standard_normal((6, 2))
    x, log_det = layer.forward(params, z, context=c)
    # The affine layer is exact (z * exp(0) + 0); the spline evaluates rational
    # functions that equal the identity only up to rounding of a few operations.
    onp.testing.assert_allclose(x, z, rtol=0, atol=1e-12)
    onp.testing.assert_allclose(log_det, 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@settings(max_examples=20)
@given(mask=masks(), seed=seeds)
def test_jacobian_is_block_triangular(kind, mask, seed):
    """dg/dx = [[I, 0], [dz_{d+1:D}/dx_{1:d}, diag(dz_i/dx_i)]] in the split coordinates, and for
    the affine layer the diagonal block is diag(exp(-alpha(x_{1:d}))) (lecture)."""
    dim = mask.size
    rng = onp.random.default_rng(seed)
    layer = LAYERS[kind](dim, mask)
    params = _perturb(layer, layer.init(rng), rng)
    x = rng.standard_normal((1, dim))
    J = autograd.jacobian(lambda v: layer.inverse(params, v[None])[0][0])(x[0])
    cond, trans = onp.flatnonzero(mask == 1), onp.flatnonzero(mask == 0)
    # Derivatives of exactly copied or exactly absent dependencies are exact zeros and ones.
    onp.testing.assert_array_equal(J[onp.ix_(cond, cond)], onp.eye(cond.size))
    onp.testing.assert_array_equal(J[onp.ix_(cond, trans)], 0.0)
    block = J[onp.ix_(trans, trans)]
    onp.testing.assert_array_equal(block - onp.diag(onp.diag(block)), 0.0)
    # det dg/dx = product of the diagonal block's entries = exp(log_det)
    _, log_det = layer.inverse(params, x)
    onp.testing.assert_allclose(onp.sum(onp.log(onp.diag(block))), log_det[0], rtol=1e-10, atol=1e-12)
    if kind == "affine":
        theta = layer._theta(params, x[:, cond], None)
        alpha = layer.s_max * onp.tanh(theta[0, :, 0] / layer.s_max)
        onp.testing.assert_allclose(onp.diag(block), onp.exp(-alpha), rtol=1e-12)


def test_alpha_is_soft_clamped():
    """However large the network's raw output, |alpha| < s_max, so exp(alpha) stays finite."""
    layer = AffineCoupling(2, [1, 0], hidden=(4,), s_max=2.0)
    params = layer.init(0)
    params["conditioner"][-1]["b"] = onp.array([1e6, 0.0])  # raw log-scale 1e6, mu = 0
    x, log_det = layer.forward(params, onp.array([[0.3, 1.0]]))
    assert onp.isfinite(x).all()
    assert 1.99 < log_det[0] <= 2.0  # alpha -> s_max (tanh rounds to 1 at 5e5)
    onp.testing.assert_allclose(x[0, 1], onp.exp(log_det[0]), rtol=1e-12)


def test_scale_learns_to_exceed_one():
    """A single affine coupling fitted to x_2 = 3 eps must learn exp(alpha) ~ 3 (from
    x_2 = z_2 exp(alpha), z_2 ~ N(0, 1)): a scale capped near 1 (as in the released
    nflows 0.14, capped at 1.001) could not."""
    rng = onp.random.default_rng(0)
    x = onp.column_stack([rng.standard_normal(2000), 3.0 * rng.standard_normal(2000)])
    layer = AffineCoupling(2, [1, 0], hidden=(8,))
    model = FlowModel(Compose([layer]))
    params, _ = tinygen.fit(model, model.init(0), x, steps=300, batch_size=200, lr=3e-2,
                            rng=0, progress=False)
    _, log_det = layer.forward(params[0], x[:200])
    scale = onp.exp(log_det)  # = exp(alpha), one transformed coordinate
    # The MLE of the scale is the sample std (3 +- 3/sqrt(2 * 2000) ~ 3 +- 0.05); 300 Adam
    # steps get within ~10% of it.
    assert onp.all(scale > 2.5) and onp.all(scale < 3.5)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_context_enters_only_the_transformed_part(kind):
    rng = onp.random.default_rng(5)
    layer = LAYERS[kind](3, [0, 1, 0], context_dim=2)
    params = _perturb(layer, layer.init(rng), rng)
    z = rng.standard_normal((4, 3))
    x_a, ld_a = layer.forward(params, z, context=[[1.0, 0.0]])
    x_b, ld_b = layer.forward(params, z, context=[[0.0, 1.0]])
    onp.testing.assert_array_equal(x_a[:, 1], z[:, 1])  # the copied coordinate
    onp.testing.assert_array_equal(x_b[:, 1], z[:, 1])
    assert onp.all(onp.abs(x_a[:, [0, 2]] - x_b[:, [0, 2]]) > 0)  # c changes the transform
    assert onp.all(ld_a != ld_b)
    with pytest.raises(ValueError, match=r"^context: "):
        layer.forward(params, z)


def test_unconditional_layer_inside_a_conditional_stack_ignores_the_context():
    rng = onp.random.default_rng(6)
    plain = AffineCoupling(2, [1, 0], hidden=(4,))
    cond = AffineCoupling(2, [0, 1], hidden=(4,), context_dim=1)
    flow = Compose([plain, cond])
    params = [_perturb(plain, plain.init(rng), rng), _perturb(cond, cond.init(rng), rng)]
    z = rng.standard_normal((3, 2))
    x, _ = flow.forward(params, z, context=[[0.5]])
    h, _ = plain.forward(params[0], z)
    onp.testing.assert_allclose(x, cond.forward(params[1], h, context=[[0.5]])[0], rtol=0, atol=1e-14)
