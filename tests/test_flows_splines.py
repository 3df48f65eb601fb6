"""Rational-quadratic splines: inverse, derivative, monotonicity, continuity, tails, normalization."""
from math import erf

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import elementwise_grad, grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.testing import check_flow
from tinygen.flows import ElementwiseSpline, FlowModel, rq_spline
from tinygen.flows.splines import spline_knots
from tinygen.testing.strategies import batch_sizes, dims, seeds

bins = st.integers(min_value=1, max_value=10)
bounds = st.floats(min_value=0.5, max_value=5.0)
# unnormalized parameter scales: 30 saturates the softmax (bins at the minimum size) and the softplus
scales = st.sampled_from([0.1, 1.0, 5.0, 30.0])


def _params(rng, n, m, K, scale):
    return (scale * rng.standard_normal((n, m, K)), scale * rng.standard_normal((n, m, K)),
            scale * rng.standard_normal((n, m, K - 1)))


@settings(max_examples=40)
@given(n=batch_sizes, m=dims, K=bins, B=bounds, seed=seeds, scale=scales)
def test_inverse_undoes_forward_and_log_derivs_cancel(n, m, K, B, seed, scale):
    rng = np.random.default_rng(seed)
    w, h, d = _params(rng, n, m, K, scale)
    x = rng.uniform(-1.5 * B, 1.5 * B, size=(n, m))  # a third of the points in the identity tails
    y, ld = rq_spline(x, w, h, d, B)
    x_back, ld_inv = rq_spline(y, w, h, d, B, inverse=True)
    # Conditioning: a round-off of y (~1e-16 B) moves f^-1(y) by 1e-16 B / f'(x), and at scale 30
    # f' falls to ~1e-8 in a wide bin squeezed to a minimum-height one. So allow 1e-13 B / f'(x)
    # (a 1000x margin over the conditioning) plus 1e-10 B for the well-conditioned points.
    assert np.all(np.abs(x_back - x) <= 1e-10 * B + 1e-13 * B * np.exp(-ld))
    assert np.allclose(rq_spline(x_back, w, h, d, B)[0], y, rtol=0, atol=1e-12 * B)  # f(f^-1(y)) = y
    # ld_inv is -log f' at x_back: off by |(log f')'| |x_back - x|, with |(log f')'| < 1e3 / B
    # (bins >= 2e-3 B wide) and |x_back - x| bounded as above
    assert np.all(np.abs(ld + ld_inv) <= 1e-9 + 1e-10 / B * np.exp(-ld))
    assert np.all(ld[np.abs(x) > B] == 0.0)  # identity tails


@settings(max_examples=40)
@given(n=batch_sizes, m=dims, K=bins, B=bounds, seed=seeds, scale=scales)
def test_log_derivative_matches_autograd_and_finite_differences(n, m, K, B, seed, scale):
    rng = np.random.default_rng(seed)
    w, h, d = _params(rng, n, m, K, scale)
    x = rng.uniform(-1.2 * B, 1.2 * B, size=(n, m))
    y, ld = rq_spline(x, w, h, d, B)
    dfdx = elementwise_grad(lambda v: rq_spline(v, w, h, d, B)[0])(x)
    # autograd differentiates the same expression: agreement to round-off
    assert np.allclose(ld, np.log(dfdx), atol=1e-9)
    ld_inv = rq_spline(y, w, h, d, B, inverse=True)[1]
    dgdy = elementwise_grad(lambda v: rq_spline(v, w, h, d, B, inverse=True)[0])(y)
    assert np.allclose(ld_inv, np.log(dgdy), atol=1e-7)  # the root's derivative: a few more operations
    # central differences, step 1e-6: truncation O(eps^2 f''') plus round-off O(1e-16/1e-6);
    # near a knot the step may straddle two pieces (f'' jumps), so compare slopes with 1e-4 relative
    eps = 1e-6
    fd = (rq_spline(x + eps, w, h, d, B)[0] - rq_spline(x - eps, w, h, d, B)[0]) / (2 * eps)
    assert np.allclose(fd, np.exp(ld), rtol=1e-4, atol=1e-7)


