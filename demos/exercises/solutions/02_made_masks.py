"""Exercise 2, reference solution: MADE's input degrees and its two masks."""
import autograd.numpy as np


def input_degrees(order):
    """m(d) = t where o_t = d, for every input d (positions t count from 1)."""
    position = {d: t for t, d in enumerate(order, start=1)}  # o_t = d  ->  position[d] = t
    return np.array([position[d] for d in range(len(order))], dtype=float)


def made_masks(m_in, m_hidden):
    """(hidden mask (D, H), output mask (H, D)) from the input and hidden degrees.

    hidden unit k reads input d iff m(k) >= m(d); the output for x_d reads hidden unit k
    iff m(d) > m(k), strictly, so that x_d never sees itself.
    """
    m_in, m_hidden = np.asarray(m_in), np.asarray(m_hidden)
    hidden = (m_hidden[None, :] >= m_in[:, None]).astype(float)  # [d, k] = [m(k) >= m(d)]
    output = (m_in[None, :] > m_hidden[:, None]).astype(float)   # [k, d] = [m(d) > m(k)]
    return hidden, output
