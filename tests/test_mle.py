"""Likelihood heads: gradient descent recovers the closed-form MLE; conditioning on c helps; checks."""
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import functional as F
from tinygen.mle import CategoricalHead, NormalHead
from tinygen.testing.strategies import seeds


def sine_data(n, seed):
    """x | c ~ N(sin(3c), (0.1 + 0.2|c|)^2), c ~ U(-1, 1); returns c, x, and the exact E[H(p(x | c))]."""
    rng = onp.random.default_rng(seed)
    c = rng.uniform(-1, 1, size=(n, 1))
    sigma = 0.1 + 0.2 * onp.abs(c)
    x = onp.sin(3 * c) + sigma * rng.normal(size=(n, 1))
    return c, x, float(onp.mean(0.5 * onp.log(2 * onp.pi * onp.e * sigma**2)))


# ---- closed-form MLE ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_unconditional_normal_recovers_sample_mean_and_std(seed):
    x = onp.random.default_rng(seed).normal(2.0, 0.5, size=(50, 1))
    head = NormalHead(0)
    params, _ = tinygen.fit(head, head.init(0), x, steps=600, batch_size=50, lr=0.05, progress=False)
    mu, sigma = head.predict(params)
    # argmin (1/n) sum -log N(x_i; mu, sigma^2) = (mean, std with 1/n). Tolerance 1e-3 relative:
    # tight enough to tell the MLE's 1/n from the unbiased 1/(n-1) (1% apart at n = 50).
    assert mu[0, 0] == pytest.approx(x.mean(), abs=1e-3)
    assert sigma[0, 0] == pytest.approx(x.std(ddof=0), rel=1e-3)
    assert abs(sigma[0, 0] - x.std(ddof=1)) > 5e-3 * x.std(ddof=1)


@pytest.mark.parametrize("shape", [(300,), (300, 1)])
def test_unconditional_categorical_recovers_class_frequencies(shape):
    x = onp.random.default_rng(3).choice(4, size=300, p=[0.1, 0.2, 0.3, 0.4])
    head = CategoricalHead(0, 4)
    params, _ = tinygen.fit(head, head.init(0), x.reshape(shape), steps=600, batch_size=300, lr=0.05,
                            progress=False)
    w = head.predict(params)[0]
    # argmin -(1/n) sum log w_{x_i} over the simplex = the class frequencies n_k / n.
    # 2e-3 absolute: below one count in 300 (3.3e-3), so a miscounted class fails.
    onp.testing.assert_allclose(w, onp.bincount(x, minlength=4) / 300, atol=2e-3)


def test_unconditional_mle_gradient_is_zero_at_closed_form():
    # The exact statement behind the two tests above, without optimization error.
    x = onp.random.default_rng(0).normal(size=(40, 1))
    head = NormalHead(0)
    theta = {"out": onp.array([x.mean(), F.inv_softplus(x.std())])}
    onp.testing.assert_allclose(grad(head.loss)(theta, x)["out"], 0.0, atol=1e-12)
    labels = onp.array([0, 0, 1, 2, 2, 2])
    cat = CategoricalHead(0, 3)
    theta = {"out": onp.log(onp.bincount(labels) / 6)}
    onp.testing.assert_allclose(grad(cat.loss)(theta, labels)["out"], 0.0, atol=1e-12)


# ---- conditional heads --------------------------------------------------------------------


def test_conditional_normal_beats_unconditional_and_nears_true_entropy():
    c, x, _ = sine_data(400, seed=0)
    c_test, x_test, h_true = sine_data(2000, seed=1)
    cond, flat = NormalHead(1, hidden=(16,)), NormalHead(0)
    p_cond, _ = tinygen.fit(cond, cond.init(0), x, context=c, steps=1200, batch_size=100, lr=0.02, progress=False)
    p_flat, _ = tinygen.fit(flat, flat.init(0), x, steps=400, batch_size=100, lr=0.05, progress=False)
    nll_cond = float(cond.loss(p_cond, x_test, context=c_test))
    nll_flat = float(flat.loss(p_flat, x_test))
    # test NLL = E[H(p(x|c))] + E[KL(p(x|c) || p_theta(x|c))] >= h_true (up to sampling noise,
    # SE ~ 0.02 at 2000 points). The unconditional fit cannot follow sin(3c): its gap is > 1 nat;
    # the conditional one should get within 0.2 nat of the entropy.
    assert nll_flat - h_true > 1.0
    assert -0.1 < nll_cond - h_true < 0.2
    mu, sigma = cond.predict(p_cond, onp.array([[0.5]]))
    assert mu[0, 0] == pytest.approx(onp.sin(1.5), abs=0.15) and 0.1 < sigma[0, 0] < 0.4


def test_conditional_categorical_beats_unconditional():
    rng = onp.random.default_rng(0)
    c = rng.uniform(-1, 1, size=(400, 1))
    # p(x | c) = softmax(4c, 0, -4c): class 0 for c > 0, class 2 for c < 0
    w_true = F.softmax(onp.hstack([4 * c, 0 * c, -4 * c]))
    x = (rng.uniform(size=(400, 1)) > onp.cumsum(w_true, axis=1)).sum(axis=1)
    h_true = float(onp.mean(-onp.sum(w_true * onp.log(w_true), axis=1)))
    cond, flat = CategoricalHead(1, 3, hidden=(8,)), CategoricalHead(0, 3)
    p_cond, _ = tinygen.fit(cond, cond.init(0), x, context=c, steps=800, batch_size=100, lr=0.02, progress=False)
    p_flat, _ = tinygen.fit(flat, flat.init(0), x, steps=300, batch_size=100, lr=0.05, progress=False)
    nll_cond, nll_flat = float(cond.loss(p_cond, x, context=c)), float(flat.loss(p_flat, x))
    # the unconditional model pays H(mean w) - mean H(w) ~ 0.4 nat more; 0.2 leaves room for noise
    assert nll_cond < nll_flat - 0.2
    assert nll_cond < h_true + 0.1  # training NLL, so it may even dip below the entropy
    w = cond.predict(p_cond, onp.array([[-0.9], [0.9]]))
    assert w[0, 2] > 0.8 and w[1, 0] > 0.8  # the right class dominates at each end