@settings(max_examples=30)
@given(m=dims, K=bins, B=bounds, seed=seeds, scale=scales)
def test_monotone_continuous_and_smooth_at_knots_and_bounds(m, K, B, seed, scale):
    rng = np.random.default_rng(seed)
    w, h, d = _params(rng, 1, m, K, scale)
    grid = np.linspace(-1.5 * B, 1.5 * B, 2001)[:, None] * np.ones(m)
    y = rq_spline(grid, w[0], h[0], d[0], B)[0]
    assert np.all(np.diff(y, axis=0) > 0)  # strictly increasing
    # every knot maps to its y-knot (x^(k) -> y^(k)), including -B -> -B and B -> B
    xk, yk = spline_knots(w[0], h[0], B)
    eps = 1e-12 * B  # ~5e3 ulps of B: small next to any bin (>= 2e-3 B), large next to round-off
    for k in range(K + 1):
        at = rq_spline(xk[:, k][None], w[0], h[0], d[0], B)[0][0]
        left, ld_l = rq_spline(xk[:, k][None] - eps, w[0], h[0], d[0], B)
        right, ld_r = rq_spline(xk[:, k][None] + eps, w[0], h[0], d[0], B)
        assert np.allclose(at, yk[:, k], atol=1e-12 * B)
        # continuity: a step of 2 eps moves y by at most (max slope ~ 1e3 at scale 30) * 2 eps
        assert np.allclose(left[0], right[0], atol=1e4 * eps)
        # C^1: the derivative delta^(k) is shared by the two pieces; at k = 0, K one side is
        # the identity tail, so this also checks delta^(0) = delta^(K) = 1. A 2 eps step changes
        # log f' by about |f''/f'| 2 eps; at scale 30 (bins 2e-3 B wide, slopes 1e-3..1e3)
        # |f''/f'| reaches ~1e9 / B, so 2e-3 is the honest bound.
        assert np.allclose(ld_l, ld_r, atol=2e-3)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("value", [1e3, -1e3, 3.0, -3.0, 3.0 + 1e-12])
def test_all_inputs_in_tails_give_finite_values_and_gradients(value, inverse):
    rng = np.random.default_rng(0)
    n, m, K = 4, 3, 5
    w, h, d = _params(rng, n, m, K, 30.0)
    x = np.full((n, m), value)

    def loss(x, w, h, d):
        y, ld = rq_spline(x, w, h, d, 3.0, inverse=inverse)
        return anp.sum(y ** 2) + anp.sum(ld)

    assert np.all(np.isfinite(loss(x, w, h, d)))
    for i in range(4):
        g = grad(loss, i)(x, w, h, d)
        assert np.all(np.isfinite(g))
    y, ld = rq_spline(x, w, h, d, 3.0, inverse=inverse)
    assert np.array_equal(y, x) and np.all(ld == 0.0)  # at and beyond +-B the map is the identity


@settings(max_examples=20)
@given(n=batch_sizes, m=dims, K=bins, seed=seeds)
def test_shared_parameters_broadcast_like_per_sample_ones(n, m, K, seed):
    rng = np.random.default_rng(seed)
    w, h, d = _params(rng, 1, m, K, 1.0)
    x = rng.normal(size=(n, m))
    shared = rq_spline(x, w[0], h[0], d[0], 2.0)
    tiled = rq_spline(x, *(np.repeat(a, n, axis=0) for a in (w, h, d)), 2.0)
    assert np.allclose(shared[0], tiled[0], rtol=0, atol=0) and np.allclose(shared[1], tiled[1], rtol=0, atol=0)


@settings(max_examples=20)
@given(dim=dims, K=bins, B=bounds, seed=seeds, n=batch_sizes)
def test_elementwise_spline_layer_is_exact(dim, K, B, seed, n):
    rng = np.random.default_rng(seed)
    flow = ElementwiseSpline(dim, bins=K, bound=B)
    params = flow.init(rng, scale=3.0)
    # 1e-9: as in the round trip above, a quadratic root at moderately skewed bins
    # one bin (K = 1) is a fixed linear map on [-B, B]: its parameters rightly get no gradient
    points = rng.uniform(-1.3 * B, 1.3 * B, size=(n, dim))
    check_flow(flow, params, points=points, atol=1e-9, gradients=K > 1).assert_ok()


