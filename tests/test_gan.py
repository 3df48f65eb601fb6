"""GANs: the losses, the optimal discriminator and V(D*, G) = 2 JS - log 4, alternating training, judging samples."""
import math

import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.data import eight_gaussians, moons, two_moons, two_moons_log_prob
from tinygen.flows import RealNVP
from tinygen.functional import softplus
from tinygen.optim import NonFiniteLossError
from tinygen.gan import (GAN, Discriminator, coverage, discriminator_loss, fit_gan, generator_loss, js_divergence,
                         optimal_logit, sample_quality, value_function)


def log_gauss(mu, s):
    mu = onp.asarray(mu, dtype=float)
    return lambda x: -onp.sum((x - mu) ** 2, axis=1) / (2 * s ** 2) - math.log(2 * math.pi * s ** 2)


BOX = ((-8.0, 8.0), (-8.0, 8.0))  # holds N(mu, s^2 I), |mu| <= 2, s <= 0.8, but for 7.5 s: 1e-13 of its mass


def test_gan_structure_and_shapes():
    model = GAN(2, latent_dim=3, hidden=(16,))
    params = model.init(0)
    assert set(params) == {"generator", "discriminator"}
    x = model.sample(params, 50, 1)
    assert x.shape == (50, 2)
    assert onp.array_equal(x, model.sample(params, 50, 1))  # same seed, same numbers
    d = model.discriminator(params, x)
    assert d.shape == (50,) and onp.all((d > 0) & (d < 1))
    assert onp.allclose(onp.log(d), -softplus(-model.discriminator_logit(params, x)), atol=1e-12)


@settings(max_examples=30)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=5), st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=5))
def test_losses_are_their_formulas_and_finite_at_large_logits(real, fake):
    real, fake = onp.array(real), onp.array(fake)
    # -V = -E log sigma(l_real) - E log(1 - sigma(l_fake)) = E softplus(-l_real) + E softplus(l_fake)
    assert onp.isclose(discriminator_loss(real, fake), softplus(-real).mean() + softplus(fake).mean(), rtol=1e-12)
    assert onp.isclose(generator_loss(fake, "minimax"), -softplus(fake).mean(), rtol=1e-12)          # E log(1 - D)
    assert onp.isclose(generator_loss(fake, "non_saturating"), softplus(-fake).mean(), rtol=1e-12)   # -E log D
    assert onp.isfinite(discriminator_loss(real, fake))


def test_discriminator_loss_at_an_undecided_discriminator_is_log_4():
    assert math.isclose(discriminator_loss(onp.zeros(3), onp.zeros(4)), math.log(4), rel_tol=1e-14)


@settings(max_examples=8)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.3, 0.8), st.floats(0.3, 0.8))
def test_value_at_the_optimal_discriminator_is_twice_js_minus_log_4(a, b, s_p, s_q):
    log_p, log_q = log_gauss([a, 0.0], s_p), log_gauss([0.0, b], s_q)
    v = value_function(optimal_logit(log_p, log_q), log_p, log_q, BOX)
    js = js_divergence(log_p, log_q, BOX)
    # two independent quadratures of smooth integrands on 64 panels of 8 nodes: equal to 1e-8
    assert abs(v - (2 * js - math.log(4))) < 1e-8
    assert -1e-12 <= js <= math.log(2) + 1e-12
    # any other discriminator does worse: V(D, G) <= V(D*, G)
    assert value_function(lambda x: 0.5 * optimal_logit(log_p, log_q)(x), log_p, log_q, BOX) <= v + 1e-12


def test_js_closed_forms_equal_and_disjoint():
    p = log_gauss([0.0, 0.0], 0.5)
    assert abs(js_divergence(p, p, BOX)) < 1e-12                                        # JS(p || p) = 0
    far = ((-4.0, 14.0), (-4.0, 4.0))
    # N((0, 0), 0.3^2) and N((10, 0), 0.3^2) overlap by e^-(10 / 0.6)^2 ~ 1e-121: JS = log 2
    assert abs(js_divergence(log_gauss([0, 0], 0.3), log_gauss([10, 0], 0.3), far) - math.log(2)) < 1e-8


def test_short_gan_run_on_eight_gaussians_covers_several_modes():
    target = eight_gaussians()
    x = target.sample(2000, 0)
    for seed in (0, 1, 2):
        model = GAN(2)  # the default sizes and learning rates: about 2 s per seed
        params, history = fit_gan(model, model.init(seed), x, steps=200, rng=seed, batch_size=128)
        assert len(history["loss_d"]) == 200 and onp.all(onp.isfinite(history["loss_g"]))
        result = coverage(model.sample(params, 2000, seed), target)
        assert result["n_covered"] > 1, (seed, result["share"])


