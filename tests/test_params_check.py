"""Params from another model are refused at every public entry point, naming the first wrong path.

A model's params must have exactly the tree its own ``init`` makes (dict keys, list
lengths, leaf shapes). Each case below changes a correct tree in one way (a layer
fewer, a layer more, a wider leaf, no params at all, another model's params) and
every public entry point must raise a ValueError/TypeError whose message starts with
``params`` and the path to the first place that differs.
"""
import copy
import re

import numpy as np
import pytest
from flow_cases import CASES

import tinygen
from tinygen import flows
from tinygen._validate import check_params, param_shapes
from tinygen.arm import MADE, CausalConvARM, NaiveARM, PixelCNN, RNNARM, TransformerARM
from tinygen.mle import CategoricalHead, NormalHead
from tinygen.vae import VAE

PARAMS_ERROR = r"^params(\[[^\]]+\])*: expected "  # "params", a path, then what was expected


# ---- ways to break a correct tree ----------------------------------------------------------

def _first_array_path(tree, path=()):
    if isinstance(tree, dict):
        for k in tree:
            found = _first_array_path(tree[k], path + (k,))
            if found is not None:
                return found
        return None
    if isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            found = _first_array_path(v, path + (i,))
            if found is not None:
                return found
        return None
    return path if np.ndim(tree) >= 1 else None


def _set(tree, path, value):
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def shallower(tree):
    if isinstance(tree, list) and tree:
        return tree[:-1]
    if isinstance(tree, dict) and tree:
        return {k: tree[k] for k in list(tree)[:-1]}
    return None  # nothing to remove


def deeper(tree):
    if isinstance(tree, list) and tree:
        return tree + [copy.deepcopy(tree[-1])]
    if isinstance(tree, dict):
        return {**tree, "extra": np.zeros(2)}
    return None


def wider(tree):
    path = _first_array_path(tree)
    if path is None:
        return None
    node = tree
    for key in path:
        node = node[key]
    grown = np.concatenate([node, node[..., :1]], axis=-1)  # one more entry on the last axis
    return _set(tree, path, grown)


def empty(tree):
    if isinstance(tree, list):
        return [] if tree else None
    return {} if tree else None


MUTATIONS = {"shallower": shallower, "deeper": deeper, "wider": wider, "empty": empty}


def _broken(params):
    for name, mutate in MUTATIONS.items():
        bad = mutate(params)
        if bad is not None:
            yield name, bad


# ---- every flow in the registry -------------------------------------------------------------

def _flow_calls(flow, dim, context):
    z = np.random.default_rng(1).normal(size=(3, dim))
    kw = {} if context is None else {"context": context}
    calls = [lambda p: flow.forward(p, z, **kw), lambda p: flow.inverse(p, z, **kw)]
    if hasattr(flow, "log_prob"):  # a FlowModel
        calls += [lambda p: flow.log_prob(p, z, **kw), lambda p: flow.sample(p, 3, 0, **kw),
                  lambda p: flow.loss(p, z, **kw), lambda p: flow.sample_layers(p, 3, 0, **kw)]
    elif isinstance(flow, flows.Compose):
        calls.append(lambda p: flow.forward_all(p, z, **kw))
    return calls


def _case(name):
    factory = dict(CASES)[name]
    dim = max(3, getattr(factory, "min_dim", 1))
    flow, params = factory(dim, 0)
    context = None
    if flow.context_dim:
        context = np.random.default_rng(2).normal(size=(3, flow.context_dim))
    return flow, params, dim, context


@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_every_registry_flow_refuses_a_changed_tree(name):
    flow, params, dim, context = _case(name)
    calls = _flow_calls(flow, dim, context)
    for call in calls:
        call(params)  # the right tree works
    for _how, bad in _broken(params):
        for call in calls:
            with pytest.raises((ValueError, TypeError), match=PARAMS_ERROR):
                call(bad)


@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_every_registry_flow_refuses_another_flows_params(name):
    flow, params, dim, context = _case(name)
    mine = param_shapes(params)
    others = [p for n, f in CASES if n != name for _, p in [_case(n)[:2]] if param_shapes(p) != mine]
    for call in _flow_calls(flow, dim, context):
        for other in others:
            with pytest.raises((ValueError, TypeError), match=PARAMS_ERROR):
                call(other)


def test_the_message_names_the_first_mismatching_path():
    model = flows.RealNVP(2, n_layers=4, hidden=(64,))
    other = flows.RealNVP(2, n_layers=4, hidden=(63,)).init(0)
    x = np.zeros((2, 2))
    msg = 'params[0]["conditioner"][0]["W"]: expected shape (1, 64), got (1, 63)'
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        model.log_prob(other, x)
    with pytest.raises(ValueError, match="^" + re.escape("params: expected a list of 4 entries, got 2")):
        model.log_prob(model.init(0)[:2], x)  # used to drop layers silently
    with pytest.raises(ValueError, match="^" + re.escape("params: expected a list of 4 entries, got 0")):
        model.sample([], 3, 0)  # used to be the identity flow
    spline = flows.ElementwiseSpline(2, bins=5)
    with pytest.raises(ValueError, match=r"^params\[\"\w+\"\]: expected shape \(2, \d+\), got \(2, \d+\)"):
        spline.forward(flows.ElementwiseSpline(2, bins=6).init(0), x)  # other bins


