"""fast/plain.py: functional.py's stable functions on plain arrays give the same floats, to the bit.

The fused and untraced kernels call these instead of functional.py's (which pay autograd's
wrapper per operation even on plain arrays); the kernels' own tests compare them with the
reference path, and this checks the pieces directly, over the whole range functional.py is
made for (+-1e4), with the branch points (rho = -20 for log softplus, ties and -inf logits for
the softmax) drawn on purpose.
"""
import numpy as onp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen import functional as F
from tinygen.fast import plain

EDGES = [-1e4, -745.5, -700.0, -20.000001, -20.0, -19.999999, -1.0, 0.0, 1e-300, 1.0, 36.0, 710.0, 1e4]
values = st.one_of(st.sampled_from(EDGES), st.floats(-1e4, 1e4))
arrays = hnp.arrays(onp.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=values)


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "log_softplus"])
@given(x=arrays)
def test_elementwise_functions_equal_functional_to_the_bit(name, x):
    mine, reference = getattr(plain, name)(x), getattr(F, name)(x)
    assert type(mine) is onp.ndarray  # a plain array, not a box
    assert onp.array_equal(mine, reference)


@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
@given(l=hnp.arrays(onp.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                    elements=st.one_of(values, st.just(-onp.inf))), data=st.data())
def test_softmax_equals_functional_to_the_bit_on_any_axis_with_ties_and_minus_infinity(name, l, data):
    axis = data.draw(st.integers(-l.ndim, l.ndim - 1))
    with onp.errstate(all="ignore"):  # a row of -inf logits has no softmax (NaN on both sides)
        mine, reference = getattr(plain, name)(l, axis=axis), getattr(F, name)(l, axis=axis)
    assert onp.array_equal(mine, reference, equal_nan=True)


@given(x=arrays, data=st.data())
def test_log_normal_pdf_equals_functional_to_the_bit(x, data):
    mu = data.draw(hnp.arrays(onp.float64, x.shape, elements=st.floats(-1e3, 1e3)))
    sigma = data.draw(hnp.arrays(onp.float64, x.shape, elements=st.floats(1e-3, 1e3)))
    assert onp.array_equal(plain.log_normal_pdf(x, mu, sigma), F.log_normal_pdf(x, mu, sigma))


def test_a_different_formula_is_told_apart():
    # the other side: the naive log(1 + e^rho) is the same function in exact arithmetic, and the
    # comparison above would not accept it (it rounds differently, and overflows at 1e4)
    x = onp.array([-30.0, -3.0, 0.5, 40.0])
    with onp.errstate(over="ignore"):
        naive = onp.log(1.0 + onp.exp(onp.array([*x, 1e4])))
    assert not onp.array_equal(naive, plain.softplus(onp.array([*x, 1e4])))
