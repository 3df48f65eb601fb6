"""The EBM and GAN recipes: they build, train a few steps, and their extra pieces hold their formulas.

Quality figures (gaps, coverage) are measured in benchmarks/bench_ebm_gan.py, never here.
"""
import dataclasses

import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from test_ebm import QuadraticEBM, gaussian, truncated_gaussian_log_z

from tinygen.data import two_moons
from tinygen.ebm import EBM
from tinygen.flows import RealNVP
from tinygen.gan import GAN
from tinygen.recipe_kinds import quadrature_nll
from tinygen.recipes import RECIPES, EBMRecipe, GANRecipe, Recipe
from tinygen.testing.strategies import seeds

X = two_moons(300, rng=0)


@pytest.mark.parametrize("key", ["ebm", "ebm_quadrature"])
def test_ebm_recipes_train_a_few_steps(key):
    recipe = RECIPES[key]
    assert isinstance(recipe, EBMRecipe) and isinstance(recipe, Recipe)
    model, params, history = recipe.train(X, rng=0, steps=3)
    assert isinstance(model, EBM) and len(history["loss"]) == 3
    assert ("pretrain" in history) == bool(recipe.pretrain)
    log_p = model.log_prob(params, X[:10])
    assert log_p.shape == (10,) and onp.all(onp.isfinite(log_p))
    again = recipe.train(X, rng=0, steps=3)[1]  # same seed, same numbers
    assert all(onp.array_equal(a["W"], b["W"]) for a, b in zip(params, again))


@pytest.mark.parametrize("key, kind", [("gan", GAN), ("flow_gan", RealNVP)])
def test_gan_recipes_train_a_few_steps(key, kind):
    recipe = RECIPES[key]
    assert isinstance(recipe, GANRecipe)
    model, params, history = recipe.train(X, rng=1, steps=3)
    assert isinstance(model, kind) and set(params) == {"generator", "discriminator"}
    assert history["step"] == [1, 2, 3] and onp.all(onp.isfinite(history["loss_g"]))
    draws = model.sample(params if kind is GAN else params["generator"], 7, 0)
    assert draws.shape == (7, 2) and onp.all(onp.isfinite(draws))


@pytest.mark.parametrize("sigma", [0.3, 0.7])
def test_quadrature_nll_is_the_mean_energy_plus_log_z(sigma):
    model, params = gaussian(sigma)
    nll = quadrature_nll(model, panel_width=0.25)(params, X)
    # 8-point Gauss-Legendre on panels of 0.25 <= sigma: a Gaussian integrand is exact to ~1e-9 there
    assert abs(nll - (onp.mean(model.energy(params, X)) + truncated_gaussian_log_z(sigma, model.box))) < 1e-8


def test_quadrature_gradient_is_e_data_minus_e_model_of_the_statistics():
    # E = theta . T(x): grad_theta NLL = E_data[T] - E_p[T]; for the Gaussian N(0, s^2 I) on the box,
    # E_p[x] = 0 and E_p[x^2] = s^2 up to the box's truncation (below 1e-6 at s = 0.3)
    model, params = gaussian(0.3)
    g = grad(quadrature_nll(model, panel_width=0.25))(params, X)["theta"]
    t = model.statistics(X).mean(0)
    assert onp.allclose(g, t - onp.array([0.0, 0.0, 0.09, 0.09]), atol=1e-6)


@settings(max_examples=10)
@given(seeds)
def test_the_shifted_rule_is_exact_on_a_gaussian_whatever_the_shift(seed):
    # the rule moves at every call, but each placement is a rule on the whole box: on a Gaussian
    # (sigma 0.3 >= panel 0.25, as above) every draw of the offset gives the closed form to 1e-8
    model, params = gaussian(0.3)
    nll = quadrature_nll(model, panel_width=0.25, shifted=True)(params, X, seed)
    assert abs(nll - (onp.mean(model.energy(params, X)) + truncated_gaussian_log_z(0.3, model.box))) < 1e-8


def test_the_shifted_rule_moves_its_nodes():
    # on the 0.05-wide bump a 0.5-wide rule is off, by an amount that depends on where its nodes fall
    model = SharpGaussian(2)
    nll = quadrature_nll(model, panel_width=0.5, shifted=True)
    values = {float(nll(model.init(0), X, seed)) for seed in range(3)}
    assert len(values) == 3


class SharpGaussian(QuadraticEBM):
    """E(x) = |x|^2 / (2 sigma^2) with sigma = 0.05 from init: narrower than a coarse rule's nodes."""

    def init(self, rng):
        return gaussian(0.05)[1]


def test_the_quadrature_recipe_trains_on_its_own_panel_width():
    # with the whole set as the batch, the first recorded loss is E_data[E_theta] + log Z_theta by the
    # recipe's rule at the init; two widths give two rules, and each run must use its own
    model = SharpGaussian(2)
    expected = {}
    for width in (0.1, 5.0):
        recipe = dataclasses.replace(RECIPES["ebm_quadrature"], build=lambda: SharpGaussian(2), panel_width=width,
                                     shifted=False)
        history = recipe.train(X, rng=0, steps=1, batch_size=len(X))[2]
        expected[width] = quadrature_nll(model, panel_width=width)(model.init(0), X)
        # the same sums over a permuted batch: equal up to rounding
        assert abs(history["loss"][0] - expected[width]) < 1e-8 * abs(expected[width])
    assert abs(expected[0.1] - expected[5.0]) > 1.0  # 8 nodes across the box miss a 0.05-wide bump


def test_wrong_options_name_their_argument():
    with pytest.raises(ValueError, match=r"^gradient"):
        dataclasses.replace(RECIPES["ebm"], gradient="exact").train(X, steps=1)
    with pytest.raises(ValueError, match=r"^steps"):
        RECIPES["gan"].train(X, steps=0)
    with pytest.raises(ValueError, match=r"^model"):
        quadrature_nll(EBM(1, box=[(-1.0, 1.0)]))
    with pytest.raises(ValueError, match=r"^panel_width"):
        quadrature_nll(EBM(2), panel_width=-1.0)
