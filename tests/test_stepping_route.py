"""The stepping route is the lecture code: what a debugger walks through, recorded by ``sys.settrace``.

- Under ``tinygen.fast.disabled()`` a call to any family's ``log_prob`` or ``loss`` (or a
  gradient of it) enters no frame of ``tinygen/fast/``: only the model modules and the
  input checks run.
- With the fast path on (the default) and outside a training step, an untraced call enters
  no frame of ``tinygen/fast/`` either: the kernels are in place only inside
  ``fast.installed()``, which ``minimize`` enters around each gradient, and nowhere else.
- ``mlp(params, x)`` and ``mlp.apply(params, x)`` run the same frames.
- Inside ``minimize`` the kernels do run, and afterwards every class holds its own methods
  again, also when several fits run at once in several threads.
"""
import sys
import threading
from pathlib import Path

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from autograd.misc import flatten

import tinygen
from tinygen import fast
from tinygen.arm import MADE, CausalConvARM, NaiveARM, PixelCNN, RNNARM, TransformerARM
from tinygen.flows import MAF, NeuralSplineFlow, RealNVP
from tinygen.nn import MLP
from tinygen.vae import VAE

ROOT = Path(tinygen.__file__).parent
FAST = ROOT / "fast"


def _frames(fn):
    """Every Python frame entered while fn() runs, as (file, function name), in order."""
    seen = []

    def tracer(frame, event, arg):
        if event == "call":
            seen.append((frame.f_code.co_filename, frame.f_code.co_name))
        return None  # no line events: only the calls matter

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return seen


def _in_fast(frames):
    return [(Path(f).relative_to(ROOT).as_posix(), name) for f, name in frames if Path(f).is_relative_to(FAST)]


def _tinygen_files(frames):
    return {Path(f).relative_to(ROOT).as_posix() for f, _ in frames if Path(f).is_relative_to(ROOT)}


# ---------------------------------------------------------------- every family, small
def _gaussian(n=6, dim=2):
    return onp.random.default_rng(0).standard_normal((n, dim))


def _tokens(vocab=4, length=5):
    return onp.random.default_rng(0).integers(0, vocab, (6, length))


# family -> (model factory, data factory, the model module its math lives in)
FAMILIES = {
    "RealNVP": (lambda: RealNVP(2, n_layers=2, hidden=(8,)), _gaussian, "flows/coupling.py"),
    "MAF": (lambda: MAF(2, n_layers=2, hidden=(8,)), _gaussian, "flows/autoregressive.py"),
    "spline flow": (lambda: NeuralSplineFlow(2, n_layers=2, hidden=(8,), bins=4), _gaussian, "flows/splines.py"),
    "MADE": (lambda: MADE(2, hidden=(8,)), _gaussian, "arm/made.py"),
    "PixelCNN": (lambda: PixelCNN(3, 3, n_channels=3, n_layers=2, kernel_size=3),
                 lambda: (onp.random.default_rng(0).random((4, 3, 3)) < 0.5).astype(float), "arm/pixelcnn.py"),
    "VAE gaussian": (lambda: VAE(2, 2, hidden=(8,)), _gaussian, "vae/model.py"),
    "VAE iaf": (lambda: VAE(2, 2, hidden=(8,), posterior="iaf", flow_hidden=(6,)), _gaussian,
                "flows/autoregressive.py"),
    "NaiveARM": (lambda: NaiveARM(2, hidden=(8,)), _gaussian, "arm/naive.py"),
    "RNNARM": (lambda: RNNARM(4, 5, hidden=8), _tokens, "arm/rnn.py"),
    "CausalConvARM": (lambda: CausalConvARM(4, 5, n_channels=4, n_layers=2), _tokens, "arm/causal_conv.py"),
    "TransformerARM": (lambda: TransformerARM(4, 5, d_model=8, n_heads=2, n_layers=1), _tokens,
                       "arm/transformer.py"),
}


def _calls(family):
    """The public calls a student steps into: log_prob, loss, and the gradient of loss."""
    make_model, make_x, module = FAMILIES[family]
    model, x = make_model(), make_x()
    params = model.init(0)
    model.log_prob(params, x)  # a first call may fill caches; the route is what every call takes
    return module, [lambda: model.log_prob(params, x), lambda: model.loss(params, x, 0),
                    lambda: grad(lambda p: model.loss(p, x, 0))(params)]


