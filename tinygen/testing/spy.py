"""Count how often a model calls one of its own methods, for tests and demos that show costs.

A model object holds structure only, so it keeps no counters. To see that MADE's
density takes one network pass and its sampling D passes, count the calls of its
one network evaluation, ``MADE.outputs``, while the code runs:

    with count_calls(made, "outputs") as passes:
        made.sample(params, 100, rng=0)
    passes.count   # D

Inside the block the reference code runs (``tinygen.fast.disabled()``): a fused
kernel computes the same pass without calling the method, so it could not be counted.
"""
import contextlib

from .. import fast

__all__ = ["Calls", "count_calls"]


class Calls:
    """The number of calls seen so far, in ``count``."""

    def __init__(self):
        self.count = 0


@contextlib.contextmanager
def count_calls(obj, method):
    """Count calls of ``obj.<method>`` inside the block (the object is restored on the way out)."""
    original = getattr(obj, method)
    if not callable(original):
        raise TypeError(f"method: expected the name of a method of {type(obj).__name__}, got {method!r}")
    calls = Calls()

    def counted(*args, **kwargs):
        calls.count += 1
        return original(*args, **kwargs)

    setattr(obj, method, counted)  # an instance attribute shadows the class's method ...
    try:
        with fast.disabled():
            yield calls
    finally:
        delattr(obj, method)  # ... until here: the object is as it was
