"""Orderings of the D dimensions: which variable an autoregressive model or a permutation
layer puts first. An ordering is structure (it lives on the model object, never in params).

An ordering (o_1, ..., o_D) is a permutation of 0..D-1: "reverse" is (D-1, ..., 0),
"random" is drawn from rng, or the user gives one explicitly.
"""
import numpy as onp

from ._validate import as_rng

__all__ = ["ORDERS", "permutation"]

ORDERS = ("reverse", "random")


def permutation(dim, order="reverse", rng=None):
    """A permutation of 0..dim-1 as an int array: "reverse", "random" (needs rng) or explicit."""
    if isinstance(order, str):
        if order not in ORDERS:
            raise ValueError(f"order: expected one of {list(ORDERS)} or a permutation, got {order!r}")
        if order == "reverse":
            return onp.arange(dim)[::-1].copy()
        if rng is None:
            raise ValueError("rng: order='random' needs an rng (Generator or int seed), got None")
        return as_rng(rng).permutation(dim)
    perm = onp.asarray(order)
    if perm.dtype.kind not in "iu":
        raise TypeError(f"order: expected a sequence of ints, got dtype {perm.dtype}")
    if perm.shape != (dim,) or not onp.array_equal(onp.sort(perm), onp.arange(dim)):
        raise ValueError(f"order: expected a permutation of 0..{dim - 1}, got {perm.tolist()}")
    return perm.astype(onp.int64)
