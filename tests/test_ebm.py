"""Energy-based models: log Z by quadrature, Langevin against the exact density, the CD and DSM losses."""
import math

import autograd.numpy as np
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.data import two_moons
from tinygen.ebm import EBM, MOONS_BOX, fit_ebm, langevin, reflect
from tinygen.testing import check_normalized, check_sampler


class QuadraticEBM(EBM):
    """E_theta(x) = theta . T(x), T(x) = (x_1, ..., x_D, x_1^2, ..., x_D^2): an exponential family.

    theta = (0, 1 / (2 sigma^2)) gives E(x) = |x|^2 / (2 sigma^2), a Gaussian N(0, sigma^2 I) on the box.
    """

    def init(self, rng):
        return {"theta": onp.concatenate([onp.zeros(self.dim), onp.full(self.dim, 0.5)])}

    def energy(self, params, x):
        return np.dot(self.statistics(x), params["theta"])

    @staticmethod
    def statistics(x):
        return np.concatenate([x, x ** 2], axis=1)  # T(x)


def gaussian(sigma, dim=2, **options):
    return QuadraticEBM(dim, **options), {"theta": onp.concatenate([onp.zeros(dim), onp.full(dim, 0.5 / sigma ** 2)])}


def truncated_gaussian_log_z(sigma, box):
    """log int_box exp(-|x|^2 / 2 sigma^2) dx = sum_d log(sqrt(2 pi) sigma (Phi(hi/sigma) - Phi(lo/sigma)))."""
    def phi(t):  # Phi(t / sigma)
        return 0.5 * math.erfc(-t / (sigma * math.sqrt(2)))

    return sum(math.log(math.sqrt(2 * math.pi) * sigma * (phi(hi) - phi(lo))) for lo, hi in box)


@settings(max_examples=10)
@given(st.floats(0.15, 1.5))
def test_log_z_by_quadrature_matches_the_gaussian_closed_form(sigma):
    model, params = gaussian(sigma)
    log_z, error = model.log_z(params, return_error=True)
    # A smooth integrand on panels of 0.125 <= sigma: 8-point Gauss-Legendre is exact to
    # rounding (1e-10 covers the sum of ~1e5 terms); the error estimate must say as much.
    assert abs(log_z - truncated_gaussian_log_z(sigma, MOONS_BOX)) < 1e-10
    assert error < 1e-8


def test_log_z_in_one_dimension_and_the_limit_of_two():
    model, params = gaussian(0.5, dim=1, box=((-3.0, 3.0),))
    assert abs(model.log_z(params) - truncated_gaussian_log_z(0.5, ((-3.0, 3.0),))) < 1e-10  # as above
    with pytest.raises(ValueError, match=r"^dim"):
        EBM(3, box=[(-1.0, 1.0)] * 3).log_z(EBM(3, box=[(-1.0, 1.0)] * 3).init(0))
    with pytest.raises(ValueError, match=r"^box"):
        EBM(3)


def test_mlp_energy_log_prob_is_normalized_on_its_box():
    model = EBM(2, hidden=(16, 16))
    params = model.init(3)
    log_z = model.log_z(params)
    # the midpoint rule on 400 x 400 cells errs by O(h^2) ~ 1e-5 on this smooth energy (check_normalized's default)
    check_normalized(lambda x: model.log_prob(params, x, log_z=log_z), dim=2, bounds=MOONS_BOX).assert_ok()
    outside = onp.array([[MOONS_BOX[0][1] + 0.1, 0.0]])
    assert model.log_prob(params, outside)[0] == -onp.inf  # p_theta = 0 outside B


def _langevin_sampler(energy, step, steps, adjusted, box=None, start=((-2.0, 2.0), (-2.0, 2.0))):
    """n independent chains from uniform starts; the last state of each is one draw."""
    def sample(n, rng):
        x0 = rng.uniform([lo for lo, _ in start], [hi for _, hi in start], size=(n, 2))
        return langevin(energy, x0, steps, step, rng, adjusted=adjusted, box=box)[0]
    return sample


MU, S = onp.array([0.5, -0.3]), 0.8
BOUNDS = ((-3.0, 4.0), (-3.5, 3.0))  # holds N(MU, S^2 I) but for ~1e-4 of its mass (the outside cell)


