"""The fast path equals the reference path: values, first and second derivatives.

Every model or layer below is evaluated twice, with ``tinygen.fast`` on (the
default) and inside ``tinygen.fast.disabled()`` (the lecture code in the model
modules only), at random inputs and parameters pushed away from their init.
The kernels are installed for the whole module (``fast.installed()``, as ``minimize``
does around each gradient), so every differentiation below can use them.

Tolerances. A hand-written backward pass does the same float64 arithmetic as
autograd in another order, so first derivatives agree to ~1e-13 relative on
these O(1)..O(1e2) quantities; 1e-9 relative to the largest entry leaves room for
error growth through a few layers and still catches any wrong formula (off by
O(1e-2) or more). Under nested differentiation the fast path steps aside, so
second derivatives must agree to rounding of the same arithmetic (1e-10).
"""
import ast
import threading
import tracemalloc
from pathlib import Path

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad, hessian, jacobian, value_and_grad
from autograd.misc import flatten
from autograd.test_util import check_grads
from flow_cases import CASES
from hypothesis import given, settings

import tinygen
from tinygen import fast
from tinygen.arm import MADE, RNNARM, CausalConvARM, PixelCNN, TransformerARM
from tinygen.arm.pixelcnn import patches
from tinygen.fast.pixelcnn import im2col
from tinygen.flows import RealNVP
from tinygen.nn import ACTIVATIONS, MLP
from tinygen.testing import perturb
from tinygen.testing.strategies import seeds
from tinygen.vae import VAE

RTOL1 = 1e-9   # first derivatives and values: see the module docstring
RTOL2 = 1e-10  # second derivatives: the fast path steps aside, same arithmetic


@pytest.fixture(autouse=True, scope="module")
def kernels_installed():
    """The kernels in place for every test here (module scope: hypothesis repeats each test body)."""
    with fast.installed():
        assert fast.is_installed()
        yield
    assert not fast.is_installed()


def _close(a, b, rtol, what):
    a, b = onp.asarray(a), onp.asarray(b)
    assert a.dtype == onp.float64 and b.dtype == onp.float64, f"{what}: dtypes {a.dtype}, {b.dtype}"
    assert a.shape == b.shape, f"{what}: shapes {a.shape}, {b.shape}"
    scale = max(1.0, float(onp.max(onp.abs(b))) if b.size else 1.0)
    err = float(onp.max(onp.abs(a - b))) if a.size else 0.0
    assert err <= rtol * scale, f"{what}: max |fast - reference| = {err:.3g} at scale {scale:.3g}"


def _flat(tree):
    """Every leaf of a pytree in one vector (autograd.numpy: traced leaves stay traced)."""
    if isinstance(tree, dict):
        return anp.concatenate([_flat(tree[k]) for k in sorted(tree)] or [anp.zeros(0)])
    if isinstance(tree, (list, tuple)):
        return anp.concatenate([_flat(v) for v in tree] or [anp.zeros(0)])
    return anp.ravel(tree)


def _both(fn):
    """fn() on the fast path and on the reference path."""
    fast_out = fn()
    with fast.disabled():
        ref_out = fn()
    return fast_out, ref_out


# ------------------------------------------------------------------------ the cases
# Each case: (params, x, f) with f(params, x) -> a float array; x is what f is differentiated in.

def _flow_case(factory, rng):
    dim = max(2, getattr(factory, "min_dim", 1))
    flow, params = factory(dim, int(rng.integers(2**31)))  # params already perturbed by the kit
    c_dim = getattr(flow, "context_dim", 0)
    context = rng.standard_normal((3, c_dim)) if c_dim else None
    x = rng.standard_normal((3, dim))

    def f(p, v):
        c = None if context is None else context[:anp.shape(v)[0]]
        z, ld_g = flow.inverse(p, v, c)
        y, ld_f = flow.forward(p, v, c)
        return anp.concatenate([anp.ravel(z), ld_g, anp.ravel(y), ld_f])
    return params, x, f


def _made_case(likelihood, rng):
    kw = {"n_classes": 3} if likelihood == "categorical" else {}
    model = MADE(3, hidden=(7, 6), likelihood=likelihood, context_dim=2, direct=True, **kw)
    params = perturb(model.init(rng), rng)
    context = rng.standard_normal((4, 2))
    x = rng.standard_normal((4, 3))

    def f(p, v):  # the raw outputs are differentiable in x for every likelihood
        return anp.ravel(model.outputs(p, v, context[:anp.shape(v)[0]]))
    return params, x, f


