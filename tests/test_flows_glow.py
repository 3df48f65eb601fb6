"""Glow's layers on images: each passes the kit, squeeze and factor-out invert exactly, the 1x1
convolution's log-det is slogdet of its D x D matrix, and the whole model's density is the base
plus every log-det (by autograd's Jacobian)."""
import autograd
import numpy as np
import pytest
from hypothesis import given, settings

from tinygen.flows import FactorOut, Glow, OnKeptHalf
from tinygen.flows.image import ChannelActNorm, ConvCoupling, InvConv1x1, Squeeze
from tinygen.testing import check_flow, perturb
from tinygen.testing.strategies import seeds

SHAPE = (4, 4, 4)          # 64 numbers: the kit takes autograd's 64 x 64 Jacobians
LAYERS = {
    "squeeze": lambda: Squeeze((1, 8, 8)),
    "actnorm": lambda: ChannelActNorm(SHAPE),
    "conv1x1": lambda: InvConv1x1(SHAPE, rng=3),
    "coupling": lambda: ConvCoupling(SHAPE, hidden_channels=(4, 4)),
    "factor_out": lambda: FactorOut(SHAPE),
    "kept_half": lambda: OnKeptHalf(ConvCoupling((2, 4, 4), hidden_channels=(3,))),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_passes_the_kit(name):
    # default tolerance 1e-6 (relative): float64 agrees to ~1e-14 here, a wrong log-det is off by O(1)
    check_flow(LAYERS[name](), rng=0, n=2).assert_ok()


def test_squeeze_moves_each_2x2_block_into_channels_and_back():
    layer = Squeeze((2, 4, 6))
    x = np.random.default_rng(0).standard_normal((3, layer.dim))
    z, log_det = layer.inverse({}, x)
    h = x.reshape(3, 2, 4, 6)
    zi = z.reshape(3, 8, 2, 3)
    # z[:, 4c + 2r + s, i, j] = x[:, c, 2i + r, 2j + s], written out element by element
    for c in range(2):
        for r in range(2):
            for s in range(2):
                assert np.array_equal(zi[:, 4 * c + 2 * r + s], h[:, c, r::2, s::2])
    assert np.array_equal(layer.forward({}, z)[0], x) and np.all(log_det == 0)   # exact: only moves numbers


@given(seeds)
@settings(max_examples=5)
def test_factor_out_inverts_exactly_and_is_the_conditional_prior(seed):
    layer = FactorOut(SHAPE)
    params = perturb(layer.init(seed), seed, scale=1.0)
    x = np.random.default_rng(seed).standard_normal((2, layer.dim))
    z, log_det = layer.inverse(params, x)
    assert np.allclose(layer.forward(params, z)[0], x, rtol=0, atol=1e-13)   # float64 round-off
    half = layer.dim // 2
    assert np.array_equal(z[:, :half], x[:, :half])                           # h_1 is kept as it is
    # log N(z_2; 0, I) + log_det = log N(h_2; mu(h_1), sigma(h_1)^2) with (log_sigma, mu) from the conv
    log_sigma, mu = (a.reshape(2, -1) for a in layer._theta(params, x[:, :half].reshape(2, 2, 4, 4)))
    h2 = x[:, half:]
    prior = np.sum(-0.5 * ((h2 - mu) / np.exp(log_sigma)) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi), axis=1)
    base = np.sum(-0.5 * z[:, half:] ** 2 - 0.5 * np.log(2 * np.pi), axis=1)
    assert np.allclose(base + log_det, prior, rtol=1e-12, atol=1e-12)


