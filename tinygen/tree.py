"""Parameter pytrees: nested dicts, lists and tuples whose leaves are arrays or numbers.

A model's trainable arrays live in such a tree (``params = model.init(rng)``).
This module is the one place that knows what a container is and in which order
its children are visited; every other part of tinygen (the optimizers, the
params checks, ``save``/``load``, ``count_params``) walks trees through it.

The key order. A dict's children are visited in **sorted key order**, a list's or
a tuple's in index order. Why sorted and not insertion order: two dicts that are
equal (``==``) may have been built in different orders -- the params from
``model.init``, a gradient tree, a tree read back from a file, a dict written by
hand -- and they must flatten to the same vector, entry for entry, or an
optimizer would add a gradient to the wrong parameter. Sorting makes the order
a property of the keys alone. Trees that are *built* here (``map``,
``unflatten``) keep the key order of the tree they copy, so a printed result
looks like its input; only the order of visiting is fixed.

Anything that is not a dict, list or tuple is a leaf.
"""
import numpy as onp

__all__ = ["children", "flatten", "is_leaf", "leaves", "leaves_with_paths", "map", "path_step", "size", "unflatten"]

CONTAINERS = (dict, list, tuple)


def is_leaf(node):
    return not isinstance(node, CONTAINERS)


def _sorted_keys(node):
    try:
        return sorted(node)
    except TypeError as err:
        raise TypeError(f"params: expected dict keys that can be sorted (such as str), got {list(node)!r}") from err


def children(node):
    """[(key, child)] of a container in the one visiting order: sorted dict keys, list/tuple index."""
    if isinstance(node, dict):
        return [(k, node[k]) for k in _sorted_keys(node)]
    return list(enumerate(node))


def _rebuild(node, new_children):
    """A container like ``node`` holding ``new_children`` ({key: child}); dicts keep node's key order."""
    if isinstance(node, dict):
        return {k: new_children[k] for k in node}
    return type(node)(new_children[i] for i in range(len(node)))


def leaves(tree):
    """Every leaf of ``tree``, in the visiting order."""
    found = []
    _collect(tree, found)
    return found


def _collect(node, found):
    # the visiting order of ``children``, appended to one list: a training step walks its params
    # several times (the fast path looks for autograd boxes in them), so no list per level
    if isinstance(node, dict):
        for key in _sorted_keys(node):
            _collect(node[key], found)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _collect(child, found)
    else:
        found.append(node)


def path_step(key):
    """How one step down the tree is written: [0] for a list entry, ['W'] for a dict key."""
    return f"[{key!r}]"


def leaves_with_paths(tree, root="params"):
    """[(path, leaf)] in the visiting order, with readable paths such as `params[0]['W']`."""
    if is_leaf(tree):
        return [(root, tree)]
    return [item for key, child in children(tree) for item in leaves_with_paths(child, root + path_step(key))]


def map(fn, tree, *rest):
    """The tree of ``fn(leaf, *leaves_of_rest)``, same containers; ``fn`` is called in the visiting order
    (so a function that draws random numbers draws them in that order).

    ``rest``: trees of the same structure as ``tree`` whose leaves are passed alongside.
    """
    if is_leaf(tree):
        return fn(tree, *rest)
    done = {key: map(fn, child, *(r[key] for r in rest)) for key, child in children(tree)}
    return _rebuild(tree, done)


def size(tree):
    """The number of scalars in the tree: sum over leaves of their sizes."""
    return sum(int(onp.size(leaf)) for leaf in leaves(tree))


def flatten(tree):
    """Every leaf, raveled and concatenated in the visiting order, as one float64 vector theta."""
    parts = [onp.ravel(onp.asarray(leaf, dtype=onp.float64)) for leaf in leaves(tree)]
    return onp.concatenate(parts) if parts else onp.zeros(0)


def unflatten(template, flat):
    """The inverse of ``flatten``: a tree shaped like ``template`` whose leaves are read from ``flat``.

    The leaves are *views* into ``flat`` (no copy): writing into ``flat`` in place
    changes them, which is how the training loop updates a whole tree in one operation.
    Pass ``flat.copy()`` for an independent tree.
    """
    flat = onp.asarray(flat)
    shapes = [onp.shape(leaf) for leaf in leaves(template)]
    ends = onp.cumsum([0] + [int(onp.prod(s, dtype=int)) for s in shapes])  # where each leaf's entries end
    if flat.shape != (ends[-1],):
        raise ValueError(f"flat: expected a vector of {ends[-1]} entries (the template's size), got shape {flat.shape}")
    views = iter(flat[a:b].reshape(s) for a, b, s in zip(ends[:-1], ends[1:], shapes))
    return map(lambda _: next(views), template)  # map visits the leaves in the order flatten did
