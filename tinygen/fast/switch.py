"""The one switch: the fast path is on unless a reader turns it off.

    with tinygen.fast.disabled():
        loss = model.loss(params, x)   # runs only the lecture code in the model modules

The switch is a context variable, so turning it off in one thread (or one
asyncio task) leaves every other thread on its own setting.
"""
import contextlib
import contextvars

__all__ = ["disabled", "enabled", "is_enabled"]

_ON = contextvars.ContextVar("tinygen_fast_path", default=True)


def is_enabled():
    """True when registered fast kernels may replace the reference code."""
    return _ON.get()


@contextlib.contextmanager
def _switched(on):
    token = _ON.set(on)
    try:
        yield
    finally:
        _ON.reset(token)


def disabled():
    """Run the block on the reference path only: every call steps through the model modules."""
    return _switched(False)


def enabled():
    """Run the block with the fast path on (the default), e.g. inside a ``disabled()`` block."""
    return _switched(True)
