"""ContinuousFlow: normalization, the flow map and its log-det, sampling against log_prob,
both training objectives, and the input checks."""
import numpy as np
import pytest
from autograd import grad, jacobian

from tinygen.flows import ContinuousFlow
from tinygen.flows.continuous import flow_matching_loss
from tinygen.ode import log_density_dynamics
from tinygen.testing import check_log_density_ode, check_normalized, perturb

SMALL = {"hidden": (16, 16)}


def _model_and_params(seed=0, **kw):
    model = ContinuousFlow(2, **{**SMALL, **kw})
    # perturb the init so the field is not near zero anywhere and time matters
    return model, perturb(model.init(seed), seed, scale=0.5)


def test_density_integrates_to_one():
    model, params = _model_and_params(1)
    # midpoint rule, 80 cells per axis on [-7, 7]^2 (h = 0.175) and again with 40: for a smooth
    # density the rule errs by O(h^2) ~ 1e-3, and the mass outside the box (the base has
    # radius 7 at 1e-11) is negligible; the ODE's own error is ~1e-6
    check_normalized(lambda x: model.log_prob(params, x), dim=2, bounds=((-7, 7), (-7, 7)), n=80,
                     atol=3e-3).assert_ok()


def test_log_prob_is_base_density_minus_the_integrated_trace_along_the_sample_path():
    model, params = _model_and_params(2)
    z = np.random.default_rng(3).standard_normal((5, 2))
    x, log_det_f = model.forward(params, z)  # log|det df/dz| = integral_0^1 tr dt
    np.testing.assert_allclose(model.log_prob(params, x), model.base.log_prob(z) - log_det_f, atol=1e-5)
    back, log_det_g = model.inverse(params, x)
    # both solves have error ~1e-6 (rtol = atol = 1e-6): the round trip is held to 1e-5
    np.testing.assert_allclose(back, z, atol=1e-5)
    np.testing.assert_allclose(log_det_g, -log_det_f, atol=1e-5)
    # sample draws z from the base with the same rng and solves the same ODE without the log p
    # component, so dopri5 picks slightly different steps: equal within the solver error
    np.testing.assert_allclose(model.sample(params, 5, 3), x, atol=1e-5)


def test_flow_map_log_det_matches_autograd_jacobian():
    model, params = _model_and_params(4, rtol=1e-10, atol=1e-10)
    for z in np.random.default_rng(5).standard_normal((3, 2)):
        _, log_det = model.forward(params, z[None])
        _, expected = np.linalg.slogdet(jacobian(lambda y: model.forward(params, y[None])[0][0])(z))
        assert abs(log_det[0] - expected) < 1e-7  # both carry the 1e-10-tolerance solve's error only


def test_kit_check_on_the_model_dynamics():
    model, params = _model_and_params(6)
    dynamics = log_density_dynamics(lambda t, z: model.velocity(params, t, z))
    check_log_density_ode(dynamics, 2, n=2).assert_ok()


def test_likelihood_loss_is_the_mean_nll_of_the_training_solver():
    model, params = _model_and_params(7, train_steps=5)
    same_solver = ContinuousFlow(2, **SMALL, method="rk4", steps=5)
    x = np.random.default_rng(8).standard_normal((6, 2))
    assert abs(model.loss(params, x) + np.mean(same_solver.log_prob(params, x))) < 1e-12


def test_likelihood_gradient_matches_finite_differences():
    # the gradient goes through the RK4 steps and the exact trace: second derivatives of the net
    model, params = _model_and_params(9, hidden=(8,), train_steps=3)
    x = np.random.default_rng(10).standard_normal((4, 2))
    g = grad(model.loss)(params, x)
    direction = perturb(model.init(11), 11, scale=1.0)
    step = 1e-5

    def along(s):
        return model.loss(_axpy(params, s, direction), x)
    fd = (along(step) - along(-step)) / (2 * step)
    analytic = _dot(g, direction)
    # central differences: O(step^2) truncation plus rounding ~1e-16 / 1e-5 ~ 1e-11
    assert abs(fd - analytic) < 1e-7 * max(1.0, abs(fd))


def _axpy(a, s, b):
    if isinstance(a, dict):
        return {k: _axpy(a[k], s, b[k]) for k in a}
    if isinstance(a, list):
        return [_axpy(u, s, v) for u, v in zip(a, b)]
    return a + s * b


