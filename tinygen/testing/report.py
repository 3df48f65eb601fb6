"""The report every check returns: one row per property, truthy when all hold.

A row says which property was checked, the worst case found (an error, a
count, a difference), the tolerance it was held to and, for a failure, where
it failed (the input, the parameter, the position) and by how much. Printing
a report gives a short table a student can read without opening the code.

A row can also be undecided: the check could not settle the property (an estimate
too noisy to trust, a gradient that vanishes at every point it tried). Such a row
prints "could not decide", is not a pass, and makes the report falsy: a truthy
report means every property was verified.
"""
from dataclasses import dataclass

import numpy as onp

__all__ = ["Report", "Row", "fmt"]


@dataclass
class Row:
    """One property: ``ok`` iff ``worst <= tolerance`` (or the test that row describes)."""

    property: str
    worst: float
    tolerance: float
    ok: bool
    where: str = ""  # for a failure: the input / leaf / position and by how much
    decided: bool = True  # False: the property could not be settled (then ok is False too)


class Report:
    """Rows of property checks. ``bool(report)`` is True iff there are rows and every row passed.

    ``print(report)`` gives the table; ``report.assert_ok()`` raises an
    AssertionError carrying that table (for pytest); ``report.rows`` holds
    the raw ``Row`` objects; ``report.notes`` says how it was checked
    (the method, the number of points).
    """

    def __init__(self, title, rows=(), notes=()):
        self.title = title
        self.rows = list(rows)
        self.notes = list(notes)

    def add(self, prop, worst, tolerance, ok=None, where="", decided=True):
        """Append a row; ``ok`` defaults to ``worst <= tolerance`` (NaN fails).

        ``decided=False`` records a property the check could not settle: never ok,
        shown as "could not decide" with ``where`` saying why.
        """
        worst, tolerance = float(worst), float(tolerance)
        if ok is None:
            ok = bool(worst <= tolerance)  # False for NaN
        ok = bool(ok) and bool(decided)
        self.rows.append(Row(prop, worst, tolerance, ok, "" if ok else where, bool(decided)))
        return self.rows[-1]

    def __bool__(self):
        return bool(self.rows) and all(row.ok for row in self.rows)  # nothing checked is no pass

    @property
    def failures(self):
        """The rows that did not pass: failed or undecided."""
        return [row for row in self.rows if not row.ok]

    @property
    def undecided(self):
        """The rows the check could not settle (a subset of ``failures``)."""
        return [row for row in self.rows if not row.decided]

    def __str__(self):
        undecided = len(self.undecided)
        failed = len(self.failures) - undecided
        total = len(self.rows)
        props = "property" if total == 1 else "properties"
        verdicts = ([f"{failed} of {total} {props} FAIL"] if failed else []) + \
                   ([f"{undecided} of {total} could not be decided (not a pass)"] if undecided else [])
        head = f"{self.title}: " + ("no property checked" if not total else
                                    "; ".join(verdicts) or f"every property holds ({total} checked)")
        width = max([len("property")] + [len(r.property) for r in self.rows])
        lines = [head] + [f"  {n}" for n in self.notes]
        lines.append(f"  {'property':<{width}}  {'worst':>9}  {'tolerance':>9}  result")
        for r in self.rows:
            lines.append(f"  {r.property:<{width}}  {_num(r.worst):>9}  {_num(r.tolerance):>9}  "
                         + ("pass" if r.ok else "FAIL" if r.decided else "could not decide"))
            if r.where:
                lines.append(f"    -> {r.where}")
        return "\n".join(lines)

    __repr__ = __str__

    def assert_ok(self):
        """Raise AssertionError with the table unless every property holds; returns self."""
        if not self:
            raise AssertionError("\n" + str(self))
        return self


def _num(v):
    return f"{v:.3g}" if onp.isfinite(v) else str(v)


def fmt(v, digits=4):
    """A short rendering of a point or value for a report ("[0.12, -3.4]")."""
    a = onp.atleast_1d(onp.asarray(v, dtype=float)).ravel()
    body = ", ".join(f"{t:.{digits}g}" for t in a[:6]) + (", ..." if a.size > 6 else "")
    return f"[{body}]" if onp.ndim(v) else body
