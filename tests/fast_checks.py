"""The comparison the fused-kernel tests share (tests/test_fast_sequences.py, tests/test_fast_spline.py)."""
import contextlib

import numpy as onp


def close_to_reference(a, b, what, rtol):
    """max |a - b| <= rtol * max(1, max |b|): the fast path's value a against the reference's b."""
    a, b = onp.asarray(a), onp.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape}, {b.shape}"
    scale = max(1.0, float(onp.max(onp.abs(b))))
    err = float(onp.max(onp.abs(a - b)))
    assert err <= rtol * scale, f"{what}: max |fast - reference| = {err:.3g} at scale {scale:.3g}"


@contextlib.contextmanager
def counting(module, name):
    """Count the calls of module.name inside the block (a spy that hypothesis can repeat)."""
    calls, original = [], getattr(module, name)

    def counted(*args):
        calls.append(1)
        return original(*args)
    setattr(module, name, counted)
    try:
        yield calls
    finally:
        setattr(module, name, original)
