"""The testing kit itself: it passes on correct layers and models and fails, naming the
property, on deliberately broken ones (which live here, never in tinygen)."""
import re
from pathlib import Path

import autograd.numpy as np
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.arm import MADE, NaiveARM
from tinygen.flows import AffineCoupling, Compose, ElementwiseAffine, FlowModel, PlanarFlow, RealNVP
from tinygen.testing import (Report, check_autoregressive, check_bound, check_flow, check_normalized, leaves,
                             perturb)
from tinygen.testing.strategies import dims, orderings, perturbed_params, seeds
from test_vae import log_evidence, ppca, set_encoder


# ---- a student's layer: leaky ReLU, x = z if z >= 0 else a z (duck-typed, not a tinygen Flow) -----
class LeakyReLU:
    """f(z)_d = z_d (z_d >= 0) or a z_d (z_d < 0), a = exp(log_a) > 0:
    log|det df/dz| = sum_d [z_d < 0] log a, and g(x)_d = x_d or x_d / a."""

    context_dim = 0

    def __init__(self, dim):
        self.dim = dim

    def init(self, rng):
        return {"log_a": np.zeros(self.dim)}

    def slope(self, params, u):
        return 1.0 + (np.exp(params["log_a"]) - 1.0) * (u < 0)  # a where u < 0, else 1

    def forward(self, params, z, context=None):
        a = self.slope(params, z)
        return a * z, np.sum(np.log(a), axis=1)

    def inverse(self, params, x, context=None):
        a = self.slope(params, x)  # the sign of x = f(z) is the sign of z
        return x / a, -np.sum(np.log(a), axis=1)


class SlopeNotLogSlope(LeakyReLU):
    """A typical slip: log|det| = sum a instead of sum log a."""

    def forward(self, params, z, context=None):
        a = self.slope(params, z)
        return a * z, np.sum(np.where(z < 0, a, 0.0), axis=1)


class FlippedSign:
    """Any flow with the sign of both log-dets flipped (they still cancel)."""

    def __init__(self, flow):
        self.flow, self.dim, self.context_dim, self.init = flow, flow.dim, flow.context_dim, flow.init

    def forward(self, params, z, context=None):
        x, ld = self.flow.forward(params, z, context)
        return x, -ld

    def inverse(self, params, x, context=None):
        z, ld = self.flow.inverse(params, x, context)
        return z, -ld


class WrongInverse(FlippedSign):
    """Inverse of the leaky ReLU that multiplies by a instead of dividing."""

    def forward(self, params, z, context=None):
        return self.flow.forward(params, z, context)

    def inverse(self, params, x, context=None):
        a = self.flow.slope(params, x)
        return x * a, -np.sum(np.log(a), axis=1)


class ForgetsLastLogDet(Compose):
    """A composition whose forward pass drops the last layer's log-det."""

    def _forward(self, params, z, context):
        log_det = np.zeros(z.shape[0])
        for k, (layer, p) in enumerate(zip(self.layers, params)):
            z, ld = layer._forward(p, z, context)
            log_det = log_det + (ld if k < len(self.layers) - 1 else 0.0)
        return z, log_det


def failed(report):
    return [row.property for row in report.rows if not row.ok]


# ---- check_flow ----------------------------------------------------------------------------------
def test_check_flow_passes_on_a_correct_student_layer():
    report = check_flow(LeakyReLU(3))
    assert report, str(report)
    assert len(report.rows) == 9 and all(row.ok for row in report.rows)  # 7 properties, log-dets also far out


def test_check_flow_finds_the_log_det_slip_and_says_where():
    report = check_flow(SlopeNotLogSlope(3))
    assert not report
    # forward log-det wrong (near and far out); the inverse's is right, so they no longer cancel either
    assert failed(report) == ["forward log_det = log|det df/dz| (autograd)",
                              "log_dets cancel: forward(z) + inverse(f(z)) = 0",
                              "forward log_det = autograd at |z| ~ 30"]
    text = str(report)
    assert "FAIL" in text and "hand-written" in text and "at z[" in text
    with pytest.raises(AssertionError, match="forward log_det = log"):
        report.assert_ok()


