"""Compose and FlowModel: composition order, log-det bookkeeping, contexts, sampling, data_init."""
import numpy as onp
import pytest
from hypothesis import given, settings

from tinygen.distributions import StandardNormal
from tinygen.flows import ActNorm, AffineCoupling, Compose, ElementwiseAffine, FlowModel, Permutation
from tinygen.testing.strategies import batch_sizes, seeds

# Everything below is a handful of float64 operations on O(1) numbers: agreement
# to 1e-12 leaves a margin of ~1e4 over rounding.
ATOL = 1e-12


def _perturbed_coupling(dim, mask, rng, context_dim=0):
    layer = AffineCoupling(dim, mask, hidden=(8,), context_dim=context_dim)
    params = layer.init(rng)
    last = params["conditioner"][-1]
    last["W"] = 0.3 * rng.standard_normal(last["W"].shape)
    last["b"] = 0.3 * rng.standard_normal(last["b"].shape)
    return layer, params


def _stack(rng, context_dim=0):
    """Three non-trivial layers of different kinds: affine coupling, permutation, elementwise affine."""
    c1, p1 = _perturbed_coupling(3, [1, 0, 1], rng, context_dim)
    e = ElementwiseAffine(3)
    return Compose([c1, Permutation(3), e]), [p1, {}, e.init(rng, scale=0.5)]


@settings(max_examples=20)
@given(n=batch_sizes, seed=seeds)
def test_compose_applies_layers_in_order_and_adds_log_dets(n, seed):
    rng = onp.random.default_rng(seed)
    flow, params = _stack(rng)
    z = rng.standard_normal((n, 3))
    x, log_det = flow.forward(params, z)
    # f = f_3 o f_2 o f_1, log|det df/dz| = sum_k log|det df_k/dz_{k-1}|
    h, total = z, onp.zeros(n)
    for layer, p in zip(flow.layers, params):
        h, ld = layer.forward(p, h)
        total = total + ld
    onp.testing.assert_allclose(x, h, rtol=0, atol=ATOL)
    onp.testing.assert_allclose(log_det, total, rtol=0, atol=ATOL)
    # g = g_1 o g_2 o g_3: the inverse runs the layers backwards.
    z_back, log_det_inv = flow.inverse(params, x)
    onp.testing.assert_allclose(z_back, z, rtol=0, atol=1e-10)  # a few exp(+-alpha) roundings
    onp.testing.assert_allclose(log_det_inv, -log_det, rtol=0, atol=1e-10)


def test_forward_all_lists_every_intermediate():
    rng = onp.random.default_rng(0)
    flow, params = _stack(rng)
    z = rng.standard_normal((5, 3))
    zs = flow.forward_all(params, z)
    assert len(zs) == len(flow.layers) + 1
    onp.testing.assert_array_equal(zs[0], z)
    onp.testing.assert_allclose(zs[-1], flow.forward(params, z)[0], rtol=0, atol=ATOL)


def test_compose_rejects_bad_layers():
    with pytest.raises(ValueError, match=r"^layers: "):
        Compose([])
    with pytest.raises(TypeError, match=r"^layers\[1\]: "):
        Compose([Permutation(2), "not a flow"])
    with pytest.raises(ValueError, match=r"^layers: .*same dim"):
        Compose([Permutation(2), Permutation(3)])
    with pytest.raises(ValueError, match=r"^layers: .*context_dim"):
        Compose([AffineCoupling(2, [1, 0], context_dim=2), AffineCoupling(2, [0, 1], context_dim=3)])


def test_compose_context_dim_comes_from_its_conditional_layers():
    flow = Compose([AffineCoupling(2, [1, 0]), AffineCoupling(2, [0, 1], context_dim=4)])
    assert flow.context_dim == 4


@settings(max_examples=20)
@given(n=batch_sizes, seed=seeds)
def test_flow_model_log_prob_is_change_of_variables(n, seed):
    rng = onp.random.default_rng(seed)
    flow, params = _stack(rng)
    model = FlowModel(flow)
    x = rng.standard_normal((n, 3))
    z, log_det = flow.inverse(params, x)
    # log p_x(x) = log p_z(g(x)) + log|det dg/dx|
    expected = StandardNormal(3).log_prob(z) + log_det
    onp.testing.assert_allclose(model.log_prob(params, x), expected, rtol=0, atol=ATOL)
    onp.testing.assert_allclose(model.loss(params, x), -onp.mean(expected), rtol=0, atol=ATOL)


