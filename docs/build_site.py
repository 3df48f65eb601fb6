"""Build the course site: one command, from docs/, readable offline and from file://.

    pip install -e ".[docs]"
    python docs/build_site.py            # then open build/site/index.html

What it does, in order:

1. runs every demo and exercise notebook whose stored run is missing or out of date
   (docs/run_notebooks.py: a fresh kernel, TINYGEN_QUICK=1, outputs kept in build/executed/);
   ``--no-execute`` uses the stored runs only, saying so on a page whose run is older than
   the notebook or tinygen, and shows a notebook without outputs where none is stored;
   ``--full`` shows the full-size runs instead (made by ``run_notebooks.py --full``);
2. stages the pages in build/site_src/: docs/*.md, one API page per public tinygen module
   (found by walking the package, read by mkdocstrings), the executed notebooks, each
   headed by its "open in Colab" link (base URL: ``extra.colab_base`` in mkdocs.yml);
3. runs MkDocs (Material theme, mkdocs-jupyter, mkdocstrings) with the page list made here
   (and docs/site_hooks.py, which hands the search a copy of each page without the markup
   of its code and figures: the same index, built in less time);
4. makes the site work offline: MathJax 3 copied from the sphinx-mathjax-offline wheel, the
   search index also written as a script (file:// pages cannot fetch JSON), and the CDN
   MathJax 2 that nbconvert puts in notebook pages removed (the site's MathJax typesets them);
   a page with nothing to typeset does not load MathJax at all.

Why MkDocs: the pages are already Markdown, so they stay as they are and read the same on a
code host; Material ships a search that works without a server; mkdocs-jupyter renders the
stored outputs as they are; mkdocstrings reads the docstrings without importing anything heavy.
"""
import argparse
import functools
import importlib
import importlib.metadata
import inspect
import json
import os
import pkgutil
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/lab_plan.py and docs/run_notebooks.py
import lab_plan
import run_notebooks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"
MATHJAX_WHEEL = "sphinx-mathjax-offline"  # a PyPI wheel that ships MathJax 3 as files
MATHJAX_FILE = "tex-svg-full.js"  # TeX in, SVG out, every TeX package built in: nothing loaded later
# pages in the order of the site's menu; any other docs/*.md page follows them, by name
PAGE_ORDER = ["index.md", "getting_started.md", "lecture_map.md", "lecture_notes.md", "lab_plan.md",
              "demos.md", "testing_kit.md", "conventions.md", "defaults.md", "benchmarks.md", "fast_path.md"]


@functools.cache  # one walk of the package per build: the package pages ask again for each constant
def public_modules(package="tinygen"):
    """Every module of the package whose dotted name has no part starting with '_', sorted."""
    root = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
    return tuple(sorted(n for n in names if not private(n)))


def private(dotted):
    """True when a part of the dotted module name starts with '_' (such a module has no page)."""
    return any(part.startswith("_") for part in dotted.split("."))


def defined_in(obj):
    """(module, qualified name) where a class or function of tinygen is defined; None for anything
    else: a constant, or a wrapped function (an autograd primitive), which is listed where a module names it."""
    owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if ((inspect.isclass(obj) or inspect.isroutine(obj)) and owner and qualname and owner.startswith("tinygen")
            and "<" not in qualname):
        return owner, qualname
    return None


def api_pages(stage):
    """api/<module>.md for each public module (a mkdocstrings directive) and api/index.md listing them."""
    (stage / "api").mkdir(parents=True, exist_ok=True)
    modules = public_modules()
    for name in modules:
        is_package = hasattr(importlib.import_module(name), "__path__")
        (stage / "api" / f"{name}.md").write_text(package_page(name) if is_package else f"::: {name}\n")
    listing = "\n".join(f"- [`{name}`]({name}.md)" for name in modules)
    intro = (DOCS / "api" / "index.md").read_text() if (DOCS / "api" / "index.md").is_file() else "# API\n"
    (stage / "api" / "index.md").write_text(intro.rstrip() + "\n\n" + listing + "\n")
    return modules