def test_check_flow_finds_a_flipped_log_det_sign():
    report = check_flow(FlippedSign(AffineCoupling(3, onp.array([1.0, 0.0, 1.0]), hidden=(8,))))
    # both log-dets flipped: they still cancel, but neither matches autograd's Jacobian, near or far
    assert failed(report) == ["forward log_det = log|det df/dz| (autograd)",
                              "inverse log_det = log|det dg/dx| (autograd)",
                              "forward log_det = autograd at |z| ~ 30",
                              "inverse log_det = autograd at x = f(z), |z| ~ 30"]


def test_check_flow_finds_a_log_det_missing_one_layer():
    flow = ForgetsLastLogDet([ElementwiseAffine(2), PlanarFlow(2), ElementwiseAffine(2)])
    report = check_flow(flow)
    assert "forward log_det = log|det df/dz| (autograd)" in failed(report)
    assert "inverse log_det = log|det dg/dx| (autograd)" not in failed(report)


def test_check_flow_finds_a_wrong_inverse():
    report = check_flow(WrongInverse(LeakyReLU(2)))
    assert "inverse(forward(z)) = z" in failed(report) and "forward(inverse(x)) = x" in failed(report)
    assert "came back as" in str(report)


def test_check_flow_finds_a_parameter_without_gradient():
    class Unused(LeakyReLU):
        def init(self, rng):
            return {"log_a": np.zeros(self.dim), "unused": np.ones(2)}

    report = check_flow(Unused(2))
    assert failed(report) == ["every parameter gets a gradient (2 leaves)"]
    assert "params['unused']" in str(report)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_check_flow_finds_a_layer_that_overflows_far_out():
    class Sinh(LeakyReLU):  # x = sinh(z), z = arcsinh(x), log|det df/dz| = sum_d log cosh(z_d)
        def forward(self, params, z, context=None):
            return np.sinh(z), np.sum(np.log(np.cosh(z)), axis=1)

        def inverse(self, params, x, context=None):
            z = np.arcsinh(x)
            return z, -np.sum(np.log(np.cosh(z)), axis=1)

        def init(self, rng):
            return {}

    assert check_flow(Sinh(2))  # right everywhere it is finite ...
    report = check_flow(Sinh(2), large=1000.0)  # ... but sinh(z) overflows for |z| > 710
    assert failed(report) == ["finite and invertible at |z| ~ 1000"]
    assert "forward gave" in str(report)


def test_check_flow_draws_a_context_for_conditional_flows_and_accepts_one():
    flow = AffineCoupling(3, onp.array([1.0, 0.0, 0.0]), hidden=(8,), context_dim=2)
    assert check_flow(flow)
    assert check_flow(flow, context=onp.ones((1, 2)), n=3)
    report = check_flow(flow, context=onp.random.default_rng(0).normal(size=(5, 2)))  # one point per row
    assert report and report.notes[0].startswith("5 points")
    with pytest.raises(ValueError, match=r"^context: "):
        check_flow(flow, context=onp.ones((2, 2)), points=onp.zeros((3, 3)))


def test_perturb_moves_every_float_leaf_and_keeps_the_tree():
    params = RealNVP(2, n_layers=2, hidden=(4,)).init(0)
    moved = perturb(params, 1)
    assert [p for p, _ in leaves(moved)] == [p for p, _ in leaves(params)]
    assert all(onp.all(a != b) for (_, a), (_, b) in zip(leaves(params), leaves(moved)))
    assert check_flow(RealNVP(2, n_layers=2, hidden=(4,)), moved)


