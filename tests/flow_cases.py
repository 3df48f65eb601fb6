"""Every flow layer and model tinygen ships, for the generic property test (tests/test_flows_generic.py).

Each entry is (name, factory) where ``factory(dim, rng)`` returns ``(flow, params)``: a flow
of dimension ``dim`` (masks, orderings and hidden degrees drawn from rng) and parameters
made by ``flow.init`` and then ``tinygen.testing.perturb``, which moves every leaf away from
the identity start (zero-initialized last layers, ActNorm's s = t = 0): by default the
parameters ``check_flow(flow)`` draws for itself, or smaller moves with ``scale=``. A factory
carries ``min_dim`` (the smallest dimension it makes sense in) and ``max_abs`` (the magnitude
of the large inputs the generic test uses).
"""
from tinygen._validate import as_rng
from tinygen.testing import perturb
from tinygen.testing.flows import PERTURB_SCALE

CASES = []


def case(name, min_dim=1, max_abs=1e3):
    """Register ``build(dim, rng) -> flow`` under ``name``; rng arrives as a Generator."""
    def register(build):
        def factory(dim, rng, scale=PERTURB_SCALE):
            rng = as_rng(rng)
            flow = build(dim, rng)
            return flow, perturb(flow.init(rng), rng, scale)

        factory.min_dim, factory.max_abs = min_dim, max_abs
        CASES.append((name, factory))
        return build

    return register


def _flows():
    import tinygen.flows as flows

    return flows


def _random_mask(dim, rng):
    m = (rng.random(dim) < 0.5).astype(float)
    i, j = rng.choice(dim, size=2, replace=False)  # at least one 1 and one 0
    m[i], m[j] = 1.0, 0.0
    return m


# Three planar layers, some with raw w^T u < -1 once perturbed, so the u_hat constraint acts.
case("planar")(lambda d, rng: _flows().Compose([_flows().PlanarFlow(d, init_scale=1.0) for _ in range(3)]))

# ---- coupling layers and models (coupling.py, models.py) ----
# A coupling layer needs one coordinate to condition on and one to transform: min_dim = 2.
# A stack of splines whose conditioners see |z| >> bound squeezes bins to widths ~1e-6 per
# layer, and inverting a product of such slopes loses digits in any arithmetic (the map is
# ill-conditioned there, no formula is wrong): the spline flow's large inputs stay at 3; its
# single layers are still tested at 1e3.
case("affine_coupling", min_dim=2)(
    lambda d, rng: _flows().AffineCoupling(d, _random_mask(d, rng), hidden=(16, 16)))
case("affine_coupling_conditional", min_dim=2)(
    lambda d, rng: _flows().AffineCoupling(d, _random_mask(d, rng), hidden=(16,), context_dim=3))
case("spline_coupling", min_dim=2)(
    lambda d, rng: _flows().SplineCoupling(d, _random_mask(d, rng), hidden=(16,), bins=5, bound=2.0))
case("spline_coupling_conditional", min_dim=2)(
    lambda d, rng: _flows().SplineCoupling(d, _random_mask(d, rng), hidden=(16,), bins=4, bound=2.0, context_dim=2))
case("realnvp", min_dim=2)(lambda d, rng: _flows().RealNVP(d, n_layers=4, hidden=(16,)))
case("neural_spline_flow", min_dim=2, max_abs=3.0)(
    lambda d, rng: _flows().NeuralSplineFlow(d, n_layers=3, hidden=(16,), bins=4, bound=2.0))

# ---- autoregressive flows (autoregressive.py) ----
# Random orderings and hidden degrees from rng. Unconditional cases need dim >= 2: in 1-D every
# MADE weight is masked (x_1 has no predecessor), so only the output biases act and the weights'
# gradient is rightly 0; with a context the weights from c still act.
case("maf_layer", min_dim=2)(lambda d, rng: _flows().MAFLayer(d, hidden=(12, 12), order="random", rng=rng))
case("iaf_layer_conditional")(
    lambda d, rng: _flows().IAFLayer(d, hidden=(12,), context_dim=2, order="random", rng=rng))
case("maf_conditional")(lambda d, rng: _flows().MAF(d, n_layers=3, hidden=(12,), context_dim=2, rng=rng))
case("iaf", min_dim=2)(lambda d, rng: _flows().IAF(d, n_layers=3, hidden=(12, 12), rng=rng))

# ---- elementwise, spline and linear layers (elementwise.py, splines.py, linear.py) ----
case("elementwise_affine")(lambda d, rng: _flows().ElementwiseAffine(d))
# bound 2 so O(1) inputs meet every bin and large ones test the identity tails
case("elementwise_spline")(lambda d, rng: _flows().ElementwiseSpline(d, bins=5, bound=2.0))
case("permutation_reverse")(lambda d, rng: _flows().Permutation(d, "reverse"))
case("permutation_random")(lambda d, rng: _flows().Permutation(d, "random", rng=rng))
case("actnorm")(lambda d, rng: _flows().ActNorm(d))
# In 1-D, L and U have no free (off-diagonal) entries, so their leaves rightly get no gradient.
case("lu_linear", min_dim=2)(lambda d, rng: _flows().LULinear(d, rng=rng))
