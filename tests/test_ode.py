"""tinygen.ode: the solvers against closed-form solutions, their orders, their gradients,
and the traces of the instantaneous change of variables."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, jacobian
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen._validate import NonFiniteError
from tinygen.ode import (
    TooManyStepsError,
    draw_probe,
    hutchinson_variance,
    log_density_dynamics,
    odeint,
    trace_exact,
    trace_hutchinson,
)
from tinygen.testing.continuous import random_field

LAM = -0.8
OMEGA = 2.0
T = np.array([0.0, 0.4, 1.0])


def _rotation(w):
    def f(t, y):
        return anp.stack([-w * y[..., 1], w * y[..., 0]], axis=-1)
    return f


def _rotated(y0, w, t):
    c, s = np.cos(w * t), np.sin(w * t)
    return np.stack([c * y0[0] - s * y0[1], s * y0[0] + c * y0[1]], axis=-1)


# (name, f, y0, closed form y(t))
PROBLEMS = [
    ("exponential", lambda t, y: LAM * y, np.array([1.0, -2.0]), lambda t: np.exp(LAM * t)[:, None] * [1.0, -2.0]),
    ("rotation", _rotation(OMEGA), np.array([1.0, 0.5]), lambda t: _rotated([1.0, 0.5], OMEGA, t)),
    # y' = 3 t^2 cos(t^3) y, y = y0 exp(sin(t^3)): the field depends on time
    ("time-dependent", lambda t, y: 3 * t ** 2 * anp.cos(t ** 3) * y, np.array([0.7]),
     lambda t: 0.7 * np.exp(np.sin(t ** 3))[:, None]),
]


@pytest.mark.parametrize("name,f,y0,exact", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_rk4_is_fourth_order(name, f, y0, exact):
    errors = [np.max(np.abs(odeint(f, y0, T, steps=s) - exact(T))) for s in (4, 8, 16)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    # halving h divides an O(h^4) error by 2^4 = 16; at these steps the next term, O(h^5),
    # still shifts the ratio by up to ~15%, so the finer pair is held to 16 +- 3
    assert 13 < ratios[1] < 19, (name, errors, ratios)
    assert errors[2] < errors[1] < errors[0]


@pytest.mark.parametrize("name,f,y0,exact", PROBLEMS, ids=[p[0] for p in PROBLEMS])
@pytest.mark.parametrize("rtol", [1e-4, 1e-7])
def test_dopri5_meets_its_tolerance(name, f, y0, exact, rtol):
    atol = rtol * 1e-2
    ys = odeint(f, y0, T, method="dopri5", rtol=rtol, atol=atol)
    error = np.abs(ys - exact(T))
    # the tolerance bounds each step's local error; over the O(10) steps taken the global error
    # accumulates, so it is held to 10 times atol + rtol |y|
    assert np.all(error <= 10 * (atol + rtol * np.abs(exact(T)))), (name, error.max())
    assert np.array_equal(ys[0], y0)


def test_backwards_in_time_undoes_forwards():
    f, y0 = _rotation(OMEGA), np.array([[0.3, -1.2], [2.0, 0.1]])
    for method, kw in (("rk4", {"steps": 40}), ("dopri5", {"rtol": 1e-9, "atol": 1e-11})):
        y1 = odeint(f, y0, [0.0, 1.0], method, **kw)[-1]
        back = odeint(f, y1, [1.0, 0.0], method, **kw)[-1]
        np.testing.assert_allclose(back, y0, atol=1e-8)  # the solvers' own error, at these settings ~1e-9


def test_tuple_state_is_solved_component_by_component():
    def f(t, y):
        return LAM * y[0], anp.cos(t) * anp.ones(1)

    for method in ("rk4", "dopri5"):
        z, s = odeint(f, (np.ones((2, 3)), np.zeros(1)), T, method)
        assert z.shape == (3, 2, 3) and s.shape == (3, 1)
        np.testing.assert_allclose(z[:, 0, 0], np.exp(LAM * T), atol=1e-6)  # solver error ~1e-8
        np.testing.assert_allclose(s[:, 0], np.sin(T), atol=1e-6)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_gradient_through_the_steps_matches_closed_form(method):
    # fine enough that the discretization error is ~1e-9 in both solvers
    kw = {"steps": 200} if method == "rk4" else {"rtol": 1e-9, "atol": 1e-12}

    # y(1) = y0 exp(lam): dy/dlam = y0 exp(lam), dy/dy0 = exp(lam)
    def y1(lam, y0):
        return odeint(lambda t, y: lam * y, y0, [0.0, 1.0], method, **kw)[-1, 0]
    lam, y0 = -0.4, np.array([1.5])
    assert abs(grad(y1, 0)(lam, y0) - 1.5 * np.exp(lam)) < 1e-7  # discretization error ~1e-9
    assert abs(grad(y1, 1)(lam, y0)[0] - np.exp(lam)) < 1e-7
    # the rotation's flow map is the rotation matrix: its Jacobian in y0
    jac = jacobian(lambda y: odeint(_rotation(OMEGA), y, [0.0, 1.0], method, **kw)[-1])
    c, s = np.cos(OMEGA), np.sin(OMEGA)
    np.testing.assert_allclose(jac(np.array([0.2, 0.9])), [[c, -s], [s, c]], atol=1e-7)


def test_gradient_of_a_nonlinear_field_matches_finite_differences():
    def loss(a):
        ys = odeint(lambda t, y: anp.tanh(a * y) - t * y, np.array([0.5, -1.0]), [0.0, 0.7, 1.0], "dopri5",
                    rtol=1e-10, atol=1e-12)
        return anp.sum(ys[-1] ** 2) + ys[1, 0]
    a, h = 1.3, 1e-5
    fd = (loss(a + h) - loss(a - h)) / (2 * h)
    # central differences err by O(h^2) ~ 1e-10 plus the solver's rounding / h ~ 1e-7
    assert abs(grad(loss)(a) - fd) < 1e-6


@settings(max_examples=10)
@given(dim=st.integers(1, 5), seed=st.integers(0, 2 ** 16), t=st.floats(0, 1))
def test_exact_trace_equals_autograd_jacobian(dim, seed, t):
    f = random_field(dim, seed)
    z = np.random.default_rng(seed).normal(size=(3, dim))
    dz, trace = trace_exact(f, t, z)
    np.testing.assert_allclose(dz, f(t, z))
    for i in range(3):
        full = jacobian(lambda x: f(t, x[None])[0])(z[i])
        assert abs(trace[i] - np.trace(full)) < 1e-12  # same arithmetic, only rounding differs


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased_with_the_stated_variance(probe):
    dim, n = 4, 4000
    f = random_field(dim, 3)
    z = np.tile(np.random.default_rng(0).normal(size=(1, dim)), (n, 1))  # one point, n probes
    _, exact = trace_exact(f, 0.5, z[:1])
    _, est = trace_hutchinson(f, 0.5, z, draw_probe(z.shape, 1, probe))
    var = hutchinson_variance(jacobian(lambda x: f(0.5, x[None])[0])(z[0]), probe)
    # mean of n unbiased draws: within 4 standard errors of the exact trace
    assert abs(est.mean() - exact[0]) < 4 * np.sqrt(var / n)
    # sample variance of n draws has relative sd ~ sqrt(2 / n) ~ 0.02 (more for heavy tails): 15%
    assert abs(est.var() / var - 1) < 0.15


def test_hutchinson_variance_formula_small_case():
    a = np.array([[1.0, 2.0], [0.0, 3.0]])
    # eps^T A eps = 1 + 3 + 2 eps_1 eps_2 with Rademacher: variance 4; S_12 = 1 -> 2 (1 + 1) = 4
    assert hutchinson_variance(a, "rademacher") == 4.0
    # Gaussian adds 2 (S_11^2 + S_22^2) = 2 (1 + 9) = 20
    assert hutchinson_variance(a, "gaussian") == 24.0


def test_log_density_dynamics_has_the_minus_sign():
    # dz/dt = a z in 1-D: tr = a, so log p falls by a per unit time
    _, logp = odeint(log_density_dynamics(lambda t, z: 0.6 * z), (np.ones((2, 1)), np.zeros(2)), [0.0, 1.0])
    np.testing.assert_allclose(logp[-1], -0.6, atol=1e-12)


def test_validation_messages():
    def f(t, y):
        return -y

    with pytest.raises(ValueError, match=r"^method"):
        odeint(f, np.ones(2), [0, 1], method="euler")
    with pytest.raises(ValueError, match=r"^steps"):
        odeint(f, np.ones(2), [0, 1], steps=0)
    with pytest.raises(TypeError, match=r"^steps"):
        odeint(f, np.ones(2), [0, 1], steps=2.5)
    with pytest.raises(ValueError, match=r"^steps"):
        odeint(f, np.ones(2), [0, 1], method="dopri5", steps=10)
    with pytest.raises(ValueError, match=r"^rtol"):
        odeint(f, np.ones(2), [0, 1], rtol=0.0)
    with pytest.raises(ValueError, match=r"^atol"):
        odeint(f, np.ones(2), [0, 1], atol=-1e-3)
    with pytest.raises(ValueError, match=r"^t: expected strictly"):
        odeint(f, np.ones(2), [0, 1, 0.5])
    with pytest.raises(ValueError, match=r"^t: expected at least 2"):
        odeint(f, np.ones(2), [0.0])
    with pytest.raises(ValueError, match=r"^t: expected finite"):
        odeint(f, np.ones(2), [0, np.inf])
    with pytest.raises(ValueError, match=r"^y0: expected finite"):
        odeint(f, np.array([1.0, np.nan]), [0, 1])
    with pytest.raises(TypeError, match=r"^f"):
        odeint("f", np.ones(2), [0, 1])
    with pytest.raises(ValueError, match=r"^f: expected f\(t, y\) to return dy/dt like y"):
        odeint(lambda t, y: y[:1], np.ones(2), [0, 1])
    with pytest.raises(ValueError, match=r"^f: expected f\(t, y\) to return dy/dt like y"):
        odeint(lambda t, y: y[0], (np.ones(2), np.ones(1)), [0, 1])
    with pytest.raises(NonFiniteError, match=r"^f: returned NaN"):
        odeint(lambda t, y: anp.full_like(y, np.nan), np.zeros(2), [0, 1])
    with pytest.raises(TooManyStepsError, match=r"^max_steps"):
        odeint(lambda t, y: -1e4 * y, np.ones(2), [0, 1], method="dopri5", max_steps=30)
    with pytest.raises(ValueError, match=r"^probe"):
        draw_probe((2, 2), 0, "uniform")
    with pytest.raises(ValueError, match=r"^jacobian"):
        hutchinson_variance(np.ones((2, 3)))