def test_not_a_tree_at_all_is_a_type_error():
    model = flows.RealNVP(2, n_layers=2, hidden=(8,))
    for bad in (None, "params", 3.0):
        with pytest.raises(TypeError, match=r"^params: expected a list of 2 entries"):
            model.log_prob(bad, np.zeros((1, 2)))
    p = model.init(0)
    p[1]["conditioner"][0]["b"] = np.array(["a"] * 8)
    with pytest.raises(TypeError, match=r'^params\[1\]\["conditioner"\]\[0\]\["b"\]: expected an array of real'):
        model.log_prob(p, np.zeros((1, 2)))


def test_the_check_runs_once_per_public_call(monkeypatch):
    # Inside a Compose the layers are not checked again: one check per call, not per layer.
    import tinygen.flows.base as base

    calls = []

    def counting(params, model, name="params"):
        calls.append(type(model).__name__)
        return check_params(params, model, name)

    monkeypatch.setattr(base, "check_params", counting)
    model = flows.RealNVP(2, n_layers=6, hidden=(8,))
    params = model.init(0)
    model.loss(params, np.zeros((4, 2)))
    model.sample(params, 4, 0)
    assert calls == ["Compose", "Compose"]


def test_traced_params_are_checked_and_keep_their_gradient():
    from autograd import grad

    model = flows.RealNVP(2, n_layers=2, hidden=(8,))
    params = model.init(0)
    g = grad(lambda p: model.loss(p, np.ones((3, 2))))(params)
    assert param_shapes(g) == param_shapes(params)
    bad = model.init(0)[:1]
    with pytest.raises(ValueError, match=r"^params: expected a list of 2 entries, got 1"):
        grad(lambda p: model.loss(p, np.ones((3, 2))))(bad)



def test_the_training_loop_checks_its_own_tree_once_per_model(monkeypatch):
    # fit hands autograd the same tree at every step; its structure is checked at the first step only
    import tinygen._params_check as pc
    checks = []
    real_check = pc.check_tree
    monkeypatch.setattr(pc, "check_tree", lambda *a, **k: (checks.append(1), real_check(*a, **k))[1])
    model = flows.RealNVP(2, n_layers=2, hidden=(8,))
    x = np.random.default_rng(0).normal(size=(32, 2))
    tinygen.fit(model, model.init(0), x, steps=5, batch_size=8, progress=False)
    once = len(checks)
    checks.clear()
    tinygen.fit(model, model.init(0), x, steps=15, batch_size=8, progress=False)
    assert len(checks) == once > 0  # not one more check for ten more steps
    # the other side: outside fit every call checks its tree, traced or not
    from autograd import grad
    checks.clear()
    for _ in range(3):
        grad(lambda p: model.loss(p, x))(model.init(0))
    assert len(checks) == 3


def test_a_wrong_tree_is_still_caught_in_fit_and_beside_the_loops_own():
    from autograd import grad

    import tinygen._params_check as pc
    model = flows.RealNVP(2, n_layers=2, hidden=(8,))
    x = np.random.default_rng(0).normal(size=(32, 2))
    with pytest.raises(ValueError, match=r'^params\[0\]\["conditioner"\]\[0\]\["W"\]: expected shape \(1, 8\)'):
        tinygen.fit(model, flows.RealNVP(2, n_layers=2, hidden=(16,)).init(0), x, steps=3, progress=False)
    mine = model.init(0)
    with pc.loop_tree(mine):
        grad(lambda p: model.loss(p, x))(mine)  # the loop's tree: checked, and remembered
        with pytest.raises(ValueError, match=r"^params: expected a list of 2 entries, got 1"):
            grad(lambda p: model.loss(p, x))(mine[:1])  # any other tree is still checked

# ---- autoregressive models, the VAE and the heads --------------------------------------------

