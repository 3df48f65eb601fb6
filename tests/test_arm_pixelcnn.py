"""PixelCNN: masks, the im2col masked convolution, causality, normalization, sampling, training."""
import itertools
import re

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import data, fit
from tinygen.arm.pixelcnn import PixelCNN, mask, masked_conv2d
from tinygen.testing import check_autoregressive, check_normalized
from tinygen.testing.strategies import seeds

kernel_sizes = st.sampled_from([3, 5])
sides = st.integers(min_value=1, max_value=4)


def all_images(height, width):
    """All 2^(H W) binary images, shape (2^(H W), H, W)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=height * width))).reshape(-1, height, width)


def conv_loop(h, layer, m):
    """Slow reference: y[i, j] = b + sum_{r, c} M[r, c] h[i + r - p, j + c - p] W[r, c], zero outside."""
    n, H, W, C_in = h.shape
    k = m.shape[0]
    p = k // 2
    kernel = layer["W"].reshape(k, k, C_in, -1)
    y = np.zeros((n, H, W, kernel.shape[-1])) + layer["b"]
    for i, j, r, c in itertools.product(range(H), range(W), range(k), range(k)):
        a, b = i + r - p, j + c - p
        if 0 <= a < H and 0 <= b < W:
            y[:, i, j, :] += h[:, a, b, :] @ (m[r, c] * kernel[r, c])
    return y


def test_mask_matches_lecture_picture():
    lecture_a = np.array([[1, 1, 1, 1, 1],
                          [1, 1, 1, 1, 1],
                          [1, 1, 0, 0, 0],
                          [0, 0, 0, 0, 0],
                          [0, 0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(mask("A", 5), lecture_a)
    lecture_b = lecture_a.copy()
    lecture_b[2, 2] = 1.0
    np.testing.assert_array_equal(mask("B", 5), lecture_b)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_mask_counts_the_earlier_half(k):
    # raster order splits the k^2 - 1 non-centre entries into (k^2 - 1) / 2 before and after
    assert mask("A", k).sum() == (k * k - 1) // 2
    assert mask("B", k).sum() == (k * k - 1) // 2 + 1


@settings(max_examples=30)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3),
       kernel_sizes, st.sampled_from(["A", "B"]), seeds)
def test_patch_conv_equals_loop(H, W, C_in, C_out, k, kind, seed):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(2, H, W, C_in))
    layer = {"W": rng.normal(size=(k * k * C_in, C_out)), "b": rng.normal(size=C_out)}
    # same sums in a different order: agreement to rounding error (1e-12 on O(10) values)
    np.testing.assert_allclose(masked_conv2d(h, layer, mask(kind, k)), conv_loop(h, layer, mask(kind, k)),
                               rtol=0, atol=1e-12)


def _jacobian(model, params, x):
    """J[i, j, a, b] = d l_ij / d x_ab for one image x of shape (1, H, W)."""
    H, W = x.shape[1:]
    return jacobian(lambda v: model.logits(params, v))(x).reshape(H, W, H, W)


def _logits_by_pixel(model, params):
    """The logits as a function of flattened images (n, H W) -> (n, H W): pixel d in raster order."""
    H, W = model.height, model.width
    return lambda v: anp.reshape(model.logits(params, anp.reshape(v, (-1, H, W))), (-1, H * W))


@settings(max_examples=25)
@given(sides, sides, st.integers(1, 4), kernel_sizes, st.sampled_from(["relu", "tanh"]), seeds)
def test_causality_with_gradients(H, W, n_layers, k, activation, seed):
    model = PixelCNN(H, W, n_channels=6, n_layers=n_layers, kernel_size=k, activation=activation)
    params = model.init(seed)
    x = (np.random.default_rng(seed).uniform(size=(1, H, W)) < 0.5).astype(float)
    # raster order; a masked weight is multiplied by 0.0, so forbidden derivatives are exactly zero
    check_autoregressive(_logits_by_pixel(model, params), H * W, x=x.reshape(1, H * W)).assert_ok()
    if activation == "tanh":  # tanh' > 0, so no unit is dead and every unmasked path carries gradient
        J = _jacobian(model, params, x)
        for i, j in itertools.product(range(H), range(W)):
            if j > 0:
                assert J[i, j, i, j - 1] != 0.0, f"pixel left of ({i}, {j}) is not seen"
            if i > 0:
                assert J[i, j, i - 1, j] != 0.0, f"pixel above ({i}, {j}) is not seen"


def test_causality_check_catches_a_type_b_first_layer():
    # the check above is not vacuous: a first layer that sees its centre pixel leaks x_ij into l_ij
    model = PixelCNN(3, 3, n_channels=4, n_layers=2, kernel_size=3, activation="tanh")
    params = model.init(0)
    model.masks[0] = mask("B", 3)
    report = check_autoregressive(_logits_by_pixel(model, params), 9, x=np.ones((1, 9)))
    assert not report
    assert re.search(r"output for x_(\d) \(t = \d\) reads x_\1 ", str(report))  # a pixel reads itself


def test_blind_spot_as_documented():
    # pixel (1, 0) reaches row 0 only k // 2 columns to its right, however deep the stack
    x = np.ones((1, 4, 4))
    deep = PixelCNN(4, 4, n_channels=4, n_layers=6, kernel_size=5, activation="tanh")
    assert _jacobian(deep, deep.init(0), x)[1, 0, 0, 3] == 0.0
    wide = PixelCNN(4, 4, n_channels=4, n_layers=1, kernel_size=7, activation="tanh")
    assert _jacobian(wide, wide.init(0), x)[1, 0, 0, 3] != 0.0


@settings(max_examples=20)
@given(st.sampled_from([(1, 1), (1, 4), (2, 2), (2, 3), (3, 3)]), st.integers(1, 3), kernel_sizes,
       st.booleans(), seeds)
def test_exactly_normalized(shape, n_layers, k, residual, seed):
    model = PixelCNN(*shape, n_channels=5, n_layers=n_layers, kernel_size=k, residual=residual)
    params = model.init(seed)
    # sum over all 2^D images of p(x) = 1; up to 512 terms of rounding error 1e-16 each: the kit's 1e-9
    check_normalized(lambda x: model.log_prob(params, x), dim=shape, support="binary").assert_ok()


def test_sampling_shape_binary_deterministic():
    model = PixelCNN(3, 4, n_channels=4, n_layers=2)
    params = model.init(1)
    a, b = model.sample(params, 7, rng=5), model.sample(params, 7, rng=np.random.default_rng(5))
    assert a.shape == (7, 3, 4)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.sample(params, 7, rng=6))


def test_sample_frequencies_match_log_prob():
    model = PixelCNN(2, 2, n_channels=4, n_layers=2, kernel_size=3)
    params = model.init(3)
    images = all_images(2, 2)
    p = np.exp(model.log_prob(params, images))
    n = 20000
    x = model.sample(params, n, rng=0)
    codes = x.reshape(n, 4) @ (2 ** np.arange(3, -1, -1))  # image -> its row in all_images
    freq = np.bincount(codes.astype(int), minlength=16) / n
    # each frequency is Binomial(n, p)/n: within 5 standard errors unless sampling is wrong
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_training_on_bars_and_stripes_lowers_nll():
    x = data.bars_and_stripes(512, size=4, rng=0)
    model = PixelCNN(4, 4, n_channels=8, n_layers=3)
    params = model.init(0)
    before = float(model.loss(params, x))
    params, _ = fit(model, params, x, steps=150, batch_size=64, lr=1e-2, rng=0, progress=False)
    after = float(model.loss(params, x))
    # an untrained model sits near 16 log 2 = 11.1 nats; the entropy is log 30 = 3.4 nats
    assert after < before - 3.0


def test_logits_shape():
    model = PixelCNN(3, 5)
    assert model.logits(model.init(0), np.zeros((2, 3, 5))).shape == (2, 3, 5)


@pytest.mark.parametrize("x, words", [
    (np.zeros((2, 4, 5)), "shape (n, 4, 4)"),
    (np.zeros((2, 16)), "shape (n, 4, 4)"),
    (np.zeros((0, 4, 4)), "shape (n, 4, 4)"),
    (np.full((2, 4, 4), 0.5), "binary"),
    (np.full((2, 4, 4), np.nan), "finite"),
])
def test_bad_images(x, words):
    model = PixelCNN(4, 4, n_channels=2, n_layers=1)
    with pytest.raises(ValueError, match=r"^x: expected") as err:
        model.log_prob(model.init(0), x)
    assert words in str(err.value)


def test_bad_arguments():
    model = PixelCNN(4, 4, n_channels=2, n_layers=1)
    params = model.init(0)
    with pytest.raises(TypeError, match=r"^x: "):
        model.log_prob(params, "image")
    with pytest.raises(ValueError, match=r"^context: "):
        model.log_prob(params, np.zeros((1, 4, 4)), context=np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"^kernel_size: "):
        PixelCNN(4, 4, kernel_size=4)
    with pytest.raises(ValueError, match=r"^kernel_size_b: "):
        PixelCNN(4, 4, kernel_size_b=1)
    with pytest.raises(ValueError, match=r"^height: "):
        PixelCNN(0, 4)
    with pytest.raises(ValueError, match=r"^kind: "):
        mask("C", 5)
    with pytest.raises(ValueError, match=r"^n: "):
        model.sample(params, 0, rng=0)
