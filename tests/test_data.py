"""Tests for tinygen.data: exact toy densities, entropies, image data sets, standardization."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import data, evaluate
from tinygen.distributions import Normal, StandardNormal
from tinygen.functional import logsumexp
from tinygen.testing.strategies import seeds


# Reference entropies from independent 1e6-sample Monte Carlo runs (value, standard error).
MC_ENTROPY = {0.05: (0.2901, 0.0007), 0.1: (1.0086, 0.0008)}


def arcs(t, k):
    """c_0(t) = (cos t, sin t), c_1(t) = (1 - cos t, 1/2 - sin t), written out independently."""
    return np.column_stack([np.cos(t), np.sin(t)]) if k == 0 else np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)])


def reference_log_prob(x, noise, panels=2048):
    """The same integral with the plain |x - c(t)|^2 and 8-64x more, deeply graded panels."""
    t, log_w = data.arcs._panels(0.0, math.pi, panels, grade=40)
    comps = []
    for k in (0, 1):
        sq = np.sum((x[:, None, :] - arcs(t, k)[None]) ** 2, axis=-1)
        comps.append(logsumexp(log_w - sq / (2 * noise ** 2), axis=1) - math.log(math.pi * 2 * math.pi * noise ** 2))
    return logsumexp(np.stack(comps, axis=1) + math.log(0.5), axis=1)


# ------------------------------------------------------------------ two moons

def test_two_moons_shapes_labels_and_default_seed():
    x, k = data.two_moons(2000, labels=True)
    assert x.shape == (2000, 2) and x.dtype == np.float64
    assert k.shape == (2000,) and set(np.unique(k)) <= {0, 1}
    np.testing.assert_array_equal(x, data.two_moons(2000, rng=0))  # rng=None means seed 0
    assert not np.allclose(x, data.two_moons(2000, rng=1))
    # Each arc has probability 1/2: 4 binomial standard deviations, sqrt(n/4), around n/2.
    assert abs(k.sum() - 1000) < 4 * math.sqrt(2000 / 4)


def test_two_moons_points_lie_on_their_arcs():
    x, k = data.two_moons(500, noise=1e-9, rng=3, labels=True)
    outer, inner = x[k == 0], x[k == 1]
    # noise 1e-9: radii equal 1 up to ~1e-8 (a few noise standard deviations)
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, atol=1e-8)
    np.testing.assert_allclose(np.hypot(*(inner - [1.0, 0.5]).T), 1.0, atol=1e-8)
    assert outer[:, 1].min() > -1e-8 and inner[:, 1].max() < 0.5 + 1e-8


@pytest.mark.parametrize("noise", [0.05, 0.1])
def test_two_moons_density_integrates_to_one(noise):
    # Midpoint rule, cells ~noise/1.5 wide: for a smooth density decaying to ~0 at the box edges
    # its error falls faster than any power of the cell width (measured ~1e-15 here); 1e-8
    # leaves room for rounding yet catches any normalization error that matters.
    mass = evaluate.grid_integral(lambda x: data.two_moons_log_prob(x, noise), ((-2, 3), (-1.6, 2.1)), n=150)
    assert abs(mass - 1.0) < 1e-8


@settings(max_examples=25)
@given(x1=st.floats(-3, 4), x2=st.floats(-3, 3), noise=st.floats(0.02, 0.5))
def test_two_moons_log_prob_matches_finer_quadrature(x1, x2, noise):
    x = np.array([[x1, x2]])
    got, want = data.two_moons_log_prob(x, noise), reference_log_prob(x, noise)
    # 1e-8 relative in p(x) = 1e-8 absolute in log p(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_two_moons_log_prob_finite_far_away():
    x = np.array([[1e3, -2e3], [-1e6, 3.0], [0.5, 0.25]])
    log_p = data.two_moons_log_prob(x, 0.05)
    assert np.all(np.isfinite(log_p))
    # log p ~ -(distance to the nearest arc)^2 / (2 noise^2): the leading term to 0.1 % for far points
    d = np.hypot(*x[0]) - 1.0
    assert abs(log_p[0] / (-(d ** 2) / (2 * 0.05 ** 2)) - 1) < 1e-3


def test_two_moons_conditional_density():
    x = data.two_moons(300, rng=5)
    cond = [data.two_moons_log_prob(x, labels=np.full(300, k)) for k in (0, 1)]
    # p(x) = 1/2 p(x | outer) + 1/2 p(x | inner), to rounding
    np.testing.assert_allclose(data.two_moons_log_prob(x), np.logaddexp(*cond) + math.log(0.5), atol=1e-12)
    for k in (0, 1):
        mass = evaluate.grid_integral(
            lambda p, k=k: data.two_moons_log_prob(p, labels=np.full(len(p), k)), ((-2, 3), (-1.6, 2.1)), n=150)
        assert abs(mass - 1.0) < 1e-8  # as for the unconditional density
    x, k = data.two_moons(2000, rng=6, labels=True)
    # each point is far likelier under its own arc, except where the arcs cross (a few per cent)
    right = data.two_moons_log_prob(x, labels=k) > data.two_moons_log_prob(x, labels=1 - k)
    assert right.mean() > 0.95


@pytest.mark.parametrize("noise", [0.05, 0.1])
def test_two_moons_entropy_matches_monte_carlo_reference(noise):
    h = data.two_moons_entropy(noise)
    ref, se = MC_ENTROPY[noise]
    # A Monte Carlo estimate lies within 3 standard errors of the truth 99.7 % of the time.
    assert abs(h - ref) < 3 * se
    assert data.two_moons_entropy(noise) == h  # cached, deterministic
    # the stored value is the quadrature's own result, recomputed here: the same float
    assert data.toys.moon_arcs(noise).entropy() == data.toys.KNOWN_ENTROPY[noise] == h


def test_two_moons_entropy_matches_grid_integral():
    # -int p log p by the midpoint rule on a fine grid: an independent deterministic check.
    noise = 0.1
    box = ((-2, 3), (-1.6, 2.1))
    n = 200
    h = [(hi - lo) / n for lo, hi in box]
    g = [lo + hh * (np.arange(n) + 0.5) for (lo, hi), hh in zip(box, h)]
    pts = np.column_stack([a.ravel() for a in np.meshgrid(*g)])
    log_p = data.two_moons_log_prob(pts, noise)
    grid_h = -np.sum(np.exp(log_p) * log_p) * h[0] * h[1]
    # The grid sum is exact to ~1e-9; Gauss-Hermite with 20^2 nodes to ~2e-6 at this noise.
    assert abs(grid_h - data.two_moons_entropy(noise)) < 1e-5


@pytest.mark.parametrize("noise", [0.05, 0.1])
def test_two_moons_sample_nll_matches_entropy(noise):
    log_p = data.two_moons_log_prob(data.two_moons(20000, noise, rng=11), noise)
    nll, se = evaluate.nll_stats(log_p)
    assert abs(nll - data.two_moons_entropy(noise)) < 4 * se  # 4 standard errors: fails ~1 in 16000 seeds


@pytest.mark.parametrize("call, name", [
    (lambda: data.two_moons(0), "n"),
    (lambda: data.two_moons(10, noise=0.0), "noise"),
    (lambda: data.two_moons(10, noise=-1.0), "noise"),
    (lambda: data.two_moons_log_prob(np.zeros((4, 3))), "x"),
    (lambda: data.two_moons_log_prob(np.array([[0.0, np.nan]])), "x"),
    (lambda: data.two_moons_log_prob(np.zeros((4, 2)), noise=float("nan")), "noise"),
    (lambda: data.two_moons_log_prob(np.zeros((4, 2)), labels=np.zeros(3)), "labels"),
    (lambda: data.two_moons_log_prob(np.zeros((2, 2)), labels=np.array([0, 2])), "labels"),
    (lambda: data.two_moons_entropy(0.0), "noise"),
    (lambda: data.toy("spiral"), "name"),
    (lambda: data.bars_and_stripes(5, size=0), "size"),
    (lambda: data.shapes8(-1), "n"),
    (lambda: data.digits8(threshold=0), "threshold"),
    (lambda: data.Standardizer([0.0, 0.0], [1.0, 0.0]), "s"),
])
def test_bad_input_is_named(call, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{re.escape(name)}: "):
        call()


def test_two_moons_rejects_a_non_int_n():
    with pytest.raises(TypeError, match=r"^n: "):
        data.two_moons(10.5)


# ------------------------------------------------------------------ other toys

@pytest.mark.parametrize("name", sorted(data.TOYS))
def test_toy_density_integrates_to_one(name):
    t = data.toy(name)
    # Midpoint rule; the boxes hold all but < 1e-7 of the mass, the smooth toys converge
    # spectrally, and with n = 120 the checkerboard's squares are unions of whole cells
    # (measured errors: 2e-16 to 1.3e-7, the largest for the eight Gaussians' box edges).
    assert abs(evaluate.grid_integral(t.log_prob, t.bounds, n=120) - 1.0) < 1e-6


@pytest.mark.parametrize("name", sorted(data.TOYS))
def test_toy_sample_nll_matches_entropy(name):
    t = data.toy(name)
    x = t.sample(20000, 4)
    assert x.shape == (20000, 2)
    np.testing.assert_array_equal(x, t.sample(20000, 4))
    nll, se = evaluate.nll_stats(t.log_prob(x))
    # 4 standard errors (se = 0 for the checkerboard, where every -log p equals H; 1e-12 for rounding)
    assert abs(nll - t.entropy()) < 4 * se + 1e-12


def test_checkerboard_support_and_entropy():
    t = data.Checkerboard(cells=4)
    assert t.entropy() == pytest.approx(math.log(8))
    x = np.array([[-1.5, -1.5], [-0.5, -1.5], [2.5, 0.0]])  # dark square, light square, off the board
    log_p = t.log_prob(x)
    assert log_p[0] == pytest.approx(-math.log(8)) and np.all(np.isneginf(log_p[1:]))
    assert np.all(np.isfinite(data.Checkerboard(3).log_prob(data.Checkerboard(3).sample(500, 1))))


def test_eight_gaussians_entropy_closed_form_when_separated():
    # Neighbouring means are 15 sigma apart, so the overlap changes H by < 1e-12:
    # H = log 8 + H(N(0, sigma^2 I)) = log 8 + 1 + log(2 pi sigma^2).
    sigma = 0.1
    want = math.log(8) + 1 + math.log(2 * math.pi * sigma ** 2)
    assert data.eight_gaussians(sigma=sigma).entropy() == pytest.approx(want, abs=1e-9)


def test_toy_options_are_passed_on():
    assert data.toy("two_moons", noise=0.1).entropy() == pytest.approx(data.two_moons_entropy(0.1))
    assert data.toy("rings", radii=(1.0,)).n_components == 1


# ------------------------------------------------------------ standardization

@settings(max_examples=20)
@given(m1=st.floats(-5, 5), m2=st.floats(-5, 5), s1=st.floats(0.1, 10), s2=st.floats(0.1, 10))
def test_standardizer_log_det_correction(m1, m2, s1, s2):
    m, s = np.array([m1, m2]), np.array([s1, s2])
    info = data.Standardizer(m, s)
    log_p_x = info.wrap(StandardNormal(2).log_prob)  # a "model" fitted on y = (x - m) / s
    x = m + s * np.random.default_rng(0).standard_normal((50, 2))
    # If y ~ N(0, I) then x ~ N(m, diag s^2): the corrected density is exactly that Normal.
    np.testing.assert_allclose(log_p_x(x), Normal(m, s).log_prob(x), rtol=1e-12, atol=1e-12)
    box = ((m1 - 8 * s1, m1 + 8 * s1), (m2 - 8 * s2, m2 + 8 * s2))
    # integrates to 1 in the original units; the 8-sigma box misses ~1e-15 of the mass
    assert abs(evaluate.grid_integral(log_p_x, box, n=200) - 1.0) < 1e-6


def test_standardize_round_trip():
    x = data.two_moons(1000, rng=2)
    y, info = data.standardize(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(info.inverse(y), x, atol=1e-12)
    assert info.log_det == pytest.approx(-np.sum(np.log(x.std(axis=0))))


# ------------------------------------------------------------- binary images

@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_bars_and_stripes_count_and_structure(size):
    p = data.bars_and_stripes_patterns(size)
    assert p.shape == (2 ** (size + 1) - 2, size, size)
    assert len({img.tobytes() for img in p}) == len(p)  # all distinct
    rows_constant = np.all(p == p[:, :, :1], axis=(1, 2))
    cols_constant = np.all(p == p[:, :1, :], axis=(1, 2))
    assert np.all(rows_constant | cols_constant)
    assert data.bars_and_stripes_entropy(size) == pytest.approx(math.log(len(p)))


def test_bars_and_stripes_uniform():
    x = data.bars_and_stripes(30000, size=4, rng=7)
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = data.bars_and_stripes_patterns(4)
    counts = np.array([np.sum(np.all(x == q, axis=(1, 2))) for q in p])
    assert counts.sum() == 30000
    # each count ~ Binomial(30000, 1/30): within 5 standard deviations (~155) of 1000
    assert np.max(np.abs(counts - 1000)) < 5 * math.sqrt(30000 * (1 / 30) * (29 / 30))


@given(seed=seeds)
@settings(max_examples=20)
def test_shapes8_binary_and_deterministic(seed):
    x, k = data.shapes8(40, rng=seed, labels=True)
    assert x.shape == (40, 8, 8) and x.dtype == np.float64
    assert set(np.unique(x)) <= {0.0, 1.0}
    assert np.all(x.sum(axis=(1, 2)) >= 2)  # every image shows a shape
    np.testing.assert_array_equal(x, data.shapes8(40, rng=seed))
    assert np.all((k >= 0) & (k < len(data.SHAPES)))


def test_shapes8_varies_and_covers_all_kinds():
    x, k = data.shapes8(400, rng=1, labels=True)
    assert set(k) == set(range(len(data.SHAPES)))
    assert len({img.tobytes() for img in x}) > 100
    assert not np.array_equal(x, data.shapes8(400, rng=2))


def test_digits8_ships_with_tinygen():
    x = data.digits8()  # read from the package's own file: no scikit-learn, no download
    assert x.shape == (1797, 8, 8)
    assert set(np.unique(x)) == {0.0, 1.0}
