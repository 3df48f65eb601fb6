"""The spline coupling's fast density pass (tinygen/fast/spline.py) equals the reference.

The reference is ``Coupling._couple`` with ``rq_spline(..., inverse=True)``, differentiated by
autograd through the quadratic formula; the kernel differentiates the same root implicitly
(dxi/dtheta = -(dy/dtheta) / (dy/dxi)). Both start from the same computed root xi and differ
only through its error, the residual y(xi) - v over dy/dxi.

Tolerances. Gently bent splines (params perturbed by the kit's ``perturb`` at scale 0.1: bins
unequal, slopes O(1)): the root is accurate to a few ulps and the two paths agree to ~1e-14
relative (measured 6e-15 over 300 random layers, knots included); RTOL = 1e-9 relative to the
largest entry leaves room for that and still catches any wrong term (a wrong formula is off by
1e-3 or more). Strongly bent splines (scale 1.0): in most layers some bin shrinks to the minimum
width (1e-3 of 2B) next to bins whose mean slope s_k is up to ~1e5 times their knot slopes; near a
knot the quadratic formula cancels (-b - sqrt(b^2 - 4ac) with b < 0 and b^2 >> |4ac|), so the
root loses digits. Both paths share that root; checked against a 50-digit mpmath root on such
cases, each is off from the exact derivative by the same order. RTOL_BENT = 1e-5 covers that
(measured at most 1.5e-9 over 300 random layers at this scale, 2e-4 at scale 3); the strict test
above is the one that pins the formulas.
Second derivatives step aside to the reference (tests/test_fast.py checks them for every layer).
"""

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from autograd.misc import flatten
from fast_checks import close_to_reference, counting
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import fast
from tinygen.flows import NeuralSplineFlow, SplineCoupling
from tinygen.flows.splines import MIN_BIN_WIDTH, spline_knots
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds

RTOL = 1e-9        # gently bent splines: see the module docstring
RTOL_BENT = 1e-5   # strongly bent splines (an ill-conditioned root shared by both paths)


@pytest.fixture(autouse=True, scope="module")
def kernels_installed():
    """The kernels in place for every differentiation here, as minimize has them around each gradient."""
    with fast.installed():
        yield


def _close(a, b, what, rtol=RTOL):
    close_to_reference(a, b, what, rtol)


def _flat(tree):
    return flatten(tree)[0]  # every leaf of a params pytree in one vector


def _case(seed, dim, bins, bound, context_dim, scale):
    """A layer with perturbed conditioner weights (unequal bins, bent splines), and inputs of
    every kind: uniform over [-1.5B, 1.5B] (a third in the identity tails), and rows whose
    transformed coordinates sit on or next to a y-knot of their own spline (including +-B)."""
    rng = onp.random.default_rng(seed)
    mask = onp.zeros(dim)
    mask[rng.choice(dim, size=int(rng.integers(1, dim)), replace=False)] = 1.0
    layer = SplineCoupling(dim, mask, hidden=(8,), bins=bins, bound=bound, context_dim=context_dim)
    params = perturb(layer.init(rng), rng, scale)
    n = 12
    x = rng.uniform(-1.5 * bound, 1.5 * bound, size=(n, dim))
    context = rng.standard_normal((n, context_dim)) if context_dim else None
    with fast.disabled():
        theta = layer._theta(params, x[:, layer.idx_cond], context)  # depends on x_{1:d} only
    _, y_knots = spline_knots(theta[..., :bins], theta[..., bins:2 * bins], bound)
    j = rng.integers(0, bins + 1, size=(n, layer.idx_trans.size, 1))
    offsets = bound * rng.choice([0.0, 1e-15, -1e-15, 1e-12, -1e-12, 1e-7, -1e-7], size=j.shape[:-1])
    near = onp.take_along_axis(y_knots, j, axis=-1)[..., 0] + offsets
    x[n // 2:, layer.idx_trans] = near[n // 2:]
    return layer, params, x, context, rng


def _check_against_reference(seed, dim, bins, bound, context_dim, scale, rtol):
    layer, params, x, context, rng = _case(seed, dim, bins, bound, context_dim, scale)
    w_z, w_l = rng.standard_normal(x.shape), rng.standard_normal(x.shape[0])

    def scalar(p, v, c):  # a random linear functional of (z, log|det dg/dx|)
        z, log_det = layer.inverse(p, v, c)
        return anp.sum(w_z * z) + anp.sum(w_l * log_det)

    argnums = (0, 1, 2) if context_dim else (0, 1)
    with counting(fast.spline, "spline_fused") as calls:
        fast_grads = [grad(scalar, i)(params, x, context) for i in argnums]
    assert len(calls) == len(argnums)  # every gradient above went through the kernel
    with fast.disabled():
        ref_grads = [grad(scalar, i)(params, x, context) for i in argnums]
        ref_z, ref_ld = layer.inverse(params, x, context)
    # values: the kernel's own forward pass (untraced calls take the reference code)
    (z, log_det), _ = fast.spline.spline_density_forward(layer, params["conditioner"], x, context)
    _close(z, ref_z, "z", rtol)
    _close(log_det, ref_ld, "log_det", rtol)
    for name, g_fast, g_ref in zip(("d/dparams", "d/dx", "d/dcontext"), fast_grads, ref_grads):
        _close(_flat(g_fast), _flat(g_ref), name, rtol)


layers = dict(seed=seeds, dim=st.integers(2, 4), bins=st.integers(1, 10), bound=st.floats(0.5, 5.0),
              context_dim=st.sampled_from([0, 2]))


@settings(max_examples=60, deadline=None)
@given(**layers)
def test_fast_spline_density_equals_the_reference(seed, dim, bins, bound, context_dim):
    _check_against_reference(seed, dim, bins, bound, context_dim, scale=0.1, rtol=RTOL)


@settings(max_examples=30, deadline=None)
@given(**layers)
def test_fast_spline_density_equals_the_reference_when_strongly_bent(seed, dim, bins, bound, context_dim):
    _check_against_reference(seed, dim, bins, bound, context_dim, scale=1.0, rtol=RTOL_BENT)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, bins=st.integers(1, 10), bound=st.floats(0.5, 5.0), scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_kernel_knots_equal_the_reference_knots_to_the_bit(seed, bins, bound, scale):
    # Bit-equal knots put an input lying exactly on a knot in the same bin, with the same xi
    # (0 there, where the reference's clip passes no gradient), on both paths.
    u = scale * onp.random.default_rng(seed).standard_normal((5, 3, bins))
    knots, p = fast.spline._knots(u, bound, MIN_BIN_WIDTH)
    onp.testing.assert_array_equal(knots, spline_knots(u, u, bound)[0])
    onp.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-14)  # softmax: sums to 1 up to rounding