def package_page(name):
    """A package's API page: its docstring, then each name it exports with a link to the page of
    the module that defines it, so that an entry (signature, docstring, source) stands once.
    Each row keeps the anchor the package's own entry had (``tinygen.flows.RealNVP``). A name
    with no page of its own (defined in a private module) keeps its entry here."""
    package, rows, own = importlib.import_module(name), [], []
    for member in sorted(getattr(package, "__all__", [])):
        where = home_of(name, member, getattr(package, member))
        if where is None:
            own.append(member)
        else:
            page, anchor = where
            rows.append(f'| <a id="{name}.{member}"></a>[`{member}`]({page}.md#{anchor}) | `{page}` |')
    members = f"[{', '.join(own)}]" if own else "false"
    table = ["", "| name | defined in |", "|---|---|", *rows] if rows else []
    return "\n".join([f"::: {name}", "    options:", f"      members: {members}", *table, ""])


def home_of(package, member, obj):
    """(module, anchor) of the public module page that documents ``package.member``, or None."""
    if inspect.ismodule(obj):
        return obj.__name__, obj.__name__
    owner, qualname = defined_in(obj) or (constant_owner(package, member), member)
    if owner is None or owner == package or private(owner):
        return None
    return owner, f"{owner}.{qualname}"


def constant_owner(package, member):
    """The public module under ``package`` that lists ``member`` in its ``__all__`` (None if none does)."""
    for name in public_modules():
        if name.startswith(package + ".") and member in getattr(importlib.import_module(name), "__all__", ()):
            return name
    return None


