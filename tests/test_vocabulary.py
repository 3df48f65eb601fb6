"""One vocabulary across every family (DESIGN.md, "One vocabulary"), kept by the public signatures.

rng for every source of randomness (no seed=), n_layers for every stack (no n_flows=);
models init(rng), log_prob(params, x, context=None), sample(params, n, rng, context=None),
loss(params, x, rng, context=None); distributions and data sample(n, rng); every recipe a
Recipe. The old names still work for one release: each warns and gives the same numbers.
"""
import importlib
import inspect
import pkgutil
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import data, distributions, flows, recipes, vi
from tinygen.arm import MADE, NaiveARM, PixelCNN
from tinygen.arm.made import check_order
from tinygen.arm.recipes import sequence_recipes
from tinygen.data import MarkovSource
from tinygen.diffusion import Diffusion
from tinygen.ebm import EBM
from tinygen.flows.glow import Glow
from tinygen.recipe import Recipe
from tinygen.testing.strategies import seeds
from tinygen.vae import VAE

OLD_NAMES = {"seed", "seeds", "n_flows"}


def _public_modules():
    """tinygen and every public module under it (no name part starting with "_")."""
    yield tinygen
    for info in pkgutil.walk_packages(tinygen.__path__, "tinygen."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def _public_definitions():
    """(qualified name, class or function) for everything defined publicly in a public module."""
    seen = set()
    for module in _public_modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{module.__name__}.{name}", obj


DEFINITIONS = dict(_public_definitions())
CLASSES = {name: cls for name, cls in DEFINITIONS.items() if inspect.isclass(cls)}


def _methods(cls):
    """Public methods of cls (its constructor included), as (name, function)."""
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name == "__init__" or not name.startswith("_"):
            yield name, fn


def _params(fn):
    """Parameter names, without self and *args / **kwargs (where old names are caught, and warn)."""
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.name != "self" and p.kind not in kinds]


def _is_model(cls):
    """A density model: it trains on a loss, has a log_prob and samples (init may live in subclasses)."""
    return all(callable(getattr(cls, m, None)) for m in ("loss", "sample", "log_prob"))


def _is_sampler(cls):
    """A distribution or data source: it samples but has no params to train (it holds its own numbers)."""
    return callable(getattr(cls, "sample", None)) and not callable(getattr(cls, "init", None))


def _is_trainable_sampler(cls):
    """Trained, samples, but no density: a GAN (x = G(z)), a variational dequantizer (u ~ q(u | x))."""
    return callable(getattr(cls, "sample", None)) and callable(getattr(cls, "init", None)) and not _is_model(cls)


MODELS = sorted(name for name, cls in CLASSES.items() if _is_model(cls))
SAMPLERS = sorted(name for name, cls in CLASSES.items() if _is_sampler(cls) and not _is_model(cls))
TRAINABLE_SAMPLERS = sorted(name for name, cls in CLASSES.items() if _is_trainable_sampler(cls))


def test_the_walk_finds_every_family():
    # the walk must see the families it checks, or the tests below would pass on nothing
    for name in ("tinygen.arm.made.MADE", "tinygen.arm.sequence.SequenceARM", "tinygen.vae.model.VAE",
                 "tinygen.flows.base.FlowModel", "tinygen.flows.continuous.ContinuousFlow",
                 "tinygen.diffusion.model.Diffusion", "tinygen.arm.pixelcnn.PixelCNN", "tinygen.ebm.EBM",
                 "tinygen.flows.glow.Glow"):
        assert name in MODELS, name
    assert "tinygen.gan.model.GAN" in TRAINABLE_SAMPLERS
    for name in ("tinygen.distributions.Normal", "tinygen.distributions.Categorical",
                 "tinygen.flows.elementwise.Uniform", "tinygen.data.sequences.MarkovSource"):
        assert name in SAMPLERS, name


def test_no_public_signature_takes_an_old_name():
    offenders = []
    for name, obj in DEFINITIONS.items():
        fns = [(name, obj)] if inspect.isfunction(obj) else [(f"{name}.{m}", fn) for m, fn in _methods(obj)]
        for where, fn in fns:
            offenders += [f"{where}({p}=)" for p in _params(fn) if p in OLD_NAMES]
    assert offenders == []


