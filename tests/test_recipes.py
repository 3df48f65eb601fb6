"""tinygen.recipes: one recipe per family, read by the tour and the family demos; expected values."""
import ast
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import tinygen
from tinygen import recipes
from tinygen.recipes import RECIPES

DEMOS = Path(__file__).resolve().parent.parent / "demos"
# the demo that trains each family on two moons, besides the tour
FAMILY_DEMOS = {"made": "02_autoregressive.py", "vae": "04_vae.py", "vae_iaf": "04_vae.py",
                "realnvp": "07_coupling_flows.py", "spline": "07_coupling_flows.py", "maf": "08_maf_iaf.py",
                "flow_matching": "11_continuous_flows.py", "cnf": "11_continuous_flows.py",
                "diffusion": "12_diffusion.py",
                "ebm": "13_energy_models.py", "ebm_quadrature": "13_energy_models.py", "gan": "14_gans.py",
                "flow_gan": "14_gans.py"}
CONTINUOUS = ("flow_matching", "cnf", "diffusion")  # the continuous-time families (issue 21)


def test_the_tour_reads_the_recipe_object_itself():
    tour = runpy.run_path(str(DEMOS / "00_two_moons_tour.py"), run_name="tour")
    assert tour["RECIPES"] is recipes.RECIPES
    assert set(FAMILY_DEMOS) | set(CONTINUOUS) == set(RECIPES)


@pytest.mark.parametrize("family", sorted(FAMILY_DEMOS))
def test_each_family_demo_trains_from_the_recipe(family):
    # the demo imports RECIPES from tinygen.recipes, indexes it with this family's name, and calls
    # .train on what it got (no fit call of its own with its own lr or steps for this family)
    tree = ast.parse((DEMOS / FAMILY_DEMOS[family]).read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "tinygen.recipes"]
    assert any(a.name == "RECIPES" for n in imports for a in n.names)
    indexed = {n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript)
               and isinstance(n.value, ast.Name) and n.value.id == "RECIPES" and isinstance(n.slice, ast.Constant)}
    if family not in indexed:  # 04 and 07 loop over the names: the name is a literal passed to train()
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        assert family in literals and "RECIPES[name]" in ast.unparse(tree)
    assert ".train(" in ast.unparse(tree)


def test_recipe_train_is_fit_with_the_recipe_settings():
    recipe = RECIPES["maf"]
    x = recipes.two_moons_split(0, n_train=300, n_test=10)[0]
    model, params, _ = recipe.train(x, rng=3, steps=4, progress=False)
    direct = recipe.build()
    expected, _ = tinygen.fit(direct, direct.init(3), x, steps=4, batch_size=recipe.batch_size, lr=recipe.lr,
                              lr_schedule=recipe.schedule, rng=3, progress=False)
    # same arithmetic in the same order: identical, not just close
    assert np.array_equal(tinygen.tree.flatten(params), tinygen.tree.flatten(expected))
    with pytest.raises(ValueError, match=r"^steps: "):
        recipe.train(x, steps=0)


def test_split_is_seeded_and_the_labels_belong_to_the_same_points():
    (x_a, _), (t_a, k_a), H = recipes.two_moons_split(4, 50, 40, labels=True)
    x_b, t_b, _ = recipes.two_moons_split(4, 50, 40)
    assert np.array_equal(x_a, x_b) and np.array_equal(t_a, t_b) and k_a.shape == (40,)
    assert H == pytest.approx(tinygen.data.two_moons_entropy(recipes.NOISE))
    assert not np.array_equal(recipes.two_moons_split(5, 50, 40)[0], x_b)
    with pytest.raises(ValueError, match=r"^n_test: "):
        recipes.two_moons_split(0, 10, 0)


def test_report_prints_the_expected_value_and_records_it(tmp_path, monkeypatch, capsys):
    path = tmp_path / "expected.json"
    values = {"00/x/gap": [0.25, 0.5, 0.75]}
    path.write_text(json.dumps({"values": recipes.summarize(values)}))
    monkeypatch.setattr(recipes, "EXPECTED_PATH", str(path))
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv(recipes.RECORD_ENV, str(record))
    recipes.report("00/x/gap", 0.3)
    recipes.report("00/y/gap", 1.0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "00/x/gap = 0.300 nats   (expected at the defaults 0.500 ± 0.250 over 3 seeds)"
    assert out[1].endswith("(no expected value recorded yet)")
    assert [json.loads(line) for line in record.read_text().splitlines()] == [
        {"key": "00/x/gap", "value": 0.3}, {"key": "00/y/gap", "value": 1.0}]


def test_stored_expected_values_are_summaries_of_their_seeds():
    stored = recipes.expected_values()
    assert stored, "tinygen/expected.json is missing: run benchmarks/expected_values.py"
    for key, entry in stored.items():
        v = np.asarray(entry["values"])
        assert len(v) >= 2, key
        assert entry["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert entry["sd"] == pytest.approx(v.std(ddof=1), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("family", CONTINUOUS)
def test_continuous_recipes_build_train_a_few_steps_and_score_finitely(family):
    x, x_test, H = recipes.two_moons_split(0, n_train=64, n_test=16)
    model, params, history = RECIPES[family].train(x, rng=1, steps=3, progress=False)
    assert history["step"][-1] == 3
    result = recipes.score(model, params, x_test, H, rng=1)
    assert all(np.isfinite(result[key]) for key in ("nll", "se", "gap"))


def test_the_cnf_recipe_starts_from_its_flow_matching_run():
    cnf = RECIPES["cnf"]
    assert cnf.build().objective == "likelihood" and cnf.warm_start.build().objective == "flow_matching"
    x = recipes.two_moons_split(0, n_train=64, n_test=16)[0]
    _, params, history = cnf.train(x, rng=2, steps=2, progress=False)
    # the first stage is the warm start's own training run, the second continues from its params
    _, warm, _ = cnf.warm_start.train(x, rng=2, steps=2, progress=False)
    assert history["warm_start"]["step"][-1] == 2
    model = cnf.build()
    expected, _ = tinygen.fit(model, warm, x, steps=2, batch_size=cnf.batch_size, lr=cnf.lr,
                              lr_schedule=cnf.schedule, rng=2, progress=False)
    assert np.array_equal(tinygen.optim.tree_flatten(params), tinygen.optim.tree_flatten(expected))
    # start= skips the first stage when its result is at hand (the benchmark scores both stages)
    _, resumed, _ = cnf.train(x, rng=2, steps=2, start=warm, progress=False)
    assert np.array_equal(tinygen.optim.tree_flatten(resumed), tinygen.optim.tree_flatten(params))
