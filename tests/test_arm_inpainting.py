"""The lecture's applications table in small: inpainting with PixelCNN (image -> image) and
class-conditional generation with MADE's context (label -> image)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chi_square import chi_square_pvalue
from tinygen.arm import MADE, PixelCNN
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds


def perturbed_pixelcnn(height, width, seed):
    model = PixelCNN(height, width, n_channels=4, n_layers=2, kernel_size=3)
    # the kit's perturbation at scale 1: nonzero biases and conditionals far from 1/2, so a wrong one shows
    return model, perturb(model.init(seed), seed, scale=1.0)


@settings(max_examples=15)
@given(st.integers(2, 3), st.integers(2, 3), st.data(), seeds)
def test_inpainting_never_changes_the_observed_pixels(H, W, data, seed):
    model, params = perturbed_pixelcnn(H, W, seed)
    m = data.draw(st.integers(0, H * W))
    rng = np.random.default_rng(seed)
    x = (rng.uniform(size=(6, H, W)) < 0.5).astype(float)
    out = model.inpaint(params, x, rng, n_known=m)
    assert out.shape == x.shape and set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out.reshape(6, -1)[:, :m], x.reshape(6, -1)[:, :m])
    assert np.array_equal(x, (x > 0.5).astype(float))  # the input array itself is left alone


def test_default_observes_the_top_half():
    model, params = perturbed_pixelcnn(4, 3, 0)
    x = np.ones((5, 4, 3))
    out = model.inpaint(params, x, 1)
    np.testing.assert_array_equal(out[:, :2], 1.0)  # rows 1 and 2 of 4 kept


def test_completions_follow_the_exact_conditional():
    # 2 x 2 images, top row observed: p(bottom | top) = p(top, bottom) / sum_bottom p(top, bottom)
    model, params = perturbed_pixelcnn(2, 2, 3)
    top = np.array([1.0, 0.0])
    bottoms = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    full = np.concatenate([np.tile(top, (4, 1)), bottoms], axis=1).reshape(4, 2, 2)
    log_p = model.log_prob(params, full)
    p = np.exp(log_p - np.logaddexp.reduce(log_p))
    n = 4000
    x = np.zeros((n, 2, 2))
    x[:, 0] = top
    out = model.inpaint(params, x, rng=4, n_known=2)
    counts = np.bincount((out[:, 1] @ [2, 1]).astype(int), minlength=4)  # bottom (a, b) -> code 2a + b
    assert n * p.min() > 5  # chi-square needs >= 5 expected per cell
    assert chi_square_pvalue(counts, n * p) > 1e-3  # fixed seed: a wrong conditional fails surely


def test_inpainting_rejects_bad_inputs():
    model, params = perturbed_pixelcnn(2, 2, 0)
    with pytest.raises(ValueError, match=r"^n_known: "):
        model.inpaint(params, np.zeros((1, 2, 2)), 0, n_known=5)
    with pytest.raises(ValueError, match=r"^x: "):
        model.inpaint(params, np.full((1, 2, 2), 0.5), 0, n_known=1)  # observed pixel not 0/1
    with pytest.raises(ValueError, match=r"^x: "):
        model.inpaint(params, np.zeros((1, 3, 2)), 0)


@pytest.mark.parametrize("label", [0, 1, 2])
def test_class_conditional_made_samples_each_classes_own_distribution(label):
    # label -> image: MADE with a one-hot context c; each p(x | c) sums to 1 and sampling with c follows it
    K, D = 3, 3
    made = MADE(D, hidden=(16,), likelihood="bernoulli", context_dim=K, rng=0)
    rng = np.random.default_rng(label)
    # conditionals away from 1/2, yet every image likely enough that n p(x) > 5 (chi-square's condition)
    params = perturb(made.init(5), 5, scale=0.5)
    c = np.eye(K)[[label]]
    images = np.array(list(itertools.product([0.0, 1.0], repeat=D)))
    p = np.exp(made.log_prob(params, images, context=c))
    assert abs(p.sum() - 1) < 1e-12  # 8 terms, exact to rounding
    others = [np.exp(made.log_prob(params, images, context=np.eye(K)[[k]])) for k in range(K) if k != label]
    assert all(np.abs(p - q).max() > 0.01 for q in others)  # the label really changes p(x | c)
    n = 4000
    x = made.sample(params, n, rng, context=c)
    counts = np.bincount((x @ [4, 2, 1]).astype(int), minlength=8)
    assert n * p.min() > 5
    assert chi_square_pvalue(counts, n * p) > 1e-3
