"""Regenerate the generated parts of the docs pages from the results files.

Each part sits between two marker comments in its page; everything between them is
rendered here, so the figures in the docs are the measured ones, with the command
and date that produced them:

    docs/benchmarks.md  benchmark-table  from benchmarks/results.json       (report_tables.py)
                        cost-curve       from benchmarks/results_cost.json  (cost_tables.py)
    docs/defaults.md    defaults-table   from benchmarks/results_defaults.json and results_peers.json
                                         (defaults_tables.py)
    docs/benchmarks.md  digits-table     from benchmarks/results_digits.json (digits_tables.py),
    and benchmarks/REPORT_digits.md      the same table in both
    benchmarks/REPORT.md  speed-summary  from results_eval, _train, _cost, _headline and _profile.json
    README.md             speed          (speed_tables.py: the summary of every speed target, and the
                                         README's paragraph from the same rows)

    python benchmarks/docs_tables.py           # rewrite the marked parts of the pages
    python benchmarks/docs_tables.py --check   # exit status 1 if a page differs from the results

tests/test_benchmark_tables.py runs the same comparison.
"""
import argparse
import os
import sys

import cost_tables
import defaults_tables
import digits_tables
import report_tables
import speed_tables

BEGIN = "<!-- benchmark-table:begin -->"
END = "<!-- benchmark-table:end -->"
COST_BEGIN = "<!-- cost-curve:begin -->"
COST_END = "<!-- cost-curve:end -->"
DEFAULTS_BEGIN = "<!-- defaults-table:begin -->"
DEFAULTS_END = "<!-- defaults-table:end -->"
DIGITS_BEGIN = "<!-- digits-table:begin -->"
DIGITS_END = "<!-- digits-table:end -->"
HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.normpath(os.path.join(HERE, os.pardir, "docs"))
BENCHMARKS_PAGE = os.path.join(DOCS, "benchmarks.md")
DEFAULTS_PAGE = os.path.join(DOCS, "defaults.md")
RESULTS = os.path.join(HERE, "results.json")
COST_RESULTS = os.path.join(HERE, "results_cost.json")
DIGITS_RESULTS = os.path.join(HERE, "results_digits.json")
DIGITS_REPORT = os.path.join(HERE, "REPORT_digits.md")
REPORT = os.path.join(HERE, "REPORT.md")
README = os.path.normpath(os.path.join(HERE, os.pardir, "README.md"))
SPEED_RESULTS = {key: os.path.join(HERE, name) for key, name in speed_tables.FILES.items()}


def _bounds(text, begin=BEGIN, end=END):
    """(start, end) of the text between the markers: exactly one begin, then exactly one end."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"text: expected one {begin} followed by one {end}, got {text.count(begin)} "
                         f"begin and {text.count(end)} end markers")
    return text.index(begin) + len(begin), text.index(end)


def marked(text, begin=BEGIN, end=END):
    """The part between the markers (without the newlines that frame it)."""
    start, stop = _bounds(text, begin, end)
    return text[start:stop].strip("\n")


def splice(text, table, begin=BEGIN, end=END):
    """``text`` with the part between the markers replaced by ``table``; the rest is untouched."""
    start, stop = _bounds(text, begin, end)
    return text[:start] + "\n" + table.strip("\n") + "\n" + text[stop:]


def render(results_path=RESULTS):
    """The benchmark table as results.json renders it."""
    return report_tables.docs_table(report_tables.load(results_path))


def render_cost(results_path=COST_RESULTS):
    """The cost-curve paragraph as results_cost.json renders it."""
    return cost_tables.docs_paragraph(cost_tables.load(results_path, key="train"))


def render_defaults(defaults_path=defaults_tables.DEFAULTS, peers_path=defaults_tables.PEERS):
    """The defaults tables as results_defaults.json and results_peers.json render them."""
    return defaults_tables.render(defaults_path, peers_path)


def render_digits(results_path=DIGITS_RESULTS):
    """The digits' bits-per-dimension table as results_digits.json renders it."""
    return digits_tables.table(digits_tables.load(results_path))


def render_speed(paths=None):
    """(REPORT.md's speed summary, the README's speed paragraph) from the five speed results files."""
    results = speed_tables.load_all(paths)
    return speed_tables.section(results), speed_tables.readme_paragraph(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--cost-results", default=COST_RESULTS)
    parser.add_argument("--defaults-results", default=defaults_tables.DEFAULTS)
    parser.add_argument("--peers-results", default=defaults_tables.PEERS)
    parser.add_argument("--benchmarks-page", default=BENCHMARKS_PAGE)
    parser.add_argument("--defaults-page", default=DEFAULTS_PAGE)
    parser.add_argument("--digits-results", default=DIGITS_RESULTS)
    parser.add_argument("--digits-report", default=DIGITS_REPORT)
    for key in speed_tables.FILES:
        if key != "cost":  # --cost-results above serves the summary too
            parser.add_argument(f"--{key}-results", default=SPEED_RESULTS[key])
    parser.add_argument("--report", default=REPORT, help="benchmarks/REPORT.md (its speed summary)")
    parser.add_argument("--readme", default=README, help="README.md (its speed paragraph)")
    parser.add_argument("--check", action="store_true", help="compare only; exit status 1 on a difference")
    args = parser.parse_args(argv)
    # (page, name, rendered part, results file, begin marker, end marker)
    parts = [(args.benchmarks_page, "benchmark table", render(args.results), args.results, BEGIN, END),
             (args.benchmarks_page, "cost-curve paragraph", render_cost(args.cost_results), args.cost_results,
              COST_BEGIN, COST_END),
             (args.defaults_page, "defaults tables", render_defaults(args.defaults_results, args.peers_results),
              args.defaults_results, DEFAULTS_BEGIN, DEFAULTS_END)]
    digits = render_digits(args.digits_results)
    parts += [(page, "digits table", digits, args.digits_results, DIGITS_BEGIN, DIGITS_END)
              for page in (args.benchmarks_page, args.digits_report)]
    speed_paths = {key: getattr(args, f"{key}_results") for key in speed_tables.FILES}
    summary, paragraph = render_speed(speed_paths)
    speed_files = ", ".join(os.path.basename(p) for p in speed_paths.values())
    parts += [(args.report, "speed summary", summary, speed_files, speed_tables.SUMMARY_BEGIN,
               speed_tables.SUMMARY_END),
              (args.readme, "speed paragraph", paragraph, speed_files, speed_tables.README_BEGIN,
               speed_tables.README_END)]
    status = 0
    for page in dict.fromkeys(part[0] for part in parts):  # each page once, in order
        with open(page) as f:
            text = f.read()
        for _, name, part, path, begin, end in (p for p in parts if p[0] == page):
            if args.check:
                same = marked(text, begin, end) == part.strip("\n")
                print(f"{page}: the {name} {'matches' if same else 'differs from'} {path}")
                status |= 0 if same else 1
            else:
                text = splice(text, part, begin, end)
                print(f"{page}: {name} rewritten from {path}")
        if not args.check:
            with open(page, "w") as f:
                f.write(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
