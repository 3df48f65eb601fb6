"""Elementwise affine flow and the lecture's 1-D worked examples (x = 4z, the log-normal)."""
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.testing import check_flow
from tinygen.distributions import Normal
from tinygen.flows import ActNorm, ElementwiseAffine, Exp, FlowModel, Scale, Uniform
from tinygen.testing.strategies import batch_sizes, dims, seeds

log_scales = st.sampled_from([0.1, 1.0, 5.0])  # log a_d up to +-5*3: a_d from e^-15 to e^15


@settings(max_examples=30)
@given(dim=dims, n=batch_sizes, seed=seeds, scale=log_scales, actnorm=st.booleans())
def test_elementwise_affine_and_actnorm_are_exact(dim, n, seed, scale, actnorm):
    # ActNorm is the same map, x = z * exp(s) + t, with its own names and data init
    rng = np.random.default_rng(seed)
    flow = ActNorm(dim) if actnorm else ElementwiseAffine(dim)
    log_a, b = scale * rng.standard_normal(dim), scale * rng.standard_normal(dim)
    params = {"s": log_a, "t": b} if actnorm else {"log_a": log_a, "b": b}
    # Round-off of x = a z + b is ~1e-16 (|a z| + |b|), and z = (x - b) / a divides it by a:
    # the round trip is good to ~1e-16 (|z| + |b| / a). a_d reaches e^+-15 here, so scale
    # 1e-12 (1e4 margin) by (1 + max|b|) / min a.
    atol = 1e-12 * (1 + np.abs(b).max()) * np.exp(np.abs(log_a).max())
    # log-dets: sums of D <= 6 numbers of size <= 15, or slogdet of a diagonal matrix
    check_flow(flow, params, points=rng.normal(size=(n, dim)) * 3, atol=atol, log_det_atol=1e-12).assert_ok()


def test_affine_log_det_is_the_lecture_diagonal():
    flow = ElementwiseAffine(3)
    params = {"log_a": np.log([2.0, 0.5, 4.0]), "b": np.array([1.0, -1.0, 0.0])}
    x = np.array([[3.0, 0.0, 8.0]])
    z, log_det = flow.inverse(params, x)
    assert np.allclose(z, [[1.0, 2.0, 2.0]], rtol=0, atol=1e-15)  # z_d = (x_d - b_d) / a_d
    # det dg/dx = prod_d 1/a_d = 1 / (2 * 0.5 * 4); two logs and a sum: a few ulps
    assert log_det[0] == pytest.approx(np.log(1 / 4.0), abs=1e-15)


def test_every_affine_leaf_gets_a_gradient():
    flow = ElementwiseAffine(2)
    model = FlowModel(flow)
    params = flow.init(0)
    x = np.random.default_rng(1).normal(size=(64, 2)) * 2 + 1
    g = grad(model.loss)(params, x)
    for name, leaf in g.items():
        assert np.all(np.abs(leaf) > 0), name
    assert not np.allclose(params["log_a"], 0) and not np.allclose(params["b"], 0)  # init is not the identity


def test_uniform_scaled_by_four_has_density_one_eighth_at_four():
    # Lecture: z ~ U(0, 2), x = 4z, p_x(4) = p_z(1) * 1/4 = 1/2 * 1/4 = 1/8
    model = FlowModel(Scale(4.0), base=Uniform(0.0, 2.0))
    log_p = model.log_prob({}, np.array([[4.0], [1.0], [7.9], [-0.1], [8.5]]))
    assert log_p[0] == np.log(1 / 8)  # log(1/2) - log(4) rounds to log(1/8) exactly here
    assert np.all(log_p[:3] == log_p[0])  # constant on the support [0, 8]
    assert np.all(log_p[3:] == -np.inf)  # zero density outside it
    x = model.sample({}, 1000, rng=0)
    assert x.shape == (1000, 1) and np.all((x >= 0) & (x <= 8))


@settings(max_examples=30)
@given(mu=st.floats(-2, 2), sigma=st.floats(0.2, 2.0), seed=seeds)
def test_exp_of_a_normal_is_the_log_normal(mu, sigma, seed):
    # x = exp(z), z ~ N(mu, sigma^2): p_x(x) = p_z(log x) / x
    #   = exp(-(log x - mu)^2 / (2 sigma^2)) / (x sigma sqrt(2 pi))
    model = FlowModel(Exp(), base=Normal(np.array([mu]), np.array([sigma])))
    x = np.exp(np.random.default_rng(seed).normal(mu, sigma, size=(20, 1)))
    closed = -(np.log(x[:, 0]) - mu) ** 2 / (2 * sigma ** 2) - np.log(x[:, 0] * sigma * np.sqrt(2 * np.pi))
    # same terms summed in another order: a few ulps of values up to ~50
    assert np.allclose(model.log_prob({}, x), closed, rtol=0, atol=1e-12)


@settings(max_examples=20)
@given(dim=dims, n=batch_sizes, seed=seeds)
def test_fixed_transforms_are_exact(dim, n, seed):
    rng = np.random.default_rng(seed)
    # 1e-12: one multiplication or exp/log per coordinate, inputs of size <= ~5
    check_flow(Scale(rng.uniform(0.1, 10), dim), {}, points=rng.normal(size=(n, dim)), atol=1e-12).assert_ok()
    flow = Exp(dim)
    z = rng.normal(size=(n, dim))
    x, ld = flow.forward({}, z)
    # as z and as x: x > 0 so both directions are defined
    check_flow(flow, {}, points=x, atol=1e-12).assert_ok()


def test_bad_arguments_name_themselves():
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match=r"^factor: "):
            Scale(bad)
    with pytest.raises(TypeError, match=r"^factor: "):
        Scale("4")
    with pytest.raises(ValueError, match=r"^dim: "):
        ElementwiseAffine(0)
    with pytest.raises(TypeError, match=r"^dim: "):
        Exp(dim=1.5)
    with pytest.raises(ValueError, match=r"^x: "):
        Exp().inverse({}, np.array([[1.0], [0.0]]))
    with pytest.raises(ValueError, match=r"^x: "):
        FlowModel(Exp()).log_prob({}, np.array([[-2.0]]))
    with pytest.raises(ValueError, match=r"^high: "):
        Uniform(2.0, 2.0)
    with pytest.raises(ValueError, match=r"^low: "):
        Uniform(np.nan, 1.0)
    with pytest.raises(ValueError, match=r"^x: "):
        Uniform(0.0, 1.0, dim=2).log_prob(np.zeros((3, 1)))
    flow = ElementwiseAffine(2)
    params = flow.init(0)
    with pytest.raises(ValueError, match=r"^z: "):
        flow.forward(params, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^x: "):
        flow.inverse(params, np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"^z: "):
        flow.forward(params, np.zeros(2))  # a single point must be (1, D)