def test_init_is_not_the_identity_and_every_leaf_gets_a_gradient():
    flow = ElementwiseSpline(2, bins=6, bound=2.0)
    params = flow.init(0)
    z = np.random.default_rng(1).normal(size=(50, 2))
    x, ld = flow.forward(params, z)
    assert np.abs(x - z).max() > 1e-2 and np.abs(ld).max() > 1e-2
    model = FlowModel(flow)
    g = grad(model.loss)(params, z * 0.7 + 0.3)
    for name, leaf in g.items():
        assert np.all(np.isfinite(leaf)) and np.abs(leaf).max() > 0, name


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_one_dimensional_density_integrates_to_one(seed):
    flow = ElementwiseSpline(1, bins=8, bound=2.0)
    params = flow.init(seed, scale=1.0)
    model = FlowModel(flow)
    # p_x is smooth between the knots y^(k) of f (the x-side knots) but peaks sharply where a
    # wide z-bin is squeezed into a thin x-bin (seed 3: width 2.5 -> 0.055), so each piece gets
    # composite Gauss-Legendre, 512 panels x 50 nodes (converged to ~1e-12 for these seeds).
    # The tails beyond |x| = 12 hold < 1e-30 of N(0, 1).
    z_knots, y_knots = (k[0] for k in spline_knots(params["widths"], params["heights"], 2.0))
    edges = np.concatenate([[-12.0], y_knots, [12.0]])
    nodes, weights = np.polynomial.legendre.leggauss(50)
    mass = []
    for a, b in zip(edges[:-1], edges[1:]):
        panels = np.linspace(a, b, 513)
        mid, half = (panels[1:] + panels[:-1]) / 2, (panels[1:] - panels[:-1]) / 2
        x = (mid[:, None] + half[:, None] * nodes).reshape(-1, 1)
        p = np.exp(model.log_prob(params, x))
        mass.append(np.sum((half[:, None] * weights).ravel() * p))
    assert sum(mass) == pytest.approx(1.0, abs=1e-10)  # quadrature error plus round-off
    # sharper: piece k holds exactly the base mass of its z-bin, P(z^(k) < z < z^(k+1))
    cdf = np.array([0.5 * (1 + erf(t / np.sqrt(2))) for t in np.concatenate([[-12.0], z_knots, [12.0]])])
    assert np.allclose(mass, np.diff(cdf), rtol=0, atol=1e-10)


def test_bad_arguments_name_themselves():
    x = np.zeros((2, 3))
    w, h, d = np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"^bound: "):
        rq_spline(x, w, h, d, 0.0)
    with pytest.raises(ValueError, match=r"^bound: "):
        rq_spline(x, w, h, d, -1.0)
    with pytest.raises(ValueError, match=r"^heights: "):
        rq_spline(x, w, np.zeros((3, 5)), d, 1.0)
    with pytest.raises(ValueError, match=r"^derivatives: "):
        rq_spline(x, w, h, np.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match=r"^widths: "):
        rq_spline(x, np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 3)), 1.0)
    with pytest.raises(ValueError, match=r"^bins: "):
        ElementwiseSpline(2, bins=0)
    with pytest.raises(TypeError, match=r"^bins: "):
        ElementwiseSpline(2, bins=2.5)
    with pytest.raises(ValueError, match=r"^bound: "):
        ElementwiseSpline(2, bound=0.0)
    with pytest.raises(ValueError, match=r"^dim: "):
        ElementwiseSpline(0)
    flow = ElementwiseSpline(3)
    params = flow.init(0)
    with pytest.raises(ValueError, match=r"^z: "):
        flow.forward(params, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"^x: "):
        flow.inverse(params, np.array([[0.0, np.nan, 0.0]]))


@pytest.mark.parametrize("fast_on", [True, False])
def test_inverse_derivative_at_a_knot_is_the_reported_one(fast_on):
    # At v = y^(k) exactly the root is xi = 0: the derivative dz/dv must still be (f^-1)'(v),
    # not 0 (a clip at the boundary would cut the gradient there).
    import tinygen
    from tinygen.flows import SplineCoupling
    from tinygen.flows.splines import spline_knots

    layer = SplineCoupling(2, [1, 0], hidden=(4,), bins=4, bound=2.0)
    params = tinygen.testing.perturb(layer.init(0), 1)
    x = np.array([[0.3, 0.0]])
    theta = layer._theta(params, x[:, :1], None)
    _, y_knots = spline_knots(theta[..., :4], theta[..., 4:8], 2.0)
    x[0, 1] = y_knots[0, 0, 2]  # an interior knot of this row's spline

    def z2(v):
        return layer.inverse(params, anp.concatenate([x[:, :1], v[:, None]], axis=1))[0][0, 1]

    with (tinygen.fast.installed() if fast_on else tinygen.fast.disabled()):
        slope = grad(z2)(x[:, 1])
        log_det = layer.inverse(params, x)[1][0]
    np.testing.assert_allclose(slope, np.exp(log_det), rtol=1e-12)