# ---- shapes, sampling ---------------------------------------------------------------------


@settings(max_examples=20)
@given(st.integers(0, 3), st.integers(1, 6), seeds)
def test_shapes(context_dim, n, seed):
    c = onp.random.default_rng(seed).normal(size=(n, context_dim)) if context_dim else None
    for head in (NormalHead(context_dim, hidden=(4,)), CategoricalHead(context_dim, 3, hidden=(4,))):
        params = head.init(seed)
        x = head.sample(params, n, seed, context=c)
        assert x.shape == (n, 1)
        assert head.log_prob(params, x, context=c).shape == (n,)
        assert onp.ndim(head.loss(params, x, context=c)) == 0


def test_unconditional_init_is_uniform_and_standard():
    onp.testing.assert_allclose(CategoricalHead(0, 3).predict(CategoricalHead(0, 3).init(0)), [[1 / 3] * 3])
    mu, sigma = NormalHead(0).predict(NormalHead(0).init(0))
    onp.testing.assert_allclose([mu[0, 0], sigma[0, 0]], [0.0, 1.0], atol=1e-15)


@settings(max_examples=20)
@given(st.integers(1, 3), st.integers(1, 6), seeds)
def test_predict_shapes_and_positivity(context_dim, n, seed):
    c = onp.random.default_rng(seed).normal(size=(n, context_dim))
    mu, sigma = NormalHead(context_dim).predict(NormalHead(context_dim).init(seed), c)
    assert mu.shape == sigma.shape == (n, 1) and onp.all(sigma > 0)
    w = CategoricalHead(context_dim, 4).predict(CategoricalHead(context_dim, 4).init(seed), c)
    assert w.shape == (n, 4)
    onp.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


def test_samples_follow_the_predicted_distribution():
    head = NormalHead(0)
    params = {"out": onp.array([1.5, F.inv_softplus(0.3)])}
    x = head.sample(params, 20_000, 0)
    # 5 standard errors (sigma / sqrt(n) for the mean), as in test_distributions
    assert x.mean() == pytest.approx(1.5, abs=5 * 0.3 / onp.sqrt(20_000))
    cat = CategoricalHead(0, 3)
    labels = cat.sample({"out": onp.log(onp.array([0.2, 0.3, 0.5]))}, 20_000, 0)
    freq = onp.bincount(labels.ravel(), minlength=3) / 20_000
    onp.testing.assert_allclose(freq, [0.2, 0.3, 0.5], atol=5 * onp.sqrt(0.25 / 20_000))


def test_one_context_row_is_repeated_and_same_seed_same_samples():
    head = NormalHead(2, hidden=(4,))
    params = head.init(0)
    x1 = head.sample(params, 5, 7, context=onp.ones((1, 2)))
    x2 = head.sample(params, 5, 7, context=onp.ones((5, 2)))
    onp.testing.assert_array_equal(x1, x2)


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: NormalHead(-1), ValueError, "context_dim"),
        (lambda: NormalHead(1.5), TypeError, "context_dim"),
        (lambda: NormalHead(1, hidden=(0,)), ValueError, r"hidden\[0\]"),
        (lambda: NormalHead(1, hidden="wide"), TypeError, "hidden"),
        (lambda: NormalHead(1, activation="sine"), ValueError, "activation"),
        (lambda: CategoricalHead(1, 1), ValueError, "n_classes"),
    ],
)
def test_bad_construction(make, error, name):
    with pytest.raises(error, match=rf"^{name}: "):
        make()


NH, CH = NormalHead(1, hidden=(4,)), CategoricalHead(1, 3, hidden=(4,))
C3 = onp.zeros((3, 1))


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: NH.log_prob(NH.init(0), onp.zeros((3, 2)), context=C3), ValueError, "x"),
        (lambda: NH.log_prob(NH.init(0), onp.zeros(3), context=C3), ValueError, "x"),
        (lambda: NH.log_prob(NH.init(0), onp.full((3, 1), onp.nan), context=C3), ValueError, "x"),
        (lambda: NH.log_prob(NH.init(0), onp.zeros((3, 1))), ValueError, "context"),
        (lambda: NH.log_prob(NH.init(0), onp.zeros((3, 1)), context=onp.zeros((2, 1))), ValueError, "context"),
        (lambda: NH.log_prob(NH.init(0), onp.zeros((3, 1)), context=onp.zeros((3, 2))), ValueError, "context"),
        (lambda: NormalHead(0).log_prob(NormalHead(0).init(0), onp.zeros((3, 1)), context=C3), ValueError,
         "context"),
        (lambda: CH.log_prob(CH.init(0), onp.array([0, 1, 3]), context=C3), ValueError, "x"),
        (lambda: CH.log_prob(CH.init(0), onp.array([0, 1, 0.5]), context=C3), ValueError, "x"),
        (lambda: CH.log_prob(CH.init(0), onp.zeros((3, 2)), context=C3), ValueError, "x"),
        (lambda: CH.sample(CH.init(0), 0, 0, context=C3), ValueError, "n"),
        (lambda: CH.sample(CH.init(0), 3, "seed", context=C3), TypeError, "rng"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=rf"^{name}: "):
        call()