def resolve(dotted):
    """(api page, anchor) of a name written as in the lecture map (`flows.MAF`, `arm.MADE.sample`),
    or None when it names nothing in tinygen. The anchor is where mkdocstrings puts the object:
    its defining module and qualified name (`arm.MADE` is defined in tinygen.arm.made)."""
    parts = dotted.removeprefix("tinygen.").split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix that is a module
        try:
            module = obj = importlib.import_module("tinygen." + ".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        if inspect.ismodule(obj):
            return f"api/{obj.__name__}.md", obj.__name__
        owner, qualname = defined_in(obj) or (module.__name__, ".".join(parts[cut:]))
        if private(owner):
            return None  # defined in a private module: no page
        return f"api/{owner}.md", f"{owner}.{qualname}"
    return None


CODE_NAME = re.compile(r"(?<![\[\w])`((?:[a-z_][a-z0-9_]*\.)+[A-Za-z_][A-Za-z0-9_]*)`")


def link_code_names(text, page_depth=0):
    """Turn `module.name` in a page into a link to its API entry where it names a tinygen object."""
    up = "../" * page_depth

    def replace(match):
        found = resolve(match.group(1))
        if found is None:
            return match.group(0)
        page, anchor = found
        return f"[`{match.group(1)}`]({up}{page}#{anchor})"
    return CODE_NAME.sub(replace, text)


def link_notebook_names(text, names):
    """Turn `NN_name` (a demo or exercise named in prose) into a link to its rendered notebook."""
    for name in names:
        short = name.split("/")[-1]
        text = re.sub(rf"(?<![\[\w/])`{re.escape(short)}`", f"[`{short}`](notebooks/{name}.ipynb)", text)
    return text


def stage_links(text, notebook_names, notebooks_by_name=False):
    """A page's links as the site needs them: README -> home page, ../demos/X -> the rendered
    notebook, another file outside docs/ -> its path, `module.name` -> its API entry, and
    (notebooks_by_name) `NN_name` -> its notebook."""
    text = text.replace("](../README.md)", "](index.md)")
    text = re.sub(r"\]\(\.\./demos/([^)]+)\.(?:ipynb|py)\)", r"](notebooks/\1.ipynb)", text)
    # any other file of the repository outside docs/ is named, not linked: the site holds only docs/
    def named(m):
        label, path = m.group(1), m.group(2)
        return f"`{path}`" if label.strip("`") == path else f"{label} (`{path}`)"
    text = re.sub(r"\[([^\]]+)\]\(\.\./([^)#\s]+)(?:#[^)]*)?\)", named, text)
    text = link_code_names(text)
    return link_notebook_names(text, notebook_names) if notebooks_by_name else text


def stage_pages(stage, notebook_names):
    """docs/*.md into the stage, with links rewritten for the site (README -> home page)."""
    for page in sorted(DOCS.glob("*.md")):
        text = stage_links(page.read_text(), notebook_names, page.name in ("demos.md", "testing_kit.md"))
        (stage / page.name).write_text(text)
    if (stage / "lab_plan.md").is_file():  # written again: a notebook added since the last --measure is listed
        lab_plan.render(stage / "lab_plan.md")
        (stage / "lab_plan.md").write_text(stage_links((stage / "lab_plan.md").read_text(), notebook_names, True))
    for folder in ("thumbs", "assets"):
        if (DOCS / folder).is_dir():
            shutil.copytree(DOCS / folder, stage / folder)


def colab_url(path, base):
    return base.rstrip("/") + "/" + path.relative_to(ROOT).as_posix()


def stage_notebooks(stage, colab_base, mode, execute):
    """The executed notebooks into stage/notebooks/, each headed by how it was run and a Colab link."""
    import nbformat
    names = []
    for path in run_notebooks.notebooks():
        nb = run_notebooks.stored(path, mode, current=execute)  # without running, an older run will do
        if execute and (nb is None or not run_notebooks.is_current(nb, path)):
            print(f"running {run_notebooks.name_of(path)} ({mode})", flush=True)
            nb, _ = run_notebooks.execute(path, mode)
        if nb is None:
            nb = nbformat.read(path, as_version=4)
            how = "**Not executed in this build** (no stored run): run it to see its figures and numbers."
        else:
            run = nb.metadata[run_notebooks.META_KEY]
            size = "at the quick sizes (`TINYGEN_QUICK=1`)" if run["mode"] == "quick" else "at the default sizes"
            how = f"Outputs from a run of this notebook {size}, in a fresh kernel: {run['seconds']:.0f} s here."
            if not run_notebooks.is_current(nb, path):
                how += " **That run was on an earlier version of this notebook or of tinygen.**"
        rel = path.relative_to(ROOT).as_posix()
        head = (f"[Open in Colab]({colab_url(path, colab_base)}) · source: `{rel}` "
                f"(script: `{rel[:-len('.ipynb')]}.py`)\n\n{how}")
        cells = list(nb.cells)
        first_heading = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), None)
        at = 0 if first_heading is None else first_heading + 1  # below the title cell, so the page keeps its title
        nb.cells = cells[:at] + [nbformat.v4.new_markdown_cell(head)] + cells[at:]
        name = run_notebooks.name_of(path)
        out = stage / "notebooks" / f"{name}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
        names.append(name)
    return names


def title_of(md):
    for line in md.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem.replace("_", " ")


def navigation(stage, notebook_names, modules):
    pages = sorted(p.name for p in stage.glob("*.md"))
    ordered = [p for p in PAGE_ORDER if p in pages] + [p for p in pages if p not in PAGE_ORDER]
    nav = [{title_of(stage / p) if p != "index.md" else "Home": p} for p in ordered]
    demos = [n for n in notebook_names if "/" not in n]
    exercises = [n for n in notebook_names if n.startswith("exercises/")]
    nav.append({"Demos": [{n: f"notebooks/{n}.ipynb"} for n in demos]})
    nav.append({"Exercises": [{n.split("/")[-1]: f"notebooks/{n}.ipynb"} for n in exercises]})
    groups = {}  # tinygen.flows.coupling goes under tinygen.flows; a plain module stands alone
    for m in modules:
        groups.setdefault(".".join(m.split(".")[:2]), []).append({m: f"api/{m}.md"})
    api = [entries[0] if len(entries) == 1 else {top: entries} for top, entries in groups.items()]
    nav.append({"API": ["api/index.md"] + api})
    return nav


