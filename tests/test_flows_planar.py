"""Planar flow: hand-written log-det vs autograd, the u_hat constraint, the 1-D inverse."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.flows import PlanarFlow, constrained_u
from tinygen.flows.planar import solve_along_w
from tinygen.testing.strategies import dims, finite_floats, seeds

vectors = st.lists(finite_floats(5.0), min_size=1, max_size=6)


def _violating_params(dim, rng):
    """Parameters whose raw u breaks invertibility: w^T u = -3 < -1."""
    w = rng.standard_normal(dim) + 0.5
    u = rng.standard_normal(dim)
    u = u + (-3.0 - w @ u) * w / (w @ w)  # shift u along w until w^T u = -3
    return {"u": u, "w": w, "b": np.array(rng.normal())}


@settings(max_examples=30)
@given(dim=dims, seed=seeds, scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_log_det_matches_autograd_jacobian(dim, seed, scale):
    rng = np.random.default_rng(seed)
    flow = PlanarFlow(dim, init_scale=scale)
    params = flow.init(rng)
    params["b"] = np.array(rng.normal())
    z = rng.normal(size=(4, dim))
    _, log_det = flow.forward(params, z)
    for i in range(z.shape[0]):
        J = jacobian(lambda zi: flow.forward(params, zi[None])[0][0])(z[i])
        sign, ref = np.linalg.slogdet(J)
        assert sign > 0  # the constrained map preserves orientation
        # 1e-9: two float64 evaluations of the same log|det| of a D <= 6 matrix
        assert log_det[i] == pytest.approx(ref, abs=1e-9)


@given(u=vectors, w=vectors)
def test_constraint_keeps_w_dot_u_hat_above_minus_one(u, w):
    d = min(len(u), len(w))
    u, w = np.array(u[:d]), np.array(w[:d])
    if w @ w < 1e-6:
        # The correction (m - w^T u) w / |w|^2 grows like 1/|w|: for |w| -> 0 it leaves float
        # precision, so this property is checked away from there; w = 0 exactly (u_hat = u,
        # a shift) has its own test below.
        return
    u_hat = constrained_u(u, w)
    # w^T u_hat = m(w^T u) = -1 + softplus(w^T u); softplus > 0 but can round to 0
    # for w^T u < -37, so allow -1 itself (still invertible: derivative >= 0, zero only at a point)
    assert w @ u_hat >= -1.0 - 1e-9
    # only the component along w changes: u_hat - u is parallel to w
    r = (u_hat - u) - ((u_hat - u) @ w) / (w @ w) * w
    assert np.allclose(r, 0.0, atol=1e-9 * (1 + np.abs(u).max()))


@settings(max_examples=30)
@given(dim=dims, seed=seeds)
def test_raw_u_violation_is_repaired(dim, seed):
    rng = np.random.default_rng(seed)
    params = _violating_params(dim, rng)
    w, u = params["w"], params["u"]
    a = np.linspace(-4, 4, 801)
    raw = a + (w @ u) * np.tanh(a)  # with the raw u the map along w folds over
    assert np.any(np.diff(raw) < 0)
    c = w @ constrained_u(u, w)
    fixed = a + c * np.tanh(a)  # with u_hat it is strictly increasing
    assert np.all(np.diff(fixed) > 0)
    # hence f is injective: the inverse recovers z, including points spread along w
    flow = PlanarFlow(dim)
    z = rng.normal(size=(50, dim)) + np.linspace(-3, 3, 50)[:, None] * w / np.linalg.norm(w)
    x, ld_f = flow.forward(params, z)
    z_back, ld_g = flow.inverse(params, x)
    # 1e-8: bisection + Newton solve to round-off of an O(1) scalar, then one subtraction
    assert np.allclose(z_back, z, atol=1e-8)
    assert np.allclose(ld_f + ld_g, 0.0, atol=1e-8)


@settings(max_examples=30)
@given(dim=dims, seed=seeds)
def test_inverse_round_trip_and_log_det_vs_jacobian(dim, seed):
    rng = np.random.default_rng(seed)
    flow = PlanarFlow(dim, init_scale=1.0)
    params = flow.init(rng)
    x = 3 * rng.normal(size=(5, dim))
    z, log_det = flow.inverse(params, x)
    x_back, _ = flow.forward(params, z)
    assert np.allclose(x_back, x, atol=1e-8)  # same solver tolerance as above
    # autograd differentiates through the implicit-function Newton step of _inverse
    for i in range(x.shape[0]):
        J = jacobian(lambda xi: flow.inverse(params, xi[None])[0][0])(x[i])
        assert log_det[i] == pytest.approx(np.linalg.slogdet(J)[1], abs=1e-8)


def test_inverse_gradient_wrt_parameters():
    rng = np.random.default_rng(0)
    flow = PlanarFlow(3, init_scale=1.0)
    params = flow.init(rng)
    x = rng.normal(size=(6, 3))

    def objective(u, w, b):
        z, ld = flow.inverse({"u": u, "w": w, "b": b}, x)
        return anp.sum(z ** 2) + anp.sum(ld)

    # finite differences vs reverse mode: checks the implicit derivative of the root a
    check_grads(objective, modes=["rev"], order=1)(params["u"], params["w"], params["b"])


def test_solver_at_extreme_inputs():
    y = np.array([-1e4, -5.0, 0.0, 1e-12, 7.0, 1e4])
    for c in (-0.999, 0.0, 0.5, 20.0):
        a = solve_along_w(y, c)
        # residual relative to |y|: float64 cannot do better than ~1e-16 * |y|
        assert np.allclose(a + c * np.tanh(a), y, rtol=1e-12, atol=1e-12)


def test_bad_input():
    flow = PlanarFlow(2)
    params = flow.init(0)
    with pytest.raises(ValueError, match=r"^z: "):
        flow.forward(params, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"^x: "):
        flow.inverse(params, np.full((1, 2), np.nan))
    with pytest.raises(ValueError, match=r"^context: "):
        flow.forward(params, np.zeros((3, 2)), context=np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"^dim: "):
        PlanarFlow(0)


def test_zero_w_is_a_shift_and_a_very_negative_w_dot_u_stays_finite():
    # w = 0: f(z) = z + u tanh(b), a shift with log-det exactly 0 (no NaN from |w|^2 = 0).
    flow = PlanarFlow(2)
    z = np.array([[0.3, -1.2], [2.0, 0.5]])
    params = {"u": np.array([0.7, -0.4]), "w": np.zeros(2), "b": np.array(0.5)}
    x, ld = flow.forward(params, z)
    np.testing.assert_allclose(x, z + np.tanh(0.5) * params["u"], rtol=1e-15)
    np.testing.assert_array_equal(ld, 0.0)
    # w^T u = -50: -1 + softplus(-50) rounds to -1, so 1 + (1 - t^2) w^T u_hat would be exactly 0
    # at a = 0; written as t^2 + (1 - t^2) softplus(w^T u) it is log(softplus(-50)) = -50 (to 1e-20).
    params = {"u": np.array([-50.0, 0.0]), "w": np.array([1.0, 0.0]), "b": np.array(0.0)}
    _, ld = flow.forward(params, np.zeros((1, 2)))
    np.testing.assert_allclose(ld, -50.0, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^init_scale: "):
        PlanarFlow(2, init_scale=0.0)


def test_constrained_u_names_a_bad_argument():
    with pytest.raises(TypeError, match=r"^u: "):
        constrained_u("str", np.ones(2))
    with pytest.raises(ValueError, match=r"^w: "):
        constrained_u(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"^u: "):
        constrained_u(np.array([np.nan, 1.0]), np.ones(2))