def _dispatchers_on_classes():
    return [key for key in fast.KERNELS if hasattr(key[0].__dict__.get(key[1]), "kernel")]


@pytest.fixture(autouse=True)
def nothing_installed():
    """Every test starts and ends with the classes holding only their own methods."""
    assert not fast.is_installed() and _dispatchers_on_classes() == [], "the kernels were left in place"
    yield
    assert not fast.is_installed() and _dispatchers_on_classes() == [], "the kernels were left in place"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_disabled_route_has_no_fast_frame(family):
    module, calls = _calls(family)
    with fast.disabled():
        for call in calls:
            frames = _frames(call)
            assert _in_fast(frames) == [], f"{family}: frames in tinygen/fast/"
            assert module in _tinygen_files(frames), f"{family}: the tracer did not see {module}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_untraced_call_with_the_fast_path_on_has_no_fast_frame(family):
    assert fast.is_enabled()
    module, calls = _calls(family)
    for call in calls[:2]:  # log_prob and loss, untraced, outside a training step
        frames = _frames(call)
        assert _in_fast(frames) == [], f"{family}: frames in tinygen/fast/"
        assert module in _tinygen_files(frames)


def test_a_training_step_under_disabled_enters_fast_only_at_its_one_with_line():
    # minimize's `with fast.installed():` is the loop's one line into tinygen/fast/; under
    # disabled() it puts nothing in place, so the model's calls take no dispatcher.
    model, x = RealNVP(2, n_layers=2, hidden=(8,)), _gaussian(16)
    params = model.init(0)
    with fast.disabled():
        frames = _frames(lambda: tinygen.fit(model, params, x, steps=2, progress=False))
    assert {name for _, name in _in_fast(frames)} <= {"installed", "is_enabled"}
    assert "flows/coupling.py" in _tinygen_files(frames)


def test_disabled_inside_an_installed_block_takes_only_the_dispatchers_constant_checks():
    # The documented edge: while kernels are in place (here by this thread; the same holds
    # when another thread trains), a disabled() call passes each dispatcher's O(1) checks
    # and goes on to the reference code; no kernel and no walk over the params.
    model, x = RealNVP(2, n_layers=2, hidden=(8,)), _gaussian()
    params = model.init(0)
    with fast.installed(), fast.disabled():
        frames = _frames(lambda: grad(lambda p: model.loss(p, x))(params))
    assert {name for _, name in _in_fast(frames)} == {"dispatch", "is_enabled"}


# ---------------------------------------------------------------- mlp(...) is mlp.apply(...)
@pytest.mark.parametrize("setting", ["plain", "installed"])
def test_calling_an_mlp_runs_the_frames_of_apply(setting, monkeypatch):
    mlp = MLP((2, 8, 3))
    params, x = mlp.init(0), _gaussian()
    fused = []
    original = fast.mlp.mlp_fused
    monkeypatch.setattr(fast.mlp, "mlp_fused", lambda *a: fused.append(1) or original(*a))

    def run(how):  # the method is looked up inside the block, as a model's own code does
        with fast.installed() if setting == "installed" else fast.disabled():
            f = (lambda p: mlp(p, x)) if how == "call" else (lambda p: mlp.apply(p, x))
            return _frames(lambda: grad(lambda p: anp.sum(f(p)))(params))

    run("call"), run("apply")  # warm up: first calls may import or cache
    fused.clear()
    via_call, via_apply = run("call"), run("apply")
    assert len(fused) == (2 if setting == "installed" else 0)  # the kernel ran for both, or for neither
    i = via_call.index((str(ROOT / "nn.py"), "__call__"))
    assert via_call[:i] + via_call[i + 1:] == via_apply  # the same frames, less the one line that forwards
    ran = ROOT / ("fast/mlp.py" if setting == "installed" else "nn.py")  # the kernel, or the lecture code
    assert (str(ran), "apply") in via_apply


