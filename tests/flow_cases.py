"""Registry of flow layers and models for the generic property test (tests/test_flows_generic.py).

Each entry is (name, factory) where ``factory(dim, rng)`` returns ``(flow, params)``:
a ``tinygen.flows.Flow`` (layer, Compose or FlowModel-like object with forward/inverse)
of dimension ``dim`` and random (untrained, non-trivial) parameters. Set ``flow.context_dim``
> 0 for conditional layers; the generic test then draws a context. Owners of a flow module
append their entries below; keep parameters non-trivial (e.g. perturb zero-initialized last
layers) so the log-det checks are not vacuous.
"""

CASES = []


def _planar(dim, rng):
    # Three planar layers at unit-scale parameters (not near the identity), some
    # with raw w^T u < -1 so the u_hat constraint is exercised.
    from tinygen._validate import as_rng
    from tinygen.flows import Compose, PlanarFlow

    rng = as_rng(rng)
    flow = Compose([PlanarFlow(dim, init_scale=1.0) for _ in range(3)])
    params = flow.init(rng)
    for p in params:
        p["b"] = p["b"] + rng.normal()
    return flow, params


CASES.append(("planar", _planar))


# ---- coupling layers and models (tinygen/flows/coupling.py, models.py) ----
# A coupling layer needs at least one coordinate to condition on and one to
# transform, so these factories carry ``min_dim = 2``; the generic test raises
# any smaller drawn dim to a factory's ``min_dim`` (default 1), and draws inputs up to
# ``max_abs`` in magnitude (default 1e3; see tests/test_flows_generic.py).


def _perturb_last(net, rng, scale=0.1):
    """Replace a conditioner's zero-initialized last layer by small random weights,
    so the layer is no longer the identity (scale 0.1 with <= 16 hidden units keeps
    the log-scales O(1), away from both the identity and the soft clamp)."""
    net[-1] = {k: v + scale * rng.standard_normal(v.shape) for k, v in net[-1].items()}


def _perturb_couplings(flow, params, rng):
    from tinygen.flows import Coupling

    layers = flow.flow.layers if hasattr(flow, "flow") else [flow]
    params = params if hasattr(flow, "flow") else [params]
    for layer, p in zip(layers, params):
        if isinstance(layer, Coupling):
            _perturb_last(p["conditioner"], rng)


def _random_mask(dim, rng):
    m = (rng.random(dim) < 0.5).astype(float)
    i, j = rng.choice(dim, size=2, replace=False)  # at least one 1 and one 0
    m[i], m[j] = 1.0, 0.0
    return m


def _coupling_case(make, max_abs=1e3):
    def factory(dim, rng):
        from tinygen._validate import as_rng

        rng = as_rng(rng)
        flow = make(dim, rng)
        params = flow.init(rng)
        _perturb_couplings(flow, params, rng)
        return flow, params

    factory.min_dim = 2
    factory.max_abs = max_abs  # largest input magnitude the generic test draws
    return factory


def _flows():
    import tinygen.flows as flows

    return flows


CASES.append(("affine_coupling", _coupling_case(
    lambda d, rng: _flows().AffineCoupling(d, _random_mask(d, rng), hidden=(16, 16)))))
CASES.append(("affine_coupling_conditional", _coupling_case(
    lambda d, rng: _flows().AffineCoupling(d, _random_mask(d, rng), hidden=(16,), context_dim=3))))
CASES.append(("spline_coupling", _coupling_case(
    lambda d, rng: _flows().SplineCoupling(d, _random_mask(d, rng), hidden=(16,), bins=5, bound=2.0))))
CASES.append(("spline_coupling_conditional", _coupling_case(
    lambda d, rng: _flows().SplineCoupling(d, _random_mask(d, rng), hidden=(16,), bins=4, bound=2.0,
                                           context_dim=2))))
CASES.append(("realnvp", _coupling_case(
    lambda d, rng: _flows().RealNVP(d, n_layers=4, hidden=(16,)))))
