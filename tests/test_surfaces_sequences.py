"""Bad input to the sequence sources and models, PixelCNN inpainting and conditional MADE:
an error naming the argument, sizes refused before anything is allocated."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.arm import MADE, RNNARM, CausalConvARM, PixelCNN, TransformerARM
from tinygen.arm.causal_conv import MAX_LAYERS, causal_conv1d
from tinygen.arm.recipes import sequence_recipes
from tinygen.data import MarkovSource
from tinygen.data import sequences as seq

SIZE = r"expected a size for which .* fits in 134,217,728 floats \(1 GiB\), got"


# ---------------------------------------------------------------- MarkovSource
@pytest.mark.parametrize("kwargs, name", [({"order": 7}, "order"), ({"vocab_size": 30, "order": 4}, "order"),
                                          ({"vocab_size": 10 ** 6}, "vocab_size")])
def test_markov_source_refuses_tables_beyond_the_size_limit(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}: {SIZE}"):
        MarkovSource(**kwargs)


@pytest.mark.parametrize("n, T, name", [(10 ** 9, 10, "n"), (10, 10 ** 9, "T")])
def test_markov_sample_refuses_batches_beyond_the_size_limit(n, T, name):
    with pytest.raises(ValueError, match=rf"^{name}: {SIZE}"):
        MarkovSource().sample(n, 0, T=T)


@pytest.mark.parametrize("nll, error", [(math.nan, ValueError), (math.inf, ValueError), ("x", TypeError),
                                        (None, TypeError)])
def test_markov_gap_refuses_an_nll_that_is_not_a_finite_number(nll, error):
    with pytest.raises(error, match=r"^nll"):
        MarkovSource().gap(nll, 5)


@pytest.mark.parametrize("words", ["abc", [3], None])
def test_encode_wants_a_list_of_strings(words):
    with pytest.raises(TypeError, match=r"^words: expected a list of strings"):
        seq.encode(words, 4)


@pytest.mark.parametrize("x, error", [(np.array([[1, 27]]), ValueError), (np.array([[1, -1]]), ValueError),
                                      (np.array([[1.5, 2]]), ValueError), (np.array([[np.nan, 1]]), ValueError),
                                      (np.array([1, 2]), ValueError), ("ab", TypeError)])
def test_decode_refuses_symbols_outside_the_alphabet(x, error):
    with pytest.raises(error, match=r"^x"):
        seq.decode(x)


@given(st.lists(st.text(alphabet=seq.ALPHABET[1:], min_size=0, max_size=6), min_size=1, max_size=5))
@settings(max_examples=30)
def test_decode_inverts_encode(words):
    assert seq.decode(seq.encode(words, 7)) == words


# ---------------------------------------------------------------- sequence models
@pytest.mark.parametrize("build, name", [
    (lambda: TransformerARM(3, 10 ** 6), "seq_len"), (lambda: TransformerARM(10 ** 8, 8), "vocab_size"),
    (lambda: TransformerARM(3, 8, d_model=2 ** 20, n_heads=1), "d_model"),
    (lambda: RNNARM(3, 4, hidden=10 ** 6), "hidden"), (lambda: RNNARM(10 ** 9, 4), "vocab_size"),
    (lambda: CausalConvARM(3, 4, n_channels=10 ** 6), "n_channels"),
    (lambda: CausalConvARM(3, 4, kernel_size=10 ** 6), "kernel_size"),
    (lambda: sequence_recipes(3, 10 ** 6), "seq_len"), (lambda: sequence_recipes(10 ** 7, 4), "vocab_size")])
def test_sequence_models_refuse_sizes_beyond_the_limit_before_allocating(build, name):
    with pytest.raises(ValueError, match=rf"^{name}: {SIZE}"):
        build()


def test_causal_conv_refuses_more_layers_than_its_limit():
    with pytest.raises(ValueError, match=rf"^n_layers: expected at most MAX_LAYERS = {MAX_LAYERS}"):
        CausalConvARM(3, 4, n_layers=MAX_LAYERS + 1)


def test_deep_causal_conv_on_a_short_sequence_builds_no_padding_beyond_it():
    # 24 layers: the last dilation is 2^23, but T = 4, so no tap beyond the sequence is built
    model = CausalConvARM(3, 4, n_channels=4, n_layers=24)
    log_p = model.log_prob(model.init(0), np.array([[0, 1, 2, 0], [2, 2, 1, 0]]))
    assert log_p.shape == (2,) and np.all(np.isfinite(log_p)) and np.all(log_p <= 0)


@given(st.integers(1, 9), st.integers(1, 12), st.integers(2, 3), st.integers(0, 2 ** 31 - 1))
@settings(max_examples=30)
def test_causal_conv_without_dead_taps_equals_the_fully_padded_convolution(T, dilation, k, seed):
    """Dropping the taps with j d >= T changes nothing: they read only the zero padding."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((2, T, 3))
    layer = {"W": rng.standard_normal((k * 3, 4)), "b": rng.standard_normal(4)}
    pad = (k - 1) * dilation  # the full padding, (k - 1) d zeros on the left
    padded = np.concatenate([np.zeros((2, pad, 3)), h], axis=1)
    taps = np.concatenate([padded[:, pad - j * dilation: pad - j * dilation + T] for j in range(k)], axis=2)
    full = taps @ layer["W"] + layer["b"]
    assert np.allclose(causal_conv1d(h, layer, k, dilation), full, atol=1e-12)  # same sums, fewer zero terms


