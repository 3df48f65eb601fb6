"""Unnormalized 2-D targets: the paper's formulas, log Z against independent integrals, the user API."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from tinygen.testing.strategies import seeds
from tinygen import data, evaluate
from tinygen.data.potentials import ENVELOPE_SCALE, Potential, gauss_legendre_panels, quadrature_log_z

S = ENVELOPE_SCALE


def paper_U(name, z):
    """Rezende & Mohamed (2015), Table 1, transcribed directly (plain exp/log, no stabilizing)."""
    z1, z2 = z[:, 0], z[:, 1]
    w1 = np.sin(2 * np.pi * z1 / 4)
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + np.exp(-(z1 - 1) / 0.3))
    if name == "U1":
        return 0.5 * ((np.linalg.norm(z, axis=1) - 2) / 0.4) ** 2 - np.log(
            np.exp(-0.5 * ((z1 - 2) / 0.6) ** 2) + np.exp(-0.5 * ((z1 + 2) / 0.6) ** 2))
    if name == "U2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2
    if name == "U3":
        return -np.log(np.exp(-0.5 * ((z2 - w1) / 0.35) ** 2) + np.exp(-0.5 * ((z2 - w1 + w2) / 0.35) ** 2))
    return -np.log(np.exp(-0.5 * ((z2 - w1) / 0.4) ** 2) + np.exp(-0.5 * ((z2 - w1 + w3) / 0.35) ** 2))


@settings(max_examples=20)
@given(seed=seeds)
def test_potentials_are_the_papers_with_the_envelope_on_u2_to_u4(seed):
    z = np.random.default_rng(seed).uniform(-4, 4, size=(50, 2))  # the paper's box: no exp underflows here
    for name in ("U1", "U2", "U3", "U4"):
        envelope = 0.0 if name == "U1" else z[:, 0] ** 2 / (2 * S ** 2)
        # 1e-9: the same formulas in float64, one of them through logsumexp
        np.testing.assert_allclose(data.potential(name).U(z), paper_U(name, z) + envelope, rtol=1e-9, atol=1e-9)


def test_log_z_of_u2_to_u4_matches_the_closed_form():
    # Along z_2, exp(-U) is one Gaussian bump (U2, sd 0.4) or two (U3: 0.35 + 0.35; U4: 0.4 + 0.35) whose
    # integral sqrt(2 pi) * (sum of sds) does not depend on z_1; the envelope adds sqrt(2 pi) s along z_1.
    for name, sds in (("U2", 0.4), ("U3", 0.7), ("U4", 0.75)):
        target = data.potential(name)
        exact = math.log(2 * math.pi * S * sds)
        assert target.log_z == pytest.approx(exact, abs=1e-10)  # Gauss-Legendre on a smooth integrand
        assert target.log_z_error < 1e-8


def test_log_z_of_u1_matches_adaptive_quadrature():
    # scipy's adaptive dblquad in polar coordinates (r, phi): an integration independent of the tensor
    # Gauss-Legendre rule; exp(-U1) < 1e-12 beyond r = 5.
    def integrand(r, phi):
        z = np.array([[r * np.cos(phi), r * np.sin(phi)]])
        return r * np.exp(-paper_U("U1", z)[0])

    Z, err = integrate.dblquad(integrand, 0, 2 * np.pi, 0, 6, epsabs=1e-11, epsrel=1e-11)
    target = data.potential("U1")
    assert err < 1e-9
    assert target.log_z == pytest.approx(math.log(Z), abs=1e-8)  # both far more accurate than this
    assert target.log_z_error < 1e-8


def test_two_moons_target_is_the_exact_density_and_normalized():
    target = data.potential("two_moons")
    box = np.array(data.MOONS_BOUNDS)
    x = np.concatenate([data.two_moons(300, rng=0), np.random.default_rng(1).uniform(box[:, 0], box[:, 1], (300, 2))])
    exact = data.two_moons_log_prob(x)
    near = exact > -20
    # fixed 8-node panels of width 2 * noise along each arc: where p > e^-20 the two agree to 1e-8
    # (measured max 3e-9 on 2e4 points); further out (beyond the arcs' ends, where the bump in t is
    # steepest) p is below e^-20 and log p still agrees to 1e-4 relative (measured max 4e-5)
    np.testing.assert_allclose(target.log_p_tilde(x[near]), exact[near], rtol=0, atol=1e-8)
    np.testing.assert_allclose(target.log_p_tilde(x[~near]), exact[~near], rtol=1e-4)
    assert target.log_z == 0.0  # normalized by construction: each node's Gaussian integrates to 1
    # an independent check of that: the midpoint rule on a 200 x 200 grid over MOONS_BOUNDS (cells
    # h <= 0.02 = 0.4 noise). A uniform-grid sum of a Gaussian of width sigma is off by about
    # exp(-2 pi^2 sigma^2 / h^2) ~ e^-120 of its mass, and the box leaves out less than e^-50 (a margin
    # of 10 noise widths around the arcs), so 1e-4 is far above both
    mass = evaluate.grid_integral(target.log_p_tilde, data.MOONS_BOUNDS, n=200)
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_log_p_tilde_is_differentiable_in_z():
    z = np.array([[0.3, -1.2], [1.5, 2.0], [0.0, 0.0]])
    for name in ("U1", "U2", "U3", "U4", "two_moons"):
        # reverse-mode gradient (what the reparameterized fit uses) against finite differences
        check_grads(lambda v: anp.sum(data.potential(name).log_p_tilde(v)), modes=["rev"], order=1)(z)


def test_a_users_own_target_gets_log_z_by_quadrature():
    m, s = np.array([0.5, -0.3]), np.array([0.7, 1.1])
    target = Potential(lambda z: -0.5 * anp.sum(((z - m) / s) ** 2, axis=1) + 3.0, bounds=((-8, 8), (-8, 8)))
    # log Z = 3 + log(2 pi s_1 s_2); the box holds all but e^-40 of the mass
    assert target.log_z == pytest.approx(3.0 + math.log(2 * math.pi * s.prod()), abs=1e-10)
    z = np.array([[0.0, 0.0]])
    assert target.log_prob(z)[0] == pytest.approx(target.log_p_tilde(z)[0] - target.log_z, abs=1e-15)
    # the error estimate is a difference of two rules: a box too coarse for the bump shows it
    log_z, error = quadrature_log_z(target.log_p_tilde, ((-8, 8), (-8, 8)), panel_width=4.0)
    assert error > abs(log_z - target.log_z) / 10


@settings(max_examples=30)
@given(offset=st.floats(0.0, 1.0, exclude_max=True), n_panels=st.integers(1, 6), degree=st.integers(0, 15))
def test_panels_moved_by_any_offset_still_integrate_polynomials_exactly(offset, n_panels, degree):
    # each panel is an 8-point Gauss-Legendre rule, exact for degree <= 15, and the panels still tile
    # [lo, hi]: so the moved rule integrates t^degree exactly (to rounding, 1e-12 relative)
    lo, hi = -1.3, 2.1
    t, w = gauss_legendre_panels(lo, hi, n_panels, offset)
    assert np.all((t >= lo) & (t <= hi)) and np.all(w >= 0)  # a tiny offset makes a panel of width ~0
    exact = (hi ** (degree + 1) - lo ** (degree + 1)) / (degree + 1)
    assert abs(np.sum(w * t ** degree) - exact) < 1e-12 * max(1.0, abs(exact), hi ** degree * (hi - lo))


@pytest.mark.parametrize("offset", [-0.1, 1.0, math.nan, "0.5"])
def test_panels_refuse_an_offset_outside_zero_to_one(offset):
    with pytest.raises(ValueError, match=r"^offset"):
        gauss_legendre_panels(0.0, 1.0, 3, offset)


def test_bad_input():
    with pytest.raises(ValueError, match=r"^name: "):
        data.potential("U5")
    with pytest.raises(TypeError, match=r"^noise: "):
        data.potential("U1", noise=0.1)
    with pytest.raises(ValueError, match=r"^noise: "):
        data.potential("two_moons", noise=-1.0)
    with pytest.raises(TypeError, match=r"^log_p_tilde: "):
        Potential("U1")
    with pytest.raises(ValueError, match=r"^log_p_tilde: "):
        Potential(lambda z: z).log_p_tilde(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"^z: "):
        data.potential("U1").log_p_tilde(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^log_z: "):
        Potential(lambda z: -anp.sum(z ** 2, axis=1), dim=3).log_prob(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"^box: "):
        quadrature_log_z(lambda z: z[:, 0], ((1, 0), (0, 1)))