def test_tails_have_unit_x_gradient_and_no_parameter_gradient():
    # Outside [-B, B] the spline is the identity: z_i = x_i, log|dz_i/dx_i| = 0 whatever theta is.
    layer = SplineCoupling(2, [1, 0], hidden=(4,), bins=3, bound=1.0)
    params = layer.init(0)
    params["conditioner"][-1]["W"] = onp.random.default_rng(0).standard_normal((4, 8))
    x = onp.array([[0.3, 2.5], [-0.7, -1.0], [0.1, 1.0]])  # +-B count as tails (both branches agree)
    g_x, g_net = grad(lambda v, p: anp.sum(layer.inverse(p, v)[0][:, 1]), (0, 1))(x, params)
    onp.testing.assert_array_equal(g_x, [[0.0, 1.0]] * 3)
    assert all(onp.all(leaf == 0) for leaf in _flat(g_net))


def test_neural_spline_flow_training_step_runs_one_fused_stack():
    model = NeuralSplineFlow(2, n_layers=4, hidden=(8, 8), bins=4)
    x = tinygen.data.two_moons(64, rng=0)
    params = model.init(0)
    with counting(fast.flow, "stack_fused") as stack, counting(fast.spline, "spline_fused") as single:
        loss, g = tinygen.optim.value_and_grad(lambda p: model.loss(p, x))(params)
        tinygen.fit(model, params, x, steps=1, batch_size=32, progress=False)
    assert len(stack) == 2 and single == []  # one primitive per step for the whole stack, no per-layer ones
    with fast.disabled():
        loss_ref, g_ref = tinygen.optim.value_and_grad(lambda p: model.loss(p, x))(params)
    _close(loss, loss_ref, "loss")
    _close(_flat(g), _flat(g_ref), "loss gradient")


def test_fifty_training_steps_stay_close():
    # Unlike RealNVP (tests/test_fast.py: ~1e-13 apart), 50 Adam steps of a spline flow amplify
    # rounding: the reference alone moves by ~1e-5 when its initial params are scaled by
    # (1 + 1e-15) (measured). The fast path differs from the reference by rounding at every step,
    # so it must stay as close as that: 1e-4 in every loss and parameter (measured 2.6e-7 to 7e-7).
    model = NeuralSplineFlow(2, n_layers=4, hidden=(16, 16), bins=8)
    x = tinygen.data.two_moons(512, rng=0)
    p_fast, h_fast = tinygen.fit(model, model.init(0), x, steps=50, lr=3e-3, progress=False)
    with fast.disabled():
        p_ref, h_ref = tinygen.fit(model, model.init(0), x, steps=50, lr=3e-3, progress=False)
    onp.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=0, atol=1e-4)
    onp.testing.assert_allclose(_flat(p_fast), _flat(p_ref), rtol=0, atol=1e-4)
