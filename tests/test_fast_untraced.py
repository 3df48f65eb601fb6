"""The untraced fast path (tinygen/fast/flow_values.py, model_values.py, transformer.py) equals the reference path.

Every kernel is run with an explicit block size (any size from 1 row up, so a final partial block
and n = 1 are covered) and compared with the model modules' own code on the same inputs, at
parameters pushed away from their init (an identity layer would hide a wrong formula).

Tolerance: the kernels do each row's float64 arithmetic as the reference does, only on fewer rows
at a time; the matmul may sum a row in another order for another block shape, a few ulps on
these O(1)..O(1e2) values. 1e-12 relative to max(1, |value|) leaves room for that through eight
layers and catches any wrong formula, a wrong row or a wrong draw (each off by far more).
"""
import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import fast
from tinygen.arm import MADE, TransformerARM
from tinygen.fast import blocks as row_blocking
from tinygen.fast import flow_values, model_values, transformer
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP
from tinygen.flows.autoregressive import IAFLayer, MAFLayer
from tinygen.flows.base import Compose, FlowModel
from tinygen.flows.coupling import AffineCoupling, SplineCoupling
from tinygen.flows.linear import ActNorm, LULinear, Permutation
from tinygen.nn import ACTIVATIONS, MLP
from tinygen.testing import perturb
from tinygen.vae import VAE

RTOL = 1e-12  # see the module docstring

sizes = st.integers(1, 70)   # n: 1, a few rows, several blocks
blocks = st.integers(1, 32)  # rows per block: 1 row at a time up to one block for all


def _close(a, b, what):
    a, b = onp.asarray(a), onp.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape}, {b.shape}"
    err = onp.max(onp.abs(a - b) / onp.maximum(1.0, onp.abs(b)))
    assert err <= RTOL, f"{what}: max relative difference {err:.3g}"


def _stacks():
    """(flow, context_dim): every layer class the untraced stack knows, with and without a context."""
    mixed = Compose([ActNorm(3), AffineCoupling(3, [1, 0, 1], hidden=(8,)), Permutation(3, "reverse"),
                     SplineCoupling(3, [0, 1, 0], hidden=(8,), bins=4, bound=2.0), LULinear(3, rng=1),
                     MAFLayer(3, hidden=(8,), rng=2), IAFLayer(3, hidden=(8,), rng=3)])
    conditional = Compose([AffineCoupling(2, [1, 0], hidden=(8,), context_dim=2), Permutation(2, "reverse"),
                           MAFLayer(2, hidden=(8,), context_dim=2, rng=4),
                           SplineCoupling(2, [0, 1], hidden=(8,), bins=3, context_dim=2)])
    return [(RealNVP(2, n_layers=4, hidden=(8, 8)).flow, 0), (MAF(2, n_layers=3, hidden=(8,)).flow, 0),
            (NeuralSplineFlow(2, n_layers=2, hidden=(8,)).flow, 0), (mixed, 0), (conditional, 2)]


STACKS = _stacks()


@settings(max_examples=15, deadline=None)
@given(case=st.integers(0, len(STACKS) - 1), n=sizes, block=blocks, seed=st.integers(0, 2 ** 16))
def test_flow_stack_both_directions_match_reference_for_any_block(case, n, block, seed):
    flow, context_dim = STACKS[case]
    rng = onp.random.default_rng(seed)
    params = perturb(flow.init(seed), rng, 0.3)
    u = 2.0 * rng.standard_normal((n, flow.dim))  # reaches the splines' tails beyond the bound too
    c = rng.standard_normal((n, context_dim)) if context_dim else None
    assert flow_values.applies(flow, params, u, c)
    for inverse, name in ((True, "_inverse"), (False, "_forward")):
        v, log_det = flow_values.run(flow, params, u, c, inverse, block=block)
        v_ref, log_det_ref = fast.reference_of(Compose, name)(flow, params, u, c)
        _close(v, v_ref, f"{name} values")
        _close(log_det, log_det_ref, f"{name} log|det|")


@settings(max_examples=10, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16), direct=st.booleans(),
       likelihood=st.sampled_from(["gaussian", "bernoulli"]))
