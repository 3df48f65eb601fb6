"""The course site, built by its one command and read in a real browser, offline, from file://.

One test builds the site (docs/build_site.py) into a temporary folder and opens every page
in headless Chromium (Debian's chromium + chromedriver, driven by selenium; no browser is
downloaded): each page loads with no console error and fetches nothing but local files; each
internal link reaches a page and, with a #fragment, an element of that id; no `$$`, `\\frac`
or `\\(` is left untypeset (MathJax is loaded only on pages that have something to typeset, and
is checked to finish there); each notebook page shows as many loaded images as its executed
notebook holds (at least one for a demo) and its printed numbers; the search box finds the
class RealNVP and leads to its API page. A few pages and the search are then read again
from a plain static server on 127.0.0.1, the other way a site is opened. It is one test,
not several, so that the site is built once even when pytest-xdist spreads the tests over
workers.

The notebooks are taken from their stored runs (build/executed/quick/), which tests/test_notebooks.py
writes as it runs each notebook in quick mode (so do `python docs/run_notebooks.py` and an earlier
build), where those ran on the current notebook and tinygen; a notebook not stored yet is run here.
In a fresh checkout, as in CI, the notebook runs are shared by the two workers and this test
comes last on one of them (tests/test_notebooks.py says how), so most runs are stored by the time
it starts and it runs only the rest. The build and the browser add a minute or two.
Skipped, saying why, only where Chromium, its driver, or the docs extra
(`pip install -e ".[docs]"`) is missing; CI installs all three.
"""
import functools
import http.server
import json
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# every remote source a page could load: a script, a stylesheet or font link, an image, a frame
REMOTE_SOURCE = re.compile(r"<(script|link|img|iframe|source)\b[^>]*\b(src|href)=[\"']?(https?:)?//", re.IGNORECASE)
UNTYPESET = ("$$", "\\frac", "\\(")  # what a formula looks like when MathJax did not run on it