def _dot(a, b):
    if isinstance(a, dict):
        return sum(_dot(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return sum(_dot(u, v) for u, v in zip(a, b))
    return float(np.sum(a * b))


def _gaussian_optimum(m, s):
    """For data N(m, s^2 I) and base N(0, I): x_t ~ N(t m, sigma_t^2 I), sigma_t^2 = (1 - t)^2 + t^2 s^2,
    and v*(t, y) = E[x - z | x_t = y] = m + (t s^2 - (1 - t)) / sigma_t^2 (y - t m)."""
    def v(t, y):
        var = (1 - t) ** 2 + t ** 2 * s ** 2
        return m + (t * s ** 2 - (1 - t)) / var * (y - t * m)
    return v


def test_flow_matching_loss_at_the_exact_optimum():
    m, s, n = np.array([1.0, -2.0]), 0.5, 200_000
    x = m + s * np.random.default_rng(0).standard_normal((n, 2))
    v_star = _gaussian_optimum(m, s)
    # the loss left at the optimum is E[Var(x - z | x_t)] = D s^2 E_t[1 / sigma_t^2]; the integral
    # int_0^1 dt / ((1 - t)^2 + s^2 t^2) = (atan(s) + atan(1 / s)) / s = pi / (2 s), so D s pi / 2
    expected = 2 * s * np.pi / 2
    per_point = _per_point_loss(v_star, x, 1)
    assert abs(per_point.mean() - expected) < 4 * per_point.std() / np.sqrt(n)  # 4 standard errors
    assert abs(flow_matching_loss(v_star, x, 1) - per_point.mean()) < 1e-12
    # any shift c of the optimum adds |c|^2 in expectation (the cross term has mean 0);
    # with the same draws the cross term's Monte Carlo error is 2 |c| sd(v* - u) / sqrt(n)
    c = np.array([0.1, -0.05])
    shifted = flow_matching_loss(lambda t, y: v_star(t, y) + c, x, 1)
    assert abs(shifted - per_point.mean() - c @ c) < 4 * 2 * np.sqrt(c @ c) * np.sqrt(expected / 2 / n) * 2


def _per_point_loss(v, x, seed):
    rng = np.random.default_rng(seed)  # the draws flow_matching_loss makes, in its order
    z = rng.standard_normal(x.shape)
    t = rng.uniform(size=(x.shape[0], 1))
    return np.sum((v(t, (1 - t) * z + t * x) - (x - z)) ** 2, axis=1)


def test_flow_matching_objective_uses_the_model_velocity():
    model, params = _model_and_params(12, objective="flow_matching")
    x = np.random.default_rng(13).standard_normal((7, 2))
    expected = flow_matching_loss(lambda t, y: model.velocity(params, t[:, 0], y), x, 14)
    assert model.loss(params, x, 14) == expected
    assert all(np.all(np.isfinite(leaf)) for layer in grad(model.loss)(params, x, 14)["velocity"]
               for leaf in layer.values())


def test_velocity_accepts_one_time_or_one_per_point():
    model, params = _model_and_params(15)
    x = np.random.default_rng(16).standard_normal((3, 2))
    np.testing.assert_array_equal(model.velocity(params, 0.3, x), model.velocity(params, np.full(3, 0.3), x))
    assert model.velocity(params, 0.3, x).shape == (3, 2)


@pytest.mark.parametrize("time_features, x_features", [(3, 0), (0, 2)])
def test_fourier_features_are_read_and_the_flow_map_stays_consistent(time_features, x_features):
    model, params = _model_and_params(17, time_features=time_features, x_features=x_features)
    # [x, sin/cos(2^k pi x_d) for k < x_features, t, sin/cos(k pi t) for k <= time_features]
    n_x = 2 * (1 + 2 * x_features)
    assert model.net.n_in == n_x + 1 + 2 * time_features
    x = np.random.default_rng(18).standard_normal((4, 2))
    # the field reads the features: move only their first-layer weights and it changes
    moved = [dict(layer) for layer in params["velocity"]]
    rows = np.zeros((model.net.n_in, 1))
    rows[2:n_x] = rows[n_x + 1:] = 1.0
    moved[0]["W"] = moved[0]["W"] + rows
    assert not np.allclose(model.velocity(params, 0.4, x), model.velocity({"velocity": moved}, 0.4, x))
    # log p(f(z)) = log N(z) - log|det df/dz|, and g undoes f (rtol = atol = 1e-6 solves: 1e-5)
    z = np.random.default_rng(19).standard_normal((4, 2))
    x, log_det_f = model.forward(params, z)
    np.testing.assert_allclose(model.log_prob(params, x), model.base.log_prob(z) - log_det_f, atol=1e-5)
    np.testing.assert_allclose(model.inverse(params, x)[0], z, atol=1e-5)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"^dim"):
        ContinuousFlow(0)
    with pytest.raises(ValueError, match=r"^objective"):
        ContinuousFlow(2, objective="score")
    with pytest.raises(ValueError, match=r"^method"):
        ContinuousFlow(2, method="euler")
    with pytest.raises(ValueError, match=r"^steps"):
        ContinuousFlow(2, method="dopri5", steps=10)
    with pytest.raises(ValueError, match=r"^rtol"):
        ContinuousFlow(2, rtol=0.0)
    with pytest.raises(ValueError, match=r"^train_steps"):
        ContinuousFlow(2, train_steps=0)
    with pytest.raises(ValueError, match=r"^activation"):
        ContinuousFlow(2, activation="sigmoid")
    with pytest.raises(ValueError, match=r"^time_features"):
        ContinuousFlow(2, time_features=-1)
    with pytest.raises(TypeError, match=r"^time_features"):
        ContinuousFlow(2, time_features=2.0)
    with pytest.raises(ValueError, match=r"^x_features"):
        ContinuousFlow(2, x_features=-2)
    model, params = _model_and_params(0)
    with pytest.raises(ValueError, match=r"^x"):
        model.log_prob(params, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^x"):
        model.log_prob(params, np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"^context"):
        model.log_prob(params, np.zeros((1, 2)), context=np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"^t"):
        model.velocity(params, np.zeros(4), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"^n"):
        model.sample(params, 0, 0)
    with pytest.raises(ValueError, match=r"^params"):
        model.log_prob({"velocity": params["velocity"][:1]}, np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"^rng"):
        ContinuousFlow(2, **SMALL, objective="flow_matching").loss(params, np.zeros((2, 2)))
