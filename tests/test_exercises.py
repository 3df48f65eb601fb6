"""Every exercise in demos/exercises/ runs as shipped (its NaN placeholders fail every check,
without crashing) and, with its reference solution put in its marked cell, passes every check.
The solutions are their own files, demos/exercises/solutions/NN_name.py, kept apart from the
exercises: each writes its formulas out by hand and calls nothing of tinygen.
"""
import ast
import json
import re
from pathlib import Path

import pytest

EXERCISES = Path(__file__).resolve().parent.parent / "demos" / "exercises"
SOLUTIONS = EXERCISES / "solutions"
START, END = "# ---- your answer: start ----", "# ---- your answer: end ----"
NAMES = sorted(p.name for p in EXERCISES.glob("[0-9][0-9]_*.py"))


def solution(name):
    """The text of an exercise's reference solution (a whole module: it fills the answer cell)."""
    return (SOLUTIONS / name).read_text()


def run(name, answer=None, monkeypatch=None):
    """Execute an exercise (optionally with its answer cell replaced) at quick sizes; its reports."""
    source = (EXERCISES / name).read_text()
    assert source.count(START) == 1 and source.count(END) == 1, f"{name}: one marked answer cell expected"
    if answer is not None:
        head, rest = source.split(START)
        source = head + START + "\n" + answer + "\n" + END + rest.split(END)[1]
    monkeypatch.setenv("TINYGEN_QUICK", "1")
    monkeypatch.setattr("sys.argv", [name])
    scope = {"__name__": "__main__", "__file__": str(EXERCISES / name)}
    exec(compile(source, str(EXERCISES / name), "exec"), scope)
    return scope["reports"]


def test_every_exercise_has_a_reference_solution_and_no_solution_is_orphaned():
    assert NAMES and sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_solution_computes_by_hand_without_tinygen(name):
    # the answer is the formula, not a call to the library it will be compared with
    tree = ast.parse(solution(name))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in imported if m.split(".")[0] == "tinygen"], imported
    answer_cell = (EXERCISES / name).read_text().split(START)[1].split(END)[0]
    wanted = {node.name for node in ast.parse(answer_cell).body if isinstance(node, ast.FunctionDef)}
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert wanted and wanted <= defined, f"{name}: the answer cell asks for {sorted(wanted)}"


@pytest.mark.parametrize("name", NAMES)
def test_blank_exercise_fails_every_check_without_crashing(name, monkeypatch, capsys):
    reports = run(name, monkeypatch=monkeypatch)
    assert reports and all(not r for r in reports.values()), {k: bool(r) for k, r in reports.items()}
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_reference_answer_passes_every_check(name, monkeypatch, capsys):
    reports = run(name, solution(name), monkeypatch)
    failing = {k: str(r) for k, r in reports.items() if not r}
    assert not failing, "\n".join(failing.values())
    out = capsys.readouterr().out
    assert re.search(r"(\d+) of \1 checks pass", out)


def percent_cells(text):
    """[(cell_type, source)] of a percent-format script: cells start at lines "# %%"."""
    cells = []
    for chunk in re.split(r"^# %%", text, flags=re.MULTILINE)[1:]:
        header, _, body = chunk.partition("\n")
        if "[markdown]" in header:
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.strip().splitlines())
            cells.append(("markdown", body.strip()))
        else:
            cells.append(("code", body.strip()))
    return cells


@pytest.mark.parametrize("name", NAMES)
def test_notebook_pair_matches_the_script(name):
    # the .py is the reviewed source; its .ipynb (made by jupytext --to ipynb) must hold the same cells
    notebook = json.loads((EXERCISES / name.replace(".py", ".ipynb")).read_text())
    cells = [(c["cell_type"], "".join(c["source"]).strip()) for c in notebook["cells"]]
    assert cells == percent_cells((EXERCISES / name).read_text()), \
        f"{name}: regenerate with `jupytext --to ipynb demos/exercises/{name}`"
