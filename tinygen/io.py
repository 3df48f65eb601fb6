"""Save and load params pytrees as ``.npz`` files, without pickle.

The arrays are stored under keys ``leaf0, leaf1, ...`` and the tree's shape
(nested dicts, lists, tuples) as a JSON string in ``__tree__``. Loading uses
``np.load(allow_pickle=False)``, so a file can never execute code, and a file
that holds pickled objects is refused.
"""
import json
import numbers
import os

import numpy as onp

_TREE_KEY = "__tree__"


def _encode(tree, leaves, where):
    if isinstance(tree, dict):
        for k in tree:
            if not isinstance(k, str):
                raise TypeError(f"params{where}: expected string dict keys, got {type(k).__name__} key {k!r}")
        return {"dict": {k: _encode(v, leaves, f"{where}[{k!r}]") for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        kind = "list" if isinstance(tree, list) else "tuple"
        return {kind: [_encode(v, leaves, f"{where}[{i}]") for i, v in enumerate(tree)]}
    if isinstance(tree, (onp.ndarray, numbers.Number)) and not isinstance(tree, bool):
        arr = onp.asarray(tree)
        if arr.dtype == object:
            raise TypeError(f"params{where}: expected a numeric array, got an object array")
        leaves.append(arr)
        return {"leaf": len(leaves) - 1, "scalar": not isinstance(tree, onp.ndarray)}
    raise TypeError(f"params{where}: expected dicts, lists, tuples and numeric arrays, got {type(tree).__name__}")


def _decode(spec, arrays):
    if "dict" in spec:
        return {k: _decode(v, arrays) for k, v in spec["dict"].items()}
    if "list" in spec:
        return [_decode(v, arrays) for v in spec["list"]]
    if "tuple" in spec:
        return tuple(_decode(v, arrays) for v in spec["tuple"])
    arr = arrays[f"leaf{spec['leaf']}"]
    return arr[()] if spec["scalar"] else arr


def save(path, params):
    """Write a params pytree to ``path`` (an ``.npz`` file; the suffix is added if missing)."""
    leaves = []
    spec = _encode(params, leaves, "")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tree = onp.frombuffer(json.dumps(spec).encode("utf-8"), dtype=onp.uint8)
    onp.savez(path, **{_TREE_KEY: tree}, **{f"leaf{i}": a for i, a in enumerate(leaves)})
    return path


def _check_like(loaded, like, where=""):
    """Raise a ValueError naming the first place where ``loaded`` differs from ``like`` in structure or shape."""
    if isinstance(like, dict):
        if not isinstance(loaded, dict) or set(loaded) != set(like):
            got = sorted(loaded) if isinstance(loaded, dict) else type(loaded).__name__
            raise ValueError(f"params{where}: expected dict keys {sorted(like)}, got {got}")
        for k in like:
            _check_like(loaded[k], like[k], f"{where}[{k!r}]")
    elif isinstance(like, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(like):
            got = len(loaded) if isinstance(loaded, (list, tuple)) else type(loaded).__name__
            raise ValueError(f"params{where}: expected a sequence of length {len(like)}, got {got}")
        for i, (a, b) in enumerate(zip(loaded, like)):
            _check_like(a, b, f"{where}[{i}]")
    elif onp.shape(loaded) != onp.shape(like):
        raise ValueError(f"params{where}: expected shape {onp.shape(like)}, got {onp.shape(loaded)}")


def load(path, like=None):
    """Read a params pytree written by ``save``.

    like: optional params of the model the file is meant for (``model.init(rng)``);
    the loaded tree must have the same structure and shapes, otherwise a
    ValueError names the first place that differs.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # as save() names it
    try:
        with onp.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:  # numpy refuses object (pickled) arrays when allow_pickle=False
        raise ValueError(f"path: {path!r} holds pickled objects; tinygen.load reads only numeric arrays") from err
    if _TREE_KEY not in arrays:
        raise ValueError(f"path: {path!r} is not a tinygen params file (no {_TREE_KEY} entry)")
    spec = json.loads(arrays.pop(_TREE_KEY).tobytes().decode("utf-8"))
    params = _decode(spec, arrays)
    if like is not None:
        _check_like(params, like)
    return params
