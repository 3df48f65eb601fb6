"""Checks of a params pytree against the tree its model's ``init`` makes.

A model's params must have exactly the tree that its own ``init`` makes: the same
dict keys, list lengths and leaf shapes. Otherwise zip() silently drops layers, a
reshape crashes deep inside NumPy, or a head of K = 5 answers for K = 3. The error
names the first place that differs, visiting the tree in tinygen.tree's order.
"""
import contextlib
import contextvars
import numbers
import weakref

import numpy as onp
from autograd.tracer import Box, getval

from . import tree
from ._validate import NonFiniteError, value_of


class Shape(tuple):
    """A leaf of a skeleton: the shape of the array that belongs there (a tuple subclass, so a
    tuple *container* in the tree stays distinguishable from a leaf)."""


def param_shapes(params):
    """The skeleton of a params pytree: the same dicts, lists and tuples, with every leaf
    replaced by its ``Shape``."""
    return tree.map(lambda leaf: Shape(onp.shape(value_of(leaf))), getval(params))


class _Mismatch(Exception):
    """Internal: where a tree differs from its template; the path is filled in on the way out."""

    def __init__(self, message, kind=ValueError):
        super().__init__(message)
        self.message, self.kind, self.path = message, kind, []


def _keys(d):
    return "[" + ", ".join(f'"{k}"' for k in d) + "]"


def _describe(value):
    if isinstance(value, dict):
        return f"a dict with keys {_keys(value)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} entries"
    if hasattr(value, "shape"):
        return f"an array of shape {tuple(value.shape)}"
    return type(value).__name__


def _not_a_tree(value):
    """TypeError for things that are no params at all (None, a string), ValueError for another tree."""
    return ValueError if isinstance(value, (dict, list, tuple)) or hasattr(value, "shape") else TypeError


def _walk(value, template, finite):
    # This runs on every public call, so the common case comes first and is cheap:
    # plain dicts, lists and float arrays of the right shapes.
    if isinstance(value, Box):
        value = getval(value)  # a traced tree (autograd's container boxes) is read, never traced further
    if type(template) is Shape:  # a leaf
        if type(value) is not onp.ndarray or value.shape != template or value.dtype.kind not in "iuf":
            _check_leaf(value, template)
        if finite and not onp.isfinite(value).all():
            raise _Mismatch("expected finite values, got NaN or inf", NonFiniteError)
    elif type(template) is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"expected a dict with keys {_keys(template)}, got {_describe(value)}",
                            _not_a_tree(value))
        if value.keys() != template.keys():
            missing = [k for k in template if k not in value]
            extra = [k for k in value if k not in template]
            what = f"missing {_keys(missing)}" if missing else f"unexpected {_keys(extra)}"
            raise _Mismatch(f"expected a dict with keys {_keys(template)}, got keys {_keys(value)} ({what})")
        for k, t in tree.children(template):  # the one visiting order (tinygen/tree.py)
            try:
                _walk(value[k], t, finite)
            except _Mismatch as m:
                m.path.append(f'["{k}"]')
                raise
    else:  # a list or a tuple
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"expected a list of {len(template)} entries, got {_describe(value)}",
                            _not_a_tree(value))
        if len(value) != len(template):
            raise _Mismatch(f"expected a list of {len(template)} entries, got {len(value)}")
        for i, t in tree.children(template):
            try:
                _walk(value[i], t, finite)
            except _Mismatch as m:
                m.path.append(f"[{i}]")
                raise


def _check_leaf(value, shape):
    if isinstance(value, (dict, list, tuple)):
        raise _Mismatch(f"expected an array of shape {shape}, got {_describe(value)}")
    dtype = getattr(value, "dtype", None)
    if dtype is None:  # a plain Python number is a leaf of shape ()
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise _Mismatch(f"expected an array of shape {shape}, got {type(value).__name__}", TypeError)
        got = ()
    else:
        if dtype.kind not in "iuf":
            raise _Mismatch(f"expected an array of real numbers, got dtype {dtype}", TypeError)
        got = tuple(value.shape)
    if got != shape:
        raise _Mismatch(f"expected shape {shape}, got {got}")


def check_tree(tree, template, name="params", finite=False):
    """Compare a pytree with a skeleton from ``param_shapes``; the error names the first
    mismatching path, e.g. ``params[3]["conditioner"][0]["W"]: expected shape (1, 64), got (2, 64)``.
    finite: also require finite leaves (NonFiniteError otherwise)."""
    try:
        _walk(tree, template, finite)
    except _Mismatch as m:
        raise m.kind(f"{name}{''.join(reversed(m.path))}: {m.message}") from None
    return tree


def check_params(params, model, name="params"):
    """``params`` must have the tree of ``model.init``: same keys, list lengths, leaf shapes.

    The skeleton comes from the model's own ``init`` (seed 0). Making it at every call
    would slow a RealNVP-8 training step by about a third, so it is remembered per model
    object in ``_SKELETONS``, outside the object (which holds structure only), and
    forgotten with it. Plain (untraced) params must also be finite; traced ones are not scanned,
    since during training ``train.minimize`` already checks every loss and gradient; and the
    loop's own tree is checked once per model, at its first step (``loop_tree``).
    Returns ``params`` unchanged (traced trees keep their gradient).
    """
    loop = _LOOP_TREE.get()
    if loop is not None and isinstance(params, Box) and getval(params) is loop[0]:
        if id(model) in loop[1]:
            return params  # this training loop's own tree, already checked against this model
        _check_against_init(params, model, name)  # raises where the tree is not the model's
        loop[1][id(model)] = model  # passed; held, so that the id stays this model's for the loop's life
        return params
    return _check_against_init(params, model, name)


def _check_against_init(params, model, name):
    try:
        template = _SKELETONS.get(model)
    except TypeError:  # a model that cannot be weakly referenced or hashed: no memory, just recompute
        return check_tree(params, param_shapes(model.init(0)), name, finite=not isinstance(params, Box))
    if template is None:
        template = _SKELETONS[model] = param_shapes(model.init(0))
    return check_tree(params, template, name, finite=not isinstance(params, Box))


_SKELETONS = weakref.WeakKeyDictionary()  # model -> param_shapes(model.init(0)), see check_params
_LOOP_TREE = contextvars.ContextVar("tinygen_loop_tree", default=None)


@contextlib.contextmanager
def loop_tree(params):
    """Inside the block, ``check_params`` checks the training loop's own params tree once per model.

    The loop (train.minimize) hands autograd the same tree at every step, and nothing writes to its
    structure: only the numbers in its leaves change, in place. So once a model's check has passed
    on it, later steps skip the walk (about 0.2 ms of a 9 ms RealNVP-8 step). Any other tree, and
    this one outside the block, is checked as always.
    """
    token = _LOOP_TREE.set((params, {}))
    try:
        yield
    finally:
        _LOOP_TREE.reset(token)
