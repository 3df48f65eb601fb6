"""Every public module of tinygen says what it offers in ``__all__``.

A public module is one whose dotted name has no part starting with ``_``. Its ``__all__``
must name only things that exist, and must list every public class and function the
module itself defines (names it imports from elsewhere are listed where they are
defined; a package lists what it re-exports).
"""
import importlib
import inspect
import types
from pathlib import Path

import pytest

import tinygen

PACKAGE = Path(tinygen.__file__).resolve().parent


def _public_modules():
    # from the files on disk, so that a new module is checked the day it is added
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("tinygen", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts[1:]):
            names.append(".".join(parts))
    return names


MODULES = _public_modules()


def unlisted(module):
    """The public classes and functions defined in ``module`` that its ``__all__`` leaves out."""
    listed = set(getattr(module, "__all__", ()))
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
                  and value.__module__ == module.__name__ and name not in listed)


def test_the_walk_finds_the_packages_and_their_modules():
    # guards the parametrization below against finding nothing (or skipping a folder)
    for name in ("tinygen", "tinygen.flows", "tinygen.flows.coupling", "tinygen.testing.strategies",
                 "tinygen.fast.registry", "tinygen.data.toys", "tinygen.diffusion.schedule", "tinygen.tree"):
        assert name in MODULES
    assert not any(name.startswith("tinygen._") or "._" in name for name in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_public_module_lists_its_names_in_all(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__ list"
    names = module.__all__
    assert all(isinstance(n, str) for n in names), f"{name}.__all__ holds a non-string"
    assert len(set(names)) == len(names), f"{name}.__all__ lists a name twice"
    assert [n for n in names if not hasattr(module, n)] == [], f"{name}.__all__ names something it lacks"
    assert unlisted(module) == [], f"{name} defines public names missing from its __all__"


def test_unlisted_finds_a_public_function_left_out():
    # the check above can fail: a module that forgets one of its own functions is caught,
    # while an imported function and a private one are not asked for
    module = types.ModuleType("student_module")
    exec("from math import sqrt\n"
         "def kept(): pass\n"
         "def forgotten(): pass\n"
         "def _helper(): pass\n"
         "class Layer: pass\n"
         "__all__ = ['kept']\n", module.__dict__)
    assert unlisted(module) == ["Layer", "forgotten"]
