"""Permutation, ActNorm and LULinear: exact inverses and log-dets, data init, triangular solves.

ActNorm's map is the elementwise affine one: its round trip and log-det are checked with
ElementwiseAffine's in tests/test_flows_elementwise.py.
"""
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.testing import check_flow
from tinygen.flows import ActNorm, Compose, ElementwiseAffine, FlowModel, LULinear, Permutation
from tinygen.flows.linear import solve_triangular
from tinygen.testing.strategies import batch_sizes, dims, seeds

scales = st.sampled_from([0.1, 1.0, 3.0])


@settings(max_examples=30)
@given(dim=dims, n=batch_sizes, seed=seeds, order=st.sampled_from(["reverse", "random", "explicit"]))
def test_permutation_is_exact_and_volume_preserving(dim, n, seed, order):
    rng = np.random.default_rng(seed)
    if order == "explicit":
        order = list(rng.permutation(dim))
    flow = Permutation(dim, order, rng=rng)
    assert sorted(flow.perm) == list(range(dim))
    v = rng.normal(size=(n, dim)) * 100
    check_flow(flow, {}, points=v, atol=0.0).assert_ok()  # only reordering: bit-exact, log|det| = 0 exactly
    if order == "reverse":
        assert np.array_equal(flow.forward({}, v)[0], v[:, ::-1])


