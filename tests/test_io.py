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
    with pytest.raises(ValueError, match=r'^params\[0\]\["W"\]: expected shape \(3, 6\), got \(3, 5\)'):
        tinygen.load(path, like=other)
    with pytest.raises(ValueError, match=r"^params: expected a list of 3 entries, got 2"):
        tinygen.load(path, like=MLP((3, 5, 5, 2)).init(0))


def test_rejects_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __tree__=np.frombuffer(b'{"leaf": 0, "scalar": false}', dtype=np.uint8),
             leaf0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"^path: .*pickled objects"):
        tinygen.load(path)


def test_rejects_foreign_npz_and_bad_trees(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(ValueError, match=r"^path: .*not a tinygen params file"):
        tinygen.load(path)
    with pytest.raises(TypeError, match=r"^params: expected string dict keys"):
        tinygen.save(tmp_path / "bad", {1: np.ones(2)})
    with pytest.raises(TypeError, match=r'^params\["f"\]: expected dicts, lists, tuples and numeric arrays'):
        tinygen.save(tmp_path / "bad", {"f": lambda: 0})


# ---- malformed files: every one a ValueError that names the path and the problem ----

def _saved(tmp_path):
    return tinygen.save(tmp_path / "good.npz", {"W": np.arange(6.0).reshape(2, 3), "b": [np.zeros(3), 1.5]})


def _write(path, data):
    path.write_bytes(data)
    return path


def _npz_with_tree(path, text, **arrays):
    np.savez(path, __tree__=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)
    return path


def _bit_flipped(tmp_path):
    data = bytearray(open(_saved(tmp_path), "rb").read())
    # flip one bit inside the first stored array's data (past the local zip header and
    # the .npy header), so the archive's structure is intact but its CRC-32 is not
    offset = data.index(b"\x93NUMPY") + 128 + 2
    data[offset] ^= 0x01
    return _write(tmp_path / "flipped.npz", bytes(data))


MALFORMED = {
    "empty": (lambda t: _write(t / "empty.npz", b""), "it is empty"),
    "text": (lambda t: _write(t / "notes.npz", b"W = [1, 2, 3]\n"), "not an .npz file"),
    "truncated": (lambda t: _write(t / "cut.npz", open(_saved(t), "rb").read()[:300]), "damaged"),
    "bit_flipped": (_bit_flipped, "damaged"),
    "bad_json": (lambda t: _npz_with_tree(t / "j.npz", '{"leaf": 0,', leaf0=np.ones(2)), "not valid JSON"),
    "missing_leaf": (lambda t: _npz_with_tree(t / "m.npz", '{"leaf": 3, "scalar": false}', leaf0=np.ones(2)),
                     "'leaf3', which the file does not hold"),
    "unknown_node": (lambda t: _npz_with_tree(t / "u.npz", '{"set": [1, 2]}'), "tree description"),
    "leaf_not_int": (lambda t: _npz_with_tree(t / "l.npz", '{"leaf": "0", "scalar": false}', leaf0=np.ones(2)),
                     "malformed entry"),
    "tree_not_dict": (lambda t: _npz_with_tree(t / "n.npz", "[1, 2, 3]"), "tree description"),
    "deep": (lambda t: _npz_with_tree(t / "d.npz", '{"list": [' * 5000 + "]}" * 5000), "nested too deeply|JSON"),
    "string_leaf": (lambda t: _npz_with_tree(t / "s.npz", '{"leaf": 0, "scalar": false}', leaf0=np.array(["a"])),
                    "not numbers"),
    "scalar_mismatch": (lambda t: _npz_with_tree(t / "c.npz", '{"leaf": 0, "scalar": true}', leaf0=np.ones(2)),
                        "single number"),
    "unused_arrays": (lambda t: _npz_with_tree(t / "x.npz", '{"leaf": 0, "scalar": false}', leaf0=np.ones(2),
                                               leaf1=np.ones(1)), "does not use"),
    "tree_wrong_dtype": (lambda t: (np.savez(t / "w.npz", __tree__=np.ones(3)), t / "w.npz")[1], "JSON text"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_a_clear_value_error(tmp_path, case):
    make, what = MALFORMED[case]
    path = make(tmp_path)
    with pytest.raises(ValueError, match=rf"^path: '{tmp_path}.*cannot be loaded: .*({what})"):
        tinygen.load(path)


def test_a_directory_or_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"^path: expected a file, got the directory"):
        tinygen.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^path: no file"):
        tinygen.load(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match=r"^path: expected a file name, got the directory"):
        tinygen.save(str(tmp_path) + "/", {"a": np.ones(1)})
    with pytest.raises(ValueError, match=r"^path: expected a file name, got the directory"):
        tinygen.save(tmp_path, {"a": np.ones(1)})
    with pytest.raises(TypeError, match=r"^path: expected a file name"):
        tinygen.save(3, {"a": np.ones(1)})
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no hidden "dir/.npz"


@pytest.mark.parametrize("name", ["x.NPZ", "x.Npz", "x.npz"])
def test_npz_suffix_in_any_case_is_kept(tmp_path, name):
    path = tinygen.save(tmp_path / name, [np.ones(2)])
    assert path == str(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    np.testing.assert_array_equal(tinygen.load(path)[0], np.ones(2))


@pytest.mark.parametrize("leaf, dtype", [
    (np.array(["1.0", "2.0"]), "<U3"),
    (np.array(["2026-01-01"], dtype="datetime64[D]"), "datetime64"),
    (np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]), r"\[\('a'"),
    (np.array([1 + 2j]), "complex"),
    (np.array([1.0], dtype=object), "object"),
])
def test_save_refuses_non_numeric_leaves(tmp_path, leaf, dtype):
    with pytest.raises(TypeError, match=rf'^params\["w"\]: expected a numeric array .*got dtype {dtype}'):
        tinygen.save(tmp_path / "p", {"w": leaf})
    assert not list(tmp_path.iterdir())  # refused before any file is written
