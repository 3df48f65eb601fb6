"""One check per idea (tinygen._validate), and the entry points that use it.

Each error message starts with the argument's name, so every test matches ``^name: ``.
"""
import numpy as np
import pytest

import tinygen
from tinygen import _validate as V
from tinygen import evaluate as E
from tinygen import flows
from tinygen.arm import MADE, NaiveARM, PixelCNN
from tinygen.data import toys
from tinygen.distributions import Categorical, Normal, StandardNormal
from tinygen.mle import CategoricalHead, NormalHead
from tinygen.optim import SGD, Adam, minimize
from tinygen.vae import VAE

# ---- seeds --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, np.int64(-5), -(2 ** 40)])
def test_negative_seeds_name_the_argument(seed):
    with pytest.raises(ValueError, match=r"^rng: expected an np.random.Generator or an int seed >= 0"):
        V.as_rng(seed)
    with pytest.raises(ValueError, match=r"^seed: "):
        V.as_rng(seed, "seed")


def test_seeds_that_are_not_ints_are_a_type_error():
    for seed in (1.5, True, "0", None, [1]):
        with pytest.raises(TypeError, match=r"^rng: "):
            V.as_rng(seed)
    gen = np.random.default_rng(3)
    assert V.as_rng(gen) is gen
    assert V.as_rng(np.uint8(7)).integers(100) == np.random.default_rng(7).integers(100)


def test_every_sampler_names_a_negative_rng():
    model = flows.RealNVP(2, n_layers=2, hidden=(4,))
    cases = [
        lambda: model.sample(model.init(0), 2, -1),
        lambda: model.init(-1),
        lambda: tinygen.fit(model, model.init(0), np.zeros((4, 2)), steps=1, rng=-1, progress=False),
        lambda: StandardNormal(2).sample(2, -1),
        lambda: Categorical(np.zeros(3)).sample(2, -1),
        lambda: MADE(2, hidden=(4,)).sample(MADE(2, hidden=(4,)).init(0), 2, -1),
        lambda: PixelCNN(3, 3, n_channels=2, n_layers=1, kernel_size=3).init(-1),
        lambda: toys.eight_gaussians().sample(3, -1),
        lambda: flows.LULinear(2, rng=-1),
        lambda: flows.Permutation(3, "random", rng=-1),
    ]
    for call in cases:
        with pytest.raises(ValueError, match=r"^rng: "):
            call()
    for call in (lambda: MADE(2, order="random", rng=-1), lambda: NaiveARM(2, order="random", rng=-1),
                 lambda: flows.MAF(2, rng=-1)):
        with pytest.raises(ValueError, match=r"^rng: "):
            call()


# ---- real-valued arrays ---------------------------------------------------------------------


@pytest.mark.parametrize("bad, what", [
    (np.ones((2, 2)) * (1 + 1j), "complex"),
    (np.array([["1.0", "2.0"]]), "strings"),
    ([["1.0", "2.0"]], "strings"),  # numeric strings used to be parsed and accepted
    (np.array([[b"1", b"2"]]), "bytes"),
    (np.array([[1, None]], dtype=object), "objects"),
])
def test_complex_and_string_arrays_are_a_type_error(bad, what):
    with pytest.raises(TypeError, match=rf"^x: expected an array of real numbers, got {what}"):
        V.as_float_array(bad, "x")
    with pytest.raises(TypeError, match=r"^x: "):
        V.as_batch(bad, "x")


def test_real_dtypes_are_accepted():
    for good in (np.ones((2, 2), dtype=bool), np.ones((2, 2), dtype=np.int32), np.ones((2, 2), dtype=np.float32)):
        out = V.as_float_array(good, "x")
        assert out.dtype == np.float64 and np.all(out == 1.0)


def test_models_refuse_complex_and_string_data():
    model = flows.MAF(2, n_layers=1, hidden=(4,))
    params = model.init(0)
    for bad in (np.zeros((3, 2)) + 1j, [["0.5", "1.0"]]):
        with pytest.raises(TypeError, match=r"^x: "):
            model.log_prob(params, bad)
        with pytest.raises(TypeError, match=r"^x: "):
            tinygen.fit(model, params, bad, steps=1, progress=False)
    with pytest.raises(TypeError, match=r"^loc: "):
        Normal(np.array([1j]), np.ones(1))
    with pytest.raises(TypeError, match=r"^context: "):
        NormalHead(1).log_prob(NormalHead(1).init(0), np.zeros((2, 1)), context=np.zeros((2, 1)) + 1j)
    with pytest.raises(TypeError, match=r"^nll: "):
        E.bits_per_dim("1.5", 2)
    with pytest.raises(TypeError, match=r"^entropy: "):
        E.gap_to_entropy(1.0, "1.0")


