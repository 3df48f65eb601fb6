"""Pearson's chi-square goodness-of-fit p-value for the tests, exact for any number of cells.

    X^2 = sum_i (c_i - e_i)^2 / e_i,   p = P(chi^2_k >= X^2),   k = cells - 1

P(chi^2_k >= x) is the kit's ``tinygen.testing.samplers.chi_square_tail`` (the regularized
upper incomplete gamma function, checked against scipy in tests/test_testing_samplers.py).
"""
import numpy as np

from tinygen.testing.samplers import chi_square_tail

__all__ = ["chi_square_pvalue", "chi_square_tail"]


def chi_square_pvalue(counts, expected):
    """p-value of Pearson's test that ``counts`` were drawn with the cell means ``expected``."""
    counts, expected = np.asarray(counts, dtype=float), np.asarray(expected, dtype=float)
    assert counts.shape == expected.shape and counts.ndim == 1 and counts.size >= 2
    assert abs(counts.sum() - expected.sum()) < 1e-6 * counts.sum(), "expected must add up to the count"
    return chi_square_tail(float(np.sum((counts - expected) ** 2 / expected)), counts.size - 1)
