"""tinygen.tree: flatten/unflatten round trips, and one visiting order shared by every function."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import tree

_floats = st.floats(-1e6, 1e6, allow_nan=False)
_arrays = st.lists(st.integers(0, 3), min_size=0, max_size=3).flatmap(
    lambda shape: st.lists(_floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda v: np.array(v, dtype=float).reshape(shape)))
_leaves = st.one_of(_arrays, _floats)
_trees = st.recursive(_leaves, lambda kids: st.one_of(
    st.dictionaries(st.text("abcdefWb_", min_size=1, max_size=4), kids, max_size=4),
    st.lists(kids, max_size=4),
    st.lists(kids, max_size=4).map(tuple)), max_leaves=12)


def _same(a, b):
    """Same containers (type, keys, key order, length) and equal leaves of equal shape."""
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return np.shape(a) == np.shape(b) and np.array_equal(a, b)


@settings(max_examples=50)  # small trees of up to 12 leaves: 50 draws cover every container mix
@given(_trees)
def test_unflatten_inverts_flatten(t):
    flat = tree.flatten(t)
    assert flat.dtype == np.float64 and flat.shape == (tree.size(t),)
    back = tree.unflatten(t, flat)
    assert _same(t, back)  # exact: float64 values are copied, never computed
    np.testing.assert_array_equal(tree.flatten(back), flat)


@settings(max_examples=50)  # small trees of up to 12 leaves: 50 draws cover every container mix
@given(_trees)
def test_every_function_visits_leaves_in_one_order(t):
    ordered = tree.leaves(t)
    paths = tree.leaves_with_paths(t)
    assert len(paths) == len(ordered) and all(leaf is o for (_, leaf), o in zip(paths, ordered))
    visited = []
    tree.map(lambda leaf: visited.append(leaf), t)
    assert len(visited) == len(ordered) and all(v is o for v, o in zip(visited, ordered))
    parts = [np.ravel(leaf) for leaf in ordered]
    np.testing.assert_array_equal(tree.flatten(t), np.concatenate(parts) if parts else np.zeros(0))


@settings(max_examples=50)  # small trees of up to 12 leaves: 50 draws cover every container mix
@given(_trees)
def test_the_order_ignores_how_a_dict_was_built(t):
    # Two equal dicts built in opposite key orders flatten to the same vector.
    def reversed_keys(node):
        if isinstance(node, dict):
            return {k: reversed_keys(node[k]) for k in reversed(list(node))}
        if isinstance(node, (list, tuple)):
            return type(node)(reversed_keys(v) for v in node)
        return node

    np.testing.assert_array_equal(tree.flatten(t), tree.flatten(reversed_keys(t)))


def test_paths_are_readable_and_sorted():
    params = [{"b": np.zeros(2), "W": np.ones((2, 2))}, (3.0,)]
    assert [p for p, _ in tree.leaves_with_paths(params)] == ["params[0]['W']", "params[0]['b']", "params[1][0]"]
    assert list(tree.map(np.shape, params)[0]) == ["b", "W"]  # a built dict keeps its input's key order


def test_unflatten_leaves_are_views_and_map_takes_parallel_trees():
    t = {"a": np.zeros((2, 2)), "b": [np.zeros(3)]}
    flat = np.arange(7.0)
    views = tree.unflatten(t, flat)
    flat[...] = -flat  # writing into the vector moves the leaves
    np.testing.assert_array_equal(views["b"][0], [-4.0, -5.0, -6.0])
    total = tree.map(lambda u, v: u + v, views, views)
    np.testing.assert_array_equal(tree.flatten(total), -2 * np.arange(7.0))


def test_unflatten_rejects_a_vector_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"^flat: expected a vector of 4 entries"):
        tree.unflatten({"W": np.zeros((2, 2))}, np.zeros(5))


def test_unsortable_keys_are_a_type_error():
    with pytest.raises(TypeError, match=r"^params: expected dict keys that can be sorted"):
        tree.leaves({1: np.zeros(1), "a": np.zeros(1)})


def test_save_and_check_tree_follow_the_same_order(tmp_path):
    # io.save numbers the arrays leaf0, leaf1, ... in the visiting order, and check_tree
    # reports the first mismatch in that order too (here 'W' before 'b', though 'b' was written first).
    import tinygen
    from tinygen._params_check import check_tree, param_shapes
    params = [{"b": np.arange(2.0), "W": np.arange(4.0).reshape(2, 2)}, (np.array(7.0),)]
    path = tinygen.save(tmp_path / "p", params)
    with np.load(path) as f:
        stored = [f[f"leaf{i}"] for i in range(3)]
    assert all(np.array_equal(s, leaf) for s, leaf in zip(stored, tree.leaves(params)))
    wrong = [{"b": np.zeros(3), "W": np.zeros((2, 3))}, (np.array(7.0),)]
    with pytest.raises(ValueError, match=r'^params\[0\]\["W"\]: expected shape \(2, 2\)'):
        check_tree(wrong, param_shapes(params))


def test_the_old_optim_names_warn_and_give_the_same_result():
    from tinygen import optim
    t = {"b": np.ones(2), "a": np.zeros((1, 2))}
    with pytest.warns(DeprecationWarning, match="tinygen.tree.flatten"):
        flat = optim.tree_flatten(t)
    np.testing.assert_array_equal(flat, tree.flatten(t))
    with pytest.warns(DeprecationWarning, match="tinygen.tree.unflatten"):
        back = optim.tree_views(t, flat)
    np.testing.assert_array_equal(tree.flatten(back), flat)
