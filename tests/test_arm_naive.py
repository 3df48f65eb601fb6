"""The naive ARM: D networks, D passes, a normalized density, and the MADE D-pass helper."""
import itertools

import autograd
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.arm import MADE, NaiveARM, sequential_log_prob
from tinygen.testing.strategies import seeds

small_dims = st.integers(min_value=1, max_value=5)


@settings(max_examples=20)
@given(dim=small_dims, seed=seeds, likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]))
def test_conditional_d_reads_only_the_inputs_before_it(dim, seed, likelihood):
    arm = NaiveARM(dim, hidden=(6,), likelihood=likelihood, n_classes=3 if likelihood == "categorical" else None,
                   order="random", rng=seed, activation="tanh")
    rng = onp.random.default_rng(seed)
    params = arm.init(rng)
    x = rng.standard_normal((1, dim))
    J = autograd.jacobian(lambda v: arm.outputs(params, v))(x)[0, :, :, 0, :]  # (P, D_out, D_in)
    pos = onp.argsort(arm.order)
    for d in range(dim):
        earlier = pos < pos[d]
        assert onp.all(J[:, d, ~earlier] == 0)  # network for d never sees those inputs
        assert onp.all(onp.any(J[:, d, earlier] != 0, axis=0))  # tanh: it reads all the others


@settings(max_examples=15)
@given(dim=st.integers(1, 8), seed=seeds, context=st.booleans())
def test_bernoulli_naive_arm_sums_to_one_and_counts_d_passes(dim, seed, context):
    arm = NaiveARM(dim, hidden=(5,), likelihood="bernoulli", order="random", rng=seed,
                   context_dim=1 if context else 0)
    params = arm.init(seed)
    X = onp.array(list(itertools.product([0, 1], repeat=dim)), dtype=float)
    c = onp.full((1, 1), 0.7) if context else None
    arm.n_passes = 0
    total = onp.exp(arm.log_prob(params, X, c)).sum()
    assert arm.n_passes == dim  # one pass per conditional: the lecture's ":-("
    assert abs(total - 1.0) < 1e-9  # <= 256 positive terms: rounding only


@settings(max_examples=10)
@given(dim=st.integers(1, 3), seed=seeds)
def test_categorical_naive_arm_sums_to_one(dim, seed):
    arm = NaiveARM(dim, hidden=(5,), likelihood="categorical", n_classes=4, rng=seed)
    X = onp.array(list(itertools.product(range(4), repeat=dim)), dtype=float)
    assert abs(onp.exp(arm.log_prob(arm.init(seed), X)).sum() - 1.0) < 1e-9  # <= 64 terms


@settings(max_examples=10)
@given(dim=small_dims, seed=seeds)
def test_sampling_takes_d_batched_passes(dim, seed):
    arm = NaiveARM(dim, hidden=(5,), order="random", rng=seed)
    params = arm.init(seed)
    arm.n_passes = 0
    x = arm.sample(params, 40, seed)
    assert arm.n_passes == dim and x.shape == (40, dim)
    assert onp.all(onp.isfinite(arm.log_prob(params, x)))


def test_gaussian_marginal_of_the_first_coordinate_is_its_conditional():
    # p(x_{o_1}) is N(mu, sigma^2) with constant parameters: the sample mean and standard
    # deviation of 20000 draws match them within 5 standard errors.
    arm = NaiveARM(3, hidden=(4,), order=[1, 2, 0])
    params = arm.init(0)
    # the first conditional's net has no input, so its output is a constant: with the last
    # layer's W at 0 that constant is the last bias, mu = 0.8, rho = 0.3
    params[0][-1]["W"] = 0.0 * params[0][-1]["W"]
    params[0][-1]["b"] = onp.array([0.8, 0.3])
    mu, sigma = 0.8, onp.log1p(onp.exp(0.3))
    x = arm.sample(params, 20000, 1)[:, 1]
    assert abs(x.mean() - mu) < 5 * sigma / onp.sqrt(20000)
    assert abs(x.std() - sigma) < 5 * sigma / onp.sqrt(2 * 20000)


def test_sequential_helper_detects_a_non_autoregressive_network():
    # Breaking MADE's output mask makes output d read x_d itself: the one-pass log-prob
    # then differs from the honest D-pass evaluation, so the equality test has teeth.
    made = MADE(3, hidden=(6,), activation="tanh")
    params = made.init(0)
    x = onp.random.default_rng(0).standard_normal((5, 3))
    onp.testing.assert_allclose(made.log_prob(params, x), sequential_log_prob(made, params, x), atol=1e-12)
    made.net.masks[-1] = onp.ones_like(made.net.masks[-1])
    assert onp.max(onp.abs(made.log_prob(params, x) - sequential_log_prob(made, params, x))) > 1e-3


def test_bad_input_raises_naming_the_argument():
    arm = NaiveARM(2, likelihood="bernoulli")
    params = arm.init(0)
    with pytest.raises(ValueError, match=r"^x: "):
        arm.log_prob(params, onp.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match=r"^x: "):
        arm.log_prob(params, onp.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"^order: "):
        NaiveARM(3, order=[2, 2, 0])
    with pytest.raises(ValueError, match=r"^likelihood: "):
        NaiveARM(3, likelihood="laplace")
    with pytest.raises(ValueError, match=r"^context: "):
        NaiveARM(2, context_dim=1).sample(NaiveARM(2, context_dim=1).init(0), 4, 0)