CASES.append(("neural_spline_flow", _coupling_case(
    lambda d, rng: _flows().NeuralSplineFlow(d, n_layers=3, hidden=(16,), bins=4, bound=2.0), max_abs=3.0)))


# ---- autoregressive flows (tinygen/flows/autoregressive.py) ----
# Random orderings and hidden degrees from the drawn seed; every MADE's zero-initialized
# output layer is replaced by small random weights (_perturb_last) so mu and alpha
# depend on the earlier coordinates and the layers are far from the identity.
# Unconditional cases need dim >= 2: in 1-D every MADE weight is masked (x_1 has no
# predecessor), so only the output biases act and the weights' gradient is rightly 0.


def _autoregressive_case(make, min_dim=2):
    def factory(dim, rng):
        from tinygen._validate import as_rng

        rng = as_rng(rng)
        flow = make(dim, rng)
        params = flow.init(rng)
        for p in params if isinstance(params, list) else [params]:
            if "net" in p:
                _perturb_last(p["net"], rng, scale=0.3)
        return flow, params

    factory.min_dim = min_dim
    return factory


CASES.append(("maf_layer", _autoregressive_case(
    lambda d, rng: _flows().MAFLayer(d, hidden=(12, 12), order="random", seed=rng))))
CASES.append(("iaf_layer_conditional", _autoregressive_case(
    lambda d, rng: _flows().IAFLayer(d, hidden=(12,), context_dim=2, order="random", seed=rng),
    min_dim=1)))
CASES.append(("maf_conditional", _autoregressive_case(
    lambda d, rng: _flows().MAF(d, n_layers=3, hidden=(12,), context_dim=2, seed=rng), min_dim=1)))
CASES.append(("iaf", _autoregressive_case(
    lambda d, rng: _flows().IAF(d, n_layers=3, hidden=(12, 12), seed=rng))))


# ---- elementwise, spline and linear layers (tinygen/flows/elementwise.py, splines.py, linear.py) ----


def _with_rng(build):
    """factory(dim, rng) from build(dim, rng) -> (flow, params), with rng made a Generator."""
    def factory(dim, rng):
        from tinygen._validate import as_rng

        return build(dim, as_rng(rng))

    return factory


def _elementwise_affine(dim, rng):
    from tinygen.flows import ElementwiseAffine

    flow = ElementwiseAffine(dim)
    return flow, flow.init(rng, scale=1.0)  # a_d from ~e^-2 to e^2: far from the identity


def _elementwise_spline(dim, rng):
    from tinygen.flows import ElementwiseSpline

    # bound 2 so O(1) inputs meet every bin and 1e3 ones test the identity tails;
    # scale 1 bends the spline well away from the identity
    flow = ElementwiseSpline(dim, bins=5, bound=2.0)
    return flow, flow.init(rng, scale=1.0)


def _actnorm(dim, rng):
    from tinygen.flows import ActNorm

    flow = ActNorm(dim)  # init is the identity (s = t = 0) until data_init: perturb
    return flow, {"s": rng.normal(0, 0.5, dim), "t": rng.normal(0, 1.0, dim)}


def _lu_linear(dim, rng):
    from tinygen.flows import LULinear

    flow = LULinear(dim, rng=rng)
    return flow, flow.init(rng, scale=0.5)


def _permutation(order):
    def build(dim, rng):
        from tinygen.flows import Permutation

        return Permutation(dim, order, rng=rng), {}

    return build


CASES.append(("elementwise_affine", _with_rng(_elementwise_affine)))
CASES.append(("elementwise_spline", _with_rng(_elementwise_spline)))
CASES.append(("permutation_reverse", _with_rng(_permutation("reverse"))))
CASES.append(("permutation_random", _with_rng(_permutation("random"))))
CASES.append(("actnorm", _with_rng(_actnorm)))
_lu_case = _with_rng(_lu_linear)
# In 1-D, L and U have no free (off-diagonal) entries, so their leaves rightly get no gradient.
_lu_case.min_dim = 2
CASES.append(("lu_linear", _lu_case))
