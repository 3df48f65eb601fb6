"""Every flow in tests/flow_cases.CASES, and compositions of them, through tinygen.testing.check_flow:
invertibility both ways, hand-written log-determinants against autograd's Jacobian, their
cancelling, a gradient for every parameter, finiteness and invertibility at large inputs.

Everything runs in float64 (machine epsilon 2.2e-16). The maps here are a few layers of
smooth arithmetic, so a round trip or a log-det agrees to ~1e-12 relative on O(1) inputs.
Round trips are held to 1e-8 relative to max(1, |z|, |x|) (four orders of magnitude for
error growth through the layers, while any wrong formula is off by O(1e-2) or more). The
log-dets get 1e-7: slogdet's LU works on the full Jacobian, whose off-diagonal blocks (the
conditioner's dx/dz) can be far larger than its determinant, and its error is relative to them.
"""
import pytest
from flow_cases import CASES
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.flows import Compose
from tinygen.testing import check_flow
from tinygen.testing.strategies import dims, seeds

IDS = [name for name, _ in CASES]
ATOL, LOG_DET_ATOL = 1e-8, 1e-7  # see the module docstring


def _make(factory, dim, seed):
    return factory(max(dim, factory.min_dim), seed)  # (flow, perturbed params)


# 6 draws of (dim, seed, bound) per case and 3 per composition: every case also has its own tests in
# its module's test file, and this pair is the suite's largest cost after the notebooks
@pytest.mark.parametrize("name, factory", CASES, ids=IDS)
@settings(max_examples=6)
@given(dim=dims, seed=seeds, data=st.data())
def test_every_flow_passes_check_flow(name, factory, dim, seed, data):
    flow, params = _make(factory, dim, seed)
    # O(1) points, or points as large as the case allows (a spline's identity tails, saturated clamps)
    bound = data.draw(st.sampled_from([3.0, factory.max_abs]))
    check_flow(flow, params, rng=seed, n=3, bound=bound, large=factory.max_abs, atol=ATOL,
               log_det_atol=LOG_DET_ATOL).assert_ok()


def _as_layer(flow):
    return getattr(flow, "flow", flow)  # a FlowModel wraps a Flow


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
@settings(max_examples=3)
@given(dim=dims, seed=seeds)
def test_compositions_pass_check_flow(k, dim, seed):
    # f = f_b o f_a: Compose's log-det, the sum of the two, must be log|det| of the composite Jacobian
    (_, fa), (_, fb) = CASES[k], CASES[(k + 1) % len(CASES)]
    dim = max(dim, fa.min_dim, fb.min_dim)
    # Two stacks each moved by the kit's 0.5 compound into maps that contract volume by up to
    # e^-30 (one RealNVP feeding a spline flow): so ill-conditioned that a round trip loses digits
    # in any arithmetic (1e-4 seen), no formula being wrong. Moved by 0.2, compositions stay
    # well-conditioned, far from the identity all the same.
    (a, pa), (b, pb) = fa(dim, seed, scale=0.2), fb(dim, seed + 1, scale=0.2)
    a, b = _as_layer(a), _as_layer(b)
    if b.context_dim not in (0, a.context_dim):  # two different context sizes cannot be shared
        (b, pb) = fa(dim, seed + 1, scale=0.2)
        b = _as_layer(b)
    check_flow(Compose([a, b]), [pa, pb], rng=seed, n=3, large=min(fa.max_abs, fb.max_abs), atol=ATOL,
               log_det_atol=LOG_DET_ATOL).assert_ok()
