"""The diffusion checks of tinygen.testing: each passes correct code and fails a broken version,
naming the property (a schedule that is not a product, a score off by sigma_t, a bound above log p)."""
import numpy as np
import pytest
from test_diffusion import GaussianOptimum, M, S, gaussian_points

from tinygen.diffusion import Diffusion, Schedule
from tinygen.distributions import Normal
from tinygen.testing import check_diffusion_bound, check_schedule, check_score

PRODUCT = "alpha_bar_t = prod_{s<=t} (1 - beta_s)"


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_check_schedule_passes_tinygen_schedules_and_a_model(kind):
    check_schedule(Schedule(kind, 200)).assert_ok()
    check_schedule(Diffusion(2, hidden=(4,), schedule=kind)).assert_ok()
    s = Schedule(kind, 50)
    check_schedule(s.beta[1:], s.alpha_bar[1:]).assert_ok()  # the array form


def test_check_schedule_fails_a_schedule_that_is_not_a_product():
    s = Schedule("linear", 100)
    s.alpha_bar = np.exp(-np.cumsum(s.beta))  # exp(-sum beta): in (0, 1), but only close to the product
    report = check_schedule(s)
    assert [r.property for r in report.failures] == [PRODUCT]


def test_check_schedule_fails_the_cosine_not_renormalized_after_clipping():
    """Nichol & Dhariwal's f(t) / f(0) itself: alpha_bar_T ~ 1e-33, not
    the product of the steps once beta_T is clipped to 0.999."""
    T = 100
    f = np.cos((np.arange(T + 1) / T + 0.008) / 1.008 * np.pi / 2) ** 2
    beta = np.minimum(1 - f[1:] / f[:-1], 0.999)
    report = check_schedule(beta, f[1:] / f[0])
    assert [r.property for r in report.failures] == [PRODUCT]


def test_check_schedule_fails_betas_out_of_range():
    report = check_schedule(np.array([0.1, 1.2]), np.array([0.9, -0.18]))
    assert "0 < beta_t < 1" in [r.property for r in report.failures]


def test_check_score_fails_a_score_off_by_sigma():
    model = GaussianOptimum()
    params, x, times = model.init(0), gaussian_points(6, 1), [0.5, 20.0, 90.0]
    check_score(lambda t, y: model.score(params, t, y), model.log_q, x, times).assert_ok()
    # -eps_theta is the score times sigma_t: right direction, wrong length
    broken = check_score(lambda t, y: -model.epsilon(params, t, y), model.log_q, x, times)
    assert broken.failures and all(r.property.startswith("score = grad_x log p") for r in broken.failures)


def test_check_score_without_time():
    gauss = Normal(M, S * np.ones(2))
    x = gaussian_points(5, 2)
    check_score(lambda y: -(y - M) / S ** 2, gauss.log_prob, x).assert_ok()
    assert not check_score(lambda y: (y - M) / S ** 2, gauss.log_prob, x)  # a missing minus sign


class InflatedBound(GaussianOptimum):
    """A "bound" half a nat above the truth: no bound at all."""

    def elbo(self, params, x, rng):
        return super().elbo(params, x, rng) * 0 + Normal(M, S * np.ones(2)).log_prob(x) + 0.5


def test_check_diffusion_bound_fails_a_bound_above_log_p():
    model, x = InflatedBound(), gaussian_points(5, 3)
    truth = Normal(M, S * np.ones(2)).log_prob(x)
    report = check_diffusion_bound(model, model.init(0), x, truth, repeats=5)
    assert [r.property for r in report.failures] == ["E[bound] <= log p(x)"]
    check_diffusion_bound(GaussianOptimum(), model.init(0), x, truth).assert_ok()  # the true ELBO passes


def test_checks_reject_bad_input():
    with pytest.raises(TypeError, match=r"^schedule"):
        check_schedule("linear")
    with pytest.raises(ValueError, match=r"^alpha_bar"):
        check_schedule(np.array([0.1, 0.2]), np.array([0.9]))
    with pytest.raises(TypeError, match=r"^score"):
        check_score(None, lambda y: y, np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"^x"):
        check_score(lambda y: y, lambda y: y, np.zeros(2))
    with pytest.raises(ValueError, match=r"^score"):
        check_score(lambda y: y[:, :1], lambda y: np.sum(y, axis=1), np.zeros((3, 2)))
