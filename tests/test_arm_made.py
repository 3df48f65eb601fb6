"""MADE: the autoregressive property, exact normalization, one pass == D passes, errors."""
import itertools

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.arm import MADE, sequential_log_prob
from tinygen.testing import check_autoregressive, check_normalized
from tinygen.testing.spy import count_calls
from tinygen.testing.strategies import seeds

small_dims = st.integers(min_value=1, max_value=5)


def _made(dim, seed, likelihood="gaussian", context_dim=0, n_masks=1, direct=False, activation="tanh",
          hidden_extra=3):
    # Hidden layers just large enough to carry every degree (dim + context), plus a few random units.
    h = dim + (context_dim > 0) + hidden_extra
    return MADE(dim, hidden=(h, h), likelihood=likelihood, n_classes=3 if likelihood == "categorical" else None,
                order="random", context_dim=context_dim, rng=seed, n_masks=n_masks, direct=direct,
                activation=activation)


def _randomize(params, rng):
    """Non-zero weights everywhere (the direct path starts at zero)."""
    if "direct" in params:
        params["direct"] = rng.standard_normal(params["direct"].shape)
    return params


def outputs_by_position(made, params, context=None):
    """MADE's raw outputs (n, P, D) as (n, D, P): axis 1 the position, as check_autoregressive reads it."""
    return lambda v: anp.transpose(made.outputs(params, v, context), (0, 2, 1))


@settings(max_examples=30)
@given(dim=small_dims, seed=seeds, direct=st.booleans(), activation=st.sampled_from(["tanh", "relu"]),
       likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]))
def test_output_d_depends_exactly_on_the_inputs_before_d(dim, seed, direct, activation, likelihood):
    made = _made(dim, seed, likelihood, direct=direct, activation=activation)
    rng = onp.random.default_rng(seed)
    params = _randomize(made.init(rng), rng)
    # Masked weights are multiplied by exactly 0, so forbidden derivatives are exactly 0 (the
    # kit's tolerance). tanh never switches a unit off (relu may), and every degree has a unit,
    # so with tanh output d also reads every earlier input (zero only on a measure-zero set).
    check_autoregressive(outputs_by_position(made, params), dim, made.order, rng=rng,
                         full=activation == "tanh").assert_ok()


@settings(max_examples=20)
@given(dim=small_dims, seed=seeds)
def test_conditional_made_every_output_reads_the_context(dim, seed):
    made = _made(dim, seed, context_dim=2)
    rng = onp.random.default_rng(seed)
    params = made.init(rng)
    x, c = rng.standard_normal((1, dim)), rng.standard_normal((1, 2))
    check_autoregressive(outputs_by_position(made, params, c), dim, made.order, x=x).assert_ok()
    # Every output, the first in the ordering included, depends on every context entry.
    Jc = autograd.jacobian(lambda v: made.outputs(params, x, v))(c)[0, :, :, 0, :]
    assert onp.all(Jc != 0)


@settings(max_examples=25)
@given(dim=small_dims, seed=seeds, context=st.booleans(), direct=st.booleans(),
       likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]))
def test_one_pass_log_prob_equals_d_pass_evaluation(dim, seed, context, direct, likelihood):
    made = _made(dim, seed, likelihood, context_dim=2 if context else 0, direct=direct, activation="relu")
    rng = onp.random.default_rng(seed)
    params = _randomize(made.init(rng), rng)
    n = 7
    x = {"gaussian": rng.standard_normal((n, dim)), "bernoulli": rng.integers(0, 2, (n, dim)).astype(float),
         "categorical": rng.integers(0, 3, (n, dim)).astype(float)}[likelihood]
    c = rng.standard_normal((n, 2)) if context else None
    with count_calls(made, "outputs") as passes:
        one = made.log_prob(params, x, c)
    assert passes.count == 1
    with count_calls(made, "outputs") as passes:
        seq = sequential_log_prob(made, params, x, c)
    assert passes.count == dim
    # The hidden inputs only ever meet masked (exactly 0) weights, so the two agree to
    # rounding of O(10) log-probabilities: 1e-12 absolute.
    onp.testing.assert_allclose(one, seq, rtol=0, atol=1e-12)


@settings(max_examples=15)
@given(dim=st.integers(1, 10), seed=seeds, n_masks=st.sampled_from([1, 3]), context=st.booleans())
def test_bernoulli_made_sums_to_one_over_all_binary_vectors(dim, seed, n_masks, context):
    made = _made(dim, seed, "bernoulli", context_dim=2 if context else 0, n_masks=n_masks, direct=True)
    rng = onp.random.default_rng(seed)
    params = _randomize(made.init(rng), rng)
    c = rng.standard_normal((1, 2)) if context else None
    # A sum of 2^D <= 1024 positive terms, each with relative error ~1e-15: the kit's 1e-9 is ample.
    check_normalized(lambda x: made.log_prob(params, x, c), dim=dim, support="binary").assert_ok()


@settings(max_examples=15)
@given(dim=st.integers(1, 4), seed=seeds, n_masks=st.sampled_from([1, 2]))
def test_categorical_made_sums_to_one_over_all_k_d_vectors(dim, seed, n_masks):
    made = _made(dim, seed, "categorical", n_masks=n_masks)
    params = made.init(seed)
    # 3^D <= 81 terms: rounding only, the kit's 1e-9
    check_normalized(lambda x: made.log_prob(params, x), dim=dim, support="categorical", n_classes=3).assert_ok()


