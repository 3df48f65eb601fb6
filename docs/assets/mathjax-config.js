// MathJax 3, configured before it loads (it is the next script). pymdownx.arithmatex wraps
// each formula of a Markdown page in an element of class "arithmatex", as \( ... \) inline
// or \[ ... \] displayed; the notebooks' Markdown cells keep $ ... $ and $$ ... $$. Only
// those two kinds of element are typeset, so a dollar sign in code or prose stays as it is.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
  svg: { fontCache: "global" },  // SVG output: no web fonts to load, which file:// pages may refuse
};