@pytest.mark.parametrize("name", MODELS)
def test_a_model_speaks_the_model_vocabulary(name):
    cls = CLASSES[name]
    if hasattr(cls, "init"):  # SequenceARM, a base class, leaves init to its subclasses
        assert _params(cls.init)[:1] == ["rng"], f"{name}.init"
    assert _params(cls.sample)[:3] == ["params", "n", "rng"], f"{name}.sample"
    assert _params(cls.log_prob)[:2] == ["params", "x"], f"{name}.log_prob"
    assert _params(cls.loss)[:3] == ["params", "x", "rng"], f"{name}.loss"
    for method in ("log_prob", "sample", "loss"):
        assert "context" in _params(getattr(cls, method)), f"{name}.{method} takes no context="


@pytest.mark.parametrize("name", SAMPLERS)
def test_a_distribution_or_data_source_samples_n_then_rng(name):
    assert _params(CLASSES[name].sample)[:2] == ["n", "rng"], name


@pytest.mark.parametrize("name", TRAINABLE_SAMPLERS)
def test_a_trained_sampler_takes_params_first_and_rng_third(name):
    cls = CLASSES[name]
    assert _params(cls.init)[:1] == ["rng"], f"{name}.init"
    sample = _params(cls.sample)
    assert sample[0] == "params" and sample[2] == "rng", f"{name}.sample{tuple(sample)}"


def test_every_recipe_is_a_recipe():
    tables = {"recipes.RECIPES": recipes.RECIPES, "sequence_recipes": sequence_recipes(4, 6),
              "vi": {"RECIPE": vi.RECIPE}}
    for where, table in tables.items():
        for key, recipe in table.items():
            assert isinstance(recipe, Recipe), f"{where}[{key!r}] is a {type(recipe).__name__}"
    assert set(recipes.RECIPES) >= {"made", "maf", "realnvp", "spline", "vae", "vae_iaf"}


# ---------------------------------------------------------------- sequence models and context