def gauss_energy(x):
    return np.sum((x - MU) ** 2, axis=1) / (2 * S ** 2)


def gauss_log_prob(x):
    return -gauss_energy(x) - math.log(2 * math.pi * S ** 2)


@pytest.mark.parametrize("adjusted, step", [(True, 0.1), (False, 0.01)])
def test_langevin_draws_from_its_target(adjusted, step):
    # ULA's stationary variance is S^2 / (1 - step / (2 S^2)): at step 0.01 that is 0.8% too wide,
    # below what 4000 draws can see; MALA is exact at any step. 300 steps of 0.01 relax the
    # start (rate 1 / S^2 per unit time) by e^-4.7 ... enough for chains started within 2.5 S.
    report = check_sampler(_langevin_sampler(gauss_energy, step, 300 if adjusted else 600, adjusted),
                           gauss_log_prob, BOUNDS, rng=5)
    report.assert_ok()


def _broken(update):
    def sample(n, rng):
        x = rng.uniform(-2.0, 2.0, size=(n, 2))
        for _ in range(300):
            x = update(x, rng)
        return x
    return sample


@pytest.mark.parametrize("name, update", [
    ("no noise", lambda x, r: x - 0.05 * (x - MU) / S ** 2),                                   # drops sqrt(2 eps) xi
    ("sign", lambda x, r: x + 0.05 * (x - MU) / S ** 2 + math.sqrt(0.1) * r.standard_normal(x.shape)),
])
def test_broken_langevin_fails_the_sampler_check(name, update):
    report = check_sampler(_broken(update), gauss_log_prob, BOUNDS, rng=5)
    assert not report
    assert [row.property for row in report.failures] == [
        "draws follow the density (chi^2 p-value, fails below tolerance)"]


def test_ebm_mala_samples_its_own_density_on_the_box():
    model, params = gaussian(0.6)

    def sample(n, rng):
        return model.sample(params, n, rng, steps=150, step_size=0.05, adjusted=True)

    check_sampler(sample, lambda x: model.log_prob(params, x), MOONS_BOX, rng=2).assert_ok()


@settings(max_examples=15)
@given(st.integers(0, 2 ** 31))
def test_cd_gradient_is_data_minus_model_statistics(seed):
    rng = onp.random.default_rng(seed)
    model = QuadraticEBM(2)
    params = {"theta": rng.normal(size=4)}
    x, x_neg = rng.normal(size=(7, 2)), rng.normal(size=(5, 2))
    g = grad(model.cd_loss)(params, x, x_neg)["theta"]
    # E_theta = theta . T: grad_theta of the surrogate = E_data[T] - E_model[T], exact up to rounding
    expected = QuadraticEBM.statistics(x).mean(0) - QuadraticEBM.statistics(x_neg).mean(0)
    assert onp.allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_cd_loss_with_exact_chains_gives_the_likelihood_gradient():
    sigma = 0.5
    model, params = gaussian(sigma, box=((-4.0, 4.0), (-4.0, 4.0)), steps=800, step_size=0.005)
    data = onp.random.default_rng(0).normal(0.0, 0.7, size=(3000, 2))
    g = grad(lambda p: model.loss(p, data, 1))(params)["theta"]
    # grad -log p_theta = E_data[T] - E_p_theta[T]; under N(0, sigma^2 I) (the box holds 8 sigma):
    # E[x] = 0, E[x^2] = sigma^2. The chains' 3000 draws give the Monte Carlo error: the std of T
    # is sigma for x and sqrt(2) sigma^2 for x^2; the data term is exact here (same data both sides).
    exact = QuadraticEBM.statistics(data).mean(0) - onp.array([0, 0, sigma ** 2, sigma ** 2])
    se = onp.array([sigma, sigma, math.sqrt(2) * sigma ** 2, math.sqrt(2) * sigma ** 2]) / math.sqrt(3000)
    # 4 standard errors, + ULA's bias: its variance is sigma^2 / (1 - eps / (2 sigma^2)), off by about eps / 2
    assert onp.all(onp.abs(g - exact) < 4 * se + 0.005 / 2)