def test_made_log_prob_matches_reference_for_any_block(n, block, seed, direct, likelihood):
    made = MADE(3, hidden=(8, 8), likelihood=likelihood, direct=direct, context_dim=1, rng=seed)
    rng = onp.random.default_rng(seed)
    params = perturb(made.init(seed), rng, 0.3)
    x = rng.standard_normal((n, 3)) if likelihood == "gaussian" else (rng.uniform(size=(n, 3)) < 0.5) * 1.0
    c = rng.standard_normal((n, 1))
    ours = model_values.made_log_prob(made, params, x, c, 0, block=block)
    _close(ours, fast.reference_of(MADE, "_log_prob_e")(made, params, x, c, 0), "MADE log p")


@settings(max_examples=10, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16), conditional=st.booleans())
def test_made_sample_draws_the_reference_samples_for_any_block(n, block, seed, conditional):
    # without a context the first pass (x = 0 on every row) runs on one row; with one, on every row
    made = MADE(3, hidden=(8,), order="random", direct=True, context_dim=2 if conditional else 0, rng=seed)
    params = perturb(made.init(seed), onp.random.default_rng(seed), 0.3)
    c = onp.random.default_rng(seed + 1).standard_normal((n, 2)) if conditional else None
    ours = model_values.made_sample(made, params, n, onp.random.default_rng(seed), c, 0, block=block)
    ref = fast.reference_of(MADE, "_sample_e")(made, params, n, onp.random.default_rng(seed), c, 0)
    _close(ours, ref, "MADE samples")


@settings(max_examples=8, deadline=None)
@given(n=sizes, block=blocks, k=st.integers(1, 5), seed=st.integers(0, 2 ** 16),
       scale=st.sampled_from(["learned", 0.5]))
def test_vae_log_weights_match_reference_for_any_block(n, block, k, seed, scale):
    vae = VAE(3, z_dim=2, hidden=(8,), decoder_scale=scale)
    rng = onp.random.default_rng(seed)
    params = perturb(vae.init(seed), rng, 0.3)
    x = rng.standard_normal((n, 3))
    ours = model_values.vae_log_weights(vae, params, x, onp.random.default_rng(seed), k, block=block)
    ref = fast.reference_of(VAE, "log_weights")(vae, params, x, onp.random.default_rng(seed), k)
    _close(ours, ref, "VAE log w")


@settings(max_examples=8, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16), hidden=st.sampled_from([(), (8,), (8, 6)]),
       activation=st.sampled_from(["relu", "tanh", "softplus"]), posterior=st.sampled_from(["gaussian", "iaf"]))
def test_vae_encoder_matches_reference_for_any_block(n, block, seed, hidden, activation, posterior):
    # (mu, rho, h): the trunk and the head block by block; h only where a flow reads it as its context
    vae = VAE(3, z_dim=2, hidden=hidden, activation=activation, posterior=posterior)
    rng = onp.random.default_rng(seed)
    params = perturb(vae.init(seed), rng, 0.3)
    x = rng.standard_normal((n, 3))
    mu, rho, h = model_values.vae_encoded(vae, params, x, block=block)
    ref_mu, ref_rho, ref_h = vae._encode_rho(params, x)
    _close(mu, ref_mu, "mu")
    _close(rho, ref_rho, "rho")
    if posterior == "iaf" and vae.flow.context_dim > 0:
        _close(h, ref_h, "h")
    else:
        assert h is None


@settings(max_examples=8, deadline=None)
@given(n=sizes, block=blocks, k=st.integers(1, 5), seed=st.integers(0, 2 ** 16), n_layers=st.integers(1, 2))
def test_vae_with_an_iaf_posterior_log_weights_match_reference_for_any_block(n, block, k, seed, n_layers):
    # q(z | x): a Gaussian, then an IAF stack whose MADEs read the encoder's h as their context
    vae = VAE(3, z_dim=2, hidden=(8,), posterior="iaf", n_layers=n_layers)
    rng = onp.random.default_rng(seed)
    params = perturb(vae.init(seed), rng, 0.3)  # away from the IAF's identity start
    x = rng.standard_normal((n, 3))
    ours = model_values.vae_log_weights(vae, params, x, onp.random.default_rng(seed), k, block=block)
    ref = fast.reference_of(VAE, "log_weights")(vae, params, x, onp.random.default_rng(seed), k)
    _close(ours, ref, "IAF VAE log w")