# ---- non-finite values ---------------------------------------------------------------------


def test_every_finite_check_raises_nonfinite_error():
    assert issubclass(V.NonFiniteError, ValueError)
    cases = [
        lambda: V.as_float_array([np.nan], "x"),
        lambda: V.as_batch(np.full((1, 2), np.inf), "x"),
        lambda: V.check_batch(np.full((1, 2), np.nan), "x"),
        lambda: StandardNormal(2).log_prob(np.full((1, 2), np.nan)),
        lambda: Normal(np.array([np.nan]), np.ones(1)),
        lambda: Categorical(np.zeros(3)).log_prob(np.array([np.nan])),
        lambda: E.bits_per_dim(np.nan, 2),
    ]
    for call in cases:
        with pytest.raises(V.NonFiniteError, match=r"^\w+: expected finite values"):
            call()


def test_plain_params_with_a_nan_are_named():
    model = MADE(2, hidden=(4,))
    params = model.init(0)
    params["net"][1]["b"] = np.array([0.0, np.nan, 0.0, 0.0])
    with pytest.raises(V.NonFiniteError, match=r'^params\["net"\]\[1\]\["b"\]: expected finite values'):
        model.log_prob(params, np.zeros((1, 2)))  # used to return NaN silently


# ---- labels and binary values ------------------------------------------------------------------


@pytest.mark.parametrize("labels, why", [
    (np.array([0.0, 3.0]), r"in 0\.\.2, got values in 0\.\.3"),
    (np.array([-1.0]), r"in 0\.\.2, got values in -1\.\.-1"),
    (np.array([0.5]), "non-integer"),
])
def test_labels_are_integers_in_0_to_k_minus_1_everywhere(labels, why):
    with pytest.raises(ValueError, match=rf"^x: expected (integer )?class labels .*{why}"):
        V.check_labels(labels, 3)
    head = CategoricalHead(0, 3)
    with pytest.raises(ValueError, match=rf"^x: .*{why}"):
        head.log_prob(head.init(0), labels)
    with pytest.raises(ValueError, match=rf"^x: .*{why}"):
        Categorical(np.zeros(3)).log_prob(labels)
    made = MADE(1, hidden=(4,), likelihood="categorical", n_classes=3)
    with pytest.raises(ValueError, match=rf"^x: .*{why}"):
        made.log_prob(made.init(0), labels[:, None])
    np.testing.assert_array_equal(V.check_labels(np.array([2.0, 0.0]), 3), [2, 0])


def test_binary_values_everywhere():
    x = np.array([[0.0, 2.0]])
    with pytest.raises(ValueError, match=r"^x: expected binary values"):
        V.check_binary(x)
    for model in (MADE(2, hidden=(4,), likelihood="bernoulli"), VAE(2, 1, hidden=(4,), likelihood="bernoulli")):
        with pytest.raises(ValueError, match=r"^x: expected binary values"):
            model.log_prob(model.init(0), x)


# ---- constructors check what they are given ----------------------------------------------------


def test_flow_model_checks_its_base():
    layer = flows.ElementwiseAffine(2)
    with pytest.raises(TypeError, match=r"^base: expected a distribution with log_prob and sample, got str"):
        flows.FlowModel(layer, base="abc")
    with pytest.raises(ValueError, match=r"^base: expected a distribution over R\^2 like the flow, got dim 3"):
        flows.FlowModel(layer, base=StandardNormal(3))
    model = flows.FlowModel(layer, base=Normal(np.zeros(2), 2 * np.ones(2)))
    assert np.isfinite(model.log_prob(model.init(0), np.zeros((1, 2)))).all()


def test_compose_checks_its_layers():
    for bad in (None, 3, "ab", flows.ElementwiseAffine(2)):
        with pytest.raises(TypeError, match=r"^layers: expected a list of flows"):
            flows.Compose(bad)
    assert len(flows.Compose(flows.ElementwiseAffine(2) for _ in range(2)).layers) == 2  # any iterable


