"""Pearson's chi-square goodness-of-fit p-value, exact for any number of cells (no scipy needed).

    X^2 = sum_i (c_i - e_i)^2 / e_i,   p = P(chi^2_k >= X^2),   k = cells - 1

P(chi^2_k >= x) is the regularized upper incomplete gamma function Q(k/2, x/2), which has a
closed form at the integer and half-integer arguments that occur here:

    k even, s = k/2:      Q = e^{-y} sum_{i=0}^{s-1} y^i / i!                      (y = x / 2)
    k odd,  s = m + 1/2:  Q = erfc(sqrt(y)) + e^{-y} sum_{i=1}^{m} y^{i-1/2} / Gamma(i + 1/2)
"""
import math

import numpy as np


def chi_square_tail(x, k):
    """P(chi^2_k >= x) for k >= 1 degrees of freedom."""
    y = x / 2.0
    if k % 2 == 0:
        terms = [i * math.log(y) - math.lgamma(i + 1) if y > 0 else (0.0 if i == 0 else -math.inf)
                 for i in range(k // 2)]
        return float(math.exp(-y) * sum(math.exp(t) for t in terms))
    if y == 0:
        return 1.0
    terms = [(i - 0.5) * math.log(y) - math.lgamma(i + 0.5) for i in range(1, (k - 1) // 2 + 1)]
    return float(math.erfc(math.sqrt(y)) + math.exp(-y) * sum(math.exp(t) for t in terms))


def chi_square_pvalue(counts, expected):
    """p-value of Pearson's test that ``counts`` were drawn with the cell means ``expected``."""
    counts, expected = np.asarray(counts, dtype=float), np.asarray(expected, dtype=float)
    assert counts.shape == expected.shape and counts.ndim == 1 and counts.size >= 2
    assert abs(counts.sum() - expected.sum()) < 1e-6 * counts.sum(), "expected must add up to the count"
    return chi_square_tail(float(np.sum((counts - expected) ** 2 / expected)), counts.size - 1)
