"""The MLP's hand-written backward pass equals autograd's, for every activation and with masks."""
import numpy as np
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.nn import ACTIVATIONS, MLP
from tinygen.testing.strategies import seeds


@settings(max_examples=30)
@given(
    seed=seeds,
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    masked=st.booleans(),
    n=st.integers(1, 5),
)
def test_primitive_matches_traced_mlp(seed, sizes, activation, masked, n):
    rng = np.random.default_rng(seed)
    masks = [rng.integers(0, 2, (a, b)).astype(float) for a, b in zip(sizes[:-1], sizes[1:])] if masked else None
    mlp = MLP(sizes, activation=activation, masks=masks)
    params = mlp.init(rng)
    for layer in params:  # non-zero biases so no unit sits exactly at a kink
        layer["b"] = rng.normal(size=layer["b"].shape)
    x = rng.normal(size=(n, sizes[0]))
    w = rng.normal(size=(n, sizes[-1]))  # a random linear functional of the output

    np.testing.assert_allclose(mlp.apply(params, x), mlp.apply_traced(params, x), rtol=1e-12, atol=1e-12)

    def loss(apply):
        return lambda p, x: np.sum(w * apply(p, x))

    # Same arithmetic in a different order: agreement to ~1e-10 relative is expected in float64.
    gp_fast, gp_ref = grad(loss(mlp.apply))(params, x), grad(loss(mlp.apply_traced))(params, x)
    for a, b in zip(gp_fast, gp_ref):
        np.testing.assert_allclose(a["W"], b["W"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a["b"], b["b"], rtol=1e-10, atol=1e-12)
    gx_fast = grad(loss(mlp.apply), 1)(params, x)
    gx_ref = grad(loss(mlp.apply_traced), 1)(params, x)
    np.testing.assert_allclose(gx_fast, gx_ref, rtol=1e-10, atol=1e-12)


def test_check_grads_against_finite_differences():
    # Finite differences need a smooth activation; tanh exercises the 1 - h^2 derivative.
    mlp = MLP((3, 8, 8, 2), activation="tanh")
    params = mlp.init(0)
    x = np.random.default_rng(1).normal(size=(4, 3))
    check_grads(lambda x: mlp.apply(params, x), modes=["rev"], order=1)(x)
    check_grads(lambda p: mlp.apply(p, x), modes=["rev"], order=1)(params)


def test_masked_weights_get_zero_gradient():
    mask = np.array([[1.0, 0.0], [0.0, 1.0]])
    mlp = MLP((2, 2), masks=[mask])
    params = mlp.init(0)
    g = grad(lambda p: np.sum(mlp.apply(p, np.ones((3, 2)))))(params)
    assert np.all(g[0]["W"][mask == 0] == 0) and np.all(g[0]["W"][mask == 1] != 0)


def test_individually_traced_leaves_take_the_per_leaf_path():
    # A plain list holding a traced W (not a traced list) must still differentiate correctly.
    mlp = MLP((3, 4, 2), activation="tanh")
    params = mlp.init(0)
    x = np.random.default_rng(2).normal(size=(5, 3))

    def loss(apply):
        return lambda W: np.sum(apply([{"W": W, "b": params[0]["b"]}, params[1]], x) ** 2)

    np.testing.assert_allclose(grad(loss(mlp.apply))(params[0]["W"]),
                               grad(loss(mlp.apply_traced))(params[0]["W"]), rtol=1e-10)


def test_leading_axes_are_folded_and_wrong_width_is_named():
    mlp = MLP((3, 4, 2))
    params = mlp.init(0)
    x = np.random.default_rng(3).normal(size=(2, 5, 3))
    out = mlp.apply(params, x)
    assert out.shape == (2, 5, 2)
    np.testing.assert_allclose(out, mlp.apply_traced(params, x), rtol=1e-12)
    g = grad(lambda x: np.sum(mlp.apply(params, x) ** 2))(x)
    np.testing.assert_allclose(g, grad(lambda x: np.sum(mlp.apply_traced(params, x) ** 2))(x), rtol=1e-10)
    with np.testing.assert_raises_regex(ValueError, r"x: expected shape \(\.\.\., 3\)"):
        mlp.apply(params, np.ones((4, 2)))