def test_check_flow_rejects_what_is_not_a_flow():
    with pytest.raises(TypeError, match=r"^flow: "):
        check_flow(lambda z: z)
    with pytest.raises(ValueError, match=r"^n: "):
        check_flow(LeakyReLU(2), n=0)
    with pytest.raises(ValueError, match=r"^points: "):
        check_flow(LeakyReLU(2), points=onp.ones((3, 4)))


# ---- check_autoregressive ------------------------------------------------------------------------
def made_outputs(made, params):
    return lambda v: np.transpose(made.outputs(params, v), (0, 2, 1))  # (n, P, D) -> (n, D, P)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", "categorical"])
def test_check_autoregressive_passes_on_made(likelihood):
    made = MADE(4, hidden=(8, 8), likelihood=likelihood, n_classes=3 if likelihood == "categorical" else None,
                order=[2, 0, 3, 1], rng=1, activation="tanh")
    params = made.init(0)
    report = check_autoregressive(made_outputs(made, params), 4, made.order, full=True)
    assert report, str(report)
    # the same network under the natural ordering is not autoregressive in that order
    assert not check_autoregressive(made_outputs(made, params), 4, None)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_check_autoregressive_and_normalized_pass_on_the_naive_arm(likelihood):
    arm = NaiveARM(3, hidden=(6,), likelihood=likelihood, order=[1, 2, 0], activation="tanh")
    params = perturb(arm.init(0), 1)
    by_position = lambda v: np.transpose(arm.outputs(params, v), (0, 2, 1))  # noqa: E731
    check_autoregressive(by_position, 3, arm.order, full=True).assert_ok()
    log_p = lambda x: arm.log_prob(params, x)  # noqa: E731
    if likelihood == "bernoulli":
        check_normalized(log_p, dim=3, support="binary").assert_ok()
    else:  # q: a Gaussian with the model's mean and twice its spread (moments from its samples)
        check_normalized(log_p, dim=3, sampler=_moment_matched(arm.sample(params, 4000, 2))).assert_ok()


def _moment_matched(samples, widen=2.0):
    """A sampler for check_normalized: q = N(mean, widen^2 Cov) of the given samples."""
    mean, L = samples.mean(0), widen * onp.linalg.cholesky(onp.cov(samples.T))

    def sampler(n, rng):
        u = rng.standard_normal((n, len(mean)))
        log_q = (-0.5 * onp.sum(u ** 2, 1) - onp.sum(onp.log(onp.diag(L)))
                 - 0.5 * len(mean) * onp.log(2 * onp.pi))  # x = mean + L u: log q = log N(u) - log|det L|
        return mean + u @ L.T, log_q

    return sampler


def test_check_autoregressive_finds_a_made_output_mask_with_greater_or_equal():
    made = MADE(4, hidden=(8,), order=[2, 0, 3, 1], rng=0, activation="tanh")
    params = made.init(0)
    params["net"][-1]["W"] = onp.random.default_rng(0).standard_normal(params["net"][-1]["W"].shape)
    m_in, m_hidden = made.degrees[0][0], made.degrees[0][1]  # mask set 0: inputs, hidden layer
    m_out = onp.tile(m_in, made.n_raw)
    made.nets[0].masks[-1] = (m_out[None, :] >= m_hidden[:, None]).astype(float)  # should be >
    report = check_autoregressive(made_outputs(made, params), 4, made.order)
    assert failed(report) == ["output o_t reads no input o_s with s >= t (autograd Jacobian)",
                              "output o_t reads no input o_s with s >= t (finite perturbation)"]
    assert "reads x_" in str(report)


def test_check_autoregressive_finds_a_leak_from_x_d_to_output_d():
    made = MADE(3, hidden=(6,), rng=0, activation="tanh")
    params = made.init(0)
    leaky = lambda v: made_outputs(made, params)(v) + 0.1 * v[:, :, None]  # noqa: E731
    report = check_autoregressive(leaky, 3)
    assert not report
    assert "output for x_1 (t = 1) reads x_1 (s = 1)" in str(report)