def test_conv1x1_log_det_is_slogdet_of_its_D_by_D_matrix():
    layer = InvConv1x1((3, 2, 4), rng=1)
    params = perturb(layer.init(0), 1, scale=1.0)
    W = layer.linear.weight(params)
    big = np.kron(W, np.eye(2 * 4))            # channel-major: x_{c, p} = sum_c' W_{c c'} z_{c', p} + b_c
    z = np.random.default_rng(2).standard_normal((2, layer.dim))
    x, log_det = layer.forward(params, z)
    assert np.allclose(x, z @ big.T + np.repeat(params["b"], 8), atol=1e-12)
    sign, exact = np.linalg.slogdet(big)
    assert sign != 0 and np.allclose(log_det, exact, rtol=1e-12)
    assert np.allclose(log_det, 2 * 4 * np.sum(params["log_s"]), rtol=1e-12)   # H W sum_c log s_c


def test_glow_log_prob_is_base_plus_log_dets_by_autograd():
    model = Glow((1, 4, 4), levels=2, steps_per_level=1, hidden_channels=(4,))
    params = perturb(model.init(0), 1, scale=0.5)
    x = np.random.default_rng(3).uniform(0, 1, (3, 16))
    z, _ = model.inverse(params, x)
    for i in range(3):
        J = autograd.jacobian(lambda v: model.inverse(params, v[None])[0][0])(x[i])
        expected = -0.5 * z[i] @ z[i] - 8 * np.log(2 * np.pi) + np.linalg.slogdet(J)[1]
        assert model.log_prob(params, x[i:i + 1])[0] == pytest.approx(expected, rel=1e-10)   # round-off only
    check_flow(model.flow, params, rng=0, n=2).assert_ok()


def test_data_init_standardizes_and_samples_at_several_temperatures():
    model = Glow((1, 8, 8), levels=2, steps_per_level=1, hidden_channels=(4,))
    x = np.random.default_rng(0).uniform(0, 1, (50, 64)) * np.linspace(0.2, 1, 64)
    params = model.init(0, x=x)
    h, _ = model.flow.layers[-1].inverse({}, x)                   # squeezed data, what the first ActNorm sees
    first_actnorm = model.flow.layers[-2]
    standardized = first_actnorm.image(first_actnorm.inverse(params[-2], h)[0])
    assert np.allclose(standardized.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    assert np.allclose(standardized.std(axis=(0, 2, 3)), 1, atol=1e-12)
    spread = []
    for T in (0.0001, 0.5, 1.0):
        s = model.sample(params, 200, 0, temperature=T)
        assert s.shape == (200, 64) and np.all(np.isfinite(s))
        spread.append(s.std(axis=0).mean())
    assert spread[0] < spread[1] < spread[2]                       # lower temperature, less spread


@pytest.mark.parametrize("make, name", [
    (lambda: Glow((1, 6, 6), levels=2), "shape"),                  # 6 is not divisible by 4
    (lambda: Glow((1, 8), levels=1), "shape"),
    (lambda: Glow(levels=0), "levels"),
    (lambda: Glow(steps_per_level=0), "steps_per_level"),
    (lambda: Glow(hidden_channels=(0,)), "hidden_channels"),
    (lambda: ConvCoupling((3, 4, 4)), "shape"),                    # an odd number of channels cannot be halved
    (lambda: Glow((1, 4, 4), levels=1, steps_per_level=1, hidden_channels=(2,)).sample({}, 1, 0, temperature=0),
     "temperature"),
])
def test_bad_arguments_are_named(make, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{name}"):
        make()


@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (2, 2, 2, 5), (2, 3, 5, 2)])
def test_conv_gathers_the_same_patches_as_pixelcnn(shape):
    # the product with the 0/1 neighbourhood array against the padded slices of arm.pixelcnn
    from tinygen.arm.pixelcnn import masked_conv2d
    from tinygen.flows.image import conv
    from tinygen.nn import init_dense
    h = np.random.default_rng(0).standard_normal(shape)
    layer = init_dense(np.random.default_rng(1), 9 * shape[-1], 4, "he")
    # both sum the same 9 C products per output in different orders: round-off only
    assert np.allclose(conv(h, layer, 3), masked_conv2d(h, layer, np.ones((3, 3))), rtol=1e-12, atol=1e-12)
