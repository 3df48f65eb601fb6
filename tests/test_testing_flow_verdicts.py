"""check_flow and check_normalized give no false verdict: correct layers pass at any params (their
own init, the exact identity, zero last layers, perturbed), broken ones fail on the right property,
and what cannot be decided is said, never passed. The broken layers live here, never in tinygen."""
import autograd.numpy as np
import numpy as onp
import pytest
from autograd.tracer import getval
from flow_cases import CASES
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.flows import RealNVP
from tinygen.testing import Report, check_flow, check_normalized, perturb
from tinygen.testing.strategies import dims, seeds

# as in tests/test_flows_generic.py: a few layers of float64 arithmetic agree to ~1e-12; a wrong
# formula is off by 1e-2 or more. Log-dets get 1e-7 (slogdet's error is relative to the Jacobian's
# off-diagonal entries, which can dwarf its determinant).
ATOL, LOG_DET_ATOL = 1e-8, 1e-7


def failed(report):
    return [row.property for row in report.rows if not row.ok]


def zero_last_layers(tree):
    """params with the last (W, b) of every MLP set to exactly 0, as many layers are initialized."""
    if isinstance(tree, dict):
        return {k: zero_last_layers(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [zero_last_layers(t) for t in tree]
        if items and all(isinstance(t, dict) and "W" in t for t in items):  # an MLP: a list of layers
            items[-1] = {k: onp.zeros_like(v) for k, v in items[-1].items()}
        return type(tree)(items)
    return tree


# ---- correct layers pass at any params ----------------------------------------------------------
@settings(max_examples=25)
@given(case=st.sampled_from(CASES), dim=dims, seed=seeds, kind=st.sampled_from(["init", "perturbed", "zero last"]))
def test_correct_layers_pass_at_their_init_and_with_zero_last_layers(case, dim, seed, kind):
    _name, factory = case
    flow, moved = factory(max(dim, factory.min_dim), seed)
    params = {"init": flow.init(seed), "perturbed": moved, "zero last": zero_last_layers(moved)}[kind]
    check_flow(flow, params, rng=seed, n=2, large=min(factory.max_abs, 30.0), atol=ATOL,
               log_det_atol=LOG_DET_ATOL).assert_ok()


def test_realnvp_at_its_exact_identity_init_passes_and_says_how_gradients_were_decided():
    f = RealNVP(2, n_layers=2, hidden=(8,)).flow
    report = check_flow(f, params=f.init(0))  # zero last layers: f is exactly the identity
    assert report, str(report)
    assert "decided on perturbed copies" in str(report)


class Affine:
    """A student's elementwise affine layer x = z exp(log_s) + t, log|det df/dz| = sum_d log_s_d."""

    context_dim = 0

    def __init__(self, dim):
        self.dim = dim

    def init(self, rng):
        return {"log_s": np.zeros(self.dim), "t": np.zeros(self.dim)}

    def forward(self, params, z, context=None):
        return z * np.exp(params["log_s"]) + params["t"], np.sum(params["log_s"]) * np.ones(z.shape[0])

    def inverse(self, params, x, context=None):
        return (x - params["t"]) * np.exp(-params["log_s"]), -np.sum(params["log_s"]) * np.ones(x.shape[0])


def test_a_hand_written_affine_layer_passes_at_its_own_init():
    layer = Affine(3)
    check_flow(layer, layer.init(0)).assert_ok()  # identity: forward and inverse gradients no longer cancel


# ---- gradients: a disconnected leaf fails, an undecidable one is not passed ----------------------
class Disconnected(Affine):
    def init(self, rng):
        return {**super().init(rng), "unused": np.ones(2)}


@pytest.mark.parametrize("perturbed", [False, True])
def test_a_disconnected_leaf_fails_at_init_and_perturbed(perturbed):
    layer = Disconnected(2)
    params = perturb(layer.init(0), 1) if perturbed else layer.init(0)
    report = check_flow(layer, params)
    assert failed(report) == ["every parameter gets a gradient (3 leaves)"]
    assert "params['unused'] (shape (2,)): zero at the given params and on 3 perturbed copies" in str(report)


class OnlyAtInit(Affine):
    """x = z + c^2 with c = 0: dL/dc = 2c = 0, and the layer refuses any other c."""

    def init(self, rng):
        return {"c": np.zeros(1)}

    def _c(self, params):
        if onp.any(getval(params["c"]) != 0):
            raise ValueError("params['c']: this layer takes only c = 0")
        return params["c"] ** 2

    def forward(self, params, z, context=None):
        return z + self._c(params), np.zeros(z.shape[0])

    def inverse(self, params, x, context=None):
        return x - self._c(params), np.zeros(x.shape[0])


def test_a_gradient_that_cannot_be_decided_is_reported_so_and_is_not_a_pass():
    report = check_flow(OnlyAtInit(2), {"c": np.zeros(1)})
    assert not report
    (row,) = report.undecided
    assert row.property == "every parameter gets a gradient (1 leaf)"
    assert "could not decide params['c']" in row.where and "ValueError" in row.where
    assert "could not be decided (not a pass)" in str(report) and "could not decide" in str(report)


def test_an_undecided_row_makes_any_report_falsy():
    report = Report("r")
    report.add("p", 0.0, 1.0)
    assert report
    report.add("q", 0.0, 1.0, decided=False, where="too noisy")
    assert not report and report.undecided == report.failures == [report.rows[1]]
    assert "1 of 2 could not be decided (not a pass)" in str(report) and "FAIL" not in str(report)


# ---- log-dets far out -----------------------------------------------------------------------------
class SinhArcsinh:
    """x = sinh(delta arcsinh(z) + eps), delta = exp(log_delta):
    log|dx/dz| = sum_d [log cosh(delta arcsinh z_d + eps) + log delta - log(1 + z_d^2) / 2]."""

    context_dim = 0
    cutoff = None  # a broken layer forgets its log-det where |z_d| > cutoff

    def __init__(self, dim):
        self.dim = dim

    def init(self, rng):
        return {"eps": np.zeros(self.dim), "log_delta": np.zeros(self.dim)}

    def forward(self, params, z, context=None):
        u = np.exp(params["log_delta"]) * np.arcsinh(z) + params["eps"]
        ld = np.log(np.cosh(u)) + params["log_delta"] - 0.5 * np.log1p(z ** 2)
        if self.cutoff is not None:
            ld = np.where(np.abs(z) > self.cutoff, 0.0, ld)
        return np.sinh(u), np.sum(ld, axis=1)

    def inverse(self, params, x, context=None):
        v = (np.arcsinh(x) - params["eps"]) / np.exp(params["log_delta"])
        return np.sinh(v), np.sum(np.log(np.cosh(v)) - params["log_delta"] - 0.5 * np.log1p(x ** 2), axis=1)


class WrongFarOut(SinhArcsinh):
    cutoff = 10.0


@given(seed=seeds)
@settings(max_examples=5)
def test_a_log_det_wrong_only_far_out_fails_on_the_large_input_row(seed):
    assert check_flow(SinhArcsinh(2), rng=seed)
    report = check_flow(WrongFarOut(2), rng=seed)  # right on [-3, 3]^2, wrong beyond |z_d| = 10
    assert failed(report) == ["forward log_det = autograd at |z| ~ 30"]
    assert "hand-written" in str(report) and "at z[" in str(report)


# ---- a broken contract names the user's method ------------------------------------------------------
class ReturnsOnlyX(Affine):
    def forward(self, params, z, context=None):
        return z * np.exp(params["log_s"]) + params["t"]


class ScalarLogDet(Affine):
    def inverse(self, params, x, context=None):
        z, ld = super().inverse(params, x, context)
        return z, np.sum(ld)  # summed over the batch: shape () instead of (n,)


class NotNumbers(Affine):
    def forward(self, params, z, context=None):
        return z, None


def test_a_broken_contract_names_the_method_and_the_contract():
    with pytest.raises(TypeError, match=r"^flow\.forward: expected a pair \(values, log_det\) of shapes "
                                        r"\(n, D\) = \(4, 2\) and \(n,\) = \(4,\), got a single ndarray \(4, 2\)"):
        check_flow(ReturnsOnlyX(2))
    with pytest.raises(ValueError, match=r"^flow\.inverse: expected .*got a tuple of 2 \(ndarray \(4, 2\), \S+ \(\)\)"):
        check_flow(ScalarLogDet(2))
    with pytest.raises(TypeError, match=r"^flow\.forward: expected .*NoneType"):
        check_flow(NotNumbers(2))


# ---- check_normalized ---------------------------------------------------------------------------------
def log_normal(x, mean=0.0, scale=1.0):
    D = x.shape[1]
    return -0.5 * np.sum(((x - mean) / scale) ** 2, axis=1) - D * np.log(scale * np.sqrt(2 * np.pi))


@settings(max_examples=10)
@given(dim=st.integers(1, 3), mean=st.floats(-2, 2), scale=st.floats(0.5, 2.0), seed=seeds)
def test_check_normalized_never_fails_a_correct_gaussian(dim, mean, scale, seed):
    report = check_normalized(lambda x: log_normal(x, mean, scale), dim=dim, rng=seed)
    # never a FAIL; a narrow density far from q's shape may leave se above max_se: then the
    # report says it could not decide (not a pass), which is the truth about the estimate
    assert [row for row in report.failures if row.decided] == [], str(report)
    if scale >= 1.0 and abs(mean) <= 0.5:  # q = 0.8 N(0, 2^2 I) + ... wider than p and centred on it:
        # weights bounded by 2^D / 0.8, se below 0.015 in D <= 3
        report.assert_ok()


@settings(max_examples=10)
@given(far=st.floats(5.0, 30.0), extra=st.floats(0.5, 2.0), seed=seeds)
def test_check_normalized_never_passes_extra_mass_far_away(far, extra, seed):
    # p = N(0, 1) + extra N(far, 0.5^2): Z = 1 + extra, the extra mass far from the origin
    def log_p(x):
        return np.logaddexp(log_normal(x), np.log(extra) + log_normal(x, far, 0.5))

    report = check_normalized(log_p, dim=1, rng=seed)
    assert not report and "E_q[p/q] = 1 within 4 standard errors" in failed(report)


def test_check_normalized_the_z2_density_with_mass_at_30_is_refused_and_says_why():
    def log_p(x):  # Z = 2, the second unit of mass at x = 30
        return np.logaddexp(log_normal(x), log_normal(x, 30.0, 0.5))

    report = check_normalized(log_p, dim=1)
    assert not report, str(report)
    assert "E_q[p/q] = 1 within 4 standard errors" in failed(report)
    assert "Cauchy" in report.notes[0] and "effective sample size" in report.notes[0]


def test_check_normalized_takes_dim_from_bounds_or_a_sampler():
    assert "midpoint rule" in str(check_normalized(log_normal, bounds=((-8, 8), (-8, 8))).assert_ok())
    assert "midpoint rule" in str(check_normalized(log_normal, bounds=(-8, 8)).assert_ok())  # 1-D

    def sampler(n, rng):  # q = N(0, 1.5^2 I) in 3-D
        x = 1.5 * rng.standard_normal((n, 3))
        return x, log_normal(x, 0.0, 1.5)

    assert "D=3" in str(check_normalized(log_normal, sampler=sampler).assert_ok())


def test_check_normalized_rejects_bad_arguments_naming_them():
    ok = log_normal
    cases = [({"dim": 1, "atol": -1}, ValueError, "atol"), ({"dim": 1, "atol": "0"}, TypeError, "atol"),
             ({"dim": 1, "atol": float("nan")}, ValueError, "atol"), ({"dim": 1, "n": 0}, ValueError, "n"),
             ({"dim": 1, "bounds": (-8, 8), "n": 0}, ValueError, "n"), ({"dim": 1, "n": 2.5}, TypeError, "n"),
             ({"dim": 3, "bounds": ((-8, 8), (-8, 8))}, ValueError, "dim"), ({"dim": 0}, ValueError, "dim"),
             ({}, ValueError, "dim"), ({"support": "binary", "bounds": (0, 1)}, ValueError, "dim"),
             ({"bounds": (8, -8)}, ValueError, "bounds"), ({"bounds": ((-8, 8), (0, onp.inf))}, ValueError, "bounds"),
             ({"bounds": ((-8, 8, 1),)}, ValueError, "bounds"), ({"dim": 1, "sampler": 3}, TypeError, "sampler")]
    for kwargs, error, name in cases:
        with pytest.raises(error, match=rf"^{name}: "):
            check_normalized(ok, **kwargs)