# ---------------------------------------------------------------- PixelCNN.inpaint
PIXELCNN = PixelCNN(4, 4, n_channels=4, n_layers=2, kernel_size=3)
PIXELCNN_PARAMS = PIXELCNN.init(0)


def test_inpaint_ignores_the_missing_pixels_even_when_they_are_nan():
    x = np.concatenate([np.ones((3, 2, 4)), np.full((3, 2, 4), np.nan)], axis=1)  # top half known
    out = PIXELCNN.inpaint(PIXELCNN_PARAMS, x, rng=0)
    assert np.all(out[:, :2] == 1) and np.all(np.isin(out, [0.0, 1.0]))


@pytest.mark.parametrize("x", [np.full((2, 4, 4), np.nan), np.full((2, 4, 4), 0.5), np.zeros((2, 4, 5)),
                               np.zeros((4, 4)), np.zeros((0, 4, 4))])
def test_inpaint_refuses_bad_observed_pixels_or_shapes(x):
    with pytest.raises(ValueError, match=r"^x: expected"):
        PIXELCNN.inpaint(PIXELCNN_PARAMS, x, rng=0)


# ---------------------------------------------------------------- conditional MADE
def test_made_refuses_a_context_dim_beyond_the_size_limit():
    with pytest.raises(ValueError, match=rf"^context_dim: {SIZE}"):
        MADE(2, hidden=(4,), context_dim=10 ** 9)


@pytest.mark.parametrize("context, error", [(np.zeros((4, 2)), ValueError), (np.zeros((3, 3)), ValueError),
                                            (np.full((4, 3), np.nan), ValueError), (None, ValueError),
                                            ("ctx", TypeError), (np.zeros((4, 3), dtype=complex), TypeError)])
def test_conditional_made_names_a_bad_context(context, error):
    model = MADE(2, hidden=(16,), context_dim=3)
    params = model.init(0)
    with pytest.raises(error, match=r"^context"):
        model.log_prob(params, np.zeros((4, 2)), context)
    with pytest.raises(error, match=r"^context"):
        model.sample(params, 4, 0, context)


def test_sequence_sample_refuses_a_size_it_cannot_allocate():
    # 10^9 sequences of 10 symbols would need ~4e10 floats for one pass's one-hot inputs
    model = RNNARM(3, 10, hidden=4)
    with pytest.raises(ValueError, match=r"^n: expected a size"):
        model.sample(model.init(0), 10 ** 9, 0)