def test_calling_a_subclass_runs_its_own_apply():
    class Doubled(MLP):
        def apply(self, params, x):
            return 2.0 * super().apply(params, x)

    mlp = Doubled((2, 4, 1))
    params, x = mlp.init(0), _gaussian()
    onp.testing.assert_array_equal(mlp(params, x), 2.0 * MLP.apply(mlp, params, x))


# ---------------------------------------------------------------- installed while minimize differentiates
def _class_methods():
    """What every accelerated class holds under each accelerated name right now."""
    return {key: key[0].__dict__.get(key[1]) for key in fast.KERNELS}


def test_minimize_runs_the_kernels_and_takes_them_out_afterwards(monkeypatch):
    before = _class_methods()
    assert all(getattr(m, "kernel", None) is None for m in before.values())
    stack = []
    original = fast.flow.stack_fused
    monkeypatch.setattr(fast.flow, "stack_fused", lambda *a: stack.append(fast.is_installed()) or original(*a))
    during_callback = []
    model, x = RealNVP(2, n_layers=2, hidden=(8,)), _gaussian(16)
    tinygen.fit(model, model.init(0), x, steps=2, progress=False,
                callback=lambda *a: during_callback.append(fast.is_installed()))
    assert stack == [True, True]  # one fused stack per gradient, with the kernels in place
    assert during_callback == [False, False]  # in place around the gradient only
    assert _class_methods() == before  # every class holds exactly what it held before


def test_an_error_inside_the_block_takes_the_kernels_out():
    before = _class_methods()

    def objective(p, rng):
        assert fast.is_installed()
        raise RuntimeError("a bug in a user's loss")

    with pytest.raises(RuntimeError, match="a bug"):
        tinygen.optim.minimize(objective, [onp.zeros(2)], steps=2, progress=False)
    assert _class_methods() == before


def test_concurrent_fits_keep_the_count_of_users(monkeypatch):
    # Three fits at once: every gradient of each must find the kernels in place (one fused
    # stack per gradient, none missed because another thread took them out), and the last
    # one out takes them out.
    before = _class_methods()
    stack = []
    original = fast.flow.stack_fused
    monkeypatch.setattr(fast.flow, "stack_fused", lambda *a: stack.append(1) or original(*a))
    x = _gaussian(32)
    n_threads, steps = 3, 6
    start, errors = threading.Barrier(n_threads), []

    def train(seed):
        try:
            model = RealNVP(2, n_layers=2, hidden=(8,))
            start.wait()
            tinygen.fit(model, model.init(seed), x, steps=steps, batch_size=16, progress=False)
        except Exception as err:  # reported by the main thread below
            errors.append(err)

    threads = [threading.Thread(target=train, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(stack) == n_threads * steps
    assert not fast.is_installed() and _class_methods() == before


def test_another_thread_keeps_its_own_switch_while_one_trains(monkeypatch):
    # Thread A holds an installed() block open; this thread, under disabled() and then with
    # the fast path on but outside any block, runs the reference code: no kernel call.
    fused = []
    original = fast.flow.stack_fused
    monkeypatch.setattr(fast.flow, "stack_fused", lambda *a: fused.append(1) or original(*a))
    inside, release = threading.Event(), threading.Event()

    def hold():
        with fast.installed():
            inside.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(timeout=30) and fast.is_installed()
        model, x = RealNVP(2, n_layers=2, hidden=(8,)), _gaussian()
        params = model.init(0)
        g_on = grad(lambda p: model.loss(p, x))(params)
        with fast.disabled():
            g_off = grad(lambda p: model.loss(p, x))(params)
        assert fused == []  # neither call ran the kernel: this thread is in no block
        with fast.installed():
            g_kernel = grad(lambda p: model.loss(p, x))(params)
        assert fused == [1]  # entering a block of its own gives it the kernel
    finally:
        release.set()
        holder.join()
    flat = [flatten(g)[0] for g in (g_on, g_off, g_kernel)]
    onp.testing.assert_array_equal(flat[0], flat[1])  # the same reference code: bit for bit
    # the kernel's arithmetic in another order: equal to ~1e-13 relative (tests/test_fast.py)
    onp.testing.assert_allclose(flat[2], flat[0], rtol=1e-9, atol=1e-12)