def _models():
    x_real = np.random.default_rng(0).normal(size=(4, 3))
    x_bin = (x_real > 0).astype(float)
    img = np.random.default_rng(0).integers(0, 2, size=(2, 3, 3)).astype(float)
    made_cat = MADE(3, hidden=(8,), likelihood="categorical", n_classes=4)
    made_mix = MADE(3, hidden=(8,), n_masks=2)
    cases = {
        "made": (MADE(3, hidden=(8, 8)), x_real, ["log_prob", "loss", "sample", "conditionals"]),
        "made_categorical": (made_cat, np.array([[0.0, 1, 3], [2, 2, 0]]), ["log_prob", "sample"]),
        "made_masks": (made_mix, x_real, ["log_prob", "loss_rng", "sample"]),
        "naive": (NaiveARM(3, hidden=(8,)), x_real, ["log_prob", "loss", "sample", "outputs"]),
        "pixelcnn": (PixelCNN(3, 3, n_channels=4, n_layers=2, kernel_size=3), img,
                     ["log_prob", "loss", "sample", "logits"]),
    }
    tokens = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    cases["rnn"] = (RNNARM(3, 4, hidden=5), tokens, ["log_prob", "loss", "sample", "logits"])
    cases["causal_conv"] = (CausalConvARM(3, 4, n_channels=4, n_layers=2), tokens, ["log_prob", "sample", "logits"])
    cases["transformer"] = (TransformerARM(3, 4, d_model=4, n_heads=2, n_layers=1), tokens,
                            ["log_prob", "sample", "logits", "attention_maps"])
    for post in ("gaussian", "planar", "iaf"):
        cases[f"vae_{post}"] = (VAE(3, 2, hidden=(8,), posterior=post, n_layers=2, flow_hidden=(4,)), x_real,
                                ["log_prob", "loss_rng", "sample", "encode", "decode", "elbo", "posterior_sample",
                                 "log_weights", "log_prob_prior_mc", "interpolate"])
    cases["vae_bernoulli"] = (VAE(3, 2, hidden=(8,), likelihood="bernoulli"), x_bin,
                              ["log_prob", "loss_rng", "sample", "encode", "decode", "elbo"])
    c = np.random.default_rng(3).normal(size=(4, 2))
    cases["categorical_head_0"] = (CategoricalHead(0, 3), np.array([0.0, 1, 2, 1]), ["log_prob", "sample", "predict"])
    cases["categorical_head"] = (CategoricalHead(2, 3, hidden=(8,)), (np.array([0.0, 1, 2, 1]), c),
                                 ["log_prob", "loss", "sample", "predict"])
    cases["normal_head_0"] = (NormalHead(0), x_real[:, :1], ["log_prob", "sample", "predict"])
    cases["normal_head"] = (NormalHead(2, hidden=(8, 8)), (x_real[:, :1], c), ["log_prob", "loss", "sample", "predict"])
    return cases


def _call(model, method, params, data):
    x, c = data if isinstance(data, tuple) else (data, None)
    kw = {} if c is None else {"context": c}
    if method == "loss_rng":
        return model.loss(params, x, 0, **kw)
    if method == "sample":
        return model.sample(params, 4, 0, **kw)
    if method == "predict":
        return model.predict(params, **kw)
    if method == "decode":
        return model.decode(params, np.zeros((2, model.z_dim)))
    if method in ("elbo", "posterior_sample", "log_weights", "log_prob_prior_mc"):
        return getattr(model, method)(params, x, 0)
    if method == "interpolate":
        return model.interpolate(params, x[0], x[1])
    return getattr(model, method)(params, x, **kw)


MODELS = _models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_and_heads_refuse_a_changed_tree(name):
    model, data, methods = MODELS[name]
    params = model.init(0)
    for method in methods:
        _call(model, method, params, data)  # the right tree works
        for _how, bad in _broken(params):
            with pytest.raises((ValueError, TypeError), match=PARAMS_ERROR):
                _call(model, method, bad, data)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_and_heads_refuse_another_models_params(name):
    model, data, methods = MODELS[name]
    mine = param_shapes(model.init(0))
    others = [m.init(0) for n, (m, _, _) in MODELS.items() if n != name and param_shapes(m.init(0)) != mine]
    for method in methods:
        for other in others:
            with pytest.raises((ValueError, TypeError), match=PARAMS_ERROR):
                _call(model, method, other, data)


def test_a_head_of_five_classes_does_not_answer_for_three():
    small, big = CategoricalHead(0, 3), CategoricalHead(0, 5)
    with pytest.raises(ValueError, match="^" + re.escape('params["out"]: expected shape (3,), got (5,)')):
        small.predict(big.init(0))
    with pytest.raises(ValueError, match="^" + re.escape('params["out"]: expected shape (3,), got (5,)')):
        small.sample(big.init(0), 10, 0)
    deeper_head = NormalHead(2, hidden=(8, 8))
    with pytest.raises(ValueError, match=r'^params\["net"\]: expected a list of 2 entries, got 3'):
        NormalHead(2, hidden=(8,)).predict(deeper_head.init(0), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r'^params: expected a dict with keys \["out"\], got keys \["net"\]'):
        NormalHead(0).predict(deeper_head.init(0))


def test_loaded_params_are_checked_by_the_same_rule(tmp_path):
    model = flows.MAF(2, n_layers=2, hidden=(8,))
    path = tinygen.save(tmp_path / "maf", model.init(0))
    with pytest.raises(ValueError, match=PARAMS_ERROR):
        tinygen.load(path, like=flows.MAF(2, n_layers=3, hidden=(8,)).init(0))
    np.testing.assert_array_equal(model.log_prob(tinygen.load(path, like=model.init(1)), np.zeros((1, 2))),
                                  model.log_prob(model.init(0), np.zeros((1, 2))))
