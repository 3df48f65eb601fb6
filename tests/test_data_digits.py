"""The 8 x 8 digits shipped with tinygen: no scikit-learn, 17 grey levels, a fixed split."""
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygen import data

# Class counts of the optdigits test part (1,797 images), as listed in the UCI data set's
# description file optdigits.names: the shipped file must be that data, complete.
UCI_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_levels_are_the_uci_test_part():
    x, y = data.digits8_levels(labels=True)
    assert x.shape == (1797, 8, 8) and x.dtype == np.int64
    assert set(np.unique(x)) == set(range(data.images.DIGITS8_LEVELS))   # every level 0..16 occurs
    assert np.bincount(y, minlength=10).tolist() == UCI_CLASS_COUNTS


def test_split_sizes_partition_and_stability():
    parts = data.digits8_split(labels=True)
    assert [p[0].shape for p in parts] == [(1197, 8, 8), (300, 8, 8), (300, 8, 8)]
    # the parts together are exactly the whole set: compare (image, label) rows as multisets
    def rows(x, y):
        return sorted(bytes(r) for r in np.concatenate([x.reshape(len(x), -1), y[:, None]], 1).astype(np.uint8))

    whole = rows(*data.digits8_levels(labels=True))
    assert rows(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])) == whole
    # every digit is in every part (a random split of ~180 per class leaves none empty)
    assert all(set(p[1]) == set(range(10)) for p in parts)
    # fixed: the same images every call, and a caller's edit does not reach the next call
    train, _, test = data.digits8_split()
    test[:] = -1
    again = data.digits8_split()
    assert np.array_equal(again[0], train) and np.all(again[2] >= 0)


def test_no_scikit_learn_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)   # any `import sklearn` now raises ImportError
    data.images._digits8_file.cache_clear()
    assert data.digits8().shape == (1797, 8, 8)
    assert len(data.digits8_split()) == 3


@given(st.integers(1, 16))
def test_digits8_binarizes_the_levels(threshold):
    x, b = data.digits8_levels(), data.digits8(threshold=threshold)
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert np.array_equal(b, (x >= threshold).astype(float))
