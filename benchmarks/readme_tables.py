"""Regenerate the README's benchmark table from benchmarks/results.json.

The table sits between two marker comments in README.md; everything between them
is rendered here (benchmarks/report_tables.py), so the README's figures are the
measured ones, with the command and date that produced them:

    python benchmarks/readme_tables.py           # rewrite the marked table in README.md
    python benchmarks/readme_tables.py --check   # exit status 1 if README.md differs from results.json

tests/test_benchmark_tables.py runs the same comparison.
"""
import argparse
import os
import sys

import report_tables

BEGIN = "<!-- benchmark-table:begin -->"
END = "<!-- benchmark-table:end -->"
HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.normpath(os.path.join(HERE, os.pardir, "README.md"))
RESULTS = os.path.join(HERE, "results.json")


def _bounds(text):
    """(start, end) of the text between the markers: exactly one BEGIN, then exactly one END."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"readme: expected one {BEGIN} followed by one {END}, got {text.count(BEGIN)} "
                         f"begin and {text.count(END)} end markers")
    return text.index(BEGIN) + len(BEGIN), text.index(END)


def marked(text):
    """The table between the markers (without the newlines that frame it)."""
    start, end = _bounds(text)
    return text[start:end].strip("\n")


def splice(text, table):
    """``text`` with the part between the markers replaced by ``table``; the rest is untouched."""
    start, end = _bounds(text)
    return text[:start] + "\n" + table.strip("\n") + "\n" + text[end:]


def render(results_path=RESULTS):
    """The README's table as results.json renders it."""
    return report_tables.readme_table(report_tables.load(results_path))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--readme", default=README)
    parser.add_argument("--check", action="store_true", help="compare only; exit status 1 on a difference")
    args = parser.parse_args(argv)
    with open(args.readme) as f:
        text = f.read()
    table = render(args.results)
    if args.check:
        same = marked(text) == table.strip("\n")
        print(f"{args.readme}: the benchmark table {'matches' if same else 'differs from'} {args.results}")
        return 0 if same else 1
    with open(args.readme, "w") as f:
        f.write(splice(text, table))
    print(f"{args.readme}: benchmark table rewritten from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
