"""save/load: exact round trips, no pickle, clear errors for files that do not fit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, array_shapes

import tinygen
from tinygen.nn import MLP

leaves = arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
    shape=array_shapes(min_dims=0, max_dims=3, max_side=4),
    elements=st.integers(-1000, 1000),
)
trees = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3)
    | st.tuples(children, children)
    | st.dictionaries(st.text(min_size=1, max_size=5), children, max_size=3),
    max_leaves=8,
)


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # exact: bit-for-bit round trip


@settings(max_examples=40)
@given(tree=trees)
def test_round_trip_is_exact(tmp_path_factory, tree):
    path = tinygen.save(tmp_path_factory.mktemp("io") / "p.npz", tree)
    assert_same(tinygen.load(path), tree)


def test_model_params_round_trip_and_like_check(tmp_path):
    mlp = MLP((3, 5, 2))
    params = mlp.init(0)
    path = tinygen.save(tmp_path / "mlp", params)  # suffix added
    assert path.endswith(".npz")
    loaded = tinygen.load(path, like=params)
    np.testing.assert_array_equal(tinygen.load(tmp_path / "mlp")[0]["W"], params[0]["W"])  # suffix optional
    x = np.ones((4, 3))
    np.testing.assert_array_equal(mlp.apply(loaded, x), mlp.apply(params, x))
    other = MLP((3, 6, 2)).init(0)
    with pytest.raises(ValueError, match=r"params\[0\]\['W'\].*shape"):
        tinygen.load(path, like=other)
    with pytest.raises(ValueError, match="sequence of length 3"):
        tinygen.load(path, like=MLP((3, 5, 5, 2)).init(0))


def test_rejects_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __tree__=np.frombuffer(b'{"leaf": 0, "scalar": false}', dtype=np.uint8),
             leaf0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled objects"):
        tinygen.load(path)


def test_rejects_foreign_npz_and_bad_trees(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(ValueError, match="not a tinygen params file"):
        tinygen.load(path)
    with pytest.raises(TypeError, match="string dict keys"):
        tinygen.save(tmp_path / "bad", {1: np.ones(2)})
    with pytest.raises(TypeError, match="numeric arrays"):
        tinygen.save(tmp_path / "bad", {"f": lambda: 0})
