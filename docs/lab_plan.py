"""The teacher's lab plan: which notebook for which part of the lecture, in order, and how long each runs.

    python docs/lab_plan.py --measure [--full] [--only 04,exercises/03]   # run, time, record, render
    python docs/lab_plan.py --from-stored   # record the times of the runs a site build just made
    python docs/lab_plan.py                                               # render docs/lab_plan.md only

``--measure`` runs each notebook as a student would (docs/run_notebooks.py: a fresh kernel,
every cell in order), records the wall-clock seconds in docs/lab_plan.json with the machine's
core count and load, and writes docs/lab_plan.md from that file. No time on the page is typed.

Where a notebook belongs comes from the lecture map (docs/lecture_map.md): a demo belongs to
the section whose "Demo" column names its number most often; an exercise, to the section that
most often names the code its first lines point to (`made_masks`, `AffineCoupling`), or else
to the section of the exercise before it. New notebooks and sections are picked up by glob and
by reading the map, without edits here.
"""
import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks

DOCS = Path(__file__).resolve().parent
TIMES = DOCS / "lab_plan.json"
PAGE = DOCS / "lab_plan.md"
LECTURE_MAP = DOCS / "lecture_map.md"


def sections():
    """[(title, text)] of the lecture map's "## " sections, in order."""
    parts = re.split(r"^## ", LECTURE_MAP.read_text(), flags=re.MULTILINE)[1:]
    return [(p.split("\n", 1)[0].strip(), p) for p in parts]


def demo_numbers(section_text):
    """The two-digit demo numbers in the last column of a section's table rows, once per mention."""
    found = []
    for line in section_text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) > 1:
            found += re.findall(r"\b(\d\d)\b", cells[-1])
    return found