@pytest.mark.parametrize("posterior", ["planar", "amortized_planar"])
def test_vae_log_weights_leave_the_planar_posteriors_to_the_reference(posterior):
    vae = VAE(2, z_dim=2, hidden=(8,), posterior=posterior, n_layers=2)
    assert model_values.log_weights.untraced(vae, vae.init(0), onp.zeros((3, 2)), 0, 2) is NotImplemented


@settings(max_examples=8, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16), scale=st.sampled_from(["learned", 0.5]),
       mean=st.booleans())
def test_vae_sample_draws_the_reference_samples_for_any_block(n, block, seed, scale, mean):
    vae = VAE(3, z_dim=2, hidden=(8,), decoder_scale=scale)
    params = perturb(vae.init(seed), onp.random.default_rng(seed), 0.3)
    rng = onp.random.default_rng(seed)
    z = vae.prior.sample(n, rng)  # the kernel's entry draws z first, as the reference does
    ours = model_values.vae_sample(vae, params, z, rng, mean, block=block)
    ref = fast.reference_of(VAE, "sample")(vae, params, n, onp.random.default_rng(seed), mean=mean)
    _close(ours, ref, "VAE samples")


def test_biases_fold_into_the_products_only_where_a_one_passes_through_the_activation():
    # [h, 1] A_l keeps its column of ones only if act(1) = 1: true of these, false of tanh and softplus
    for name, act in ACTIVATIONS.items():
        assert (float(act(onp.array(1.0))) == 1.0) == (name in row_blocking.ONE_AT_ONE), name
    for name in ACTIVATIONS:
        folded = row_blocking.mlp_weights(MLP([3, 4, 2], activation=name), MLP([3, 4, 2]).init(0))
        assert (folded[0][1] is None) == (name in row_blocking.ONE_AT_ONE), name


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 16), activation=st.sampled_from(sorted(ACTIVATIONS)),
       sizes_=st.sampled_from([[1, 8, 8, 3], [3, 5], [2, 6, 1], [4, 7, 7, 7, 2]]), masked=st.booleans())
def test_mlp_block_values_match_the_reference_mlp(seed, activation, sizes_, masked):
    # folded (relu, elu, leaky relu) or not (tanh, softplus); a one-input first layer; no hidden layer
    rng = onp.random.default_rng(seed)
    masks = [rng.integers(0, 2, (a, b)).astype(float) for a, b in zip(sizes_[:-1], sizes_[1:])] if masked else None
    mlp = MLP(sizes_, activation=activation, masks=masks)
    params = perturb(mlp.init(rng), rng, 0.3)
    x = rng.standard_normal((9, sizes_[0]))
    ours = row_blocking.mlp_values(mlp, row_blocking.mlp_weights(mlp, params), x)
    _close(ours, mlp.apply(params, x), f"{activation} MLP {sizes_}")


@settings(max_examples=15, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16),
       arch=st.sampled_from([(4, 1, 1, None), (6, 2, 2, 5), (8, 4, 1, 3)]), T=st.integers(1, 6))
def test_transformer_logits_match_reference_for_any_block(n, block, seed, arch, T):
    rng = onp.random.default_rng(seed)
    d, heads, blocks_, d_ff = arch
    model = TransformerARM(3, T, d_model=d, n_heads=heads, n_layers=blocks_, d_ff=d_ff)
    params = perturb(model.init(rng), rng, 0.3)
    e = rng.standard_normal((n, T, 3))  # any real input, as the traced kernel's tests
    ours = transformer.transformer_logits(model, params, e, block=block)
    _close(ours, fast.reference_of(TransformerARM, "logits_onehot")(model, params, e), "transformer logits")


def test_transformer_log_prob_and_samples_equal_the_reference_in_installed():
    model = TransformerARM(4, 6, d_model=8, n_heads=2)
    params = perturb(model.init(0), onp.random.default_rng(1), 0.3)
    x = onp.random.default_rng(2).integers(0, 4, (300, 6))
    with fast.installed():
        log_p, draws = model.log_prob(params, x), model.sample(params, 50, rng=3)
    _close(log_p, model.log_prob(params, x), "transformer log p")
    onp.testing.assert_array_equal(draws, model.sample(params, 50, rng=3))  # the same logits, the same draws


