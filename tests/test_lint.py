"""The repository passes ruff with the configuration in pyproject.toml.

Here so that the README's one test command (``python -m pytest``) checks lint too;
CI also runs ``ruff check .`` on its own, before the tests.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                    reason='ruff is not installed (it comes with the test extra: pip install -e ".[test]")')
def test_ruff_passes_on_the_repository():
    # --no-cache: the test writes nothing into the checkout
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