def _made_log_prob_case(rng):
    """A Gaussian MADE's log p(x | c) over two mask sets (each set has its own fused pass)."""
    model = MADE(3, hidden=(7, 6), context_dim=2, n_masks=2, order="random", rng=int(rng.integers(99)))
    params = perturb(model.init(rng), rng)
    context = rng.standard_normal((4, 2))
    x = rng.standard_normal((4, 3))
    return params, x, lambda p, v: model.log_prob(p, v, context[:anp.shape(v)[0]])


def _mlp_case(activation, rng):
    masks = [rng.integers(0, 2, (3, 5)).astype(float), None, None]
    mlp = MLP((3, 5, 4, 2), activation=activation, masks=[masks[0], onp.ones((5, 4)), onp.ones((4, 2))])
    params = perturb(mlp.init(rng), rng)
    x = rng.standard_normal((2, 2, 3))  # leading axes are folded
    return params, x, lambda p, v: anp.ravel(mlp.apply(p, v))


def _pixelcnn_case(rng):
    model = PixelCNN(3, 3, n_channels=3, n_layers=2, kernel_size=3)
    params = perturb(model.init(rng), rng)
    x = rng.standard_normal((2, 3, 3))
    return params, x, lambda p, v: anp.ravel(model.logits(p, v))


def _vae_case(posterior, rng, decoder_scale="learned"):
    model = VAE(3, 2, hidden=(6, 5), posterior=posterior, n_layers=2, flow_hidden=(5,), decoder_scale=decoder_scale)
    params = perturb(model.init(rng), rng, 0.1)
    x = rng.standard_normal((3, 3))

    def f(p, v):
        parts = model.elbo(p, v, rng=7, n_samples=2)
        return anp.concatenate([parts["elbo"], parts["reconstruction"], 2.0 * parts["complexity"]])
    return params, x, f


CASE_MAKERS = [(f"flow:{name}", (lambda factory: lambda rng: _flow_case(factory, rng))(factory))
               for name, factory in CASES]
CASE_MAKERS += [(f"made:{lik}", (lambda lik: lambda rng: _made_case(lik, rng))(lik))
                for lik in ("gaussian", "bernoulli", "categorical")]
CASE_MAKERS += [("made:gaussian_log_prob", _made_log_prob_case)]
CASE_MAKERS += [(f"mlp:{act}", (lambda act: lambda rng: _mlp_case(act, rng))(act)) for act in sorted(ACTIVATIONS)]
CASE_MAKERS += [("pixelcnn", _pixelcnn_case)]


def _mixed_stack_case(rng):
    """Every layer with a step in tinygen/fast/flow.py, with a context, in one Compose."""
    from tinygen.flows import ActNorm, AffineCoupling, Compose, MAFLayer, Permutation
    flow = Compose([ActNorm(3), AffineCoupling(3, [1, 0, 1], hidden=(6,), context_dim=2),
                    Permutation(3, "random", rng=1), MAFLayer(3, hidden=(7,), context_dim=2)])
    params = perturb(flow.init(rng), rng, 0.3)
    context = rng.standard_normal((3, 2))
    x = rng.standard_normal((3, 3))

    def f(p, v):
        z, ld = flow.inverse(p, v, context[:anp.shape(v)[0]])
        return anp.concatenate([anp.ravel(z), ld])
    return params, x, f


def _iaf_stack_case(rng):
    """An IAF stack's one-pass sampling direction f, as a VAE posterior runs it, with a context."""
    from tinygen.flows import IAF
    flow = IAF(3, n_layers=3, hidden=(7,), context_dim=2).flow
    params = perturb(flow.init(rng), rng, 0.3)
    context = rng.standard_normal((3, 2))
    z = rng.standard_normal((3, 3))

    def f(p, v):
        x, ld = flow.forward(p, v, context[:anp.shape(v)[0]])
        return anp.concatenate([anp.ravel(x), ld])
    return params, z, f


