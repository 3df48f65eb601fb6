"""The training loop's promises: validation never changes training, and a user's optimizer
object is handed back as it came, however the loop ends."""
import numpy as np
import pytest

import tinygen
from tinygen import train, tree
from tinygen.optim import SGD, Adam
from tinygen.vae import VAE


def _vae_run(x_val):
    x = tinygen.data.two_moons(64, rng=1)
    vae = VAE(2, 2, hidden=(8,))
    params, hist = tinygen.fit(vae, vae.init(0), x, steps=20, batch_size=16, lr=1e-2, rng=3,
                               x_val=x_val, eval_every=5, progress=False)
    return params, hist


def test_validation_does_not_change_the_trained_params():
    # The VAE's loss draws eps ~ N(0, I) every step, so a validation that drew from the
    # training generator would shift every later eps. Bit for bit: no tolerance.
    plain, _ = _vae_run(None)
    validated, hist = _vae_run(tinygen.data.two_moons(32, rng=2))
    assert hist["val_step"] == [5, 10, 15, 20]
    np.testing.assert_array_equal(tree.flatten(plain), tree.flatten(validated))


def test_validation_draws_the_same_noise_at_every_evaluation():
    # Common random numbers: at fixed params, two evaluations give the same number exactly.
    x_val = tinygen.data.two_moons(32, rng=2)
    vae = VAE(2, 2, hidden=(8,))
    held_out = train.HeldOut(vae, x_val, None, np.random.default_rng(0))
    params = vae.init(0)
    assert held_out(params) == held_out(params)


class Quadratic:
    """loss(theta) = theta^2 / 2, raising RuntimeError at step ``fail_at`` (counted in calls)."""

    def __init__(self, fail_at=None, error=RuntimeError):
        self.calls, self.fail_at, self.error = 0, fail_at, error

    def init(self, rng):
        return {"theta": np.array([1.0])}

    def loss(self, params, x, rng=None, context=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error("failed inside the user's loss")
        return 0.5 * params["theta"][0] ** 2


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("make", [lambda: Adam(lr=0.1), lambda: SGD(lr=0.1, momentum=0.5)])
def test_optimizer_lr_is_restored_after_any_exception(error, make):
    opt = make()
    model = Quadratic(fail_at=5, error=error)
    with pytest.raises(error, match="inside the user's loss"):
        tinygen.fit(model, model.init(0), np.zeros((4, 1)), steps=10, optimizer=opt, lr_schedule="cosine",
                    progress=False)
    assert model.calls == 5  # the cosine schedule had lowered the lr before the failure
    assert opt.lr == 0.1


def test_optimizer_lr_is_restored_when_a_callback_raises():
    opt = Adam(lr=0.1)

    def callback(step, params, loss):
        if step == 3:
            raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        train.minimize(lambda p, r: 0.5 * p["theta"][0] ** 2, {"theta": np.array([1.0])}, steps=10,
                       optimizer=opt, callback=callback, progress=False)
    assert opt.lr == 0.1


def test_learning_rate_schedule():
    # eta_1 = eta, eta_T = eta (1 + cos(pi (T - 1) / T)) / 2, the midpoint t = T/2 + 1 gives eta / 2.
    assert train.learning_rate("cosine", 0.1, 1, 10) == 0.1
    assert train.learning_rate("cosine", 0.1, 6, 10) == pytest.approx(0.05, abs=1e-15)  # cos(pi/2) rounds
    assert train.learning_rate("constant", 0.1, 6, 10) == 0.1


def _attributes(obj):
    """Every attribute of obj, recursively through the model objects it holds: name -> id."""
    seen, out = set(), {}

    def walk(o, path):
        if id(o) in seen or not hasattr(o, "__dict__") or isinstance(o, type):
            return
        seen.add(id(o))
        for k, v in vars(o).items():
            out[f"{path}.{k}"] = id(v)
            for i, item in enumerate(v if isinstance(v, (list, tuple)) else ()):
                walk(item, f"{path}.{k}[{i}]")
            walk(v, f"{path}.{k}")

    walk(obj, type(obj).__name__)
    return out


@pytest.mark.parametrize("make", [
    lambda: tinygen.arm.MADE(2, hidden=(8,)),
    lambda: tinygen.flows.RealNVP(2, n_layers=2, hidden=(8,)),
    lambda: tinygen.flows.MAF(2, n_layers=2, hidden=(8,)),
    lambda: VAE(2, 2, hidden=(8,)),
])
def test_training_leaves_the_model_object_as_it_was(make):
    # A model holds structure only: training, checking params and sampling add or
    # replace no attribute anywhere in the object (no counters, no cached skeletons).
    model = make()
    before = _attributes(model)
    params, _ = tinygen.fit(model, model.init(0), tinygen.data.two_moons(32, rng=0), steps=3, batch_size=16,
                            progress=False)
    model.sample(params, 4, rng=0)
    assert _attributes(model) == before


def test_the_params_skeleton_is_forgotten_with_its_model():
    import gc

    from tinygen._params_check import _SKELETONS
    model = tinygen.arm.MADE(2, hidden=(4,))
    model.log_prob(model.init(0), np.zeros((1, 2)))
    assert model in _SKELETONS
    size = len(_SKELETONS)
    del model
    gc.collect()
    assert len(_SKELETONS) == size - 1
