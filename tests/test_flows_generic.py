"""One property test per flow in tests/flow_cases.CASES: invertibility, hand-written
log-determinants against autograd, cancellation, composition, gradients.

Everything runs in float64 (machine epsilon 2.2e-16). The maps here are a few
layers of smooth arithmetic, so a round trip or a log-det agrees to ~1e-12
relative on O(1) inputs; the tolerances below (1e-8 relative, with a floor of 1
for values near 0) leave four orders of magnitude for error growth through the
layers while still catching any wrong formula, which is off by O(1e-2) or more.
"""
import autograd
import autograd.numpy as np
import numpy as onp
import pytest
from autograd.misc import flatten
from flow_cases import CASES
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygen.testing.strategies import batch_sizes, batches, dims, seeds

from tinygen.flows import Compose

RTOL = 1e-8  # see the module docstring


def _bounds(factory):
    """Input magnitudes: O(1) and large (|z| up to 1e3 unless the case sets ``max_abs``).

    With large inputs a round trip subtracts quantities as large as the biggest value
    it meets (x - mu with both ~1e4), so errors are compared relative to max(|z|, |x|).
    A case may lower ``max_abs``: a stack of splines whose conditioners see |z| >> bound
    squeezes intervals to widths ~1e-6 per layer, and inverting a product of such slopes
    loses digits in any arithmetic (ill-conditioning of the map, not a wrong formula);
    its single layers are still tested at 1e3.
    """
    return st.sampled_from([3.0, getattr(factory, "max_abs", 1e3)])

IDS = [name for name, _ in CASES]


def _make(factory, dim, seed):
    dim = max(dim, getattr(factory, "min_dim", 1))
    flow, params = factory(dim, seed)
    return flow, params, dim


def _context(flow, n, rng):
    c_dim = getattr(flow, "context_dim", 0)
    return rng.standard_normal((n, c_dim)) if c_dim else None


def _close(a, b, scale, rtol=RTOL):
    """|a - b| <= rtol * max(1, scale) elementwise."""
    a, b = onp.asarray(a), onp.asarray(b)
    assert a.shape == b.shape
    bad = onp.abs(a - b) > rtol * onp.maximum(1.0, scale)
    assert not bad.any(), f"max |a - b| = {onp.max(onp.abs(a - b)):.3g} at scale {onp.max(scale):.3g}"


@pytest.mark.parametrize("name, factory", CASES, ids=IDS)
@settings(max_examples=25)
@given(dim=dims, n=batch_sizes, seed=seeds, data=st.data())
def test_round_trips_and_log_dets_cancel(name, factory, dim, n, seed, data):
    flow, params, dim = _make(factory, dim, seed)
    bound = data.draw(_bounds(factory))
    z = data.draw(batches(n, dim, bound))
    c = _context(flow, n, onp.random.default_rng(seed))

    x, ld_f = flow.forward(params, z, context=c)
    z_back, ld_g = flow.inverse(params, x, context=c)
    assert x.shape == (n, dim) and ld_f.shape == (n,) and ld_g.shape == (n,)
    scale = onp.maximum(onp.abs(z), onp.abs(x)).max(axis=1, keepdims=True)
    _close(z_back, z, scale)
    # log|det df/dz| at z and log|det dg/dx| at x = f(z) are negatives of each other.
    _close(ld_f + ld_g, onp.zeros(n), onp.abs(ld_f))

    # And the other way round, starting from a data point x.
    x2 = data.draw(batches(n, dim, bound))
    z2, ld_g2 = flow.inverse(params, x2, context=c)
    x2_back, ld_f2 = flow.forward(params, z2, context=c)
    scale2 = onp.maximum(onp.abs(x2), onp.abs(z2)).max(axis=1, keepdims=True)
    _close(x2_back, x2, scale2)
    _close(ld_f2 + ld_g2, onp.zeros(n), onp.abs(ld_g2))


def _jacobian_log_dets(fn, u, c):
    """log|det d fn / du| per sample, from autograd's full Jacobian and slogdet."""
    out = []
    for i in range(u.shape[0]):
        ci = None if c is None else c[i:i + 1]
        J = autograd.jacobian(lambda v: fn(v[None], ci)[0][0])(u[i])
        sign, logabs = onp.linalg.slogdet(J)
        assert sign != 0
        out.append(logabs)
    return onp.array(out)


