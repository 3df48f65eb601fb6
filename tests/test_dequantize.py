"""Dequantization: the bounds on the discrete log-likelihood, checked by enumeration; bits per dimension."""
import itertools
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from tinygen import dequantize, evaluate
from tinygen.dequantize import Dequantized, VariationalDequantizer, uniform_dequantize
from tinygen.flows import ElementwiseAffine, FlowModel, Uniform
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds

K, D = 2, 4                                                    # 2 grey levels, a 2 x 2 image
IMAGES = np.array(list(itertools.product(range(K), repeat=D)), dtype=float)  # all K^D = 16 images
N_MC = 4000      # draws of u per image for the Monte Carlo bounds
N_SE = 5.0       # a Monte Carlo mean is held to 5 standard errors: a false alarm has odds ~1e-6 per image


def gaussian_model(log_a, b):
    """y_d ~ N(b_d, a_d^2) independently: y = a z + b, z ~ N(0, I), a product of simple densities."""
    return FlowModel(ElementwiseAffine(D)), {"log_a": np.asarray(log_a, float), "b": np.asarray(b, float)}


def exact_log_P(params, x):
    """log P(x) = sum_d log integral over the cell [x_d / K, (x_d + 1) / K) of N(y; b_d, a_d^2) dy."""
    a, b = np.exp(params["log_a"]), params["b"]
    return np.sum(np.log(ndtr(((x + 1) / K - b) / a) - ndtr((x / K - b) / a)), axis=1)


def exact_uniform_bound(params, x):
    """E_u[log N((x + u) / K; b, a^2)] - D log K in closed form: y is uniform on a cell of width 1/K,
    E[(y - b)^2] = (mean - b)^2 + (1/K)^2 / 12."""
    a, b = np.exp(params["log_a"]), params["b"]
    second_moment = ((x + 0.5) / K - b) ** 2 + 1.0 / (12 * K ** 2)
    log_n = -0.5 * math.log(2 * math.pi) - np.log(a) - second_moment / (2 * a ** 2)
    return np.sum(log_n, axis=1) - D * math.log(K)


def mc_bound(model, params, rng):
    """(mean, standard error) over N_MC draws of u of the bound per image, shapes (16,)."""
    draws = model.log_prob(params, np.repeat(IMAGES, N_MC, axis=0), rng).reshape(len(IMAGES), N_MC)
    return draws.mean(axis=1), draws.std(axis=1, ddof=1) / math.sqrt(N_MC)


@settings(max_examples=10)
@given(st.lists(st.floats(-1.5, 0.5), min_size=D, max_size=D), st.lists(st.floats(-0.5, 1.5), min_size=D,
                                                                       max_size=D), seeds)
def test_uniform_bound_by_enumeration(log_a, b, seed):
    flow_model, p = gaussian_model(log_a, b)
    log_P = exact_log_P(p, IMAGES)
    assert np.exp(log_P).sum() <= 1.0 + 1e-12            # the 16 cells hold at most all the mass
    exact = exact_uniform_bound(p, IMAGES)
    assert np.all(exact < log_P)                          # Jensen, strict: log p is not constant on a cell
    mean, se = mc_bound(Dequantized(flow_model, K), {"model": p, "dequantizer": {}}, seed)
    assert np.all(np.abs(mean - exact) <= N_SE * se)      # the code computes that bound ...
    assert np.all(mean <= log_P + N_SE * se)              # ... so it stays below the discrete log P(x)


@settings(max_examples=5)
@given(seeds)
def test_variational_bound_by_enumeration(seed):
    flow_model, p = gaussian_model([-0.7, 0.2, -1.0, 0.0], [0.3, 0.9, -0.2, 0.5])
    q = VariationalDequantizer(D, K, n_layers=2, hidden=(8,))
    params = {"model": p, "dequantizer": perturb(q.init(seed), seed, scale=1.0)}  # away from the identity
    mean, se = mc_bound(Dequantized(flow_model, K, q), params, seed)
    assert np.all(mean <= exact_log_P(p, IMAGES) + N_SE * se)