@pytest.mark.parametrize("recipe", list(sequence_recipes(3, 4).values())[:3], ids=["RNN", "causal conv", "transformer"])
def test_a_sequence_model_refuses_a_context(recipe):
    model = recipe.build()
    params, x = model.init(0), np.zeros((2, 4), dtype=int)
    context = np.ones((2, 1))
    calls = [lambda: model.log_prob(params, x, context=context), lambda: model.loss(params, x, 0, context=context),
             lambda: model.sample(params, 2, 0, context=context)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^context: .*takes no context, got ndarray"):
            call()
    # context=None is the unconditional model itself
    assert np.array_equal(model.log_prob(params, x, context=None), model.log_prob(params, x))


# ---------------------------------------------------------------- the old names warn and agree

def _old(call):
    """Run call, which must warn once with a DeprecationWarning; return its result and the message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1, messages
    return out, messages[0]


def _same_tree(a, b):
    return np.array_equal(tinygen.tree.flatten(a), tinygen.tree.flatten(b))


X2 = data.two_moons(16, rng=0)


X3 = np.random.default_rng(0).normal(size=(4, 3))
BUILT_FROM_RNG = {  # name: (constructor taking rng= or seed=, data of its dimension)
    "MADE": (lambda **kw: MADE(3, hidden=(6,), order="random", n_masks=2, **kw), X3),
    "NaiveARM": (lambda **kw: NaiveARM(3, hidden=(4,), order="random", **kw), X3),
    "MAF": (lambda **kw: flows.MAF(3, n_layers=2, hidden=(6,), **kw), X3),  # D = 3: in 2-D every hidden degree is 1
    "IAF": (lambda **kw: flows.IAF(3, n_layers=2, hidden=(6,), **kw), X3),
    "MAFLayer": (lambda **kw: flows.MAFLayer(3, hidden=(6,), order="random", **kw), X3),
    "VAE": (lambda **kw: VAE(2, 2, hidden=(4,), posterior="iaf", flow_hidden=(4,), **kw), X2),
}


def _fingerprint(model, x):
    """Numbers that depend on the structure drawn from the constructor's rng (orders, masks)."""
    params = model.init(1)
    flat = tinygen.tree.flatten(params)  # away from the init, where a flow is the identity whatever its masks
    params = tinygen.tree.unflatten(params, flat + 0.3 * np.random.default_rng(2).standard_normal(flat.shape))
    if isinstance(model, flows.MAFLayer):
        return model.inverse(params, x)[0]
    return model.log_prob(params, x)


@pytest.mark.parametrize("name", sorted(BUILT_FROM_RNG))
def test_seed_keyword_warns_and_builds_the_same_model(name):
    build, x = BUILT_FROM_RNG[name]
    old, message = _old(lambda: build(seed=5))
    assert "seed=" in message and "rng=" in message
    assert np.array_equal(_fingerprint(old, x), _fingerprint(build(rng=5), x))
    # the constructor's rng matters, so the equality above says something
    assert not np.array_equal(_fingerprint(build(rng=6), x), _fingerprint(build(rng=5), x))


def test_n_flows_keyword_and_attribute_warn_and_mean_n_layers():
    old, message = _old(lambda: VAE(2, 2, hidden=(4,), posterior="planar", n_flows=3))
    assert "n_flows=" in message and "n_layers=" in message
    new = VAE(2, 2, hidden=(4,), posterior="planar", n_layers=3)
    assert old.n_layers == new.n_layers == 3
    params = new.init(0)
    assert np.array_equal(old.log_prob(params, X2, rng=1, k=4), new.log_prob(params, X2, rng=1, k=4))
    assert _old(lambda: new.n_flows)[0] == 3


def test_giving_the_old_and_the_new_name_is_refused_by_the_old_one():
    with pytest.raises(TypeError, match=r"^seed: MADE got both seed= and its new name rng="):
        MADE(2, rng=1, seed=1)
    with pytest.raises(TypeError, match=r"^n_flows: "):
        VAE(2, 2, n_layers=2, n_flows=2)
    with pytest.raises(TypeError, match=r"^bogus: MAF got an unexpected keyword argument"):
        flows.MAF(2, bogus=1)


@settings(max_examples=20)
@given(seed=seeds, n=st.integers(1, 5))
def test_distributions_in_the_old_order_warn_and_draw_the_same_numbers(seed, n):
    dists = [distributions.Normal(np.zeros(2), np.ones(2)), distributions.StandardNormal(3),
             distributions.Categorical(np.zeros(4)), distributions.Bernoulli(np.zeros(2)), flows.Uniform(-1.0, 2.0, 2)]
    for d in dists:
        old, message = _old(lambda: d.sample(np.random.default_rng(seed), n))
        assert "sample(n, rng)" in message
        assert np.array_equal(old, d.sample(n, np.random.default_rng(seed)))
        one, _ = _old(lambda: d.sample(np.random.default_rng(seed)))  # the old default n = 1
        assert np.array_equal(one, d.sample(1, np.random.default_rng(seed)))


def test_markov_source_old_names_warn_and_agree():
    old, message = _old(lambda: MarkovSource(3, order=1, seed=4))
    new = MarkovSource(3, order=1, rng=4)
    assert np.array_equal(old.transition, new.transition)
    x_old, message = _old(lambda: new.sample(6, 5, 2))  # the old order sample(n, T, rng)
    assert "sample(n, rng, T=T)" in message
    assert np.array_equal(x_old, new.sample(6, 2, T=5))
    assert new.sample(6, 2, T=5).shape == (6, 5)
    with pytest.raises(TypeError, match=r"^T"):
        new.sample(6, 2, 5, T=5)


def test_check_order_seed_warns_and_agrees():
    old, _ = _old(lambda: check_order("random", 6, seed=3))
    assert np.array_equal(old, check_order("random", 6, rng=3))


def test_recipe_helpers_take_seed_with_a_warning(monkeypatch):
    # the exact entropy H is a quadrature (cached, but ~20 s on its first call) that no keyword changes
    monkeypatch.setattr(recipes.data, "two_moons_entropy", lambda noise: 0.3)
    (x_old, t_old, h_old), _ = _old(lambda: recipes.two_moons_split(seed=2, n_train=20, n_test=10))
    x_new, t_new, h_new = recipes.two_moons_split(rng=2, n_train=20, n_test=10)
    assert np.array_equal(x_old, x_new) and np.array_equal(t_old, t_new) and h_old == h_new
    recipe = recipes.RECIPES["made"]
    (_, p_old, _), _ = _old(lambda: recipe.train(x_new, seed=4, steps=2, progress=False))
    _, p_new, _ = recipe.train(x_new, rng=4, steps=2, progress=False)
    assert _same_tree(p_old, p_new)
    model = recipe.build()
    s_old, _ = _old(lambda: recipes.score(model, p_new, t_new, h_new, seed=1))
    assert s_old == recipes.score(model, p_new, t_new, h_new, rng=1)
    table, _ = _old(lambda: sequence_recipes(3, 4, seed=7))
    old_made, new_made = table["MADE"].build(), sequence_recipes(3, 4, rng=7)["MADE"].build()
    assert all(np.array_equal(a, b) for a, b in zip(old_made.masks, new_made.masks))


def test_vi_recipe_function_warns_and_matches_vi_recipe_object():
    target = data.potential("U1")
    model = flows.planar_model(2, 2)
    keywords, message = _old(lambda: vi.recipe(4))
    assert "vi.RECIPE" in message
    p_old, _ = vi.fit_reverse_kl(model, model.init(0), target, rng=0, progress=False, **keywords)
    _, p_new, _ = vi.RECIPE.train(target, rng=0, steps=4, model=model, progress=False)
    assert _same_tree(p_old, p_new)


# ---------------------------------------------------------------- the project's own code raises no warning

def _short_fits():
    """(family, thunk): a two-step fit of every family through its own public route."""
    x = X2
    seq = np.random.default_rng(0).integers(0, 3, size=(16, 4))
    img = (np.random.default_rng(1).random((8, 3, 3)) < 0.5).astype(float)
    fits = [(f"recipes[{key}]", lambda r=recipe: r.train(x, rng=0, steps=2, batch_size=8, progress=False))
            for key, recipe in recipes.RECIPES.items()]
    fits += [(f"sequence[{key}]", lambda r=recipe: r.train(seq, rng=0, steps=2, progress=False))
             for key, recipe in sequence_recipes(3, 4).items()]
    fits.append(("vi", lambda: vi.RECIPE.train(data.potential("U1"), rng=0, steps=2,
                                               model=flows.planar_model(2, 2), progress=False)))
    models = {"naive": lambda: NaiveARM(2, hidden=(4,)),
              "pixelcnn": lambda: PixelCNN(3, 3, n_channels=2, n_layers=1, kernel_size=3),
              "diffusion": lambda: Diffusion(2, hidden=(8,), n_steps=30),
              "cnf": lambda: flows.ContinuousFlow(2, hidden=(8,), train_steps=2),
              "flow_matching": lambda: flows.ContinuousFlow(2, hidden=(8,), objective="flow_matching"),
              "ebm": lambda: EBM(2, hidden=(8,)),
              "glow": lambda: Glow((1, 4, 4), levels=1, steps_per_level=1, hidden_channels=(4,))}

    inputs = {"pixelcnn": img, "glow": np.random.default_rng(2).random((8, 16))}  # Glow: flattened (C, H, W)

    def fit(key):
        model = models[key]()
        return tinygen.fit(model, model.init(0), inputs.get(key, x), steps=2, batch_size=8, progress=False)

    fits += [(key, lambda k=key: fit(k)) for key in models]
    return fits


SHORT_FITS = _short_fits()


@pytest.mark.parametrize("family, fit", SHORT_FITS, ids=[f for f, _ in SHORT_FITS])
def test_a_short_fit_of_every_family_raises_no_deprecation_warning(family, fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # an old name used anywhere on the way fails here
        out = fit()
    history = out[-1]
    losses = [history[k] for k in ("loss", "loss_g", "loss_d") if k in history]  # a GAN records both players'
    assert losses and all(np.all(np.isfinite(v)) for v in losses), family
