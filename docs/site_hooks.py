"""MkDocs hooks of the course site (listed under ``hooks:`` in mkdocs.yml).

Material's search plugin reads each page's HTML with Python's html.parser to cut it into
sections. On this site most of that HTML is markup that holds no words: Pygments wraps every
token of a source listing or notebook cell in its own <span>, and a notebook's figures are
inline base64 PNGs. The search then spent more time on those tags than the rest of the build
spent on the pages. So the search reads a lighter copy of each page, with the spans' tags
inside <pre> blocks dropped (their text kept, in place: spans are inline, so the sections and
words are the same)
and the images' data left out, and the page itself is restored before it is written.
"""
import re

from mkdocs.plugins import CombinedEvent, event_priority

PRE_BLOCK = re.compile(r"<pre\b.*?</pre>", re.DOTALL)
SPAN_TAG = re.compile(r"</?span\b[^>]*>")
SEARCH_ATTRIBUTE = re.compile(r"\s?data-search-\w+=\"[^\"]+\"")  # what the search plugin strips once it has read them
INLINE_IMAGE_DATA = re.compile(r"(<img\b[^>]*?\bsrc=)\"data:[^\"]*\"")


def searchable(html):
    """The page's HTML as the search reads it: no <span> tags in code, no inline image data."""
    html = PRE_BLOCK.sub(lambda block: SPAN_TAG.sub("", block.group(0)), html)
    return INLINE_IMAGE_DATA.sub(r'\1""', html)


@event_priority(100)  # before the search plugin (priority 0) reads page.content
def _lighten(context, page, config, nav):
    page._tinygen_full_content = page.content
    page.content = searchable(page.content)
    return context


@event_priority(-100)  # after it: the page is written with its full HTML
def _restore(context, page, config, nav):
    page.content = SEARCH_ATTRIBUTE.sub("", page._tinygen_full_content)
    del page._tinygen_full_content
    return context


on_page_context = CombinedEvent(_lighten, _restore)