def _rnn_case(rng):
    """The RNN's whole recurrence at small random sizes; x is the (n, T, V) input it is
    differentiated in (real values, not only one-hot: d/de is defined for any e)."""
    n, T, V, H = (int(k) for k in rng.integers([1, 1, 2, 1], [4, 6, 5, 6]))
    model = RNNARM(V, T, hidden=H)
    params = perturb(model.init(rng), rng, 0.3)
    x = rng.standard_normal((n, T, V))
    return params, x, lambda p, v: anp.ravel(model.logits_onehot(p, v))


def _transformer_case(rng):
    """The transformer's whole network (embeddings, blocks, output layer) at small random sizes;
    x is its (n, T, V) input, real-valued like the RNN's."""
    n, T, V = (int(k) for k in rng.integers([1, 1, 2], [4, 6, 5]))
    model = TransformerARM(V, T, d_model=6, n_heads=2, n_layers=2, d_ff=5)
    params = perturb(model.init(rng), rng, 0.3)
    x = rng.standard_normal((n, T, V))
    return params, x, lambda p, v: anp.ravel(model.logits_onehot(p, v))


def _sequence_log_likelihood_case(rng):
    """A sequence model's log p from its logits (the log-softmax and the pick, fast/sequence.py), on a
    causal convolution, whose logits stay traced; x is its (n, T, V) input, real-valued."""
    n, T, V = (int(k) for k in rng.integers([1, 1, 2], [4, 6, 5]))
    model = CausalConvARM(V, T, n_channels=4, n_layers=2)
    params = perturb(model.init(rng), rng, 0.3)
    return params, rng.standard_normal((n, T, V)), model._log_prob_onehot


CASE_MAKERS += [("rnn", _rnn_case), ("transformer", _transformer_case),
                ("sequence:log_likelihood", _sequence_log_likelihood_case)]
CASE_MAKERS += [("flow:mixed_stack", _mixed_stack_case), ("flow:iaf_sampling_stack", _iaf_stack_case)]
CASE_MAKERS += [(f"vae:{q}", (lambda q: lambda rng: _vae_case(q, rng))(q)) for q in ("gaussian", "planar", "iaf")]
CASE_MAKERS += [("vae:gaussian_fixed_scale", lambda rng: _vae_case("gaussian", rng, decoder_scale=0.3))]
IDS = [name for name, _ in CASE_MAKERS]


@pytest.mark.parametrize("name, make", CASE_MAKERS, ids=IDS)
@settings(max_examples=3, deadline=None)
@given(seed=seeds)
def test_values_and_first_derivatives_match(name, make, seed):
    rng = onp.random.default_rng(seed)
    params, x, f = make(rng)
    w = rng.standard_normal(onp.size(f(params, x)))
    scalar = lambda p, v: anp.sum(w * f(p, v))  # noqa: E731  a random linear functional of the outputs

    _close(*_both(lambda: f(params, x)), RTOL1, f"{name} value")
    gp_fast, gp_ref = _both(lambda: grad(scalar, 0)(params, x))
    _close(_flat(gp_fast), _flat(gp_ref), RTOL1, f"{name} d/dparams")
    _close(*_both(lambda: grad(scalar, 1)(params, x)), RTOL1, f"{name} d/dx")


@pytest.mark.parametrize("name, make", CASE_MAKERS, ids=IDS)
@settings(max_examples=2, deadline=None)
@given(seed=seeds)
def test_second_derivatives_match(name, make, seed):
    rng = onp.random.default_rng(seed)
    params, x, f = make(rng)
    x1 = x[:1]  # one point keeps the Hessian in x small
    w = rng.standard_normal(onp.size(f(params, x1)))
    theta, unflatten = flatten(params)  # params as one vector; unflatten is differentiable
    u = rng.standard_normal(theta.size)  # a direction in parameter space

    def scalar(th, v):
        return anp.sum(w * f(unflatten(th), v))

    def grad_p_dot_u(th, v):  # directional derivative in params; differentiating it is second order
        return anp.dot(grad(scalar, 0)(th, v), u)

    h_fast, h_ref = _both(lambda: hessian(lambda v: scalar(theta, v))(x1))
    _close(h_fast, h_ref, RTOL2, f"{name} Hessian in x")
    if onp.any(h_ref != 0):
        assert onp.any(h_fast != 0), f"{name}: the Hessian in x came out all zeros"
    _close(*_both(lambda: grad(grad_p_dot_u, 0)(theta, x1)), RTOL2, f"{name} Hessian-vector product in params")
    _close(*_both(lambda: grad(grad_p_dot_u, 1)(theta, x1)), RTOL2, f"{name} mixed d/dx d/dparams")