def test_a_flow_trains_as_the_generator_and_keeps_its_density():
    flow = RealNVP(2, n_layers=2, hidden=(16,))
    start = flow.init(0)
    x = two_moons(500)
    params, history = fit_gan(flow, start, x, steps=5, rng=0, batch_size=64, loss="minimax", d_steps=2)
    assert set(params) == {"generator", "discriminator"} and history["step"] == [1, 2, 3, 4, 5]
    assert not onp.allclose(params["generator"][0]["conditioner"][0]["W"], start[0]["conditioner"][0]["W"])
    log_p = flow.log_prob(params["generator"], x[:20])
    assert log_p.shape == (20,) and onp.all(onp.isfinite(log_p))
    again, _ = fit_gan(flow, params, x, steps=2, rng=1, batch_size=64)  # continue from both networks
    assert not onp.allclose(again["discriminator"][0]["W"], params["discriminator"][0]["W"])


def test_a_non_finite_loss_stops_with_the_last_finite_params():
    model = GAN(2, hidden=(8,))
    params = model.init(0)
    bad = {"generator": params["generator"], "discriminator": [dict(layer) for layer in params["discriminator"]]}
    bad["discriminator"][-1]["b"] = onp.array([1e308])  # finite params whose logits overflow the loss's gradient
    with pytest.raises(NonFiniteLossError, match=r"^fit_gan: .*at step 1") as caught, onp.errstate(over="ignore"):
        fit_gan(model, bad, two_moons(100), steps=3)
    assert caught.value.params["discriminator"][-1]["b"][0] == 1e308  # nothing finite came after the start


def test_sample_quality_of_true_samples_is_minus_the_entropy():
    target = eight_gaussians()
    mean, se = sample_quality(target.sample(4000, 3), target.log_prob)
    assert abs(mean + target.entropy()) < 4 * se  # E_p[log p] = -H(p), within 4 standard errors


@settings(max_examples=10)
@given(st.sets(st.integers(0, 7), min_size=1, max_size=7))
def test_coverage_counts_the_dropped_modes(dropped):
    target = eight_gaussians()
    x = target.sample(4000, 0)
    nearest = onp.argmin(((x[:, None] - target.means[None]) ** 2).sum(-1), axis=1)
    result = coverage(x[~onp.isin(nearest, list(dropped))], target)
    assert result["n_covered"] == 8 - len(dropped)
    # the kept modes have their share (times 8 / (8 - dropped)) above the level: coverage is their weight
    assert abs(result["coverage"] - (8 - len(dropped)) / 8) < 4 * result["coverage_se"] + 1e-12


def test_coverage_of_true_moons_is_one_within_its_error():
    result = coverage(two_moons(4000, rng=5), moons(0.05))
    assert result["n_covered"] == 2
    assert 1 - result["coverage"] < 4 * result["coverage_se"]
    assert abs(result["outside"] - 0.01) < 4 * math.sqrt(0.01 * 0.99 / 4000)  # 1 - level of the mass, binomial


def test_input_errors_name_the_argument():
    model = GAN(2, hidden=(8,))
    params = model.init(0)
    x = two_moons(50)
    cases = [
        (lambda: GAN(0), ValueError, "data_dim"),
        (lambda: GAN(2, latent_dim=0), ValueError, "latent_dim"),
        (lambda: GAN(2, hidden=(0,)), ValueError, "hidden"),
        (lambda: model.sample(params, 0, 0), ValueError, "n"),
        (lambda: model.discriminator(params, onp.zeros((3, 3))), ValueError, "x"),
        (lambda: model.sample({"generator": []}, 3, 0), ValueError, "params"),
        (lambda: fit_gan(model, params, x, loss="wasserstein"), ValueError, "loss"),
        (lambda: fit_gan(model, params, x, d_steps=0), ValueError, "d_steps"),
        (lambda: fit_gan(model, params, x, schedule_g="linear"), ValueError, "schedule_g"),
        (lambda: fit_gan(model, params, onp.zeros((5, 3))), ValueError, "x"),
        (lambda: fit_gan(model, params, x, discriminator=Discriminator(2)), ValueError, "discriminator"),
        (lambda: fit_gan(object(), params, x), TypeError, "model"),
        (lambda: fit_gan(RealNVP(2, n_layers=2), None, x, discriminator="D"), TypeError, "discriminator"),
        (lambda: fit_gan(RealNVP(2, n_layers=2), None, x), TypeError, "params"),
        (lambda: sample_quality(x, lambda v: v), ValueError, "log_prob_true"),
        (lambda: sample_quality(x[:1], two_moons_log_prob), ValueError, "samples"),
        (lambda: coverage(x, "two_moons"), TypeError, "target"),
        (lambda: coverage(x, moons(0.05), level=1.5), ValueError, "level"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=rf"^{name}"):
            call()
