"""Shared hypothesis strategies: dimensions, batch sizes, seeds and input arrays."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

seeds = st.integers(min_value=0, max_value=2**32 - 1)
dims = st.integers(min_value=1, max_value=6)
batch_sizes = st.integers(min_value=1, max_value=8)


def finite_floats(bound=10.0):
    return st.floats(min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False)


def batches(n, d, bound=10.0):
    """An (n, d) float64 array with entries in [-bound, bound]."""
    return arrays(np.float64, (n, d), elements=finite_floats(bound))


def positive_floats(low=0.1, high=10.0):
    """Scales sigma in [low, high] (a positive bound keeps densities and KLs well conditioned)."""
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def vectors(d, bound=10.0, elements=None):
    """A (d,) float64 array, entries in [-bound, bound] unless ``elements`` is given."""
    return arrays(np.float64, (d,), elements=finite_floats(bound) if elements is None else elements)


# --- flow layer checks (shared by tests/test_flows_elementwise.py, _splines.py, _linear.py) ---

def check_flow_exact(flow, params, v, atol, log_det_atol=None):
    """Invertibility both ways, hand-written log-dets vs slogdet(autograd.jacobian), and their cancelling.

    ``v`` (n, D) is used once as z (forward first) and once as x (inverse first).
    ``atol`` is scaled by (1 + |v|) for the round trips; the log-dets use ``log_det_atol``
    (default ``atol``).
    """
    from autograd import jacobian

    log_det_atol = atol if log_det_atol is None else log_det_atol
    x, ld_f = flow.forward(params, v)
    z_back, ld_g = flow.inverse(params, x)
    assert np.allclose(z_back, v, rtol=0, atol=atol * (1 + np.abs(v).max()))  # g(f(z)) = z
    assert np.allclose(ld_f + ld_g, 0.0, atol=log_det_atol)  # log|det df/dz| + log|det dg/dx| = 0
    z, ld_g2 = flow.inverse(params, v)
    x_back, _ = flow.forward(params, z)
    assert np.allclose(x_back, v, rtol=0, atol=atol * (1 + np.abs(v).max()))  # f(g(x)) = x
    for i in range(v.shape[0]):
        for fn, point, ld in ((flow.forward, v[i], ld_f[i]), (flow.inverse, v[i], ld_g2[i])):
            J = jacobian(lambda p: fn(params, p[None])[0][0])(point)
            assert np.allclose(np.linalg.slogdet(J)[1], ld, rtol=0, atol=log_det_atol)