@given(seeds)
@example(seed=804)  # a saturated sigmoid: h > 36.7 rounds sigmoid(h) to 1 in float64; u must stay below 1
def test_variational_log_q_is_the_change_of_variables(seed):
    """log q(u | x) = log N(eps) - log|det du/deps|, with du/deps from autograd."""
    q = VariationalDequantizer(D, K, n_layers=2, hidden=(8,))
    params = perturb(q.init(seed), seed, scale=1.0)
    x = IMAGES[[3, 12]]
    u, log_q = q.sample(params, x, seed)
    eps = np.random.default_rng(seed).standard_normal(x.shape)  # the draws q.sample made from that seed
    assert np.all((u > 0) & (u < 1))
    for i in range(len(x)):
        J = autograd.jacobian(lambda e: _u_of_eps(q, params, x[i:i + 1], e))(eps[i])
        expected = -0.5 * eps[i] @ eps[i] - 0.5 * D * math.log(2 * math.pi) - np.linalg.slogdet(J)[1]
        assert log_q[i] == pytest.approx(expected, rel=1e-9, abs=1e-9)   # float64 round-off only


def _u_of_eps(q, params, x, eps):
    """u = sigmoid(f(eps; c)) for one image, written out again from the docstring."""
    h, _ = q.flow.forward(params, eps[None], context=x / K - 0.5)
    return 1.0 / (1.0 + anp.exp(-h[0]))


@given(st.integers(2, 17), st.integers(1, 6), seeds)
def test_bits_per_dim_of_a_model_that_ignores_its_input_is_log2_K(levels, dim, seed):
    uniform = FlowModel(ElementwiseAffine(dim), base=Uniform(0.0, 1.0, dim))  # p(y) = 1 on [0, 1]^D
    params = {"model": {"log_a": np.zeros(dim), "b": np.zeros(dim)}, "dequantizer": {}}
    x = np.random.default_rng(seed).integers(0, levels, size=(20, dim))
    nll, _ = evaluate.test_nll(Dequantized(uniform, levels), params, x, rng=seed)
    # exact here: log p = 0 for every u, so the bound is -D log K whatever u is drawn
    assert dequantize.bits_per_dim(nll, dim) == pytest.approx(math.log2(levels), rel=1e-12)


def test_variational_bound_of_a_uniform_model_is_below_the_uniform_one():
    """For p uniform, the variational bound is -D log K - E_q[log q(u|x)] = -D log K - KL(q || U) <= -D log K."""
    uniform = FlowModel(ElementwiseAffine(D), base=Uniform(0.0, 1.0, D))
    q = VariationalDequantizer(D, K, n_layers=2, hidden=(8,))
    params = {"model": {"log_a": np.zeros(D), "b": np.zeros(D)}, "dequantizer": perturb(q.init(0), 1)}
    mean, se = mc_bound(Dequantized(uniform, K, q), params, 0)
    assert np.all(mean + N_SE * se < -D * math.log(K))


def test_training_signal_reaches_both_parts_and_samples_are_levels():
    flow_model, p = gaussian_model(np.zeros(D), np.full(D, 0.5))
    model = Dequantized(flow_model, K, VariationalDequantizer(D, K, hidden=(8,)))
    params = model.init(0)
    params["model"] = p
    params["dequantizer"] = perturb(params["dequantizer"], 0)
    grad = autograd.grad(model.loss)(params, IMAGES, 0)
    assert np.linalg.norm(grad["model"]["b"]) > 0
    assert np.linalg.norm(grad["dequantizer"][0]["conditioner"][0]["W"]) > 0
    x = model.sample(params, 50, 0)
    assert x.shape == (50, D) and x.dtype == np.int64 and set(np.unique(x)) <= set(range(K))


def test_uniform_dequantize_stays_in_its_cell():
    y = uniform_dequantize(IMAGES, K, 0)
    assert np.all((y >= IMAGES / K) & (y < (IMAGES + 1) / K))


@pytest.mark.parametrize("call, name", [
    (lambda m, p: m.log_prob(p, IMAGES + K), "x"),                # a level out of range
    (lambda m, p: m.log_prob(p, IMAGES + 0.5), "x"),              # not integer levels
    (lambda m, p: m.log_prob(p, IMAGES[:, :3]), "x"),             # wrong D
    (lambda m, p: m.log_prob(p, IMAGES, n_samples=0), "n_samples"),
    (lambda m, p: Dequantized(m.model, 1), "levels"),
    (lambda m, p: Dequantized(object(), K), "model"),
    (lambda m, p: Dequantized(m.model, K, VariationalDequantizer(D, K + 1)), "dequantizer"),
    (lambda m, p: uniform_dequantize(IMAGES, 1, 0), "levels"),
])
def test_bad_arguments_are_named(call, name):
    flow_model, p = gaussian_model(np.zeros(D), np.zeros(D))
    with pytest.raises((ValueError, TypeError), match=rf"^{name}"):
        call(Dequantized(flow_model, K), {"model": p, "dequantizer": {}})
