"""The comparison the fused-kernel tests share (tests/test_fast_rnn.py, tests/test_fast_spline.py)."""
import numpy as onp


def close_to_reference(a, b, what, rtol):
    """max |a - b| <= rtol * max(1, max |b|): the fast path's value a against the reference's b."""
    a, b = onp.asarray(a), onp.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape}, {b.shape}"
    scale = max(1.0, float(onp.max(onp.abs(b))))
    err = float(onp.max(onp.abs(a - b)))
    assert err <= rtol * scale, f"{what}: max |fast - reference| = {err:.3g} at scale {scale:.3g}"