# text of the page outside code, scripts and typeset math: where raw TeX must not be left
VISIBLE_TEXT_JS = """
const skip = new Set(["CODE", "PRE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER", "NOSCRIPT"]);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode(node) {
    for (let e = node.parentElement; e; e = e.parentElement) if (skip.has(e.tagName)) return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT;
  }});
let text = "";
while (walker.nextNode()) text += walker.currentNode.nodeValue;
return text;
"""
WAIT_FOR_MATHJAX_JS = """
const done = arguments[arguments.length - 1];
if (window.MathJax && MathJax.startup && MathJax.startup.promise)
  MathJax.startup.promise.then(() => done(true), e => done(String(e)));
else done("MathJax did not load");
"""
PAGE_FACTS_JS = """
const images = [...document.querySelectorAll(".jupyter-wrapper .jp-OutputArea-output img")];
return {
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  resources: performance.getEntriesByType("resource").map(r => r.name),
  images: images.length,
  loadedImages: images.filter(img => img.complete && img.naturalWidth > 0).length,
  printed: [...document.querySelectorAll(".jupyter-wrapper .jp-OutputArea-output pre")]
    .map(p => p.textContent).join(""),
  math: document.querySelectorAll("mjx-container").length,
};
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reads the browser's console, not the server's log
        pass


def _browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or chromedriver is missing (apt-get install chromium chromium-driver): "
                    "the site is not checked in a browser here")
    for package in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings", "selenium"):
        pytest.importorskip(package, reason=f'{package} is missing: the site needs pip install -e ".[docs]"')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    return driver


def _ids(page, cache={}):  # noqa: B006  (a cache across calls is the point)
    if page not in cache:
        cache[page] = set(re.findall(r"\bid=\"([^\"]+)\"", page.read_text()))
    return cache[page]


def _notebook_outputs(site_src, rel):
    """(image outputs, printed outputs) of the staged notebook that the page at rel was made from."""
    import nbformat
    source = site_src / Path(rel).with_suffix(".ipynb")
    nb = nbformat.read(source, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = sum(1 for o in outputs if any(k.startswith("image/") for k in o.get("data", {})))
    printed = sum(1 for o in outputs if o.output_type == "stream" or "text/plain" in o.get("data", {}))
    return images, printed


def check_site(driver, site, site_src):
    """Every problem found on the built site at `site`, staged from `site_src`, as one line each."""
    import build_site
    import run_notebooks
    problems = []

    # nothing remote in the HTML: every script, stylesheet, font and image is in the site
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        for match in REMOTE_SOURCE.finditer(page.read_text()):
            problems.append(f"{page.relative_to(site)}: loads a remote source: {match.group(0)[:120]}")
    assert pages and (site / "assets" / "mathjax" / build_site.MATHJAX_FILE).is_file()
    notebook_pages = {p for p in pages if p.relative_to(site).parts[0] == "notebooks"}
    assert len(notebook_pages) == len(run_notebooks.notebooks())  # every demo and exercise has its page
    assert {f"api/{m}.html" for m in build_site.public_modules()} <= {p.relative_to(site).as_posix() for p in pages}

    for page in pages:
        name = page.relative_to(site).as_posix()
        driver.get(page.as_uri())
        # a page with nothing to typeset does not load MathJax (docs/build_site.py); the raw-TeX check
        # below reads every page, so a formula left on such a page is still found
        if build_site.MATHJAX_SCRIPTS.search(page.read_text()):
            typeset = driver.execute_async_script(WAIT_FOR_MATHJAX_JS)
            if typeset is not True:
                problems.append(f"{name}: MathJax: {typeset}")
        for entry in driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{name}: console error: {entry['message'][:200]}")
        facts = driver.execute_script(PAGE_FACTS_JS)
        text = driver.execute_script(VISIBLE_TEXT_JS)
        problems += [f"{name}: raw TeX {raw!r} left in the text" for raw in UNTYPESET if raw in text]
        problems += [f"{name}: fetched {url}" for url in facts["resources"] if not url.startswith("file:")]
        for url in facts["links"]:
            parts = urlsplit(url)
            if parts.scheme != "file":
                continue  # an outside link (Colab, a paper): not part of the offline site
            target = Path(unquote(parts.path))
            if not target.is_relative_to(site):
                problems.append(f"{name}: link leaves the site: {url}")
            elif not target.is_file():
                problems.append(f"{name}: broken link {target.relative_to(site)}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target):
                problems.append(f"{name}: no #{parts.fragment} in {target.relative_to(site)}")
        if page in notebook_pages:
            images, printed = _notebook_outputs(site_src, name)
            is_demo = "exercises" not in page.parts
            if facts["images"] != images or facts["loadedImages"] != images or (is_demo and images == 0):
                problems.append(f"{name}: {facts['loadedImages']} of {facts['images']} images shown, "
                                f"{images} in the executed notebook")
            if printed and not facts["printed"].strip():
                problems.append(f"{name}: its printed numbers are missing")

    # the home page's formulas are typeset (the check above would pass on a page with none)
    driver.get((site / "index.html").as_uri())
    driver.execute_async_script(WAIT_FOR_MATHJAX_JS)
    if driver.execute_script(PAGE_FACTS_JS)["math"] < 3:
        problems.append("index.html: its formulas were not typeset")

    # the search box, from file://, finds a class by its name and leads to its API page
    problems += search_problems(driver, "file://")

    # the same site from a plain static server (on this machine's loopback, stopped at the end)
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        served = ["index.html", "api/tinygen.flows.coupling.html",
                  min(p.relative_to(site).as_posix() for p in notebook_pages)]
        for name in served:
            driver.get(base + name)
            if build_site.MATHJAX_SCRIPTS.search((site / name).read_text()):
                typeset = driver.execute_async_script(WAIT_FOR_MATHJAX_JS)
                if typeset is not True:
                    problems.append(f"{base}{name}: MathJax: {typeset}")
            problems += [f"{base}{name}: console error: {e['message'][:200]}"
                         for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        driver.get(base + "index.html")
        problems += search_problems(driver, "http://")
    finally:
        server.shutdown()
        server.server_close()
    return problems


def search_problems(driver, how):
    """Type a class name into the search box of the page open in the driver; what went wrong."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.click()
    box.send_keys("RealNVP")
    results = WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a[href]"))
    hrefs = [r.get_attribute("href") for r in results]
    problems = [] if any("/api/tinygen.flows" in h and "RealNVP" in h for h in hrefs) else [
        f"search for RealNVP over {how}: no result on its API page among {hrefs}"]
    return problems + [f"search over {how}: console error: {e['message'][:200]}"
                       for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_search_reads_a_lighter_page_and_finds_the_same_sections():
    # docs/site_hooks.py hands Material's search a copy of each page without the <span> tags of its
    # code and the data of its inline images: the search must cut it into the same sections, with
    # the same titles and words, as the full page (here: a real source file as Pygments renders it,
    # under a heading whose spans are kept, beside a notebook-like figure)
    pytest.importorskip("material", reason='the site needs pip install -e ".[docs]"')
    from material.plugins.search.plugin import Parser
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    import site_hooks
    listing = highlight((ROOT / "tinygen" / "flows" / "coupling.py").read_text(), PythonLexer(), HtmlFormatter())
    page = ('<h2 id="coupling">The <span class="doc">coupling</span> layer</h2><p>Why it inverts.</p>'
            + listing + '<h3 id="fig">A figure</h3><img alt="moons" src="data:image/png;base64,'
            + "A" * 5000 + '"><pre><code><span class="n">x</span> = 1</code></pre>')
    light = site_hooks.searchable(page)
    assert light.count("<span") == 1 and "base64" not in light and len(light) < len(page) / 2

    def sections(html):
        parser = Parser()
        parser.feed(html)
        parser.close()
        return [(s.id, "".join(s.title), "".join(s.text)) for s in parser.data]  # as the index joins them
    assert sections(light) == sections(page)
    # the text before the first heading, then one section per heading
    assert [s[0] for s in sections(page)] == [None, "coupling", "fig"]


def test_lab_plan_page_shows_only_measured_times():
    # every time on docs/lab_plan.md is the one docs/lab_plan.json records for that notebook and size
    # (the page is written from it by `python docs/lab_plan.py`; the site build writes it afresh)
    import lab_plan
    import run_notebooks
    placed = [p for _, paths in lab_plan.plan() for p in paths]
    assert sorted(placed) == sorted(run_notebooks.notebooks())  # every notebook, once
    runs = json.loads(lab_plan.TIMES.read_text())["runs"]
    rows = re.findall(r"\(\.\./demos/(.+?)\.ipynb\)[^|]*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$",
                      lab_plan.PAGE.read_text(), flags=re.MULTILINE)
    assert len(rows) >= len(runs)
    for name, *cells in rows:
        for mode, cell in zip(("quick", "full"), cells):
            run = runs.get(name, {}).get(mode)
            want = "not measured" if run is None else f"{run['seconds']:.0f} s"
            assert cell.split(" (")[0] == want, (name, mode, cell)


@pytest.mark.xdist_group("notebooks")  # after half of tests/test_notebooks.py's runs, on the same worker
def test_site_builds_and_reads_offline_in_a_browser(tmp_path):
    driver = _browser()
    import build_site
    try:
        start = time.perf_counter()
        site = build_site.build(tmp_path / "site", execute=True)
        built = time.perf_counter() - start
        problems = check_site(driver, site, ROOT / "build" / "site_src")
    finally:
        driver.quit()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    print(json.dumps({"build_seconds": round(built, 1)}))
