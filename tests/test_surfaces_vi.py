"""Bad input to reverse-KL fitting and to the potentials: an error naming the argument, never a silent number."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import vi
from tinygen.data import Potential, potential
from tinygen.data import potentials as pot
from tinygen.flows import RealNVP

MODEL = RealNVP(2, n_layers=2, hidden=(8,))
PARAMS = MODEL.init(0)
BOX = ((-5.5, 5.5), (-5.5, 5.5))


def gauss(z):
    return -0.5 * anp.sum(z ** 2, axis=1)


def numpy_gauss(z):
    """The same target written with plain NumPy: autograd cannot trace it."""
    return -0.5 * np.sum(np.asarray(z) ** 2, axis=1)


class NoReparam:
    """q = N(mu, I) whose sample is drawn without reparameterization: z does not depend on params."""
    context_dim, dim = 0, 2

    def init(self, rng):
        return {"mu": np.zeros(2)}

    def sample(self, params, n, rng):
        return np.random.default_rng(0).standard_normal((n, 2))

    def log_prob(self, params, z):
        return -0.5 * anp.sum((z - params["mu"]) ** 2, axis=1)


# ---------------------------------------------------------------- reverse_kl
@pytest.mark.parametrize("log_z, error", [(math.nan, ValueError), (math.inf, ValueError), ("1.0", TypeError),
                                          (True, TypeError)])
def test_reverse_kl_refuses_a_log_z_that_is_not_a_finite_number(log_z, error):
    with pytest.raises(error, match=r"^log_z"):
        vi.reverse_kl(MODEL, PARAMS, gauss, n=20, log_z=log_z)


def test_reverse_kl_refuses_more_samples_than_its_limit():
    with pytest.raises(ValueError, match=r"^n: expected at most MAX_ESTIMATE"):
        vi.reverse_kl(MODEL, PARAMS, gauss, n=vi.MAX_ESTIMATE + 1)


def test_reverse_kl_blames_a_target_that_returns_plus_inf():
    with pytest.raises(ValueError, match=r"^log_p_tilde: expected values in \[-inf, inf\)"):
        vi.reverse_kl(MODEL, PARAMS, lambda z: z[:, 0] * 0 + np.inf, n=20)


def test_reverse_kl_names_a_target_of_another_dimension():
    model3 = RealNVP(3, n_layers=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"^log_p_tilde: expected a target over the model's 3 dimensions"):
        vi.reverse_kl(model3, model3.init(0), potential("U1"), n=20)


# ---------------------------------------------------------------- fit_reverse_kl
def test_fit_reverse_kl_names_a_target_autograd_cannot_trace():
    with pytest.raises(TypeError, match=r"^log_p_tilde: expected a function autograd can differentiate"):
        vi.fit_reverse_kl(MODEL, PARAMS, numpy_gauss, steps=2, n_samples=8, progress=False)


def test_fit_reverse_kl_names_a_target_whose_value_is_cut_from_z():
    # onp.asarray on the plain value: runs, but autograd sees a constant (the gradient would be zero)
    def detached(z):
        from autograd.tracer import getval
        return -0.5 * np.sum(np.asarray(getval(z)) ** 2, axis=1)

    with pytest.raises(TypeError, match=r"^log_p_tilde: .*cannot trace back to z"):
        vi.fit_reverse_kl(MODEL, PARAMS, detached, steps=2, n_samples=8, progress=False)


def test_fit_reverse_kl_names_a_model_without_a_reparameterized_sample():
    model = NoReparam()
    with pytest.raises(TypeError, match=r"^model: expected a reparameterized sample"):
        vi.fit_reverse_kl(model, model.init(0), gauss, steps=2, n_samples=8, progress=False)


def test_fit_reverse_kl_blames_a_nan_target_not_the_learning_rate():
    with pytest.raises(ValueError, match=r"^log_p_tilde: expected values in \[-inf, inf\).*NaN"):
        vi.fit_reverse_kl(MODEL, PARAMS, lambda z: z[:, 0] * np.nan, steps=2, n_samples=8, progress=False)


def test_fit_reverse_kl_refuses_a_batch_beyond_the_size_limit():
    with pytest.raises(ValueError, match=r"^n_samples: expected a size .* fits in 134,217,728 floats"):
        vi.fit_reverse_kl(MODEL, PARAMS, gauss, steps=2, n_samples=10 ** 9, progress=False)


def test_sample_with_log_q_refuses_a_batch_beyond_the_size_limit():
    with pytest.raises(ValueError, match=r"^n: expected a size"):
        vi.sample_with_log_q(MODEL, PARAMS, 10 ** 9, 0)


def test_fit_reverse_kl_still_trains_a_traceable_target():
    _, history = vi.fit_reverse_kl(MODEL, PARAMS, gauss, steps=3, n_samples=16, progress=False)
    assert len(history["loss"]) == 3 and np.all(np.isfinite(history["loss"]))


# ---------------------------------------------------------------- anneal_beta
@pytest.mark.parametrize("args, name, error", [
    ((0, 10), "step", ValueError), ((-1, 10), "step", ValueError), ((1.5, 10), "step", TypeError),
    (("a", 10), "step", TypeError), ((math.nan, 10), "step", TypeError), ((1, -3), "anneal", ValueError),
    ((1, 2.5), "anneal", TypeError), ((1, True), "anneal", TypeError), ((1, 10, 0), "beta_start", ValueError),
    ((1, 10, -0.1), "beta_start", ValueError), ((1, 10, 1.5), "beta_start", ValueError),
    ((1, 10, math.nan), "beta_start", ValueError), ((1, 10, "x"), "beta_start", TypeError)])
def test_anneal_beta_refuses_bad_arguments(args, name, error):
    with pytest.raises(error, match=rf"^{name}"):
        vi.anneal_beta(*args)


@given(st.integers(1, 50), st.integers(0, 50), st.floats(1e-3, 1.0))
@settings(max_examples=50)
def test_anneal_beta_stays_in_beta_start_to_one(step, anneal, beta_start):
    beta = vi.anneal_beta(step, anneal, beta_start)
    assert beta_start - 1e-12 <= beta <= 1.0  # a linear ramp from beta_0 to 1 (1e-12: rounding of the ramp)


# ---------------------------------------------------------------- quadrature and Potential
@pytest.mark.parametrize("width, error", [(-0.1, ValueError), (0, ValueError), (math.nan, ValueError),
                                          (math.inf, ValueError), ("0.1", TypeError), (True, TypeError)])
def test_quadrature_refuses_a_panel_width_that_is_not_positive(width, error):
    with pytest.raises(error, match=r"^panel_width"):
        pot.quadrature_log_z(gauss, BOX, panel_width=width)


def test_quadrature_refuses_grids_beyond_the_size_limit():
    with pytest.raises(ValueError, match=r"^panel_width: expected a size .* \(1 GiB\)"):
        pot.quadrature_log_z(gauss, BOX, panel_width=1e-6)
    with pytest.raises(ValueError, match=r"^box: expected a size"):
        pot.quadrature_log_z(gauss, ((-1e9, 1e9), (-1e9, 1e9)))


@pytest.mark.parametrize("fn, error, pattern", [
    (3, TypeError, r"^log_p_tilde: expected a function"),
    (lambda z: z[:, 0] * 0 + np.inf, ValueError, r"^log_p_tilde: expected values in \[-inf, inf\)"),
    (lambda z: z[:, 0] * 0 - np.inf, ValueError, r"^log_p_tilde: expected some mass inside box"),
    (lambda z: "s", ValueError, r"^log_p_tilde: expected shape")])
def test_quadrature_names_a_bad_target(fn, error, pattern):
    with pytest.raises(error, match=pattern):
        pot.quadrature_log_z(fn, BOX)


@pytest.mark.parametrize("log_z, error", [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
                                          ("1.0", TypeError), (True, TypeError), ([1, 2], TypeError)])
def test_potential_refuses_a_log_z_that_is_not_a_finite_number(log_z, error):
    with pytest.raises(error, match=r"^log_z"):
        Potential(gauss, log_z=log_z)


@pytest.mark.parametrize("kwargs, name", [
    ({"bounds": ((1, 0), (0, 1))}, "bounds"), ({"bounds": ((0, 1), (0, 1), (0, 1))}, "bounds"),
    ({"quad_box": ((1, 0), (0, 1))}, "quad_box"), ({"quad_box": (0, 1)}, "quad_box"),
    ({"quad_box": ((math.nan, 0), (0, 1))}, "quad_box")])
def test_potential_refuses_a_bad_box(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        Potential(gauss, **kwargs)


def test_potential_blames_a_function_that_returns_nan():
    with pytest.raises(ValueError, match=r"^log_p_tilde: expected values in \[-inf, inf\)"):
        Potential(lambda z: z[:, 0] * np.nan).log_p_tilde(np.zeros((2, 2)))


def test_potential_accepts_its_own_dimension_of_bounds():
    target = Potential(gauss, dim=3, bounds=((-1, 1),) * 3, log_z=0.5)
    assert target.bounds == ((-1.0, 1.0),) * 3 and target.log_z == 0.5


def test_two_moons_refuses_a_noise_whose_rule_exceeds_the_size_limit():
    with pytest.raises(ValueError, match=r"^noise: expected a size"):
        potential("two_moons", noise=1e-9)