def mathjax_source():
    """The folder of MathJax's files inside the installed sphinx-mathjax-offline wheel."""
    try:
        files = importlib.metadata.files(MATHJAX_WHEEL) or []
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"{MATHJAX_WHEEL} is not installed: pip install -e \".[docs]\"") from None
    for f in files:
        if f.name == MATHJAX_FILE:
            return Path(f.locate()).parent
    raise SystemExit(f"{MATHJAX_WHEEL}: no {MATHJAX_FILE} among its files")


NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->\s*<script src=\"[^\"]*\">\s*</script>")
# MathJax typesets only elements of these classes (docs/assets/mathjax-config.js): a page without one
# (an API page, most of the guides) has nothing for it, and is spared parsing its 2 MB script
TYPESET_CLASS = re.compile(r"class=\"[^\"]*\b(arithmatex|jp-RenderedMarkdown)\b")
MATHJAX_SCRIPTS = re.compile(r"<script src=\"[^\"]*(mathjax-config\.js|mathjax/" + re.escape(MATHJAX_FILE)
                             + r")\"></script>\s*")


def make_offline(site):
    """The steps that let the built site read offline and from file://."""
    target = site / "assets" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(mathjax_source() / MATHJAX_FILE, target / MATHJAX_FILE)
    index = site / "search" / "search_index.json"
    if index.is_file():  # the theme loads this script instead of fetching the JSON on file:// pages
        (site / "search" / "search_index.js").write_text("var __index = " + index.read_text())
    # MkDocs' 404 page links from the server's root (/assets/...), which is no place on a file
    # system; a static server falls back to its own "not found" page without it
    (site / "404.html").unlink(missing_ok=True)
    for page in site.rglob("*.html"):
        html = page.read_text()
        cleaned = NBCONVERT_MATHJAX.sub("", html)
        if not TYPESET_CLASS.search(cleaned):
            cleaned = MATHJAX_SCRIPTS.sub("", cleaned)
        if cleaned != html:
            page.write_text(cleaned)


def build(site_dir=None, execute=True, mode="quick", clean=True):
    """Stage and build the site; the folder it was written to."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    raw = __import__("yaml").safe_load(CONFIG.read_text())
    stage = ROOT / raw["docs_dir"]
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    notebook_names = stage_notebooks(stage, raw["extra"]["colab_base"], mode, execute)
    stage_pages(stage, notebook_names)
    modules = api_pages(stage)
    overrides = {"nav": navigation(stage, notebook_names, modules)}
    if site_dir is not None:
        overrides["site_dir"] = str(site_dir)
    config = load_config(str(CONFIG), **overrides)
    here = os.getcwd()
    os.chdir(ROOT)  # mkdocs-jupyter's cache_dir (mkdocs.yml) is relative to the working folder
    try:
        mkdocs_build(config, dirty=not clean)
    finally:
        os.chdir(here)
    site = Path(config["site_dir"])
    make_offline(site)
    return site


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the course site into build/site/.")
    parser.add_argument("--no-execute", action="store_true", help="use stored notebook runs only")
    parser.add_argument("--full", action="store_true", help="show the full-size runs (run_notebooks.py --full)")
    parser.add_argument("--site-dir", help="write the site here instead of build/site/")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    site = build(args.site_dir, execute=not args.no_execute, mode="full" if args.full else "quick")
    print(f"site built in {time.perf_counter() - start:.0f} s: open {site / 'index.html'}")
    print(json.dumps({"pages": len(list(site.rglob('*.html')))}))


if __name__ == "__main__":
    main()
