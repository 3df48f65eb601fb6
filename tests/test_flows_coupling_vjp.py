"""AffineCoupling's density direction runs as one primitive with a hand-written backward
pass; it must equal the traced map ``_couple`` in value and in every gradient."""
import autograd.numpy as anp
import numpy as np
from autograd import grad
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.flows.coupling import AffineCoupling
from tinygen.testing.strategies import seeds


@settings(max_examples=25)
@given(seed=seeds, dim=st.integers(2, 5), context_dim=st.integers(0, 2), n=st.integers(1, 6),
       use_z=st.booleans())
def test_fused_density_pass_equals_traced_map(seed, dim, context_dim, n, use_z):
    rng = np.random.default_rng(seed)
    mask = np.zeros(dim)
    mask[rng.permutation(dim)[: rng.integers(1, dim)]] = 1  # at least one 1 and one 0
    layer = AffineCoupling(dim, mask, hidden=(6, 5), context_dim=context_dim)
    params = layer.init(rng)
    for net_layer in params["conditioner"]:  # away from the identity start
        net_layer["W"] = net_layer["W"] + 0.5 * rng.normal(size=net_layer["W"].shape)
        net_layer["b"] = 0.5 * rng.normal(size=net_layer["b"].shape)
    x = 2 * rng.normal(size=(n, dim))
    c = rng.normal(size=(n, context_dim)) if context_dim else None
    w, v = rng.normal(size=(n, dim)) * use_z, rng.normal(size=n)  # use_z=False: only the log-det matters

    z_fast, ld_fast = layer._inverse(params, x, c)
    z_ref, ld_ref = layer._couple(params, x, c, inverse=True)
    np.testing.assert_allclose(z_fast, z_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ld_fast, ld_ref, rtol=1e-12, atol=1e-12)

    def loss(inverse):
        def f(p, x, c):
            z, ld = inverse(p, x, c)
            return anp.sum(w * z) + anp.sum(v * ld)
        return f

    fast = loss(layer._inverse)
    ref = loss(lambda p, x, c: layer._couple(p, x, c, inverse=True))
    # The same arithmetic in another order: agreement to ~1e-10 relative in float64.
    for a, b in zip(grad(fast, 0)(params, x, c)["conditioner"], grad(ref, 0)(params, x, c)["conditioner"]):
        np.testing.assert_allclose(a["W"], b["W"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a["b"], b["b"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad(fast, 1)(params, x, c), grad(ref, 1)(params, x, c), rtol=1e-10, atol=1e-12)
    if context_dim:
        np.testing.assert_allclose(grad(fast, 2)(params, x, c), grad(ref, 2)(params, x, c),
                                   rtol=1e-10, atol=1e-12)
