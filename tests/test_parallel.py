"""Recipes trained in parallel processes give the same params as trained one after another here."""
import numpy as onp
import pytest

from tinygen import tree
from tinygen.parallel import train_recipes
from tinygen.recipes import UnknownRecipeError, two_moons_split


def test_parallel_training_gives_the_params_of_training_one_after_another():
    x, _, _ = two_moons_split(0, n_train=300, n_test=10)
    names = ["vae", "made", "realnvp"]
    finished = []
    apart = train_recipes(names, x, rng=3, steps=4, workers=2, on_done=lambda name, s: finished.append(name))
    here = train_recipes(names, x, rng=3, steps=4, workers=1)
    assert list(apart) == names  # the order asked for, whatever order they finished in
    assert sorted(finished) == sorted(names)
    for name in names:
        model, params, history, seconds = apart[name]
        assert type(model) is type(here[name][0])
        assert history["step"] == list(range(1, 5)) and seconds > 0
        # bit for bit: the same code, data, rng and one BLAS thread in every process
        onp.testing.assert_array_equal(tree.flatten(params), tree.flatten(here[name][1]))
    # and not the same params for another seed (the comparison above can fail)
    other = train_recipes(["made"], x, rng=4, steps=4, workers=1)
    assert not onp.array_equal(tree.flatten(other["made"][1]), tree.flatten(here["made"][1]))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"names": ["made", "no_such"]}, UnknownRecipeError, r"^recipe: expected one of"),
    ({"rng": 0.5}, TypeError, r"^rng: expected an int seed"),
    ({"workers": 0}, ValueError, r"^workers: "),
])
def test_train_recipes_rejects_bad_arguments_before_starting_a_process(kwargs, error, match):
    x, _, _ = two_moons_split(0, n_train=50, n_test=10)
    call = {"names": ["made"], "x": x, "steps": 1, **kwargs}
    with pytest.raises(error, match=match):
        train_recipes(**call)