def test_gaussian_mixture_weights():
    means = [[0.0, 0.0], [2.0, 0.0]]
    for weights, why in (([1.0, -1.0], "positive"), ([0.0, 1.0], "positive"), ([1.0, 1.0, 1.0], "2 weights")):
        with pytest.raises(ValueError, match=rf"^weights: expected {why}"):
            toys.GaussianMixture(means, 0.5, weights=weights)
    with pytest.raises(ValueError, match=r"^means: expected at least one component"):
        toys.GaussianMixture(np.zeros((0, 2)), 0.5)
    # the rule: weights are divided by their sum, so counts (1, 3) mean w = (1/4, 3/4)
    gm = toys.GaussianMixture(means, 0.5, weights=[1.0, 3.0])
    np.testing.assert_allclose(gm.weights, [0.25, 0.75], rtol=1e-15)
    x = np.array([[0.0, 0.0]])
    # log p(x) = log sum_k w_k N(x; mu_k, sigma^2 I); the second term is e^-8 smaller, so 1e-12 checks both
    want = np.log(0.25 * np.exp(0.0) + 0.75 * np.exp(-4.0 / (2 * 0.25))) - np.log(2 * np.pi * 0.25)
    np.testing.assert_allclose(gm.log_prob(x), [want], rtol=1e-12)


def test_optimizer_rates():
    for make, name in ((lambda: SGD(momentum="a"), "momentum"), (lambda: Adam(b1="x"), "b1")):
        with pytest.raises(TypeError, match=rf"^{name}: expected a number in \[0, 1\)"):
            make()
    for make, name in ((lambda: SGD(momentum=1.0), "momentum"), (lambda: Adam(b2=np.nan), "b2"),
                       (lambda: Adam(b1=-0.1), "b1")):
        with pytest.raises(ValueError, match=rf"^{name}: expected a number in \[0, 1\)"):
            make()


def test_minimize_and_fit_check_what_they_are_given():
    with pytest.raises(TypeError, match=r"^objective: expected a function"):
        minimize(None, {"a": np.zeros(1)}, steps=1, progress=False)
    with pytest.raises(TypeError, match=r"^objective: expected a real scalar loss"):
        minimize(lambda p, r: p["a"], {"a": np.zeros(2)}, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"^params: expected at least one array to train"):
        minimize(lambda p, r: 0.0, {}, steps=1, progress=False)
    with pytest.raises(TypeError, match=r"^model: expected an object with loss"):
        tinygen.fit(object(), {"a": np.zeros(1)}, np.zeros((2, 1)), steps=1, progress=False)


def test_evaluate_checks_its_functions():
    with pytest.raises(TypeError, match=r"^log_prob_fn: expected a function"):
        E.grid_integral(3, (0.0, 1.0))
    with pytest.raises(TypeError, match=r"^model_log_prob_fn: expected a function"):
        E.kl_to_truth(None, lambda x: np.zeros(len(x)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"^true_log_prob_fn\(x\): expected one value per example"):
        E.kl_to_truth(lambda x: np.zeros(len(x)), lambda x: np.zeros(2), np.zeros((3, 2)))


def test_normal_data_that_does_not_broadcast_is_named():
    with pytest.raises(ValueError, match=r"^x: expected a shape that broadcasts with the parameters' \(2, 2\)"):
        Normal(np.zeros((2, 2)), np.ones(2)).log_prob(np.zeros((3, 2)))


def test_grid_integral_refuses_complex_log_densities():
    with pytest.raises(TypeError, match=r"^log_prob_fn\(x\): expected an array of real numbers, got complex"):
        E.grid_integral(lambda x: np.zeros(len(x)) + 1j, (0.0, 1.0))  # used to drop the imaginary part


def test_default_data_init_checks_x():
    for layer in (flows.ElementwiseAffine(2), flows.Permutation(2), flows.PlanarFlow(2)):
        with pytest.raises(V.NonFiniteError, match=r"^x: expected finite"):
            layer.data_init(layer.init(0), np.full((3, 2), np.nan))
        with pytest.raises(ValueError, match=r"^x: expected shape \(n, 2\)"):
            layer.data_init(layer.init(0), np.zeros((3, 3)))
