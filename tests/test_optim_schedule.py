"""fit's cosine learning-rate schedule: eta_t = eta (1 + cos(pi (t - 1) / T)) / 2."""
import numpy as np
import pytest

import tinygen
from tinygen.optim import SGD


class Quadratic:
    """loss(theta) = theta^2 / 2, so one SGD step is theta <- theta (1 - eta_t): the lr is observable."""

    def init(self, rng):
        return {"theta": np.array([1.0])}

    def loss(self, params, x, rng=None, context=None):
        return 0.5 * params["theta"][0] ** 2


def test_cosine_schedule_applies_exact_learning_rates():
    steps, eta = 5, 0.1
    opt = SGD(lr=eta)
    params, _ = tinygen.fit(Quadratic(), Quadratic().init(0), np.zeros((4, 1)), steps=steps,
                            optimizer=opt, lr_schedule="cosine", progress=False)
    expected = 1.0
    for t in range(1, steps + 1):
        expected *= 1 - eta * 0.5 * (1 + np.cos(np.pi * (t - 1) / steps))
    np.testing.assert_allclose(params["theta"][0], expected, rtol=1e-12)
    assert opt.lr == eta  # the optimizer object is handed back unchanged


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match=r"^lr_schedule: "):
        tinygen.fit(Quadratic(), Quadratic().init(0), np.zeros((4, 1)), steps=2, lr_schedule="linear")


def test_nan_inside_a_distribution_stops_fit_with_nonfinite_error():
    # A traced NaN reaching Normal(...) must surface as NonFiniteLossError (with the
    # last finite params), not as the ValueError a user's NaN input would get.
    import autograd.numpy as anp

    from tinygen.distributions import Normal

    class Blows:
        def init(self, rng):
            return {"mu": np.array([0.0])}

        def loss(self, params, x, rng=None, context=None):
            mu = params["mu"] * anp.log(params["mu"][0] - 0.5)  # log of a negative: NaN at once
            return -anp.mean(Normal(mu, np.ones(1)).log_prob(x))

    with pytest.raises(tinygen.NonFiniteLossError) as info, np.errstate(invalid="ignore"):
        tinygen.fit(Blows(), Blows().init(0), np.zeros((4, 1)), steps=3, progress=False)
    assert np.all(np.isfinite(info.value.params["mu"]))