def test_check_autoregressive_full_finds_a_missing_connection():
    # out_t = x_{t-1} only (a shift): autoregressive, but not fully connected for D = 3
    shift = lambda v: np.concatenate([np.zeros((v.shape[0], 1)), v[:, :-1]], axis=1)  # noqa: E731
    assert check_autoregressive(shift, 3)
    report = check_autoregressive(shift, 3, full=True)
    assert failed(report) == ["output o_t reads every input o_s with s < t (full=True)"]
    assert "output for x_3 (t = 3) never reads x_1 (s = 1)" in str(report)


def test_check_autoregressive_takes_one_hot_sequences():
    # a causal running mean over one-hot tokens (n, T, V) -> (n, T, V): position t sees tokens < t
    def causal(v):
        csum = np.cumsum(v, axis=1) - v  # strictly earlier tokens
        return csum / np.arange(1, v.shape[1] + 1)[None, :, None]

    x = onp.eye(4)[onp.random.default_rng(0).integers(0, 4, (2, 5))]
    assert check_autoregressive(causal, 5, x=x, full=True)
    assert not check_autoregressive(lambda v: np.cumsum(v, axis=1), 5, x=x)


def test_check_autoregressive_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^order: "):
        check_autoregressive(lambda v: v, 3, [0, 0, 1])
    with pytest.raises(ValueError, match=r"^x: "):
        check_autoregressive(lambda v: v, 3, x=onp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"^fn: "):
        check_autoregressive(lambda v: v[:, :2], 3)


# ---- check_normalized ----------------------------------------------------------------------------
def test_check_normalized_enumerates_binary_and_categorical_made():
    made = MADE(5, hidden=(8,), likelihood="bernoulli", order="random", rng=2)
    params = made.init(0)
    report = check_normalized(lambda x: made.log_prob(params, x), dim=5, support="binary")
    assert report and "exact enumeration of all 2^5 = 32 values" in str(report)
    off = check_normalized(lambda x: made.log_prob(params, x) + onp.log(1.001), dim=5, support="binary")
    assert failed(off) == ["sum over all 32 x of p(x) = 1"]
    cat = MADE(3, hidden=(6,), likelihood="categorical", n_classes=3, rng=0)
    cp = cat.init(0)
    assert check_normalized(lambda x: cat.log_prob(cp, x), dim=3, support="categorical", n_classes=3)


def test_check_normalized_quadrature_and_a_missing_constant():
    flow = RealNVP(2, n_layers=2, hidden=(8,))
    params = perturb(flow.init(0), 1, scale=0.2)
    box = ((-10, 10), (-10, 10))
    report = check_normalized(lambda x: flow.log_prob(params, x), dim=2, bounds=box)
    assert report, str(report)
    assert "midpoint rule" in str(report)
    assert check_normalized(lambda x: flow.log_prob(params, x), dim=2, bounds=(-10, 10))  # both axes
    # a Gaussian base without its 1/(2 pi) (a constant factor) integrates to 2 pi
    off = check_normalized(lambda x: flow.log_prob(params, x) + onp.log(2 * onp.pi), dim=2, bounds=box)
    assert failed(off) == ["integral of p(x) over the box = 1"]


def test_check_normalized_importance_sampling_in_more_dimensions():
    flow = FlowModel(Compose([ElementwiseAffine(4), PlanarFlow(4)]))
    params = perturb(flow.init(0), 1, scale=0.2)
    report = check_normalized(lambda x: flow.log_prob(params, x), dim=4)
    assert report, str(report)
    assert "importance sampling" in str(report)
    off = check_normalized(lambda x: flow.log_prob(params, x) - onp.log(1.5), dim=4)
    assert "E_q[p/q] = 1 within 4 standard errors" in failed(off)