def test_dsm_loss_matches_its_closed_form_for_a_quadratic_energy():
    # E = a |x|^2 / 2, data N(0, s^2 I), x~ = x + sigma eps: with D dims
    # sigma^2 / 2 E|-a x~ + eps / sigma|^2 = sigma^2 D / 2 (a^2 (s^2 + sigma^2) - 2 a + 1 / sigma^2).
    s, a, sigma, dim = 0.7, 1.3, 0.3, 2
    model = QuadraticEBM(dim, objective="dsm", sigma=sigma)
    params = {"theta": onp.array([0.0, 0.0, a / 2, a / 2])}
    rng = onp.random.default_rng(0)
    values = [model.loss(params, rng.normal(0, s, size=(5000, dim)), rng) for _ in range(20)]
    closed = sigma ** 2 * dim / 2 * (a ** 2 * (s ** 2 + sigma ** 2) - 2 * a + 1 / sigma ** 2)
    se = onp.std(values, ddof=1) / math.sqrt(len(values))
    assert abs(onp.mean(values) - closed) < 5 * se  # 5 standard errors of the mean of 20 batch losses


def test_fit_ebm_keeps_the_persistent_chains_outside_the_model():
    model = EBM(2, hidden=(16,), steps=5)
    params = model.init(0)
    before = dict(vars(model))
    new, history = fit_ebm(model, params, two_moons(200), steps=3, batch_size=32, buffer_size=64, progress=False)
    assert history["buffer"].shape == (64, 2)
    assert onp.all((history["buffer"] >= model.box[:, 0]) & (history["buffer"] <= model.box[:, 1]))
    assert set(vars(model)) - set(before) <= {"_params_template"}  # structure only, no chain state
    assert not onp.allclose(new[0]["W"], params[0]["W"])
    _, history = fit_ebm(EBM(2, hidden=(8,), objective="dsm"), params=EBM(2, hidden=(8,)).init(0),
                         x=two_moons(100), steps=2, batch_size=16, progress=False)
    assert len(history["loss"]) == 2 and "buffer" not in history


@settings(max_examples=30)
@given(st.floats(-50, 50), st.floats(-50, 50))
def test_reflect_folds_into_the_box_and_fixes_inside_points(a, b):
    box = onp.array([[-1.0, 2.0], [0.5, 1.5]])
    x = reflect(onp.array([[a, b]]), box)
    assert onp.all(x >= box[:, 0]) and onp.all(x <= box[:, 1])
    inside = onp.array([[0.3, 1.0]])
    assert onp.allclose(reflect(inside, box), inside)


def test_input_errors_name_the_argument():
    model = EBM(2, hidden=(8,))
    params = model.init(0)
    cases = [
        (lambda: EBM(0), ValueError, "dim"),
        (lambda: EBM(2, box=((0.0, 1.0),)), ValueError, "box"),
        (lambda: EBM(2, objective="ml"), ValueError, "objective"),
        (lambda: EBM(2, activation="relu"), ValueError, "activation"),
        (lambda: EBM(2, step_size=0.0), ValueError, "step_size"),
        (lambda: EBM(2, alpha=-1.0), ValueError, "alpha"),
        (lambda: model.sample(params, 0, 0), ValueError, "n"),
        (lambda: model.sample(params, 3, 0, init=onp.zeros((2, 2))), ValueError, "init"),
        (lambda: model.energy(params, onp.zeros((3, 3))), ValueError, "x"),
        (lambda: model.energy([], onp.zeros((3, 2))), ValueError, "params"),
        (lambda: langevin(gauss_energy, onp.zeros((2, 2)), 3, -0.1, 0), ValueError, "step_size"),
        (lambda: langevin(gauss_energy, onp.zeros(2), 3, 0.1, 0), ValueError, "x0"),
        (lambda: langevin("E", onp.zeros((2, 2)), 3, 0.1, 0), TypeError, "energy"),
        (lambda: langevin(lambda v: np.sum(v ** 4, axis=1), onp.ones((2, 2)), 8, 10.0, 0), ValueError, "energy"),
        (lambda: fit_ebm(model, params, two_moons(50), reinit=2.0), ValueError, "reinit"),
        (lambda: fit_ebm(object(), params, two_moons(50)), TypeError, "model"),
    ]
    for call, error, name in cases:
        # errstate: the diverging chain overflows on its way to the error
        with pytest.raises(error, match=rf"^{name}"), onp.errstate(over="ignore", invalid="ignore"):
            call()
