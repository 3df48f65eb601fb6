"""The README and the pages under docs/: short enough to read, and every link lands.

A relative link (Markdown ``[text](target)`` or an HTML ``src=``/``href=``) must name a
file or folder of the repository; a ``#fragment`` must be a heading of the page it
points to, spelled as GitHub spells heading anchors.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")
README_LIMIT = 12_000  # bytes: the README is a doorway a newcomer reads in five minutes


def links(text):
    """Every link target in a Markdown text, code blocks and inline code left out."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


def anchors(text):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    heads = re.findall(r"^#{1,6} +(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_link_and_anchor_helpers_see_what_a_reader_sees():
    text = "# A page: the `x` (one)\n[a](b.md#a-page-the-x-one) `[no](c.md)`\n```\n[no](d.md)\n```\n<img src=\"t.png\">"
    assert links(text) == ["b.md#a-page-the-x-one", "t.png"]
    assert anchors(text) == {"a-page-the-x-one"}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:, ...: not this repository's business
            continue
        path, _, fragment = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif fragment and where.suffix == ".md" and fragment not in anchors(where.read_text()):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= README_LIMIT
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(readme)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_the_readme_keeps_the_command_ci_runs():
    # .ci/run runs the README's test command verbatim
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in (ROOT / ".ci" / "run").read_text() and command in (ROOT / "README.md").read_text()