# ------------------------------------------------------------------ the kernels really run
def _spy(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args):
        calls.append(1)
        return original(*args)
    monkeypatch.setattr(module, name, counted)
    return calls


def test_training_step_runs_the_kernels_and_disabled_runs_none(monkeypatch):
    mlp_calls = _spy(monkeypatch, fast.mlp, "mlp_fused")
    coupling_calls = _spy(monkeypatch, fast.coupling, "coupling_fused")
    stack_calls = _spy(monkeypatch, fast.flow, "stack_fused")
    model = RealNVP(2, n_layers=2, hidden=(8,))
    params, x = model.init(0), onp.random.default_rng(0).standard_normal((16, 2))
    grad(lambda p: model.loss(p, x))(params)
    assert len(stack_calls) == 1  # the whole stack's density direction is one operation
    layer = model.flow.layers[0]
    grad(lambda p: anp.sum(layer.inverse(p, x)[1]))(params[0])
    assert len(coupling_calls) == 1  # a single coupling layer has its own kernel
    grad(lambda p: anp.sum(model.sample(p, 4, rng=0)))(params)
    assert len(mlp_calls) == 2  # RealNVP samples layer by layer; its conditioners use the fused MLP
    for calls in (mlp_calls, coupling_calls, stack_calls):
        calls.clear()
    with fast.disabled():
        assert not fast.is_enabled()
        grad(lambda p: model.loss(p, x))(params)
        with fast.enabled():
            assert fast.is_enabled()
    assert fast.is_enabled()
    assert mlp_calls == [] and coupling_calls == [] and stack_calls == []
    # untraced evaluation needs no backward pass: it runs the reference code too
    model.log_prob(params, x)
    assert stack_calls == []


@pytest.mark.parametrize("posterior", ["gaussian", "iaf"])
def test_vae_training_runs_one_fused_elbo_and_draws_the_same_noise(monkeypatch, posterior):
    calls = _spy(monkeypatch, fast.vae, "elbo_fused")
    model = VAE(2, 2, hidden=(8, 8), posterior=posterior, n_layers=2)
    params, x = model.init(0), onp.random.default_rng(0).standard_normal((16, 2))
    loss_fast, g_fast = value_and_grad(lambda p: model.loss(p, x, rng=3))(params)
    assert len(calls) == 1
    with fast.disabled():
        loss_ref, g_ref = value_and_grad(lambda p: model.loss(p, x, rng=3))(params)
    _close(loss_fast, loss_ref, RTOL1, "VAE loss")
    _close(_flat(g_fast), _flat(g_ref), RTOL1, "VAE loss gradient")


@pytest.mark.parametrize("posterior", ["gaussian", "iaf"])
def test_fast_vae_elbo_is_finite_where_sigma_rounds_to_zero(posterior):
    # rho = -800: sigma = softplus(rho) underflows to 0 in float64, yet log sigma = -800 and the
    # ELBO (complexity ~ 800 per latent) and its gradient are finite; both paths must say so.
    model = VAE(2, 2, hidden=(4,), posterior=posterior, n_layers=2)
    params = model.init(0)
    params["encoder"]["head"]["b"] = onp.array([0.0, 0.0, -800.0, -800.0])
    x = onp.random.default_rng(0).standard_normal((3, 2))
    (v_fast, g_fast), (v_ref, g_ref) = _both(
        lambda: value_and_grad(lambda p: model.loss(p, x, rng=0))(params))
    assert onp.isfinite(v_fast) and onp.all(onp.isfinite(_flat(g_fast)))
    _close(v_fast, v_ref, RTOL1, "VAE loss at rho = -800")
    _close(_flat(g_fast), _flat(g_ref), RTOL1, "its gradient")


def test_made_training_runs_one_fused_pass(monkeypatch):
    calls = _spy(monkeypatch, fast.made, "made_fused")
    model = MADE(2, hidden=(8, 8))
    x = onp.random.default_rng(0).standard_normal((16, 2))
    grad(lambda p: model.loss(p, x))(model.init(0))
    assert len(calls) == 1  # one fused pass