def test_flow_model_rejects_what_is_not_a_flow():
    with pytest.raises(TypeError, match=r"^flow: "):
        FlowModel("realnvp")


def test_sampling_is_reproducible_and_sample_layers_ends_at_the_sample():
    rng = onp.random.default_rng(1)
    flow, params = _stack(rng)
    model = FlowModel(flow)
    a = model.sample(params, 7, rng=3)
    onp.testing.assert_array_equal(a, model.sample(params, 7, rng=3))
    assert a.shape == (7, 3)
    zs = model.sample_layers(params, 7, rng=3)
    assert len(zs) == len(flow.layers) + 1
    onp.testing.assert_allclose(zs[-1], a, rtol=0, atol=ATOL)
    # z_0 are the base samples: f_1 ... f_K of them give x.
    onp.testing.assert_allclose(flow.forward(params, zs[0])[0], a, rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match=r"^n: "):
        model.sample(params, 0, rng=0)


def test_sample_layers_of_a_single_layer_model():
    layer, params = _perturbed_coupling(2, [1, 0], onp.random.default_rng(0))
    model = FlowModel(layer)
    zs = model.sample_layers(params, 4, rng=0)
    assert len(zs) == 2
    onp.testing.assert_allclose(zs[1], model.sample(params, 4, rng=0), rtol=0, atol=ATOL)


def test_context_checks():
    rng = onp.random.default_rng(2)
    flow, params = _stack(rng, context_dim=2)
    model = FlowModel(flow)
    x = rng.standard_normal((4, 3))
    c = rng.standard_normal((4, 2))
    with pytest.raises(ValueError, match=r"^context: .*conditional"):
        model.log_prob(params, x)
    with pytest.raises(ValueError, match=r"^context: "):
        model.log_prob(params, x, context=rng.standard_normal((3, 2)))  # wrong number of rows
    with pytest.raises(ValueError, match=r"^context: "):
        model.log_prob(params, x, context=rng.standard_normal((4, 5)))  # wrong width
    with pytest.raises(ValueError, match=r"^context: "):
        model.sample(params, 4, rng=0)
    # One context row is shared by every point.
    one = model.log_prob(params, x, context=c[:1])
    onp.testing.assert_allclose(one, model.log_prob(params, x, context=onp.repeat(c[:1], 4, axis=0)),
                                rtol=0, atol=ATOL)
    assert model.sample(params, 5, rng=0, context=c[:1]).shape == (5, 3)
    # An unconditional model refuses a context instead of ignoring it.
    plain, plain_params = _stack(rng)
    with pytest.raises(ValueError, match=r"^context: this model is unconditional"):
        FlowModel(plain).log_prob(plain_params, x, context=c)


def test_data_init_walks_from_x_towards_z():
    """Each ActNorm is initialized on the data it sees: the one next to x on x, the one
    next to z on g_2(g_3(x)). Then z = g(x) is standardized per coordinate."""
    rng = onp.random.default_rng(4)
    coupling, cp = _perturbed_coupling(2, [1, 0], rng)
    flow = Compose([ActNorm(2), coupling, ActNorm(2)])
    params = [{"s": onp.zeros(2), "t": onp.zeros(2)}, cp, {"s": onp.zeros(2), "t": onp.zeros(2)}]
    x = rng.normal([3.0, -1.0], [2.0, 0.5], size=(500, 2))
    new = flow.data_init(params, x)
    z, _ = flow.inverse(new, x)
    # ActNorm standardizes exactly the sample it was initialized on.
    onp.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-10)
    onp.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-10)
    # The last layer (next to x) saw x itself.
    onp.testing.assert_allclose(new[2]["t"], x.mean(axis=0), atol=1e-12)
    # FlowModel.init(rng, x) runs the same walk.
    model = FlowModel(flow)
    z2, _ = flow.inverse(model.init(0, x=x), x)
    onp.testing.assert_allclose(z2.std(axis=0), 1.0, atol=1e-10)
