"""MarkovSource: exact log p, entropy and entropy rate, stationarity, sampling; the first-names loader."""
import itertools
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chi_square import chi_square_pvalue, chi_square_tail
from tinygen.data import MarkovSource, first_names
from tinygen.data.sequences import ALPHABET, decode, encode
from tinygen.testing.strategies import seeds


def all_sequences(V, T):
    return np.array(list(itertools.product(range(V), repeat=T)))


@settings(max_examples=10)
@given(st.integers(2, 4), st.integers(1, 3), st.integers(1, 5), st.floats(0.2, 3.0), seeds)
def test_log_prob_sums_to_one_and_entropy_is_exact(V, order, T, alpha, seed):
    src = MarkovSource(V, order, alpha, seed)
    log_p = src.log_prob(all_sequences(V, T))
    p = np.exp(log_p)
    # V^T <= 625 probabilities, each with relative rounding ~1e-15: the sum is 1 to 1e-12
    assert abs(p.sum() - 1.0) < 1e-12
    assert abs(-np.sum(p * log_p) - src.entropy(T)) < 1e-10  # H(x_1..x_T) by enumeration


@settings(max_examples=10)
@given(st.integers(2, 4), st.integers(1, 2), seeds)
def test_the_source_is_stationary(V, order, seed):
    # the window (x_2, ..., x_{k+1}) has the same law pi as the first k symbols
    src = MarkovSource(V, order, rng=seed)
    x = all_sequences(V, order + 1)
    p = np.exp(src.log_prob(x))
    shifted = np.zeros(V ** order)
    np.add.at(shifted, x[:, 1:] @ (V ** np.arange(order)[::-1]), p)
    np.testing.assert_allclose(shifted, src.stationary, rtol=0, atol=1e-12)


def test_entropy_rate_matches_a_long_monte_carlo_average():
    src = MarkovSource()
    n, T, k = 400, 300, src.order
    x = src.sample(n, 0, T=T)
    # per sequence: the mean conditional NLL of x_{k+1..T}; sequences are independent, so
    # the standard error of the mean over the n sequences is std / sqrt(n)
    r = -(src.log_prob(x) - src.log_prob(x[:, :k])) / (T - k)
    mean, se = r.mean(), r.std(ddof=1) / np.sqrt(n)
    assert se < 0.01  # 119 600 symbols pin the rate down to about 0.004 nats
    assert abs(mean - src.entropy_rate()) < 4 * se  # a 4-sigma band: fails by chance with p < 1e-4
    assert src.entropy(T) == pytest.approx(src.entropy(k) + (T - k) * src.entropy_rate(), rel=1e-12)


@pytest.mark.parametrize("k, x95", [(1, 3.841), (2, 5.991), (8, 15.507), (26, 38.885)])
def test_chi_square_tail_matches_the_printed_table(k, x95):
    # the 5% critical values of chi^2_k, as printed (3 decimals) in every statistics table
    assert chi_square_tail(x95, k) == pytest.approx(0.05, abs=2e-5)
    assert chi_square_tail(0.0, k) == 1.0


def test_samples_follow_log_prob():
    src = MarkovSource(3, order=2, alpha=5.0, rng=1)  # alpha = 5: no near-empty cells
    T, n = 3, 20000
    x = src.sample(n, 2, T=T)
    codes = x @ (3 ** np.arange(T)[::-1])
    counts = np.bincount(codes, minlength=27)
    expected = n * np.exp(src.log_prob(all_sequences(3, T)))  # all_sequences is in code order
    assert expected.min() > 5  # the chi-square approximation needs >= 5 expected per cell
    assert chi_square_pvalue(counts, expected) > 1e-3


def test_same_seed_same_sequences_and_gap_definition():
    src = MarkovSource()
    np.testing.assert_array_equal(src.sample(5, 3, T=7), src.sample(5, np.random.default_rng(3), T=7))
    x = src.sample(2000, 4, T=10)
    # the source scored against itself: the gap (E[-log p] - H(x_1..x_T)) / T is 0 up to noise
    nll = -src.log_prob(x)
    se = nll.std(ddof=1) / np.sqrt(len(x)) / 10
    assert abs(src.gap(nll.mean(), 10)) < 4 * se
    assert 0 < src.entropy_rate() < np.log(src.vocab_size)


def test_bad_inputs_name_the_argument():
    src = MarkovSource()
    with pytest.raises(ValueError, match=r"^x: "):
        src.log_prob(np.array([[0, 1, 4]]))
    with pytest.raises(ValueError, match=r"^x: "):
        src.log_prob(np.array([[0, 1.5, 2]]))
    with pytest.raises(ValueError, match=r"^x: "):
        src.log_prob(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^vocab_size: "):
        MarkovSource(vocab_size=1)
    with pytest.raises(ValueError, match=r"^alpha: "):
        MarkovSource(alpha=0.0)
    with pytest.raises(ValueError, match=r"^n: "):
        src.sample(0, 0, T=5)
    with pytest.raises(TypeError, match=r"^rng: "):
        src.sample(3, "seed", T=5)


def test_encode_decode_round_trip():
    words = ["anna", "bo", "zachary"]
    x = encode(words, 9)
    assert x.shape == (3, 9) and x[1, 2:].tolist() == [0] * 7
    assert decode(x) == words
    with pytest.raises(ValueError, match=r"^words: "):
        encode(["toolongname"], 5)


def test_first_names_reads_the_lists_the_package_ships(tmp_path, monkeypatch):
    # a stand-in for the package `names`: its two census files in a folder of our own
    (tmp_path / "dist.female.first").write_text("MARY  2.629 2.629 1\nANN  0.1 2.7 2\n")
    (tmp_path / "dist.male.first").write_text("JO  1.0 1.0 1\nCHRISTOPHER  0.5 1.5 2\nMARY 0.1 1.6 3\n")
    fake = types.ModuleType("names")
    fake.__file__ = str(tmp_path / "__init__.py")
    monkeypatch.setitem(sys.modules, "names", fake)
    x = first_names(max_len=4)
    assert decode(x) == ["ann", "jo", "mary"]  # distinct, sorted, at most 4 letters
    assert x.shape == (3, 5) and np.all(x[:, -1] == 0)  # every name ends with "."
    assert set(np.unique(x)) <= set(range(len(ALPHABET)))


def test_first_names_without_the_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "names", None)  # makes `import names` fail
    with pytest.raises(ImportError, match="pip install names"):
        first_names()