@pytest.mark.parametrize("rho", [-1e4, -800.0, -40.0, -30.5, -29.5, -20.5, -20.0, -19.5, -5.0, 0.0, 3.0, 40.0, 800.0])
def test_log_softplus_of_the_made_kernel_is_exact_at_the_extremes(rho):
    import mpmath
    mpmath.mp.dps = 50
    log_sigma, dlog = fast.made.log_softplus(onp.array([rho]))
    exact = mpmath.log(mpmath.log1p(mpmath.exp(rho)))
    exact_d = mpmath.diff(lambda r: mpmath.log(mpmath.log1p(mpmath.exp(r))), rho)
    assert abs(log_sigma[0] - float(exact)) <= 1e-15 * max(1.0, abs(float(exact)))
    assert abs(dlog[0] - float(exact_d)) <= 1e-14
    # the same in an array that also holds the other branch's values (rho <= -20 somewhere, or nowhere)
    for others in ([-25.0, 1.0], [0.5, 1.0]):
        log_sigmas, dlogs = fast.made.log_softplus(onp.array([rho, *others]))
        assert abs(log_sigmas[0] - float(exact)) <= 1e-15 * max(1.0, abs(float(exact)))
        assert abs(dlogs[0] - float(exact_d)) <= 1e-14


def test_a_subclass_gets_the_reference_code(monkeypatch):
    from tinygen.flows import AffineCoupling
    calls = _spy(monkeypatch, fast.coupling, "coupling_fused")

    class Doubled(AffineCoupling):  # a student's own variant: the kernel must not replace its math
        def _tau(self, theta, u, inverse):
            v, log_d = super()._tau(theta, u, inverse)
            return v, 2 * log_d

    layer = Doubled(2, [1, 0])
    grad(lambda x: anp.sum(layer.inverse(layer.init(0), x)[1]))(onp.ones((3, 2)))
    assert calls == []
    # and the lecture code behind any registered method is at hand
    from tinygen.flows import Coupling
    assert fast.reference_of(AffineCoupling, "_inverse") is Coupling._inverse
    assert (AffineCoupling, "_inverse") in fast.KERNELS


@settings(max_examples=5, deadline=None)
@given(seed=seeds)
def test_jacobian_through_sample_matches(seed):
    rng = onp.random.default_rng(seed)
    model = RealNVP(2, n_layers=2, hidden=(6,))
    theta, unflatten = flatten(perturb(model.init(rng), rng, 0.1))
    j_fast, j_ref = _both(lambda: jacobian(lambda th: model.sample(unflatten(th), 3, rng=seed))(theta))
    _close(j_fast, j_ref, RTOL1, "Jacobian of sample in params")


def test_fifty_training_steps_agree():
    # Same arithmetic in another order at every step; over 50 Adam steps the two runs stay
    # within 1e-8 (measured ~1e-13): training is not chaotic this early.
    model = RealNVP(2, n_layers=4, hidden=(16, 16))
    x = tinygen.data.two_moons(512, rng=0)
    p_fast, h_fast = tinygen.fit(model, model.init(0), x, steps=50, lr=3e-3, progress=False)
    with fast.disabled():
        p_ref, h_ref = tinygen.fit(model, model.init(0), x, steps=50, lr=3e-3, progress=False)
    onp.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=0, atol=1e-8)
    _close(_flat(p_fast), _flat(p_ref), 1e-8, "params after 50 steps")


# ------------------------------------------------------------------ PixelCNN's patches
@pytest.mark.parametrize("k", [3, 5])
def test_im2col_equals_the_sliced_patches_and_is_exact_to_second_order(k):
    padded = onp.random.default_rng(0).normal(size=(2, 3 + k - 1, 4 + k - 1, 2))
    onp.testing.assert_array_equal(im2col(padded, k), patches(padded, k))  # the same copies: bit-equal
    check_grads(lambda a: im2col(a, k), modes=["rev"], order=2)(padded)


# ------------------------------------------------------------------ the reading path
ALLOWED = {"functional.py"}  # small elementwise primitives whose VJPs are themselves differentiable


