"""Linear flows that mix dimensions (Glow's parts, for vectors).

Coupling and autoregressive layers leave some coordinates untouched; putting a
linear map between them lets every coordinate be transformed eventually.

    Permutation  x = P z                 log|det| = 0
    ActNorm      x = z * exp(s) + t      log|det df/dz| = sum_d s_d
    LULinear     x = W z + b, W = P L U  log|det df/dz| = sum_d log_s_d
"""
import autograd.numpy as np
import numpy as onp

from .._validate import as_batch, as_rng, check_positive_int, permutation, value_of
from .base import Compose, Flow

__all__ = ["ActNorm", "LULinear", "Permutation", "solve_triangular", "with_reversals"]

MIN_STD = 1e-6  # ActNorm: a constant input dimension gets scale 1e-6, not log(0) = -inf


class Permutation(Flow):
    """x_i = z_{pi(i)}: reorder the coordinates (structure, no params).

    A permutation matrix has |det P| = 1, so log|det| = 0 both ways.
    inverse: z = P^T x, i.e. z_{pi(i)} = x_i.
    """

    def __init__(self, dim, order="reverse", rng=None):
        self.dim = check_positive_int(dim, "dim")
        self.perm = permutation(self.dim, order, rng)
        self.inv_perm = onp.argsort(self.perm)

    def _forward(self, params, z, context):
        return z[:, self.perm], np.zeros(z.shape[0])

    def _inverse(self, params, x, context):
        return x[:, self.inv_perm], np.zeros(x.shape[0])


def with_reversals(layers):
    """Compose(layer_1, reverse, layer_2, reverse, ..., layer_K).

    A coupling or autoregressive layer leaves some coordinates (or the first
    in its ordering) less transformed; reversing the order between layers lets
    the next layer work on them.
    """
    layers = list(layers)
    stack = []
    for k, layer in enumerate(layers):
        if k > 0:
            stack.append(Permutation(layer.dim, order="reverse"))
        stack.append(layer)
    return Compose(stack)


class ActNorm(Flow):
    """x_d = z_d exp(s_d) + t_d, a per-dimension affine map with log-scale s.

    inverse: z_d = (x_d - t_d) exp(-s_d)
    log|det df/dz| = sum_d s_d, log|det dg/dx| = -sum_d s_d.
    Starts at the identity (s = t = 0); ``data_init`` then makes the data it
    receives zero-mean, unit-variance per dimension in z (Glow's initialization).
    params: {"s": (D,), "t": (D,)}
    """

    def __init__(self, dim):
        self.dim = check_positive_int(dim, "dim")

    def init(self, rng):
        return {"s": onp.zeros(self.dim), "t": onp.zeros(self.dim)}

    def data_init(self, params, x, context=None):
        """t = mean(x), s = log std(x) per dimension, so g(x) = (x - t) exp(-s) is standardized."""
        x = value_of(as_batch(x, "x", self.dim))
        if x.shape[0] < 2:
            raise ValueError(f"x: ActNorm.data_init needs at least 2 rows to estimate a variance, got {x.shape[0]}")
        t = x.mean(axis=0)
        s = onp.log(onp.maximum(x.std(axis=0), MIN_STD))
        return {"s": s, "t": t}

    def _forward(self, params, z, context):
        x = z * np.exp(params["s"]) + params["t"]                 # x = z * exp(s) + t
        return x, np.sum(params["s"]) * np.ones(z.shape[0])       # sum_d s_d

    def _inverse(self, params, x, context):
        z = (x - params["t"]) * np.exp(-params["s"])              # z = (x - t) * exp(-s)
        return z, -np.sum(params["s"]) * np.ones(x.shape[0])      # -sum_d s_d


def solve_triangular(T, y, lower):
    """Solve T v = y_i for every row y_i of y (n, D), T triangular, by substitution.

    lower: v_i = (y_i - sum_{j<i} T_ij v_j) / T_ii, for i = 1..D   (forward substitution)
    upper: v_i = (y_i - sum_{j>i} T_ij v_j) / T_ii, for i = D..1   (back substitution)
    O(D^2) per sample instead of O(D^3) for a general solve. Built column by
    column with concatenation (no assignment into arrays), so autograd can
    differentiate it.
    """
    D = y.shape[1]
    cols = {}
    for i in (range(D) if lower else reversed(range(D))):
        done = sorted(cols)  # indices j already solved: j < i (lower) or j > i (upper)
        acc = y[:, i]
        if done:
            V = np.stack([cols[j] for j in done], axis=1)
            acc = acc - np.dot(V, T[i, done])
        cols[i] = acc / T[i, i]
    return np.stack([cols[i] for i in range(D)], axis=1)


class LULinear(Flow):
    """x = W z + b with W = P L U, an invertible D x D matrix cheap to invert and to take |det| of.

    P: a fixed random permutation (structure); L: unit lower triangular
    (ones on the diagonal); U: upper triangular with diagonal exp(log_s) > 0.
    det W = det P * 1 * prod_d exp(log_s_d), so log|det W| = sum_d log_s_d:
    log|det df/dz| = sum_d log_s_d, log|det dg/dx| = -sum_d log_s_d.
    inverse: z = U^-1 L^-1 P^T (x - b), two triangular solves, O(D^2) per sample.
    params: {"L": (D, D), "U": (D, D), "log_s": (D,), "b": (D,)}; only the strictly
    lower part of "L" and strictly upper part of "U" are used.
    """

    def __init__(self, dim, rng=0):
        self.dim = check_positive_int(dim, "dim")
        self.perm = as_rng(rng).permutation(self.dim)
        self.P = onp.eye(self.dim)[self.perm]        # P v = v[perm]
        self.inv_perm = onp.argsort(self.perm)       # P^T v = v[inv_perm]
        self.lower = onp.tril(onp.ones((dim, dim)), -1)  # masks: structure, not params
        self.upper = onp.triu(onp.ones((dim, dim)), 1)

    def init(self, rng, scale=0.1):
        """L, U near the identity, log_s, b near 0: W starts near the permutation P (orthogonal)."""
        rng = as_rng(rng)
        D = self.dim
        return {
            "L": scale * rng.standard_normal((D, D)),
            "U": scale * rng.standard_normal((D, D)),
            "log_s": scale * rng.standard_normal(D),
            "b": scale * rng.standard_normal(D),
        }

    def factors(self, params):
        """(L, U): L = I + strict_lower(L_raw), U = strict_upper(U_raw) + diag(exp(log_s))."""
        L = params["L"] * self.lower + onp.eye(self.dim)
        U = params["U"] * self.upper + np.diag(np.exp(params["log_s"]))
        return L, U

    def weight(self, params):
        """W = P L U."""
        L, U = self.factors(params)
        return np.dot(self.P, np.dot(L, U))

    def _forward(self, params, z, context):
        x = np.dot(z, self.weight(params).T) + params["b"]   # x_i = W z_i + b (rows)
        return x, np.sum(params["log_s"]) * np.ones(z.shape[0])

    def _inverse(self, params, x, context):
        L, U = self.factors(params)
        y = (x - params["b"])[:, self.inv_perm]              # P^T (x - b)
        z = solve_triangular(U, solve_triangular(L, y, lower=True), lower=False)  # U^-1 L^-1 (.)
        return z, -np.sum(params["log_s"]) * np.ones(x.shape[0])
