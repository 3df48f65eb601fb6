"""The kit's continuous-time checks: they pass correct code and fail broken code, naming the property."""
import numpy as np
import pytest

from tinygen.ode import draw_probe, log_density_dynamics, trace_exact, trace_hutchinson
from tinygen.testing import check_log_density_ode, check_trace_estimator
from tinygen.testing.continuous import random_field


def _hutchinson(probe):
    def estimator(f, t, z, rng):
        return trace_hutchinson(f, t, z, draw_probe(z.shape, rng, probe))[1]
    return estimator


@pytest.mark.parametrize("dim", [1, 3])
def test_log_density_ode_passes_the_exact_dynamics(dim):
    report = check_log_density_ode(log_density_dynamics(random_field(dim, 1)), dim, n=2)
    report.assert_ok()


def test_log_density_ode_fails_a_missing_minus_sign():
    f = random_field(2, 2)

    def broken(t, state):  # d log p / dt = +tr: the sign dropped
        dz, trace = trace_exact(f, t, state[0])
        return dz, trace
    report = check_log_density_ode(broken, 2, n=2)
    assert not report
    assert "log p changes by -log|det" in str(report) and "FAIL" in str(report)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_trace_estimator_passes_hutchinson(probe):
    check_trace_estimator(_hutchinson(probe), 3, rng=4).assert_ok()


def test_trace_estimator_passes_the_exact_trace():
    check_trace_estimator(lambda f, t, z, rng: trace_exact(f, t, z)[1], 2, draws=2).assert_ok()


def test_trace_estimator_fails_a_biased_probe():
    def biased(f, t, z, rng):  # E[eps eps^T] = 1.2^2 I: the estimate is 1.44 tr on average
        return trace_hutchinson(f, t, z, 1.2 * draw_probe(z.shape, rng))[1]
    report = check_trace_estimator(biased, 3, rng=4)
    assert not report
    assert "unbiased" in report.failures[0].property


def test_validation_messages():
    with pytest.raises(TypeError, match=r"^dynamics"):
        check_log_density_ode(None, 2)
    with pytest.raises(ValueError, match=r"^t1"):
        check_log_density_ode(log_density_dynamics(random_field(2)), 2, t1=0.0)
    with pytest.raises(TypeError, match=r"^estimator"):
        check_trace_estimator(3, 2)
    with pytest.raises(ValueError, match=r"^draws"):
        check_trace_estimator(_hutchinson("gaussian"), 2, draws=1)
    with pytest.raises(ValueError, match=r"^estimator: expected one estimate per row"):
        check_trace_estimator(lambda f, t, z, rng: np.zeros(3), 2)
