"""Save and load params pytrees as ``.npz`` files, without pickle.

The arrays are stored under keys ``leaf0, leaf1, ...`` and the tree's shape
(nested dicts, lists, tuples) as a JSON string in ``__tree__``. Loading uses
``np.load(allow_pickle=False)``, so a file can never execute code, and a file
that holds pickled objects is refused.

Only real numbers are stored (bool, int, float arrays and Python numbers):
strings, dates, complex numbers and structured records are refused by ``save``.
Every file that ``load`` cannot read back as such a tree (truncated, corrupted,
hand-edited, another program's) is a ``ValueError`` naming the path and the problem.
"""
import json
import numbers
import os
import zipfile

import numpy as onp

from . import tree
from ._params_check import check_tree, param_shapes

__all__ = ["load", "save"]

_TREE_KEY = "__tree__"
_ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive and starts with these 4 bytes
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned int, float


def _step(key):
    return f'["{key}"]' if isinstance(key, str) else f"[{key}]"


def _encode(node, leaves, where):
    """The JSON description of a tree; its leaves go to ``leaves`` in tinygen.tree's visiting order."""
    if tree.is_leaf(node):
        return _encode_leaf(node, leaves, where)
    if isinstance(node, dict):
        for k in node:
            if not isinstance(k, str):
                raise TypeError(f"params{where}: expected string dict keys, got {type(k).__name__} key {k!r}")
    described = {key: _encode(child, leaves, where + _step(key)) for key, child in tree.children(node)}
    if isinstance(node, dict):
        return {"dict": {k: described[k] for k in node}}  # written in the user's key order, read back so
    return {"list" if isinstance(node, list) else "tuple": [described[i] for i in range(len(node))]}


def _encode_leaf(leaf, leaves, where):
    if isinstance(leaf, (onp.ndarray, onp.generic, numbers.Real)) and not isinstance(leaf, bool):
        arr = onp.asarray(leaf)
        if arr.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"params{where}: expected a numeric array (bool, int or float), got dtype {arr.dtype}")
        leaves.append(arr)
        return {"leaf": len(leaves) - 1, "scalar": not isinstance(leaf, onp.ndarray)}
    raise TypeError(f"params{where}: expected dicts, lists, tuples and numeric arrays, got {type(leaf).__name__}")


class _Malformed(Exception):
    """Internal: what is wrong with a file; ``load`` adds the path."""


def _decode(spec, arrays, used):
    if not isinstance(spec, dict) or len(spec) not in (1, 2):
        raise _Malformed("its tree description has an entry that is not a dict, list, tuple or leaf")
    if "dict" in spec and isinstance(spec["dict"], dict) and len(spec) == 1:
        return {k: _decode(v, arrays, used) for k, v in spec["dict"].items()}
    for kind, make in (("list", list), ("tuple", tuple)):
        if kind in spec and isinstance(spec[kind], list) and len(spec) == 1:
            return make(_decode(v, arrays, used) for v in spec[kind])
    leaf, scalar = spec.get("leaf"), spec.get("scalar")
    if type(leaf) is not int or type(scalar) is not bool or len(spec) != 2:
        raise _Malformed(f"its tree description has a malformed entry {json.dumps(spec)[:80]}")
    name = f"leaf{leaf}"
    if name not in arrays:
        raise _Malformed(f"its tree names array {name!r}, which the file does not hold")
    if name in used:
        raise _Malformed(f"its tree uses array {name!r} twice")
    used.add(name)
    arr = arrays[name]
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise _Malformed(f"array {name!r} holds dtype {arr.dtype}, not numbers")
    if scalar and arr.shape != ():
        raise _Malformed(f"array {name!r} should be a single number, got shape {arr.shape}")
    return arr[()] if scalar else arr


def _npz_path(path, name="path"):
    """The file name ``save`` writes: ``path`` itself if it ends in .npz (any case), else path + ".npz"."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a file name (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if path == "" or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise ValueError(f"{name}: expected a file name, got the directory {path!r}")
    return path if path.lower().endswith(".npz") else path + ".npz"


def save(path, params):
    """Write a params pytree to ``path`` (an ``.npz`` file; the suffix is added if missing).

    Returns the path written. Leaves must be real numbers (bool, int or float).
    """
    path = _npz_path(path)
    leaves = []
    spec = _encode(params, leaves, "")
    if os.path.isdir(path):
        raise ValueError(f"path: expected a file name, got the directory {path!r}")
    folder = os.path.dirname(path)
    if folder:
        parent = folder
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise ValueError(f"path: expected a file name in a folder, got {path!r}, inside the file {parent!r}")
        os.makedirs(folder, exist_ok=True)
    tree = onp.frombuffer(json.dumps(spec).encode("utf-8"), dtype=onp.uint8)
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to "x.NPZ"
        onp.savez(f, **{_TREE_KEY: tree}, **{f"leaf{i}": a for i, a in enumerate(leaves)})
    return path


def _read(path):
    """Every array in the archive, and the decoded tree; _Malformed for anything unreadable."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head != _ZIP_MAGIC:
        raise _Malformed("it is not an .npz file (no zip signature at its start)" if head else "it is empty")
    try:
        with onp.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:
        if "pickle" in str(err) or "Object arrays" in str(err):  # numpy refuses object arrays here
            raise _Malformed("it holds pickled objects; tinygen.load reads only numeric arrays") from err
        raise _Malformed(f"it is a damaged .npz file ({err})") from err
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError) as err:
        raise _Malformed(f"it is a damaged or truncated .npz file ({type(err).__name__}: {err})") from err
    if _TREE_KEY not in arrays:
        raise _Malformed(f"it is not a tinygen params file (no {_TREE_KEY} entry)")
    raw = arrays.pop(_TREE_KEY)
    if raw.dtype != onp.uint8 or raw.ndim != 1:
        raise _Malformed(f"its {_TREE_KEY} entry is not the JSON text save writes")
    try:
        spec = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _Malformed(f"its {_TREE_KEY} entry is not valid JSON ({type(err).__name__})") from err
    used = set()
    try:
        params = _decode(spec, arrays, used)
    except RecursionError as err:
        raise _Malformed("its tree is nested too deeply") from err
    if used != set(arrays):
        raise _Malformed(f"it holds arrays its tree does not use: {sorted(set(arrays) - used)[:5]}")
    return params


def load(path, like=None):
    """Read a params pytree written by ``save``.

    path: as given to ``save`` (the .npz suffix may be left off).
    like: optional params of the model the file is meant for (``model.init(rng)``);
    the loaded tree must have the same structure and shapes, otherwise a
    ValueError names the first place that differs.
    """
    given = path
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file name (str or os.PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(_npz_path(given)):
        path = _npz_path(given)  # as save() names it
    if os.path.isdir(path):
        raise ValueError(f"path: expected a file, got the directory {path!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no file {path!r}")
    try:
        params = _read(path)
    except _Malformed as err:
        raise ValueError(f"path: {path!r} cannot be loaded: {err}") from err.__cause__
    if like is not None:
        if not isinstance(like, (dict, list, tuple, onp.ndarray)):
            raise TypeError(f"like: expected a params pytree such as model.init(0), got {type(like).__name__}")
        check_tree(params, param_shapes(like), "params")
    return params