def test_check_normalized_with_a_box_or_a_sampler_in_3d():
    def log_normal(x):  # N(0, I) in 3-D
        return -0.5 * np.sum(x ** 2, axis=1) - 1.5 * np.log(2 * np.pi)

    # uniform on [-4, 4]^3: the mass outside (~2e-4) is inside 4 standard errors (~0.07)
    box = check_normalized(log_normal, dim=3, bounds=((-4, 4),) * 3, n=50000)
    assert box and "uniform on the box" in str(box)

    def sampler(n, rng):  # q = N(0, 1.5^2 I), wider than p
        x = 1.5 * rng.standard_normal((n, 3))
        return x, log_normal(x / 1.5) - 3 * np.log(1.5)

    assert check_normalized(log_normal, dim=3, sampler=sampler)
    half = check_normalized(lambda x: log_normal(x) + np.log(0.5), dim=3, sampler=sampler)
    assert "E_q[p/q] = 1 within 4 standard errors" in failed(half)


def test_check_normalized_reports_nan_and_rejects_bad_arguments():
    report = check_normalized(lambda x: np.where(x[:, 0] > 3, np.nan, -0.5 * x[:, 0] ** 2 - 0.5 * np.log(2 * np.pi)),
                              dim=1, bounds=(-8, 8))
    assert "log_prob is never NaN" in failed(report)
    with pytest.raises(ValueError, match=r"^support: "):
        check_normalized(lambda x: x[:, 0], dim=1, support="discrete")
    with pytest.raises(ValueError, match=r"^dim: "):
        check_normalized(lambda x: x[:, 0], dim=30, support="binary")
    with pytest.raises(ValueError, match=r"^log_prob: "):
        check_normalized(lambda x: x, dim=2, support="binary")
    with pytest.raises(ValueError, match=r"^dim: "):  # dim and bounds disagree: dim is named
        check_normalized(lambda x: x[:, 0], dim=1, bounds=((0, 1), (0, 1)))
    with pytest.raises(TypeError, match=r"^n_classes: "):
        check_normalized(lambda x: x[:, 0], dim=2, support="categorical")


# ---- check_bound ---------------------------------------------------------------------------------
def _ppca_vae(exact_posterior, seed=0):
    rng = onp.random.default_rng(seed)
    vae, params, W, b, s = ppca(rng, x_dim=4, z_dim=2, orthogonal=True)
    if exact_posterior:  # W orthogonal: p(z|x) is diagonal, so the encoder can hold it
        M = W.T @ W + s ** 2 * onp.eye(2)
        A = W @ onp.linalg.inv(M)
        set_encoder(params, A, -b @ A, s / onp.sqrt(onp.diag(M)))
    else:
        set_encoder(params, 0.3 * rng.normal(size=(4, 2)), onp.zeros(2), onp.full(2, 0.6))
    x = rng.normal(size=(3, 4)) + b
    return vae, params, x, log_evidence(x, W, b, s)


def test_check_bound_passes_on_the_vae_elbo_and_iwae():
    vae, params, x, log_px = _ppca_vae(exact_posterior=False)
    assert check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px)
    report = check_bound(lambda r, k: vae.log_prob(params, x, r, k=k), log_px, k=[1, 10, 100], repeats=200)
    assert report, str(report)
    vae, params, x, log_px = _ppca_vae(exact_posterior=True)
    assert check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px, tight=True)
    assert check_bound(lambda r, k: vae.log_prob(params, x, r, k=k), log_px, k=[1, 10], tight=True, repeats=5)


def test_check_bound_finds_an_elbo_with_a_doubled_kl():
    vae, params, x, log_px = _ppca_vae(exact_posterior=True)

    def doubled(rng):
        out = vae.elbo(params, x, rng)
        return -out["reconstruction"] - 2 * out["complexity"]

    report = check_bound(doubled, log_px, tight=True)
    # still below log p(x), but no longer tight at the exact posterior
    assert failed(report) == ["E[bound] = log p(x) at the exact posterior"]