def code_names(notebook):
    """The identifiers an exercise names in code on its first lines (`made_masks`, `tinygen/mle.py` -> mle)."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    words = {w for code in re.findall(r"`([^`]+)`", first) for w in re.findall(r"[A-Za-z_]\w{2,}", code)}
    return words - {"tinygen", "py"}


def score(words, text):
    """How often the words occur, as whole words, in a section of the lecture map."""
    return sum(len(re.findall(rf"\b{re.escape(w)}\b", text)) for w in words)


def title_of(notebook):
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    heading = next((line[2:].strip() for line in first.splitlines() if line.startswith("# ")), None)
    return heading or run_notebooks.name_of(notebook)


def plan():
    """[(section title, [notebook paths])] in lecture order; notebooks the map does not place last.

    A demo goes to the section whose "Demo" column names its number most often (the first such
    section on a tie); an exercise to the section that names the code it asks for most often
    (its first lines say where the same formula lives in tinygen), or else with the exercise before.
    """
    secs = sections()
    placed = {title: [] for title, _ in secs}
    unplaced = []
    previous = None
    for path in run_notebooks.notebooks():
        name = run_notebooks.name_of(path)
        if name.startswith("exercises/"):
            words = code_names(path)
            scores = [score(words, text) for _, text in secs]
        else:
            scores = [demo_numbers(text).count(name[:2]) for _, text in secs]
        best = max(range(len(secs)), key=lambda i: (scores[i], -i)) if secs else None
        where = secs[best][0] if best is not None and scores[best] > 0 else None
        if name.startswith("exercises/"):
            where = previous = where or previous
        (placed[where] if where else unplaced).append(path)
    out = [(t, sorted(ps, key=lambda p: ("exercises/" in run_notebooks.name_of(p), p.name)))
           for t, ps in placed.items() if ps]
    return out + ([("Not in the lecture map yet", unplaced)] if unplaced else [])


def measure(paths, mode):
    for path in paths:
        load = os.getloadavg()[0]
        _, seconds = run_notebooks.execute(path, mode)
        name = run_notebooks.name_of(path)
        print(f"{name}: {seconds:.1f} s ({mode}, load {load:.1f})", flush=True)
        # read, update, write after each run: a long measurement keeps what finished, and two
        # measurements at once (quick beside full) do not undo each other's entries
        record = json.loads(TIMES.read_text()) if TIMES.is_file() else {"runs": {}}
        record["runs"].setdefault(name, {})[mode] = {
            "seconds": round(seconds, 1), "load_before": round(load, 1),
            "source_sha256": run_notebooks.digest(path), "date": time.strftime("%Y-%m-%d")}
        record["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(),
                             "processor": platform.machine()}
        TIMES.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def record_stored(paths, mode):
    """Take the seconds of the stored runs (a site build's, run_notebooks.py's) that ran on the
    current notebook and tinygen, measured as --measure does, into docs/lab_plan.json."""
    record = json.loads(TIMES.read_text()) if TIMES.is_file() else {"runs": {}}
    for path in paths:
        nb = run_notebooks.stored(path, mode)
        if nb is None:
            continue
        run = nb.metadata[run_notebooks.META_KEY]
        name = run_notebooks.name_of(path)
        record["runs"].setdefault(name, {})[mode] = {
            "seconds": run["seconds"], "load_before": run.get("load_before"),
            "source_sha256": run_notebooks.digest(path), "date": run.get("date", time.strftime("%Y-%m-%d"))}
        print(f"{name}: {run['seconds']:.1f} s ({mode}, stored run)")
    TIMES.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def fmt(run, path):
    if not run:
        return "not measured"
    stale = "" if run["source_sha256"] == run_notebooks.digest(path) else " (notebook changed since)"
    return f"{run['seconds']:.0f} s{stale}"


def minutes(total):
    return f"{total / 60:.0f} min" if total >= 90 else f"{total:.0f} s"


def render(page=PAGE):
    """Write the lab plan page (docs/lab_plan.md, or page) from docs/lab_plan.json and the lecture map."""
    record = json.loads(TIMES.read_text()) if TIMES.is_file() else {"runs": {}, "machine": {}}
    runs = record["runs"]
    machine = record.get("machine", {})
    loads = [r[m]["load_before"] for r in runs.values() for m in r if r[m].get("load_before") is not None]
    lines = [
        "# Lab plan",
        "",
        "Which notebook goes with which part of the lecture, in the lecture's order, and how long",
        "each takes to run from top to bottom in a fresh kernel (kernel start included). The times",
        f"are measured by `python docs/lab_plan.py --measure` on a {machine.get('cores', '?')}-core machine",
        f"(Python {machine.get('python', '?')}) and kept in `docs/lab_plan.json`; this page is written",
        "from that file. *Quick* is `TINYGEN_QUICK=1`, the tiny sizes the site shows and a first",
        "look in class; *full* is the notebook's defaults, the numbers the demos compare against.",
        "",
    ]
    if loads and max(loads) > (machine.get("cores") or 1):
        lines += [
            (f"The machine was shared while these were measured (load average {min(loads):.0f} to "
             f"{max(loads):.0f} on {machine.get('cores')} cores"),
            "at the start of the runs), so on an idle laptop of the same size expect shorter times;",
            "`--measure` again there to replace them.",
            "",
        ]
    order = 0
    total = {"quick": 0.0, "full": 0.0}
    for title, paths in plan():
        lines += [f"## {title}", "", "| # | Notebook | Quick | Full |", "|---|---|---|---|"]
        for path in paths:
            order += 1
            name = run_notebooks.name_of(path)
            run = runs.get(name, {})
            for mode in total:
                total[mode] += run.get(mode, {}).get("seconds", 0.0)
            kind = "exercise" if name.startswith("exercises/") else "demo"
            title = title_of(path).replace("|", "\\|")  # a bare | would end the table cell
            link = f"[{title}](../demos/{name}.ipynb)"
            quick, full = fmt(run.get("quick"), path), fmt(run.get("full"), path)
            lines.append(f"| {order} | {link} ({kind}) | {quick} | {full} |")
        lines.append("")
    lines += [(f"In all: {minutes(total['quick'])} quick and {minutes(total['full'])} full, for the notebooks "
               "measured at each size."), ""]
    Path(page).write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Measure the notebooks and write docs/lab_plan.md.")
    parser.add_argument("--measure", action="store_true", help="run the notebooks and record their times")
    parser.add_argument("--from-stored", action="store_true",
                        help="record the times of the current stored runs (made by a site build) instead")
    parser.add_argument("--full", action="store_true", help="at the defaults, not TINYGEN_QUICK=1")
    parser.add_argument("--only", help="comma-separated name prefixes, e.g. 04,exercises/03")
    args = parser.parse_args(argv)
    if args.measure:
        measure(run_notebooks.select(args.only), "full" if args.full else "quick")
    elif args.from_stored:
        record_stored(run_notebooks.select(args.only), "full" if args.full else "quick")
    render()
    print(f"wrote {PAGE.relative_to(DOCS.parent)}")


if __name__ == "__main__":
    main()
