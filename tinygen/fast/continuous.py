"""The continuous normalizing flow's field and ODE solves, untraced: the exact trace by forward mode.

The reference (``ContinuousFlow._solve`` in flows/continuous.py, ``trace_exact`` in ode/trace.py)
gets tr(dv/dz) from D reverse passes of autograd through the field, at every field call of the
solver. With nothing traced, the same numbers come from one forward pass that carries, beside
each layer's activations, their derivatives along the D input directions e_1..e_D (forward mode,
written out by hand):

    h_0 = phi(t, z)                 dh_0^(i) = d phi / d z_i           (i = 1..D)
    a_l = h_{l-1} W_l + b_l         da_l^(i) = dh_{l-1}^(i) W_l
    h_l = tanh(a_l)                 dh_l^(i) = (1 - h_l^2) * da_l^(i)   (l < L)
    v   = a_L                       tr(dv/dz) = sum_i da_L^(i)[:, i]

The D tangents ride in one (D rows, width) array, so each layer costs one more product of D times
the rows, with no autograd boxes and no transcendental function beyond the forward tanh. phi is the
field's input [z, sin(2^k pi z), cos(2^k pi z), t, sin(k pi t), cos(k pi t)] (``_velocity``; the
Fourier parts only when ``x_features`` / ``time_features`` ask for them), whose derivative in z_i is
e_i for z itself and 2^k pi cos(2^k pi z_i), -2^k pi sin(2^k pi z_i) for its features; t's parts
do not move with z.

The ODE itself is tinygen.ode.odeint on the whole batch, as in the reference (an adaptive solver
chooses one step for all rows, so the rows cannot be split into separate solves); each field call
inside it runs on blocks of rows (fast/blocks.py). Sampling needs the field only: ``_velocity``
is served by the same in-place MLP pass without tangents. Other activations than tanh decline
(``NotImplemented``) and run the reference code.
"""
import numpy as onp

from ..flows.continuous import ContinuousFlow
from ..ode import odeint
from .blocks import mlp_values, mlp_weights, row_blocks, serve_untraced

__all__ = ["field_and_trace", "solve", "solve_values", "velocity", "velocity_values"]


def _input_tangents(flow, h0, dim):
    """d h_0 / d z_i for i = 1..D, stacked: (D n, n_in), rows i n .. (i + 1) n - 1 for direction i.

    h_0 = flow._inputs(t, z) = [z, sin(2^k pi z_d), cos(2^k pi z_d), t's parts]: its z columns move
    as e_i, the sine of 2^k pi z_i as 2^k pi times its cosine, the cosine as -2^k pi times its sine
    (both read from h_0 itself); t's parts do not move with z.
    """
    n, k_x = h0.shape[0], flow.x_features
    freq = onp.pi * 2.0 ** onp.arange(k_x)  # 2^k pi, k = 0..K-1, as in nn.fourier_features
    sines, cosines = h0[:, dim:dim * (1 + k_x)], h0[:, dim * (1 + k_x):dim * (1 + 2 * k_x)]  # column d K + k
    dh0 = onp.zeros((dim, n, h0.shape[1]))
    for i in range(dim):
        dh0[i, :, i] = 1.0  # d z / d z_i = e_i
        mine = slice(i * k_x, (i + 1) * k_x)  # coordinate i's K columns in each block
        dh0[i, :, dim:dim * (1 + k_x)][:, mine] = freq * cosines[:, mine]  # d sin(w z_i) / d z_i = w cos
        dh0[i, :, dim * (1 + k_x):dim * (1 + 2 * k_x)][:, mine] = -freq * sines[:, mine]  # d cos = -w sin
    return dh0.reshape(dim * n, -1)


def field_and_trace(flow, weights, t, z):
    """(v(t, z), tr(dv/dz)) on one block of rows z (n, D), by the forward-mode pass above."""
    n, dim = z.shape
    h = flow._inputs(t, z)  # the reference's own input features (plain arrays in, plain arrays out)
    dh = _input_tangents(flow, h, dim)
    last = len(weights) - 1
    for l, (W, b) in enumerate(weights):
        a = h @ W
        a += b  # a_l = h_{l-1} W_l + b_l
        da = dh @ W  # da_l^(i) = dh_{l-1}^(i) W_l, every direction at once
        if l < last:
            h = onp.tanh(a, out=a)  # h_l = tanh(a_l)
            da.reshape(dim, n, -1)[...] *= 1.0 - h * h  # dh_l^(i) = (1 - h_l^2) * da_l^(i)
            dh = da
    da = da.reshape(dim, n, dim)
    return a, sum(da[i, :, i] for i in range(dim))  # tr = sum_i dv_i / dz_i


def _blockwise(fn, z, block=None):
    """fn(rows) on each block of rows of z (``block`` rows, default blocks.BLOCK), joined in row order."""
    parts = [fn(rows) for rows in row_blocks(z.shape[0], block)]
    return [onp.concatenate(p) for p in zip(*parts)]


def solve_values(flow, params, y, t0, t1, solver, block=None):
    """(y(t1), log|det dy(t1)/dy(t0)|): the reference's ODE for (y, Delta), d Delta/dt = -tr(dv/dy),
    with each field call on blocks of ``block`` rows; None when the activation is not tanh."""
    if flow.activation != "tanh":
        return None
    weights = mlp_weights(flow.net, params["velocity"], fold_bias=False)  # (W, b) pairs: the tangents read W

    def dynamics(t, state):
        z, _ = state
        v, trace = _blockwise(lambda rows: field_and_trace(flow, weights, t, z[rows]), z, block)
        return v, -trace  # d log p / dt = -tr(dv/dz)
    ys, delta = odeint(dynamics, (y, onp.zeros(y.shape[0])), [t0, t1], **solver)
    return ys[-1], -delta[-1]


def velocity_values(flow, params, t, x, block=None):
    """v(t, x), the field alone (sampling's ODE), on blocks of ``block`` rows."""
    weights = mlp_weights(flow.net, params["velocity"])
    t = onp.asarray(t, dtype=float)

    def rows_of(rows):
        t_rows = t[rows] if t.ndim else t  # one time per row, or one for all
        return (mlp_values(flow.net, weights, flow._inputs(t_rows, x[rows])),)
    return _blockwise(rows_of, x, block)[0]


@serve_untraced(ContinuousFlow, "_solve")
def solve(flow, params, y, t0, t1, solver):
    out = solve_values(flow, params, y, t0, t1, solver)
    return NotImplemented if out is None else out


@serve_untraced(ContinuousFlow, "_velocity")
def velocity(flow, params, t, x):
    return velocity_values(flow, params, t, x)
