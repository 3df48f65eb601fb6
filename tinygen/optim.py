"""Optimizers: one step theta <- theta - eta * (a direction built from grad_theta L).

SGD and Adam work on any params pytree by flattening it into one vector theta
(``tinygen.tree.flatten``): one array operation per step instead of one per leaf.
The training loop that calls them, ``fit`` and ``minimize``, lives in
``tinygen/train.py`` and is importable from here as before. The errors it
raises are defined here, beside the optimizers they protect.
"""
import warnings

import numpy as onp
from autograd import value_and_grad  # noqa: F401  (reached as tinygen.optim.value_and_grad before the split)

from . import tree
from ._validate import check_fraction, check_option, check_positive

__all__ = ["Adam", "LossDivergedError", "NonFiniteLossError", "OPTIMIZERS", "SGD", "fit", "make_optimizer", "minimize",
           "tree_flatten", "tree_views"]

MAX_GROWTH = 1e8  # a loss this many times larger than where it started has diverged (see minimize)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss or gradient.

    ``params`` holds the last parameters whose loss and gradient were finite,
    ``history`` the training record up to that step.
    """

    def __init__(self, message, params, history):
        super().__init__(message)
        self.params = params
        self.history = history


class LossDivergedError(NonFiniteLossError):
    """The loss stayed finite but grew by many orders of magnitude (see ``minimize``'s
    ``max_growth``): the steps overshoot. ``params`` and ``history`` as for
    ``NonFiniteLossError``, of which this is a kind."""


class SGD:
    """theta <- theta - eta * v, with momentum v <- beta v + grad (beta = 0: plain gradient descent)."""

    def __init__(self, lr=1e-2, momentum=0.0):
        self.lr = check_positive(lr, "lr")
        self.momentum = check_fraction(momentum, "momentum")

    def init(self, params):
        return {"v": onp.zeros_like(tree.flatten(params))}

    def update(self, params, grads, state):
        flat, g = tree.flatten(params), tree.flatten(grads)
        v = self.momentum * state["v"] + g
        return _fresh(params, flat - self.lr * v), {"v": v}


class Adam:
    """Adam (Kingma & Ba 2015): per-coordinate steps scaled by running gradient moments.

    m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
    theta <- theta - eta * m_hat / (sqrt(v_hat) + eps), with bias-corrected m_hat, v_hat.
    """

    def __init__(self, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr = check_positive(lr, "lr")
        self.b1, self.b2 = check_fraction(b1, "b1"), check_fraction(b2, "b2")
        self.eps = check_positive(eps, "eps")

    def init(self, params):
        flat = tree.flatten(params)
        return {"m": onp.zeros_like(flat), "v": onp.zeros_like(flat), "t": 0}

    def update(self, params, grads, state):
        """One step: (new params, new state); params and state are left as they were."""
        flat = tree.flatten(params)  # a fresh vector: the step below writes into it
        new = self.update_in_place(flat, tree.flatten(grads),
                                   {"m": state["m"].copy(), "v": state["v"].copy(), "t": state["t"]})
        return _fresh(params, flat), {"m": new["m"], "v": new["v"], "t": new["t"]}

    def update_in_place(self, flat, g, state):
        """The step itself, for the training loop, which owns theta as one vector ``flat`` and owns
        ``state``: theta, m and v are overwritten, and the new state is returned (``update`` runs it
        on copies). A new array per operation costs more than the operation itself at these sizes
        (a step of MADE's 4612 params: about 130 us against 45 us here), so every intermediate goes
        to one of two scratch vectors kept in the state.
        """
        m, v = state["m"], state["v"]
        a, b = state.get("scratch") or (onp.empty_like(flat), onp.empty_like(flat))
        t = state["t"] + 1
        m *= self.b1  # m <- b1 m + (1 - b1) g
        m += onp.multiply(1 - self.b1, g, out=a)
        v *= self.b2  # v <- b2 v + (1 - b2) g^2, computed as ((1 - b2) g) g
        onp.multiply(1 - self.b2, g, out=a)
        v += onp.multiply(a, g, out=a)
        onp.divide(m, 1 - self.b1 ** t, out=a)  # m_hat
        a *= self.lr  # eta m_hat
        onp.divide(v, 1 - self.b2 ** t, out=b)  # v_hat
        onp.sqrt(b, out=b)
        b += self.eps
        a /= b  # eta m_hat / (sqrt(v_hat) + eps)
        flat -= a
        return {"m": m, "v": v, "t": t, "scratch": (a, b)}


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def make_optimizer(optimizer, lr):
    """An optimizer object: a new one for "adam" / "sgd" at rate lr, or the user's own object as it is."""
    if isinstance(optimizer, str):
        check_option(optimizer, "optimizer", OPTIMIZERS)
        return OPTIMIZERS[optimizer](lr=lr)
    if hasattr(optimizer, "init") and hasattr(optimizer, "update"):
        return optimizer
    raise TypeError(f"optimizer: expected 'adam', 'sgd' or an optimizer object, got {type(optimizer).__name__}")


def _fresh(template, flat):
    """An independent tree like ``template`` holding the values of ``flat``."""
    return tree.unflatten(template, onp.array(flat, dtype=onp.float64))


def tree_flatten(tree_):
    """Deprecated: use ``tinygen.tree.flatten`` (same order, same vector)."""
    warnings.warn("tinygen.optim.tree_flatten is deprecated; use tinygen.tree.flatten", DeprecationWarning,
                  stacklevel=2)
    return tree.flatten(tree_)


def tree_views(template, flat):
    """Deprecated: use ``tinygen.tree.unflatten`` (leaves are views into flat, as before)."""
    warnings.warn("tinygen.optim.tree_views is deprecated; use tinygen.tree.unflatten", DeprecationWarning,
                  stacklevel=2)
    return tree.unflatten(template, flat)


# The training loop lives beside the optimizers; these names stay importable from here.
from .train import fit, minimize  # noqa: E402  (after the optimizers, which train.py imports)
