"""Tests for tinygen.evaluate on cases whose answers are known in closed form."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinygen import evaluate
from tinygen.distributions import Normal, StandardNormal
from tinygen.testing.strategies import finite_floats


class GaussianModel:
    """The smallest density model: N(mu, I) with params {"mu": (D,)}."""

    def __init__(self, dim):
        self.dim = dim
        self.calls = []

    def log_prob(self, params, x):
        self.calls.append(len(x))
        return Normal(params["mu"], np.ones(self.dim)).log_prob(x)


class SamplingModel:
    """A VAE-like log_prob(params, x, rng, k): returns -k everywhere and records the rng it got."""

    def __init__(self):
        self.rngs = []

    def log_prob(self, params, x, rng, k=1):
        self.rngs.append(rng)
        return np.full(len(x), -float(k))


class ConditionalModel:
    """log p(x | c) = log N(x; c, I): the context is the mean."""

    def log_prob(self, params, x, context=None):
        return Normal(context, np.ones(x.shape[1])).log_prob(x)


def test_nll_stats_known_values():
    nll, se = evaluate.nll_stats(np.array([-1.0, -2.0, -3.0]))
    assert nll == pytest.approx(2.0)
    assert se == pytest.approx(1.0 / math.sqrt(3))  # sample std 1 (ddof=1) over sqrt(3)
    assert evaluate.nll_stats([-0.5]) == (0.5, 0.0)


@settings(max_examples=30)
@given(arrays(np.float64, st.integers(2, 40), elements=finite_floats(50.0)))
def test_nll_stats_matches_definition(log_p):
    nll, se = evaluate.nll_stats(log_p)
    assert nll == pytest.approx(-np.mean(log_p), abs=1e-9)
    assert se == pytest.approx(np.std(log_p, ddof=1) / np.sqrt(len(log_p)), abs=1e-9)
    assert se >= 0


def test_bits_per_dim_and_gap():
    assert evaluate.bits_per_dim(3 * math.log(2), 3) == pytest.approx(1.0)
    assert evaluate.bits_per_dim(0.0, 5) == 0.0
    assert evaluate.gap_to_entropy(1.25, 1.0) == pytest.approx(0.25)


def test_test_nll_batches_give_the_same_answer():
    model, params = GaussianModel(2), {"mu": np.array([0.5, -1.0])}
    x = np.random.default_rng(0).standard_normal((25, 2))
    whole = evaluate.test_nll(model, params, x)
    assert model.calls == [25]
    model.calls.clear()
    batched = evaluate.test_nll(model, params, x, batch_size=7)
    assert model.calls == [7, 7, 7, 4]
    np.testing.assert_allclose(batched, whole, rtol=1e-12)
    want = evaluate.nll_stats(Normal(params["mu"], np.ones(2)).log_prob(x))
    np.testing.assert_allclose(whole, want, rtol=1e-12)


def test_test_nll_passes_rng_and_kwargs_only_when_accepted():
    model = SamplingModel()
    nll, se = evaluate.test_nll(model, {}, np.zeros((10, 3)), rng=4, k=5, batch_size=4)
    assert (nll, se) == (5.0, 0.0)
    assert len(model.rngs) == 3 and all(r is model.rngs[0] for r in model.rngs)  # one stream for all batches
    assert isinstance(model.rngs[0], np.random.Generator)
    with pytest.raises(TypeError, match=r"^k: "):
        evaluate.test_nll(GaussianModel(3), {"mu": np.zeros(3)}, np.zeros((4, 3)), k=5)
    with pytest.raises(TypeError, match=r"^context: "):
        evaluate.test_nll(GaussianModel(3), {"mu": np.zeros(3)}, np.zeros((4, 3)), context=np.zeros((4, 1)))
    # a model without rng in its signature is called without one
    assert evaluate.test_nll(GaussianModel(1), {"mu": np.zeros(1)}, np.zeros((2, 1)), rng=3)[1] == 0.0


def test_test_nll_slices_the_context_with_x():
    x = np.random.default_rng(1).standard_normal((9, 2))
    c = x.copy()  # mean = the point itself: every log p = -log(2 pi)
    nll, se = evaluate.test_nll(ConditionalModel(), {}, x, context=c, batch_size=4)
    assert nll == pytest.approx(math.log(2 * math.pi)) and se == pytest.approx(0.0, abs=1e-12)


def test_kl_to_truth_known_gaussians():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20000, 2))
    truth = StandardNormal(2).log_prob
    assert evaluate.kl_to_truth(truth, truth, x) == (0.0, 0.0)
    mu = np.array([0.3, -0.4])
    kl, se = evaluate.kl_to_truth(Normal(mu, np.ones(2)).log_prob, truth, x)
    # KL(N(0, I) || N(mu, I)) = |mu|^2 / 2; the estimate is a mean, so 4 standard errors
    assert abs(kl - 0.5 * mu @ mu) < 4 * se


def test_grid_integral_of_standard_normal_is_one():
    # midpoint rule on a Gaussian: error far below 1e-10 once cells are < sigma / 2
    assert evaluate.grid_integral(StandardNormal(1).log_prob, (-9, 9), n=200) == pytest.approx(1.0, abs=1e-10)
    mass_2d = evaluate.grid_integral(StandardNormal(2).log_prob, ((-9, 9), (-9, 9)), n=100)
    assert mass_2d == pytest.approx(1.0, abs=1e-10)


def test_grid_integral_error_is_second_order():
    # int_0^1 3 x^2 dx = 1; the midpoint rule gives exactly 1 - h^2 / 4.
    def log_p(x):
        return np.log(3 * x[:, 0] ** 2)
    for n in (10, 20, 40):
        assert evaluate.grid_integral(log_p, (0.0, 1.0), n=n) == pytest.approx(1 - 0.25 / n ** 2, abs=1e-13)


@pytest.mark.parametrize("call, name", [
    (lambda: evaluate.nll_stats([]), "log_p"),
    (lambda: evaluate.nll_stats([[1.0, 2.0]]), "log_p"),
    (lambda: evaluate.nll_stats([-1.0, float("nan")]), "log_p"),
    (lambda: evaluate.bits_per_dim(1.0, 0), "dim"),
    (lambda: evaluate.grid_integral(StandardNormal(1).log_prob, (1.0, -1.0)), "bounds"),
    (lambda: evaluate.grid_integral(StandardNormal(1).log_prob, (0.0, 1.0, 2.0)), "bounds"),
    (lambda: evaluate.grid_integral(StandardNormal(1).log_prob, (-1.0, 1.0), n=0), "n"),
    (lambda: evaluate.grid_integral(lambda x: np.full(len(x), np.nan), (-1.0, 1.0)), "log_prob_fn"),
    (lambda: evaluate.test_nll(object(), {}, np.zeros((2, 1))), "model"),
    (lambda: evaluate.test_nll(GaussianModel(1), {"mu": np.zeros(1)}, np.zeros((2, 1)), batch_size=0),
     "batch_size"),
    (lambda: evaluate.test_nll(ConditionalModel(), {}, np.zeros((3, 1)), context=np.zeros((2, 1))), "context"),
    (lambda: evaluate.kl_to_truth(np.sum, np.sum, np.zeros((0, 2))), "x_from_truth"),
])
def test_bad_input_is_named(call, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{re.escape(name)}: "):
        call()
