"""MLP: shapes, masks that really cut connections, zero_last, init statistics, bad arguments."""
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import nn
from tinygen.testing.strategies import batch_sizes, seeds

layer_sizes = st.lists(st.integers(1, 6), min_size=2, max_size=4)


@settings(max_examples=30)
@given(layer_sizes, batch_sizes, seeds, st.sampled_from(sorted(nn.ACTIVATIONS)))
def test_mlp_shapes(sizes, n, seed, activation):
    mlp = nn.MLP(sizes, activation=activation)
    params = mlp.init(seed)
    assert [(p["W"].shape, p["b"].shape) for p in params] == [((a, b), (b,)) for a, b in zip(sizes[:-1], sizes[1:])]
    y = mlp.apply(params, onp.random.default_rng(seed).normal(size=(n, sizes[0])))
    assert y.shape == (n, sizes[-1]) and onp.all(onp.isfinite(y))
    assert nn.count_params(params) == mlp.n_params()


@settings(max_examples=30)
@given(layer_sizes, seeds)
def test_masked_weights_get_exactly_zero_gradient_and_no_influence(sizes, seed):
    rng = onp.random.default_rng(seed)
    masks = [rng.uniform(size=(a, b)) < 0.5 for a, b in zip(sizes[:-1], sizes[1:])]
    mlp = nn.MLP(sizes, activation="tanh", masks=masks)
    params = mlp.init(seed)
    x = rng.normal(size=(4, sizes[0]))
    g = grad(lambda p: onp.sum(mlp.apply(p, x) ** 2))(params)
    for layer, mask in zip(g, masks):
        # y = x (W * M) + b: dy/dW_ij = x_i M_ij, which is exactly 0 where M_ij = 0
        assert onp.all(layer["W"][~mask] == 0.0)
    # changing a masked weight changes nothing: the connection does not exist
    moved = [{"W": p["W"] + 100.0 * ~m, "b": p["b"]} for p, m in zip(params, masks)]
    onp.testing.assert_array_equal(mlp.apply(moved, x), mlp.apply(params, x))


def test_mask_cuts_an_input_off_entirely():
    # With input 0 disconnected in the first layer, the output cannot depend on x_0.
    mask0 = onp.ones((3, 8))
    mask0[0] = 0
    mlp = nn.MLP((3, 8, 2), masks=[mask0, onp.ones((8, 2))])
    params = mlp.init(0)
    x = onp.random.default_rng(1).normal(size=(5, 3))
    dx = grad(lambda x_: onp.sum(mlp.apply(params, x_)))(x)
    assert onp.all(dx[:, 0] == 0.0) and onp.any(dx[:, 1:] != 0.0)


@settings(max_examples=20)
@given(layer_sizes, seeds)
def test_zero_last_gives_zero_output(sizes, seed):
    mlp = nn.MLP(sizes, zero_last=True)
    params = mlp.init(seed)
    y = mlp.apply(params, onp.random.default_rng(seed).normal(size=(3, sizes[0])))
    onp.testing.assert_array_equal(y, onp.zeros((3, sizes[-1])))
    # but the last layer still learns: its gradient is not zero
    g = grad(lambda p: onp.sum(mlp.apply(p, onp.ones((1, sizes[0])))))(params)
    assert onp.any(g[-1]["b"] != 0.0)


@pytest.mark.parametrize("init", ["glorot", "he"])
def test_init_statistics(init):
    n_in, n_out = 200, 200
    W = nn.init_dense(0, n_in, n_out, init)["W"].ravel()
    N = W.size
    # glorot: U(-a, a), a = sqrt(6 / (n_in + n_out)), variance a^2 / 3 = 2 / (n_in + n_out);
    # he: N(0, 2 / n_in). SE of the mean of W^2: sqrt(Var(W^2) / N), with Var(W^2) = 4 a^4 / 45
    # for the uniform and 2 var^2 for the Gaussian. 5 SE, as in test_distributions.
    var = 2.0 / (n_in + n_out) if init == "glorot" else 2.0 / n_in
    se_var = (onp.sqrt(4 / 45) * (3 * var) if init == "glorot" else onp.sqrt(2) * var) / onp.sqrt(N)
    assert abs(onp.mean(W**2) - var) < 5 * se_var
    assert abs(onp.mean(W)) < 5 * onp.sqrt(var / N)
    if init == "glorot":
        assert onp.max(onp.abs(W)) <= onp.sqrt(3 * var)
    layer = nn.init_dense(0, n_in, n_out, init)
    onp.testing.assert_array_equal(layer["b"], onp.zeros(n_out))


@settings(max_examples=20)
@given(layer_sizes, seeds)
def test_hidden_biases_are_spread_and_the_output_bias_is_zero(sizes, seed):
    params = nn.MLP(sizes).init(seed)
    for l, layer in enumerate(params[:-1]):
        n_in = sizes[l]
        assert onp.all(onp.abs(layer["b"]) <= 2.0 / onp.sqrt(n_in))  # b ~ U(-2/sqrt(n_in), 2/sqrt(n_in))
        assert onp.all(layer["b"] != 0.0)  # a continuous draw is never exactly 0
    onp.testing.assert_array_equal(params[-1]["b"], onp.zeros(sizes[-1]))


