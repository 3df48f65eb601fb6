"""The report every check returns: one row per property, truthy when all hold.

A row says which property was checked, the worst case found (an error, a
count, a difference), the tolerance it was held to and, for a failure, where
it failed (the input, the parameter, the position) and by how much. Printing
a report gives a short table a student can read without opening the code.
"""
from dataclasses import dataclass

import numpy as onp


@dataclass
class Row:
    """One property: ``ok`` iff ``worst <= tolerance`` (or the test that row describes)."""

    property: str
    worst: float
    tolerance: float
    ok: bool
    where: str = ""  # for a failure: the input / leaf / position and by how much


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

    def add(self, prop, worst, tolerance, ok=None, where=""):
        """Append a row; ``ok`` defaults to ``worst <= tolerance`` (NaN fails)."""
        worst, tolerance = float(worst), float(tolerance)
        if ok is None:
            ok = bool(worst <= tolerance)  # False for NaN
        self.rows.append(Row(prop, worst, tolerance, bool(ok), "" if ok else where))
        return self.rows[-1]

    def __bool__(self):
        return bool(self.rows) and all(row.ok for row in self.rows)  # nothing checked is no pass

    @property
    def failures(self):
        return [row for row in self.rows if not row.ok]

    def __str__(self):
        failed = len(self.failures)
        total = len(self.rows)
        head = f"{self.title}: " + ("no property checked" if not total else
                                    f"every property holds ({total} checked)" if not failed else
                                    f"{failed} of {total} {'property' if total == 1 else 'properties'} FAIL")
        width = max([len("property")] + [len(r.property) for r in self.rows])
        lines = [head] + [f"  {n}" for n in self.notes]
        lines.append(f"  {'property':<{width}}  {'worst':>9}  {'tolerance':>9}  result")
        for r in self.rows:
            lines.append(f"  {r.property:<{width}}  {_num(r.worst):>9}  {_num(r.tolerance):>9}  "
                         + ("pass" if r.ok else "FAIL"))
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