def test_check_bound_finds_a_bound_above_the_evidence_and_a_flat_iwae():
    vae, params, x, log_px = _ppca_vae(exact_posterior=False)
    above = check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px - 20.0)
    assert failed(above) == ["E[bound] <= log p(x)"]

    def mean_of_log_weights(rng, k):  # averages log w_k instead of w_k: the ELBO for every K
        return np.mean(vae.log_weights(params, x, rng, k=k), axis=0)

    flat = check_bound(mean_of_log_weights, log_px, k=[1, 100], repeats=30)
    assert failed(flat) == ["rise of E[bound] from K=1 to K=100 (must exceed tolerance)"]


def test_check_bound_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^lower_bound: "):
        check_bound(lambda r: onp.zeros(2), onp.zeros(3))
    with pytest.raises(ValueError, match=r"^repeats: "):
        check_bound(lambda r: onp.zeros(3), onp.zeros(3), repeats=1)
    with pytest.raises(ValueError, match=r"^k: "):
        check_bound(lambda r, k: onp.zeros(3), onp.zeros(3), k=[0, 2])


# ---- the report ----------------------------------------------------------------------------------
def test_report_is_truthy_prints_a_table_and_keeps_raw_rows():
    report = Report("demo")
    report.add("a holds", 0.1, 1.0)
    assert report and report.assert_ok() is report
    report.add("b holds", float("nan"), 1.0, where="at x = 3")
    assert not report and [r.ok for r in report.rows] == [True, False]
    text = str(report)
    assert text.splitlines()[0] == "demo: 1 of 2 properties FAIL"
    assert "b holds" in text and "nan" in text and "-> at x = 3" in text
    with pytest.raises(AssertionError, match="b holds"):
        report.assert_ok()


# ---- the public strategies -----------------------------------------------------------------------
@settings(max_examples=10)
@given(dim=dims, data=st.data())
def test_perturbed_params_strategy_feeds_check_flow(dim, data):
    layer = LeakyReLU(dim)
    params = data.draw(perturbed_params(layer))
    assert onp.all(params["log_a"] != 0)  # moved away from the identity a = 1
    check_flow(layer, params, rng=0, n=2).assert_ok()


@settings(max_examples=10)
@given(dim=st.integers(2, 5), data=st.data(), seed=seeds)
def test_orderings_strategy_feeds_check_autoregressive(dim, data, seed):
    order = data.draw(orderings(dim))
    made = MADE(dim, hidden=(dim + 3,), order=order, rng=seed, activation="tanh")
    check_autoregressive(made_outputs(made, made.init(seed)), dim, order, full=True).assert_ok()


def test_check_flow_reports_a_tinygen_flow_that_returns_nan():
    class NaNForward(ElementwiseAffine):  # a Flow subclass: its inverse refuses non-finite x
        def _forward(self, params, z, context):
            x, ld = super()._forward(params, z, context)
            return x * np.nan, ld

    report = check_flow(NaNForward(2))
    assert {"inverse(forward(z)) = z", "log_dets cancel: forward(z) + inverse(f(z)) = 0"} <= set(failed(report))
    assert "forward gave [nan, nan]" in str(report)


def test_testing_kit_page_example_prints_what_the_page_shows(capsys):
    # docs/testing_kit.md, "Check your own code": its two code blocks, run, print the table shown below them
    text = (Path(__file__).resolve().parent.parent / "docs" / "testing_kit.md").read_text()
    section = text[:text.index("## Exercises")]
    layer, check = re.findall(r"```python\n(.*?)```", section, re.S)
    shown = re.findall(r"```\n(check_flow.*?)```", section, re.S)[0]
    scope = {}
    exec(layer, scope)
    with pytest.raises(AssertionError, match="forward log_det = log"):  # the slip is caught ...
        exec(check, scope)
    assert capsys.readouterr().out.strip() == shown.strip()  # ... and the table is the page's