def _spies(monkeypatch):
    calls = []
    for module, name in ((flow_values, "run"), (model_values, "made_log_prob"), (model_values, "made_sample"),
                         (model_values, "vae_log_weights"), (model_values, "vae_sample"),
                         (transformer, "transformer_logits")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    return calls


def _evaluate_every_family():
    x = onp.random.default_rng(0).standard_normal((5, 2))
    for model in (RealNVP(2, n_layers=2, hidden=(8,)), MADE(2, hidden=(8,))):
        params = model.init(0)
        model.log_prob(params, x)
        model.sample(params, 4, 1)
    vae = VAE(2, z_dim=1, hidden=(8,))
    vae.log_prob(vae.init(0), x, k=3)
    vae.sample(vae.init(0), 4, 1)
    seq = TransformerARM(3, 4, d_model=4, n_heads=2)
    seq.log_prob(seq.init(0), onp.zeros((2, 4), dtype=int))


def test_default_blocks_hold_about_a_megabyte_of_the_widest_layer():
    assert row_blocking.block_rows(64) == row_blocking.BLOCK == 2048  # 2048 x 64 float64 = 1 MB
    assert row_blocking.block_rows(256) == 512
    assert row_blocking.block_rows(10 ** 6) == row_blocking.MIN_BLOCK
    assert [r.stop - r.start for r in row_blocking.row_blocks(1100, width=256)] == [512, 512, 76]
    assert [r.stop - r.start for r in row_blocking.row_blocks(1100, block=300, width=256)] == [300, 300, 300, 200]
    assert row_blocking.widest(flow_values.stack_nets(RealNVP(2, n_layers=2, hidden=(8, 32)).flow)) == 32
    assert row_blocking.widest(flow_values.stack_nets(MAF(2, n_layers=2, hidden=(16,)).flow)) == 16
    assert row_blocking.widest(flow_values.stack_nets(Compose([Permutation(2, "reverse")]))) is None


@pytest.mark.parametrize("model", [MADE(2, hidden=(256,)), MAF(2, n_layers=2, hidden=(256,)),
                                   VAE(2, z_dim=2, hidden=(256,), posterior="iaf", n_layers=1)],
                         ids=["made", "maf", "iaf_vae"])
def test_wide_models_split_into_several_default_blocks_and_match_the_reference(model):
    # width 256: blocks of 512 rows (of points, or of samples x points), so 700 points take two or more
    params = perturb(model.init(0), onp.random.default_rng(1), 0.3)
    x = onp.random.default_rng(2).standard_normal((700, 2))
    kw = {"k": 3, "rng": 0} if isinstance(model, VAE) else {}
    with fast.installed():
        ours = model.log_prob(params, x, **kw)
    _close(ours, model.log_prob(params, x, **kw), f"{type(model).__name__} log p")


def test_kernels_run_inside_installed_and_not_outside_or_when_disabled(monkeypatch):
    calls = _spies(monkeypatch)
    _evaluate_every_family()
    assert calls == []  # outside any block: the model modules' code
    with fast.disabled(), fast.installed():
        _evaluate_every_family()
    assert calls == []  # disabled: nothing put in place
    with fast.installed():
        _evaluate_every_family()
    assert sorted(set(calls)) == ["made_log_prob", "made_sample", "run", "transformer_logits", "vae_log_weights",
                                  "vae_sample"]


def test_traced_calls_go_to_the_traced_kernels_with_the_same_gradient(monkeypatch):
    calls = _spies(monkeypatch)
    model = RealNVP(2, n_layers=2, hidden=(8,))
    params = perturb(model.init(0), onp.random.default_rng(0), 0.3)
    x = onp.random.default_rng(1).standard_normal((6, 2))

    def loss(x):
        return anp.sum(model.log_prob(params, x))
    with fast.installed():
        g = grad(loss)(x)
    assert calls == []  # traced: never the untraced kernel
    with fast.disabled():
        _close(g, grad(loss)(x), "gradient in x")


def test_evaluate_enters_the_block_and_gives_the_reference_nll(monkeypatch):
    from tinygen import evaluate
    model = FlowModel(RealNVP(2, n_layers=2, hidden=(8,)).flow)
    params = perturb(model.init(0), onp.random.default_rng(0), 0.3)
    x = onp.random.default_rng(1).standard_normal((50, 2))
    with fast.disabled():
        ref = evaluate.test_nll(model, params, x, batch_size=16)
    calls = _spies(monkeypatch)
    ours = evaluate.test_nll(model, params, x, batch_size=16)
    assert calls.count("run") == 4  # one per batch of 16, 16, 16, 2
    _close(onp.array(ours), onp.array(ref), "test NLL and its SE")


def test_a_density_grid_is_computed_inside_the_block():
    # the demos' density figures (plot.density, plot.max_density) are evaluations like test_nll
    from tinygen import plot
    seen = []

    def log_p(x):
        seen.append(fast.is_installed())
        return onp.zeros(len(x))
    plot.max_density(log_p, n=4)
    assert seen == [True] and not fast.is_installed()


@pytest.mark.parametrize("model", [RealNVP(2, n_layers=2, hidden=(8,)), MADE(2, hidden=(8,))])
def test_bad_input_is_still_rejected_inside_the_block(model):
    with fast.installed(), pytest.raises(ValueError, match=r"^x"):
        model.log_prob(model.init(0), onp.ones((3, 5)))


# ---- the CNF (fast/continuous.py): the exact trace by forward mode, against D reverse passes
@settings(max_examples=12, deadline=None)
@given(n=sizes, block=blocks, seed=st.integers(0, 2 ** 16), dim=st.integers(1, 3),
       solver=st.sampled_from([{"method": "rk4", "steps": 3}, {"method": "dopri5", "rtol": 1e-6, "atol": 1e-6}]),
       activation=st.sampled_from(["tanh", "softplus"]), forward=st.booleans(),
       x_features=st.integers(0, 2), time_features=st.integers(0, 2))
def test_cnf_solves_match_reference_for_any_block(n, block, seed, dim, solver, activation, forward, x_features,
                                                   time_features):
    from tinygen.fast import continuous
    from tinygen.flows import ContinuousFlow
    flow = ContinuousFlow(dim, hidden=(8, 8), activation=activation, x_features=x_features,
                          time_features=time_features)
    rng = onp.random.default_rng(seed)
    params = perturb(flow.init(seed), rng, 0.5)
    y = rng.standard_normal((n, dim))
    t0, t1 = (0.0, 1.0) if forward else (1.0, 0.0)
    ours = continuous.solve_values(flow, params, y, t0, t1, solver, block=block)
    if activation != "tanh":  # declined: the reference code runs
        assert ours is None
        return
    # dopri5 picks its steps from the field's values: equal to rounding, so the same steps here
    ref = fast.reference_of(ContinuousFlow, "_solve")(flow, params, y, t0, t1, solver)
    _close(ours[0], ref[0], "CNF y(t1)")
    _close(ours[1], ref[1], "CNF log|det|")
    t = rng.uniform(size=(n, 1)) if seed % 2 else 0.3  # one time per row (flow matching) or one for all
    _close(continuous.velocity_values(flow, params, t, y, block=block),
           fast.reference_of(ContinuousFlow, "_velocity")(flow, params, t, y), "CNF field")


@pytest.mark.parametrize("activation", ["tanh", "softplus"])  # softplus: the kernel declines, the reference runs
def test_cnf_log_prob_and_sample_inside_installed_equal_the_reference(activation):
    from tinygen.flows import ContinuousFlow
    flow = ContinuousFlow(2, hidden=(16, 16), activation=activation, x_features=3, time_features=8)  # as the recipes
    params = perturb(flow.init(0), onp.random.default_rng(1), 0.5)
    x = onp.random.default_rng(2).standard_normal((40, 2))
    with fast.disabled():
        ref = flow.log_prob(params, x), flow.sample(params, 30, 3)
    with fast.installed():
        ours = flow.log_prob(params, x), flow.sample(params, 30, 3)
    _close(ours[0], ref[0], "CNF log p")
    _close(ours[1], ref[1], "CNF samples")