def test_hidden_bias_scale_matches_its_uniform_law():
    b = nn.init_dense(0, 16, 20000, "he", spread_bias=True)["b"]
    a = 2.0 / onp.sqrt(16)
    # U(-a, a): mean 0, variance a^2 / 3; Var(b^2) = 4 a^4 / 45. 5 SE, as above.
    assert abs(onp.mean(b)) < 5 * onp.sqrt(a * a / 3 / b.size)
    assert abs(onp.mean(b * b) - a * a / 3) < 5 * onp.sqrt(4 * a**4 / 45 / b.size)


def test_a_one_input_relu_net_starts_with_its_kinks_spread():
    # With zero biases f(c x) = c f(x) for c > 0 (every kink at x = 0); spread biases break that,
    # and the first layer's kinks -b/w fall at a median distance of about 1 from 0.
    mlp = nn.MLP((1, 64, 64, 1))
    params = mlp.init(3)
    params[-1]["W"] = onp.random.default_rng(3).normal(size=(64, 1))
    x = onp.linspace(0.1, 2.0, 20)[:, None]
    assert not onp.allclose(mlp.apply(params, 2 * x), 2 * mlp.apply(params, x))
    zero = [dict(layer, b=0.0 * layer["b"]) for layer in params]
    onp.testing.assert_allclose(mlp.apply(zero, 2 * x), 2 * mlp.apply(zero, x), rtol=1e-12)
    kinks = -nn.MLP((1, 4000, 1)).init(0)[0]["b"] / nn.MLP((1, 4000, 1)).init(0)[0]["W"][0]
    assert 0.8 < onp.median(onp.abs(kinks)) < 1.2  # 0.96 for b ~ U(-2, 2), w ~ N(0, 2); sampling sd ~0.03


def test_init_is_reproducible_and_default_depends_on_activation():
    a, b = nn.MLP((2, 4, 1)).init(7), nn.MLP((2, 4, 1)).init(7)
    for la, lb in zip(a, b):
        onp.testing.assert_array_equal(la["W"], lb["W"])
    assert nn.MLP((2, 4, 1), activation="relu").init_name == "he"
    assert nn.MLP((2, 4, 1), activation="tanh").init_name == "glorot"
    zero = nn.MLP((2, 4, 1), init="zeros").init(0)
    assert all(onp.all(layer["W"] == 0) for layer in zero)


def test_activations_finite_at_1e4():
    a = onp.array([-1e4, 0.0, 1e4])
    for name, act in nn.ACTIVATIONS.items():
        assert onp.all(onp.isfinite(act(a))), name


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(sizes=(3,)), ValueError, "sizes"),
        (dict(sizes=(3, 0, 2)), ValueError, r"sizes\[1\]"),
        (dict(sizes=(3, 2.5)), TypeError, r"sizes\[1\]"),
        (dict(sizes=(3, 2), activation="sigmoidal"), ValueError, "activation"),
        (dict(sizes=(3, 2), init="xavier"), ValueError, "init"),
        (dict(sizes=(3, 2), masks=[onp.ones((2, 3))]), ValueError, "masks"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=rf"^{name}: "):
        nn.MLP(**kwargs)


def test_init_dense_bad_init_and_rng():
    with pytest.raises(ValueError, match="^init"):
        nn.init_dense(0, 2, 3, "orthogonal")
    with pytest.raises(TypeError, match="^rng"):
        nn.init_dense(0.5, 2, 3)


def test_leading_axes_are_folded_and_a_wrong_width_is_named():
    mlp = nn.MLP((3, 4, 2))
    params = mlp.init(0)
    x = onp.random.default_rng(3).normal(size=(2, 5, 3))
    out = mlp.apply(params, x)
    assert out.shape == (2, 5, 2)
    # np.dot on (2, 5, 3) and on (10, 3) may take different BLAS paths: equal to rounding
    onp.testing.assert_allclose(out, mlp.apply(params, x.reshape(10, 3)).reshape(2, 5, 2), rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match=r"^x: expected shape \(\.\.\., 3\)"):
        mlp.apply(params, onp.ones((4, 2)))


@settings(max_examples=30)
@given(n=batch_sizes, dim=st.integers(1, 3), n_freq=st.integers(0, 4), seed=seeds)
def test_fourier_features_are_the_sines_and_cosines_of_doubling_frequencies(n, dim, n_freq, seed):
    x = onp.random.default_rng(seed).uniform(-2, 2, (n, dim))
    f = nn.fourier_features(x, n_freq)
    assert f.shape == (n, 2 * dim * n_freq)
    for d in range(dim):
        for k in range(n_freq):
            column = d * n_freq + k  # sines first, coordinate by coordinate, then the cosines
            onp.testing.assert_allclose(f[:, column], onp.sin(2 ** k * onp.pi * x[:, d]), atol=1e-12)
            onp.testing.assert_allclose(f[:, dim * n_freq + column], onp.cos(2 ** k * onp.pi * x[:, d]),
                                        atol=1e-12)
    # differentiable in x: d sin(2^k pi x) / dx = 2^k pi cos(2^k pi x), summed over the sine columns
    g = grad(lambda y: onp.sum(nn.fourier_features(y, n_freq)[:, :dim * n_freq]) if n_freq else 0.0 * y.sum())(x)
    expected = sum(2 ** k * onp.pi * onp.cos(2 ** k * onp.pi * x) for k in range(n_freq)) + 0.0 * x
    onp.testing.assert_allclose(g, expected, atol=1e-9)
