"""Sequence ARMs (RNN, dilated causal convolutions, causal transformer, and MADE on the same sequences):
the autoregressive property through the one-hot inputs, exact normalization, teacher forcing against
T-pass evaluation, sampling against the model's own conditionals, temperature, training, errors."""
import itertools

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian
from hypothesis import given, settings

from chi_square import chi_square_pvalue
from tinygen import fit
from tinygen.arm import MADE, RNNARM, CausalConvARM, TransformerARM
from tinygen.data import MarkovSource
from tinygen.functional import log_softmax, softmax
from tinygen.testing import check_autoregressive, check_normalized, perturb
from tinygen.testing.strategies import seeds

V, T = 3, 5

MODELS = {
    "rnn": lambda V, T: RNNARM(V, T, hidden=8),
    # k = 2, L = 3: receptive field 1 + 1 * (1 + 2 + 4) = 8 >= T - 1, so every x_<t is reached
    "causal_conv": lambda V, T: CausalConvARM(V, T, n_channels=8, n_layers=3, kernel_size=2),
    "transformer": lambda V, T: TransformerARM(V, T, d_model=8, n_heads=2, n_layers=2),
}


def all_sequences(V, T):
    return np.array(list(itertools.product(range(V), repeat=T)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_logits_at_t_read_exactly_the_tokens_before_t(name):
    model = MODELS[name](V, T)
    params = perturb(model.init(0), 0)
    e = model.one_hot(np.random.default_rng(1).integers(0, V, size=(3, T)))
    # output axis 1 is the position, the input's trailing axis the V one-hot features of a token
    check_autoregressive(lambda e: model.logits_onehot(params, e), T, x=e, full=True).assert_ok()


def test_made_on_the_same_sequences_is_autoregressive():
    made = MADE(T, hidden=(32, 32), likelihood="categorical", n_classes=V, rng=0)
    params = made.init(0)
    x = np.random.default_rng(1).integers(0, V, size=(3, T)).astype(float)
    fn = lambda x: anp.transpose(made.outputs(params, x), (0, 2, 1))  # (n, T, V): axis 1 = position  # noqa: E731
    check_autoregressive(fn, T, x=x, full=True).assert_ok()


def test_causal_conv_receptive_field_is_what_it_states():
    model = CausalConvARM(V, 10, n_channels=6, n_layers=2, kernel_size=2)
    R = model.receptive_field
    assert R == 1 + 1 * (1 + 2)  # 1 + (k - 1)(d_1 + d_2)
    params = perturb(model.init(2), 2)
    e = model.one_hot(np.random.default_rng(3).integers(0, V, size=(1, 10)))
    J = jacobian(lambda e: model.logits_onehot(params, e))(e)[0, :, :, 0]  # (T, V, T, V)
    reads = np.abs(J).sum(axis=(1, 3)) > 0  # reads[t, s]: l_t depends on x_s
    t, s = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    np.testing.assert_array_equal(reads, (s < t) & (s >= t - R))  # x_{t-R}, ..., x_{t-1} and no others


@settings(max_examples=3)
@given(seeds)
@pytest.mark.parametrize("name", sorted(MODELS) + ["made"])
def test_exactly_normalized_over_all_243_sequences(name, seed):
    if name == "made":
        model = MADE(T, hidden=(16,), likelihood="categorical", n_classes=V, rng=seed % 100)
    else:
        model = MODELS[name](V, T)
    params = perturb(model.init(seed), seed)
    # all 3^5 = 243 sequences; 243 terms, each exact to ~1e-15 relative: the sum is 1 to 1e-12
    check_normalized(lambda x: model.log_prob(params, x), dim=T, support="categorical", n_classes=V,
                     atol=1e-12).assert_ok()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_pass_teacher_forcing_equals_t_pass_evaluation(name):
    model = MODELS[name](V, T)
    params = perturb(model.init(4), 4)
    rng = np.random.default_rng(5)
    x = rng.integers(0, V, size=(6, T))
    model.n_passes = 0
    one = model.log_prob(params, x)
    assert model.n_passes == 1
    total = 0.0
    for t in range(T):  # pass t sees x_<t and random junk from t on
        junk = np.concatenate([x[:, :t], rng.integers(0, V, size=(6, T - t))], axis=1)
        total = total + np.sum(log_softmax(model.logits(params, junk)[:, t]) * (np.arange(V) == x[:, [t]]), axis=1)
    np.testing.assert_allclose(one, total, rtol=0, atol=1e-12)  # same sums in the same order up to rounding


@pytest.mark.parametrize("name", sorted(MODELS))
def test_samples_follow_the_models_conditionals(name):
    model = MODELS[name](V, 4)
    params = perturb(model.init(6), 6)
    n = 3000
    model.n_passes = 0
    x = model.sample(params, n, rng=7)
    assert model.n_passes == 4 and x.shape == (n, 4) and x.dtype.kind == "i"
    # exact law of the prefix (x_1, x_2): p(x_1) p(x_2 | x_1), from the logits of the 9 prefixes
    prefixes = all_sequences(V, 2)
    padded = np.concatenate([prefixes, np.zeros((9, 2), dtype=int)], axis=1)
    w = softmax(model.logits(params, padded))
    p = w[np.arange(9), 0, prefixes[:, 0]] * w[np.arange(9), 1, prefixes[:, 1]]
    assert abs(p.sum() - 1) < 1e-12
    counts = np.bincount(x[:, 0] * V + x[:, 1], minlength=9)
    assert n * p.min() > 5  # enough expected counts per cell for the chi-square approximation
    assert chi_square_pvalue(counts, n * p) > 1e-3  # the seed is fixed: a wrong sampler fails surely


def test_temperature_rescales_the_logits():
    model = MODELS["transformer"](V, 3)
    params = perturb(model.init(8), 8)
    tau, n = 0.5, 4000
    x = model.sample(params, n, rng=9, temperature=tau)
    l1 = model.logits(params, np.zeros((1, 3), dtype=int))[0, 0]  # the first conditional reads no token
    p = softmax(l1 / tau)
    assert chi_square_pvalue(np.bincount(x[:, 0], minlength=V), n * p) > 1e-3
    cold = model.sample(params, 50, rng=10, temperature=1e-6)  # tau -> 0: the most likely token
    assert np.all(cold[:, 0] == np.argmax(l1))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_lowers_the_nll_on_the_markov_source(name):
    src = MarkovSource(V, order=1, rng=0)
    x = src.sample(512, 0, T=6)
    model = MODELS[name](V, 6)
    params = model.init(0)
    before = float(model.loss(params, x))
    params, history = fit(model, params, x, steps=40, batch_size=128, lr=1e-2, rng=0, progress=False)
    after = float(model.loss(params, x))
    # 40 Adam steps from a random start: far from converged, but well below where it began
    assert after < before - 0.3
    assert after > src.entropy(6) - 0.2  # no model beats the true entropy by more than noise


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_inputs_name_the_argument(name):
    model = MODELS[name](V, T)
    params = model.init(0)
    with pytest.raises(ValueError, match=r"^x: "):
        model.log_prob(params, np.full((2, T), V))  # token out of range
    with pytest.raises(ValueError, match=r"^x: "):
        model.log_prob(params, np.zeros((2, T + 1)))  # wrong length
    with pytest.raises(ValueError, match=r"^x: "):
        model.log_prob(params, np.full((2, T), 0.5))
    with pytest.raises(ValueError, match=r"^temperature: "):
        model.sample(params, 2, 0, temperature=0.0)
    with pytest.raises(ValueError, match=r"^n: "):
        model.sample(params, 0, 0)
    with pytest.raises(ValueError, match=r"^vocab_size: "):
        MODELS[name](1, T)


def test_transformer_attention_is_causal_and_normalized():
    model = TransformerARM(V, T, d_model=8, n_heads=2, n_layers=2)
    params = perturb(model.init(11), 11)
    maps = model.attention_maps(params, np.random.default_rng(12).integers(0, V, size=(4, T)))
    assert len(maps) == 2
    above = np.triu_indices(T, 1)
    for A in maps:  # (n, heads, T, T)
        assert A.shape == (4, 2, T, T)
        assert np.all(A[..., above[0], above[1]] == 0)  # s > t: exactly 0 (e^-inf)
        assert np.all(A[..., np.arange(T), np.arange(T)] > 0)
        np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=0, atol=1e-12)  # a softmax over s: sums to 1
    with pytest.raises(ValueError, match=r"^n_heads: "):
        TransformerARM(V, T, d_model=10, n_heads=3)