@settings(max_examples=10)
@given(seed=seeds, n_masks=st.sampled_from([1, 2]))
def test_gaussian_made_integrates_to_one_in_2d(seed, n_masks):
    made = MADE(2, hidden=(8,), order="random", rng=seed, n_masks=n_masks, activation="tanh")
    params = made.init(seed)
    # Bound every raw output: tanh units are in (-1, 1), so |output| <= sum_k |W_k| <= 1,
    # hence |mu| <= 1 and sigma = softplus(rho) in [0.31, 1.32].
    W = params["net"][-1]["W"]
    params["net"][-1]["W"] = W / onp.abs(W).sum(axis=0, keepdims=True)
    # Midpoint rule on [-12, 12]^2, cells of width h = 0.05 (and 0.1 for the kit's convergence row).
    # Mass outside the box: |x - mu| > 11 >= 8 sigma, < 1e-14. The midpoint rule on a smooth,
    # Gaussian-decaying integrand errs by ~exp(-2 pi^2 sigma^2 / h^2) < 1e-80 at h = 0.1: 1e-8 is safe.
    check_normalized(lambda x: made.log_prob(params, x), dim=2, bounds=((-12, 12), (-12, 12)), n=480,
                     atol=1e-8).assert_ok()


@settings(max_examples=15)
@given(dim=small_dims, seed=seeds, likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]))
def test_sampling_takes_d_batched_passes(dim, seed, likelihood):
    made = _made(dim, seed, likelihood, context_dim=1)
    params = made.init(seed)
    with count_calls(made, "outputs") as passes:
        x = made.sample(params, 50, seed, context=onp.ones((1, 1)))
    assert passes.count == dim  # D passes, not D * n
    assert x.shape == (50, dim)
    assert onp.all(onp.isfinite(made.log_prob(params, x, onp.ones((50, 1)))))


def _all_vectors(K, D):
    return onp.array(list(itertools.product(range(K), repeat=D)), dtype=float)


def test_bernoulli_samples_follow_the_model():
    # 20000 samples from a fixed 3-bit MADE: the empirical frequencies of the 8 patterns
    # match p(x) within 5 binomial standard errors (sqrt(p (1 - p) / n) <= 0.0036).
    made = MADE(3, hidden=(6,), likelihood="bernoulli", order=[2, 0, 1], activation="tanh")
    params = made.init(1)
    params["net"][-1]["W"] *= 3.0
    X = _all_vectors(2, 3)
    p = onp.exp(made.log_prob(params, X))
    x = made.sample(params, 20000, 0)
    freq = onp.array([onp.mean(onp.all(x == v, axis=1)) for v in X])
    assert onp.all(onp.abs(freq - p) < 5 * onp.sqrt(p * (1 - p) / 20000))


def test_mask_ensemble_precomputes_masks_and_trains_one_set_per_call():
    made = MADE(4, hidden=(8,), likelihood="bernoulli", order="random", n_masks=4, rng=0)
    assert len({tuple(o) for o in made.orders}) > 1  # different orderings were drawn
    params = made.init(0)
    x = onp.array([[0, 1, 1, 0], [1, 1, 0, 0]], dtype=float)
    with count_calls(made, "outputs") as passes:
        made.loss(params, x, rng=0)
    assert passes.count == 1  # one mask set per training step
    with count_calls(made, "outputs") as passes:
        made.log_prob(params, x)
    assert passes.count == 4  # the mixture evaluates every set
    # Mixture, not averaged logits: log p = logsumexp_e log p_e - log E.
    logs = onp.stack([made._log_prob_e(params, x, None, e) for e in range(4)])
    expect = onp.log(onp.mean(onp.exp(logs), axis=0))
    onp.testing.assert_allclose(made.log_prob(params, x), expect, rtol=1e-12)


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match=r"^hidden: "):
        MADE(6, hidden=(4,))  # 4 units cannot carry the 5 degrees 1..5
    with pytest.raises(ValueError, match=r"^hidden: "):
        MADE(3, hidden=(8, 2), context_dim=1)  # with c: degrees 0..2 need 3 units
    with pytest.raises(ValueError, match=r"^order: "):
        MADE(3, order=[0, 0, 1])
    with pytest.raises(ValueError, match=r"^order: "):
        MADE(3, order=[0, 1])
    with pytest.raises(ValueError, match=r"^order: "):
        MADE(3, order="sorted")
    with pytest.raises(ValueError, match=r"^likelihood: "):
        MADE(3, likelihood="poisson")
    with pytest.raises(TypeError, match=r"^n_classes: "):
        MADE(3, likelihood="categorical")
    made = MADE(3, hidden=(4,), likelihood="bernoulli")
    params = made.init(0)
    with pytest.raises(ValueError, match=r"^x: "):
        made.log_prob(params, onp.array([[0.0, 0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"^x: "):
        made.log_prob(params, onp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"^context: "):
        made.log_prob(params, onp.zeros((2, 3)), context=onp.zeros((2, 1)))
    cat = MADE(2, hidden=(4,), likelihood="categorical", n_classes=3)
    with pytest.raises(ValueError, match=r"^x: "):
        cat.log_prob(cat.init(0), onp.array([[0.0, 3.0]]))
    cond = MADE(2, hidden=(4,), context_dim=2)
    with pytest.raises(ValueError, match=r"^context: "):
        cond.sample(cond.init(0), 3, 0)