@settings(max_examples=30)
@given(dim=dims, n=st.integers(2, 200), seed=seeds, loc=st.floats(-1e3, 1e3), log_std=st.floats(-5, 5))
def test_actnorm_data_init_standardizes_the_data(dim, n, seed, loc, log_std):
    rng = np.random.default_rng(seed)
    x = loc + np.exp(log_std) * rng.standard_normal((n, dim)) * rng.uniform(0.5, 2, dim)
    flow = ActNorm(dim)
    params = flow.data_init(flow.init(rng), x)
    z, _ = flow.inverse(params, x)
    # mean and variance of n standardized numbers: round-off ~1e-16 * |loc| / std <= 1e-16 * 1e3 e^5
    assert np.allclose(z.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(z.std(axis=0), 1.0, atol=1e-9)


def test_compose_data_init_reaches_actnorm_through_later_layers():
    # ActNorm first (next to z): it is initialized on g_affine(x), the data as it arrives there
    rng = np.random.default_rng(0)
    flow = Compose([ActNorm(2), ElementwiseAffine(2)])
    model = FlowModel(flow)
    x = rng.normal(size=(500, 2)) * [3.0, 0.2] + [10.0, -4.0]
    params = model.init(1, x=x)
    z, _ = flow.inverse(params, x)
    assert np.allclose(z.mean(axis=0), 0.0, atol=1e-12) and np.allclose(z.std(axis=0), 1.0, atol=1e-12)


@settings(max_examples=30)
@given(dim=dims, n=batch_sizes, seed=seeds, scale=st.sampled_from([0.1, 0.5]), s_scale=scales)
def test_lu_linear_is_exact_and_log_det_is_log_abs_det_w(dim, n, seed, scale, s_scale):
    rng = np.random.default_rng(seed)
    flow = LULinear(dim, rng=seed)
    params = flow.init(rng, scale=scale)
    params["log_s"] = s_scale * rng.standard_normal(dim)  # diagonal of U from e^-9 to e^9
    W = flow.weight(params)
    # The references (slogdet, solves) are backward stable: they are exact for W + dW with
    # |dW| ~ 1e-16 |W|, which moves log|det W| and the solution by up to ~1e-16 D cond(W).
    # cond(W) reaches 1e9 here (it is at least max s / min s); 10x margin on that bound.
    # The round-off of x - b, ~1e-16 |b|, is also multiplied by |W^-1| on the way back to z.
    tol = 1e-15 * dim * np.linalg.cond(W) * (1 + np.abs(params["b"]).max() * np.linalg.norm(np.linalg.inv(W), 2))
    x, log_det = flow.forward(params, rng.normal(size=(n, dim)))
    assert np.allclose(log_det, np.linalg.slogdet(W)[1], rtol=0, atol=tol + 1e-12)  # sum log_s = log|det W|
    # in 1-D, L and U have no free (off-diagonal) entries: rightly no gradient
    check_flow(flow, params, points=rng.normal(size=(n, dim)), atol=tol, log_det_atol=tol + 1e-12,
               gradients=dim > 1).assert_ok()


@settings(max_examples=30)
@given(dim=dims, n=batch_sizes, seed=seeds, lower=st.booleans())
def test_solve_triangular_matches_a_general_solve(dim, n, seed, lower):
    rng = np.random.default_rng(seed)
    T = rng.normal(size=(dim, dim))
    T = (np.tril(T) if lower else np.triu(T)) + np.diag(np.sign(np.diag(T)) + np.diag(T))  # |T_ii| >= 1
    y = rng.normal(size=(n, dim))
    v = solve_triangular(T, y, lower=lower)
    assert np.allclose(v @ T.T, y, atol=1e-9 * np.linalg.cond(T))  # T v_i = y_i, up to conditioning


def test_lu_linear_init_is_near_orthogonal_and_every_leaf_gets_a_gradient():
    flow = LULinear(4, rng=3)
    params = flow.init(0)
    W = flow.weight(params)
    # near the permutation P: W^T W = I + O(scale = 0.1)
    assert np.abs(W.T @ W - np.eye(4)).max() < 0.6 and not np.allclose(W, flow.P)
    model = FlowModel(flow)
    x = np.random.default_rng(1).normal(size=(64, 4)) @ np.array(
        [[1.0, 0.5, 0, 0], [0, 1.0, 0.3, 0], [0, 0, 2.0, 0.1], [0.2, 0, 0, 0.5]]) + 1.0
    g = grad(model.loss)(params, x)
    # the used entries: strict lower of L, strict upper of U, all of log_s and b
    assert np.all(np.abs(g["L"][flow.lower == 1]) > 0) and np.all(np.abs(g["U"][flow.upper == 1]) > 0)
    assert np.all(np.abs(g["log_s"]) > 0) and np.all(np.abs(g["b"]) > 0)
    g_act = grad(FlowModel(ActNorm(4)).loss)(ActNorm(4).init(0), x)
    assert np.all(np.abs(g_act["s"]) > 0) and np.all(np.abs(g_act["t"]) > 0)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"^order: "):
        Permutation(3, [0, 1, 1])
    with pytest.raises(ValueError, match=r"^order: "):
        Permutation(3, [0, 1])
    with pytest.raises(ValueError, match=r"^order: "):
        Permutation(3, [1, 2, 3])
    with pytest.raises(TypeError, match=r"^order: "):
        Permutation(3, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"^order: "):
        Permutation(3, "shuffle")
    with pytest.raises(ValueError, match=r"^rng: "):
        Permutation(3, "random")
    with pytest.raises(ValueError, match=r"^dim: "):
        LULinear(0)
    with pytest.raises(TypeError, match=r"^dim: "):
        ActNorm("2")
    with pytest.raises(ValueError, match=r"^x: "):
        ActNorm(2).data_init(ActNorm(2).init(0), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"^x: "):
        ActNorm(2).data_init(ActNorm(2).init(0), np.zeros((5, 3)))
    flow = LULinear(3)
    params = flow.init(0)
    with pytest.raises(ValueError, match=r"^z: "):
        flow.forward(params, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^x: "):
        flow.inverse(params, np.array([[np.inf, 0.0, 0.0]]))


def test_constant_dimension_does_not_break_actnorm_init():
    x = np.column_stack([np.arange(10.0), np.full(10, 7.0)])
    params = ActNorm(2).data_init(ActNorm(2).init(0), x)
    assert np.all(np.isfinite(params["s"])) and params["t"][1] == 7.0