@pytest.mark.parametrize("name, factory", CASES, ids=IDS)
@settings(max_examples=15)
@given(dim=dims, n=st.integers(1, 3), seed=seeds, data=st.data())
def test_log_det_matches_autograd_jacobian(name, factory, dim, n, seed, data):
    flow, params, dim = _make(factory, dim, seed)
    z = data.draw(batches(n, dim, data.draw(_bounds(factory))))
    c = _context(flow, n, onp.random.default_rng(seed))
    # slogdet's LU works on the full Jacobian, whose off-diagonal blocks (dz/dx of the
    # conditioner) can be far larger than its determinant: its error is relative to them,
    # hence 1e-7 rather than 1e-8.
    _, ld_f = flow.forward(params, z, context=c)
    _close(ld_f, _jacobian_log_dets(lambda v, ci: flow.forward(params, v, context=ci), z, c),
           onp.abs(ld_f), rtol=1e-7)
    _, ld_g = flow.inverse(params, z, context=c)
    _close(ld_g, _jacobian_log_dets(lambda v, ci: flow.inverse(params, v, context=ci), z, c),
           onp.abs(ld_g), rtol=1e-7)


def _as_layer(flow):
    return getattr(flow, "flow", flow)  # a FlowModel wraps a Flow


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
@settings(max_examples=15)
@given(dim=dims, n=batch_sizes, seed=seeds)
def test_composed_log_dets_add_up(k, dim, n, seed):
    (_, fa), (_, fb) = CASES[k], CASES[(k + 1) % len(CASES)]
    dim = max(dim, getattr(fa, "min_dim", 1), getattr(fb, "min_dim", 1))
    a, pa = fa(dim, seed)
    b, pb = fb(dim, seed + 1)
    a, b = _as_layer(a), _as_layer(b)
    if b.context_dim not in (0, a.context_dim):  # two different contexts cannot be shared
        b, pb = a, pa
    rng = onp.random.default_rng(seed)
    z = rng.standard_normal((n, dim))
    c = _context(Compose([a, b]), n, rng)

    x, ld = Compose([a, b]).forward([pa, pb], z, context=c)
    h, ld_a = a.forward(pa, z, context=c if a.context_dim else None)
    x_ab, ld_b = b.forward(pb, h, context=c if b.context_dim else None)
    _close(x, x_ab, onp.abs(x))
    _close(ld, ld_a + ld_b, onp.abs(ld))
    z_back, ld_inv = Compose([a, b]).inverse([pa, pb], x, context=c)
    _close(z_back, z, onp.abs(z))
    _close(ld_inv, -ld, onp.abs(ld))


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


# A fixed layer (a permutation) has no parameters: autograd then warns that the output
# does not depend on them, which is right; its (empty) gradient is still checked.
@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("name, factory", CASES, ids=IDS)
@settings(max_examples=10)
@given(dim=dims, seed=seeds)
def test_every_parameter_gets_a_gradient(name, factory, dim, seed):
    flow, params, dim = _make(factory, dim, seed)
    rng = onp.random.default_rng(seed)
    # O(1) inputs: large ones would sit in a spline's identity tails or a saturated
    # clamp, where a zero gradient is correct.
    n = 16
    z = rng.standard_normal((n, dim))
    c = _context(flow, n, rng)
    w = rng.standard_normal((n, dim))

    def objective(p):
        x, ld_f = flow.forward(p, z, context=c)
        u, ld_g = flow.inverse(p, z, context=c)
        return np.sum(w * x) + np.sum(ld_f) + np.sum(w * u) + np.sum(ld_g)

    grads = autograd.grad(objective)(params)
    assert flatten(grads)[0].shape == flatten(params)[0].shape
    for i, g in enumerate(_leaves(grads)):
        g = onp.asarray(g)
        assert onp.all(onp.isfinite(g)), f"leaf {i}: non-finite gradient"
        assert onp.any(g != 0), f"leaf {i} of shape {g.shape}: zero gradient"
