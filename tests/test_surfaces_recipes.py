"""Bad input to the recipes, save/load of the newer models and the BLAS switch: errors naming the argument."""
import math
import os
from pathlib import Path

import numpy as np
import pytest

from tinygen import data, fast, io, recipes
from tinygen.arm import MADE, RNNARM, TransformerARM


# ---------------------------------------------------------------- expected values
def test_expected_values_names_a_missing_file(tmp_path):
    missing = str(tmp_path / "expectd.json")
    with pytest.raises(FileNotFoundError, match=r"^path: .*expectd\.json.*does not exist"):
        recipes.expected_values(missing)
    with pytest.raises(FileNotFoundError, match=r"^path: .*a directory"):
        recipes.expected_values(str(tmp_path))


@pytest.mark.parametrize("text", ["{not json", '{"other": 1}', '{"values": [1]}'])
def test_expected_values_names_a_file_that_is_not_a_table(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"^path: expected"):
        recipes.expected_values(str(path))


def test_expected_values_reads_a_table_it_is_given(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text('{"values": {"k": {"mean": 1.0, "sd": 0.0, "values": [1.0]}}}')
    assert recipes.expected_values(str(path)) == {"k": {"mean": 1.0, "sd": 0.0, "values": [1.0]}}


# ---------------------------------------------------------------- RECIPES and Recipe.train
def test_an_unknown_recipe_names_the_key_and_the_known_ones():
    with pytest.raises(KeyError, match=r"^recipe: expected one of \[.*'made', 'maf', .*\], got 'realnvpp'"):
        recipes.RECIPES["realnvpp"]
    assert recipes.RECIPES.get("realnvpp") is None and "realnvp" in recipes.RECIPES  # dict behaviour otherwise


X = data.two_moons(64, rng=0)


@pytest.mark.parametrize("override", [{"lr": 0.1}, {"batch_size": 8}, {"lr_schedule": "constant"}, {"log_every": 1}])
def test_recipe_train_takes_overrides_of_its_own_settings(override):
    _, _, history = recipes.RECIPES["made"].train(X, steps=2, progress=False, **override)
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"]))


def test_recipe_train_override_changes_the_run():
    # Adam moves each weight by about lr in its first step: 3e-3 with the recipe, 1e-9 with the override
    _, p_recipe, _ = recipes.RECIPES["made"].train(X, steps=1, progress=False)
    _, p_small, _ = recipes.RECIPES["made"].train(X, steps=1, progress=False, lr=1e-9)
    w0 = recipes.RECIPES["made"].build().init(0)["net"][0]["W"]
    assert np.abs(p_small["net"][0]["W"] - w0).max() < np.abs(p_recipe["net"][0]["W"] - w0).max()


@pytest.mark.parametrize("kwargs, name, error", [
    ({"rng": 3, "seed": 3}, "seed", TypeError), ({"bogus": 1}, "bogus", TypeError), ({"lr": -1}, "lr", ValueError),
    ({"rng": -1}, "rng", ValueError), ({"rng": "a"}, "rng", TypeError), ({"steps": 0}, "steps", ValueError)])
def test_recipe_train_names_a_bad_argument(kwargs, name, error):
    with pytest.raises(error, match=rf"^{name}"):
        recipes.RECIPES["made"].train(X, **{"steps": 2, "progress": False, **kwargs})


@pytest.mark.parametrize("args, name, error", [((-1,), "rng", ValueError), (("a",), "rng", TypeError),
                                               ((0, 10 ** 12), "n_train", ValueError)])
def test_two_moons_split_names_a_bad_argument(args, name, error):
    with pytest.raises(error, match=rf"^{name}"):
        recipes.two_moons_split(*args)


def test_score_checks_its_arguments():
    model = recipes.RECIPES["made"].build()
    params = model.init(0)
    with pytest.raises(ValueError, match=r"^k"):
        recipes.score(model, params, X, 1.0, k=0)
    with pytest.raises(ValueError, match=r"^x_test"):
        recipes.score(model, params, np.full((3, 2), np.nan), 1.0)
    with pytest.raises(ValueError, match=r"^entropy"):
        recipes.score(model, params, X, math.nan)


@pytest.mark.parametrize("kwargs, name, error", [({"value": math.nan}, "value", ValueError),
                                                 ({"value": "x"}, "value", TypeError),
                                                 ({"key": 3}, "key", TypeError),
                                                 ({"fmt": "%%q"}, "fmt", ValueError)])
def test_report_names_a_bad_argument(kwargs, name, error):
    with pytest.raises(error, match=rf"^{name}"):
        recipes.report(**{"key": "k", "value": 1.0, **kwargs})


@pytest.mark.parametrize("values, error", [({"a": []}, ValueError), ({"a": [math.nan, 1]}, ValueError),
                                           ({"a": ["x"]}, TypeError), ([1, 2], TypeError)])
def test_summarize_names_a_bad_table(values, error):
    with pytest.raises(error, match=r"^values_by_key"):
        recipes.summarize(values)


# ---------------------------------------------------------------- BLAS switch
@pytest.mark.parametrize("n, error", [(-1, ValueError), (0, ValueError), ("x", TypeError), (2.5, TypeError),
                                      (True, TypeError)])
def test_blas_switches_name_a_bad_thread_count(n, error):
    with pytest.raises(error, match=r"^n: expected None or an int >= 1"):
        fast.set_blas_threads(n)
    with pytest.raises(error, match=r"^n: expected None or an int >= 1"), fast.blas_threads(n):
        pass


# ---------------------------------------------------------------- save / load of the newer models
RNN_PARAMS = RNNARM(3, 4, hidden=8).init(0)
MADE_PARAMS = MADE(2, hidden=(16,), context_dim=3).init(0)


def test_load_of_a_sequence_model_checks_the_model_it_is_meant_for(tmp_path):
    path = io.save(str(tmp_path / "rnn"), RNN_PARAMS)
    loaded = io.load(path, like=RNN_PARAMS)
    assert all(np.array_equal(loaded[k], RNN_PARAMS[k]) for k in ("W_x", "W_h", "b"))
    with pytest.raises(ValueError, match=r"^params: expected a dict with keys"):
        io.load(path, like=MADE_PARAMS)
    other = TransformerARM(3, 5, d_model=8, n_heads=2, n_layers=1).init(0)
    tf_path = io.save(str(tmp_path / "tf"), TransformerARM(3, 4, d_model=8, n_heads=2, n_layers=1).init(0))
    with pytest.raises(ValueError, match=r'^params\["pos"\]: expected shape \(5, 8\), got \(4, 8\)'):
        io.load(tf_path, like=other)


def test_load_names_a_like_that_is_not_params(tmp_path):
    path = io.save(str(tmp_path / "made"), MADE_PARAMS)
    with pytest.raises(TypeError, match=r"^like: expected a params pytree"):
        io.load(path, like="x")


def test_load_names_a_corrupted_file(tmp_path):
    path = io.save(str(tmp_path / "rnn"), RNN_PARAMS)
    raw = Path(path).read_bytes()
    (tmp_path / "half.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"^path: .*cannot be loaded"):
        io.load(str(tmp_path / "half.npz"))


def test_save_names_a_path_inside_a_file(tmp_path):
    path = io.save(str(tmp_path / "rnn"), RNN_PARAMS)
    with pytest.raises(ValueError, match=r"^path: expected a file name in a folder"):
        io.save(os.path.join(path, "x"), RNN_PARAMS)
