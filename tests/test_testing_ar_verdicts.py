"""check_autoregressive gives no false verdict: correct autoregressive functions pass at random
params, and leaks that autograd's Jacobian cannot see (an integer lookup, a branch, a call to plain
NumPy) fail, the report naming the method that found them."""
import autograd.numpy as np
import numpy as onp
import pytest
from hypothesis import given, settings

from tinygen.arm import MADE, RNNARM, CausalConvARM, TransformerARM
from tinygen.testing import check_autoregressive, perturb
from tinygen.testing.strategies import seeds

V, T = 3, 5
JACOBIAN = "output o_t reads no input o_s with s >= t (autograd Jacobian)"
PERTURBATION = "output o_t reads no input o_s with s >= t (finite perturbation)"
SYMBOL = "output o_t reads no input o_s with s >= t (changed symbol)"
W = onp.random.default_rng(0).standard_normal((V, V))


def failed(report):
    return [row.property for row in report.failures]


def tokens(seed, n=3):
    return onp.eye(V)[onp.random.default_rng(seed).integers(0, V, (n, T))]


def causal(e):
    """A hand-written causal map: position t sums the tokens before t (shift right, then cumsum)."""
    u = np.concatenate([np.zeros((e.shape[0], 1) + e.shape[2:]), e[:, :-1]], axis=1)
    return np.cumsum(u, axis=1)


def previous(x):
    return np.concatenate([np.zeros((x.shape[0], 1)), x[:, :-1]], axis=1)


# ---- correct functions pass ---------------------------------------------------------------------
SEQUENCE_MODELS = {"rnn": lambda: RNNARM(V, T, hidden=6),
                   "causal_conv": lambda: CausalConvARM(V, T, n_channels=6, n_layers=3, kernel_size=2),
                   "transformer": lambda: TransformerARM(V, T, d_model=8, n_heads=2, n_layers=1)}


@pytest.mark.parametrize("name", sorted(SEQUENCE_MODELS))
@settings(max_examples=3)
@given(seed=seeds)
def test_sequence_arms_pass_at_random_params(name, seed):
    model = SEQUENCE_MODELS[name]()
    for params in (model.init(seed), perturb(model.init(seed), seed)):
        check_autoregressive(lambda e, p=params: model.logits_onehot(p, e), T, x=tokens(seed), full=True).assert_ok()


@settings(max_examples=5)
@given(seed=seeds)
def test_made_passes_at_random_params_on_real_and_integer_inputs(seed):
    made = MADE(T, hidden=(16,), likelihood="categorical", n_classes=V, order="random", rng=seed % 1000)
    params = perturb(made.init(seed), seed)
    def fn(x):
        return np.transpose(made.outputs(params, x), (0, 2, 1))  # axis 1 the position

    x = onp.random.default_rng(seed).integers(0, V, (3, T)).astype(float)
    check_autoregressive(fn, T, made.order, x=x, n_classes=V).assert_ok()  # changed symbols
    check_autoregressive(fn, T, made.order, rng=seed).assert_ok()  # real inputs, finite perturbation


@settings(max_examples=5)
@given(seed=seeds)
def test_hand_written_causal_functions_pass(seed):
    assert check_autoregressive(causal, T, x=tokens(seed), full=True)
    assert check_autoregressive(lambda x: np.where(previous(x) > 0, 1.0, -1.0) * previous(x), T, rng=seed)
    assert check_autoregressive(lambda e: W[np.argmax(causal(e), -1)], T, x=tokens(seed))  # a lookup of x_<t


# ---- each leak fails, naming the method ---------------------------------------------------------
def test_an_embedding_lookup_of_the_current_token_is_found_by_changing_symbols():
    report = check_autoregressive(lambda e: causal(e) + W[np.argmax(e, -1)], T, x=tokens(0))
    assert failed(report) == [SYMBOL]  # argmax has no derivative: the Jacobian sees nothing
    assert "output for x_1 (t = 1) reads x_1 (s = 1): output changes by" in str(report)


def test_a_branch_on_the_current_input_is_found_by_perturbation():
    report = check_autoregressive(lambda x: np.where(x > 0, previous(x), -previous(x)), T)
    assert failed(report) == [PERTURBATION]


def test_plain_numpy_outside_autograd_is_found_by_perturbation():
    report = check_autoregressive(lambda x: onp.cumsum(onp.asarray(x), 1), T)
    assert failed(report) == [PERTURBATION] and "reads x_" in str(report)


def test_a_smooth_leak_is_found_by_both_methods():
    report = check_autoregressive(lambda e: causal(e) + 0.1 * e, T, x=tokens(1))
    assert failed(report) == [JACOBIAN, SYMBOL]


def test_an_untraceable_fn_is_checked_by_changing_inputs_and_says_so():
    def untraceable(x):
        return onp.array(previous(onp.asarray(x, dtype=float)))  # float() of a traced value fails

    def traced_fails(x):
        if isinstance(x, onp.ndarray):
            return onp.cumsum(previous(x), 1)  # out_t = x_1 + ... + x_{t-1}: every earlier input
        raise TypeError("not an array")

    report = check_autoregressive(traced_fails, T, full=True)
    assert report and "autograd Jacobian: not computed" in str(report)
    assert check_autoregressive(untraceable, T)


# ---- arguments ----------------------------------------------------------------------------------
def test_bad_arguments_are_errors_naming_them():
    with pytest.raises(TypeError, match=r"^fn: "):
        check_autoregressive("causal", T)
    with pytest.raises(ValueError, match=r"^dim: "):
        check_autoregressive(causal, 0)
    with pytest.raises(TypeError, match=r"^full: "):
        check_autoregressive(causal, T, full="yes")
    with pytest.raises(ValueError, match=r"^atol: "):
        check_autoregressive(causal, T, atol=-1.0)
    with pytest.raises(ValueError, match=r"^n_points: "):
        check_autoregressive(causal, T, n_points=0)
    with pytest.raises(ValueError, match=r"^n_classes: "):
        check_autoregressive(causal, T, x=onp.zeros((2, T)), n_classes=1)
    with pytest.raises(ValueError, match=r"^x: "):
        check_autoregressive(causal, T, x=onp.full((2, T), 3.0), n_classes=3)
    with pytest.raises(ValueError, match=r"^x: "):
        check_autoregressive(causal, T, x=onp.full((2, T), onp.nan))
    with pytest.raises(TypeError, match=r"^rng: "):
        check_autoregressive(causal, T, rng="0")
