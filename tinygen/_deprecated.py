"""Old public names, kept for one release: each still works and warns with the new name.

The vocabulary of every family is ``rng`` for a source of randomness, ``n_layers``
for the length of a stack and ``sample(n, rng)`` for a distribution. Constructors
that used to take ``seed=`` or ``n_flows=`` take ``**renamed`` to accept the old
keyword, so that their signatures show only the new names.
"""
import warnings

import numpy as onp


def take_renamed(renamed, old, new, value, default, where):
    """The value of keyword ``new``, or of its deprecated old name ``old`` if the caller used it.

    renamed: the dict of keywords a ``**renamed`` parameter caught; ``old`` is removed from it.
    Giving both names is a TypeError (which one was meant is unknown).
    """
    if old not in renamed:
        return value
    if value is not default:
        raise TypeError(f"{old}: {where} got both {old}= and its new name {new}=; pass {new}= only")
    warnings.warn(f"{where}: the keyword {old}= is deprecated, use {new}=", DeprecationWarning, stacklevel=3)
    return renamed.pop(old)


def refuse_unknown(renamed, where):
    """TypeError for a keyword left in ``renamed`` after the known old names were taken."""
    for key in renamed:
        raise TypeError(f"{key}: {where} got an unexpected keyword argument")


def sample_order(n, rng, where):
    """(n, rng) of ``sample(n, rng)``, also read from the old order ``sample(rng, n=1)``.

    The old order is recognized by a Generator as first argument (an int seed there
    cannot be told from n); it warns and swaps the two.
    """
    if isinstance(n, onp.random.Generator):
        warnings.warn(f"{where}(rng, n) is deprecated, call {where}(n, rng)", DeprecationWarning, stacklevel=3)
        return (1 if rng is None else rng), n
    return n, rng
