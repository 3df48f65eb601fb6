"""The notebooks: every demo's .ipynb matches its percent-cell .py, and runs in a fresh kernel.

Every ``demos/*.py`` and ``demos/exercises/*.py`` with an .ipynb beside it is picked
up by glob. Each notebook is executed headless with nbclient in a new ``python3``
kernel, as a student's Jupyter would run it: no command-line arguments, no BLAS
thread variables and no matplotlib backend set, the working directory a fresh folder
(so the figures it writes land there). TINYGEN_QUICK=1 makes the demos tiny (see
``tinygen.plot.demo_args``); PYTHONPATH points the kernel at this checkout.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext  # jupytext, nbclient, nbformat and ipykernel come with the test extra
import nbclient
import nbformat
import pytest

from tinygen import recipes

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "docs"))  # docs/run_notebooks.py, the site's store of executed notebooks
DEMOS = ROOT / "demos"
SOURCES = sorted(p for p in [*DEMOS.glob("*.py"), *DEMOS.glob("exercises/*.py")] if p.with_suffix(".ipynb").is_file())
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WARNING_LINE = re.compile(r":\d+: \w*Warning: ")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "MPLBACKEND")


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_every_numbered_demo_has_a_notebook():
    # a demo ships as a pair: `jupytext --to ipynb demos/NAME.py` makes the .ipynb
    scripts = sorted([*DEMOS.glob("[0-9][0-9]_*.py"), *DEMOS.glob("exercises/*.py")])
    assert [str(p.relative_to(DEMOS)) for p in scripts if not p.with_suffix(".ipynb").is_file()] == []
    assert len(SOURCES) >= 9  # demos 00 to 08 at least


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(DEMOS)) for p in SOURCES])
def test_notebook_matches_its_script(source):
    # both read by jupytext: the same cells, in the same order, with the same sources
    # (regenerate with `jupytext --to ipynb demos/NAME.py` after editing the .py)
    script = jupytext.read(source)
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    assert _cells(notebook) == _cells(script), f"{source.name}: the .ipynb has drifted from the .py"


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(DEMOS)) for p in SOURCES])
def test_first_code_cell_makes_tinygen_importable(source):
    # so that the notebook also opens where tinygen is not installed (Colab): the cell imports it,
    # or else installs the checkout the notebook belongs to
    first = next(cell for cell in jupytext.read(source).cells if cell.cell_type == "code").source
    assert first.startswith("try:\n    import tinygen") and "except ImportError:" in first and "pip" in first


def _kernel_env(record):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["TINYGEN_QUICK"] = "1"
    env[recipes.RECORD_ENV] = str(record)  # every value the notebook reports, one JSON line each
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# Two workers share the runs: every other notebook (in name order) runs in the group "notebooks",
# which ends with tests/test_site.py's browser test, and the rest in "notebooks-2" on the other
# worker (tests/conftest.py puts the grouped tests first; pytest-xdist hands out work in that
# order, so each worker starts with one group). The first half
# holds the slowest run (diffusion), so the second half is usually stored by the time the site
# is built; a run that is not stored yet is made by the site build itself: slower, same site.
NOTEBOOK_RUNS = [pytest.param(source, id=str(source.relative_to(DEMOS)),
                              marks=pytest.mark.xdist_group("notebooks" if i % 2 == 0 else "notebooks-2"))
                 for i, source in enumerate(SOURCES)]


@pytest.mark.parametrize("source", NOTEBOOK_RUNS)
def test_notebook_runs_in_a_fresh_kernel_and_shows_its_figures(source, tmp_path):
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    # one extra cell at the end says which tinygen the kernel imported
    nb.cells.append(nbformat.v4.new_code_cell("import tinygen\nprint('tinygen from', tinygen.__file__)"))
    import run_notebooks
    load, start = os.getloadavg()[0], time.perf_counter()
    # the kernel's sockets in a short folder of its own (run_notebooks.kernel_manager says why)
    with tempfile.TemporaryDirectory(prefix="tgk") as sockets:
        client = nbclient.NotebookClient(nb, km=run_notebooks.kernel_manager(sockets), kernel_name="python3",
                                         timeout=600, resources={"metadata": {"path": str(tmp_path)}})
        # raises CellExecutionError on any error
        client.execute(env=_kernel_env(tmp_path / "reported.jsonl"), cwd=str(tmp_path))
    seconds = time.perf_counter() - start
    where = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    assert where.startswith("tinygen from ") and Path(where.split(" ", 2)[2].strip()).is_relative_to(ROOT)
    outputs = [out for cell in nb.cells[:-1] if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    # nor a warning: a demo that calls a deprecated form teaches it (Python prints "path:line: XWarning: ...")
    warned = [line for out in outputs if out.output_type == "stream" for line in out.get("text", "").splitlines()
              if WARNING_LINE.search(line)]
    assert not warned, f"{source.name}: {warned}"
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    if source.parent == DEMOS:  # a demo shows figures; a checked exercise may only print its checks
        assert images, f"{source.name}: no inline figure"
    # every figure shown inline was also written to out/ (plot.show), and is a PNG
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == len(images), f"{source.name}: {len(images)} inline figures, {len(pngs)} PNGs written"
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
    # and what is shown inline is the PNG written (plot.show displays the file, not a second rendering)
    written = sorted(png.read_bytes() for png in pngs)
    assert sorted(base64.b64decode(out["data"]["image/png"]) for out in images) == written
    # every value the notebook reports has its expected value (measured at the defaults over seeds)
    reported = tmp_path / "reported.jsonl"
    keys = {json.loads(line)["key"] for line in reported.read_text().splitlines()} if reported.is_file() else set()
    missing = sorted(keys - set(recipes.expected_values()))
    assert not missing, f"{source.name}: no expected value for {missing}; run benchmarks/expected_values.py"
    # a passing quick run is what the course site shows: stored for tests/test_site.py's build,
    # which then runs only the notebooks not stored yet (the site's own runner writes the same files)
    nb.cells.pop()  # without the cell this test added
    run_notebooks.store(source.with_suffix(".ipynb"), nb, seconds, mode="quick", load=load)


def _run_install_cell(cwd, *python_flags):
    """The first code cell of a notebook (as stored in the .ipynb), then a report of the tinygen it
    leaves importable, run by a fresh Python in ``cwd`` as a kernel started there would run it."""
    nb = nbformat.read(DEMOS / "01_maximum_likelihood.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "code")
    return _python(cwd, cell + "\nimport tinygen\nprint('tinygen from', tinygen.__file__, hasattr(tinygen, 'fit'))\n",
                   *python_flags)


def _python(cwd, code, *python_flags):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the folder and the venv give
    env["PIP_NO_INDEX"] = "1"  # a pip install here would reach for the network: make it fail instead
    return subprocess.run([sys.executable, *python_flags, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_install_cell_recovers_from_a_clone_named_tinygen_in_the_working_folder(tmp_path):
    # `git clone` beside a notebook: the folder tinygen/ (no __init__.py) holds the package tinygen/tinygen/,
    # and a bare `import tinygen` from here gives an empty namespace package, even with tinygen installed
    (tmp_path / "tinygen").symlink_to(ROOT, target_is_directory=True)
    bare = _python(tmp_path, "import tinygen; print(getattr(tinygen, '__file__', None), hasattr(tinygen, 'fit'))")
    assert bare.stdout.split() == ["None", "False"]  # the trap is real in this layout
    done = _run_install_cell(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    *_, last = done.stdout.strip().splitlines()
    _, _, file, has_fit = last.split(" ")
    assert has_fit == "True" and Path(file).resolve().is_relative_to(ROOT)  # the clone's own package
    assert "tinygen from the checkout" in done.stdout  # and the cell said where it came from


def test_install_cell_says_what_to_do_where_there_is_no_tinygen(tmp_path):
    # -S: no site-packages, so nothing is installed, and the folder holds no checkout either
    done = _run_install_cell(tmp_path, "-S")
    assert done.returncode != 0
    assert "ImportError: tinygen: not installed, and no checkout of it in or above" in done.stderr
    assert "pip install -e PATH" in done.stderr