def test_no_model_module_defines_an_autograd_primitive():
    root = Path(tinygen.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "fast" or str(rel) in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograd.extend"):
                offenders.append(f"{rel}: from {node.module} import ...")
            if isinstance(node, ast.Name) and node.id in ("primitive", "defvjp", "defvjp_argnums"):
                offenders.append(f"{rel}:{node.lineno}: {node.id}")
    assert offenders == [], "model modules must keep hand-written VJPs in tinygen/fast/: " + ", ".join(offenders)


# ------------------------------------------------------------------ no shared state
def test_two_models_trained_in_two_threads_equal_training_them_in_turn():
    x = tinygen.data.two_moons(256, rng=0)
    models = [RealNVP(2, n_layers=2, hidden=(16,)), MADE(2, hidden=(16, 16))]

    def train(model):
        return tinygen.fit(model, model.init(1), x, steps=40, batch_size=64, lr=3e-3, progress=False)[0]

    in_turn = [train(m) for m in models]
    together = [None, None]
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, train(models[i]))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(in_turn, together):
        onp.testing.assert_array_equal(_flat(a), _flat(b))


def test_a_large_evaluation_leaves_nothing_behind():
    # 10^5 points through RealNVP-4 (width 64) make ~100 MB of intermediates; once log_prob
    # has returned only its (n,) result may remain. Allow 1 MB for allocator slack.
    model = RealNVP(2, n_layers=4)
    params = perturb(model.init(0), onp.random.default_rng(0), 0.1)
    x = onp.random.default_rng(1).standard_normal((100_000, 2))
    for train_mode in (False, True):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if train_mode:
            out = grad(lambda p: model.loss(p, x))(params)
            kept = _flat(out).nbytes
        else:
            out = model.log_prob(params, x)
            kept = out.nbytes
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert held < kept + 1_000_000, f"{held / 1e6:.1f} MB held after the call (train={train_mode})"


# ------------------------------------------------------------------ BLAS threads
def test_training_runs_with_one_blas_thread_unless_told_otherwise():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads_now():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(2, user_api="blas"):  # as a user's machine might have it
        _check_blas_threads_in_fit(blas_threads_now)


def test_loops_of_small_passes_run_with_one_blas_thread():
    # an ODE solve, ancestral or D-pass sampling: hundreds of small products in a Python loop,
    # where waking a second BLAS thread costs more than it saves (tinygen/_threads.py)
    from threadpoolctl import threadpool_info, threadpool_limits

    from tinygen import ode
    from tinygen.diffusion import Diffusion
    from tinygen.flows import MAF

    def threads_now():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    def spying(method, seen):
        def wrapped(*args, **kwargs):
            seen.append(threads_now())
            return method(*args, **kwargs)
        return wrapped

    with threadpool_limits(2, user_api="blas"):  # as a user's machine might have it
        outside = threads_now()
        assert outside and all(t == 2 for t in outside)
        seen = {name: [] for name in ("odeint", "diffusion", "made", "maf")}
        ode.odeint(spying(lambda t, y: -y, seen["odeint"]), onp.ones((3, 2)), [0.0, 1.0], steps=2)
        diffusion, made = Diffusion(2, hidden=(8,), n_steps=25), MADE(2, hidden=(8,))
        maf = MAF(2, n_layers=1, hidden=(8,))
        diffusion._epsilon = spying(diffusion._epsilon, seen["diffusion"])
        made._sample_e = spying(made._sample_e, seen["made"])
        maf.flow.forward = spying(maf.flow.forward, seen["maf"])  # x = f(z): D passes of the MADE
        for model in (diffusion, made, maf):
            model.sample(model.init(0), 4, 0)
        for name, threads in seen.items():
            assert threads and all(t == [1] * len(outside) for t in threads), (name, threads)
        assert threads_now() == outside  # given back afterwards


def _check_blas_threads_in_fit(blas_threads_now):
    outside = blas_threads_now()
    assert outside and all(t == 2 for t in outside)
    seen = []
    model = MADE(2, hidden=(8, 8))
    x = onp.zeros((8, 2))
    tinygen.fit(model, model.init(0), x, steps=2, progress=False, callback=lambda *a: seen.append(blas_threads_now()))
    assert all(threads == [1] * len(outside) for threads in seen)
    assert blas_threads_now() == outside  # given back afterwards
    seen.clear()
    with fast.blas_threads(None):  # opting out leaves BLAS alone
        tinygen.fit(model, model.init(0), x, steps=2, progress=False,
                    callback=lambda *a: seen.append(blas_threads_now()))
    assert all(threads == outside for threads in seen)
    with pytest.raises(ValueError, match=r"^n: "):
        fast.set_blas_threads(0)
