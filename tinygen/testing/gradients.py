"""Does every parameter reach the output? Gradient reachability for check_flow, decided honestly.

A trainable leaf theta that no output depends on cannot learn. We ask autograd for the gradient
of a random linear function of everything a layer computes,

    L(params) = sum w_x * f(v) + sum a_f * log|det df/dz|(v) + sum w_z * g(v) + sum a_g * log|det dg/dx|(v),

with weights w_x, a_f, w_z, a_g drawn independently: at the identity f and g move in opposite
directions, and one shared weight would cancel their gradients exactly. A leaf whose dL/dtheta is
nonzero (and finite) somewhere reaches the output. A gradient can also vanish at one point of
parameter space for a connected leaf: behind a zero-initialized last layer every earlier weight
gets exactly 0. Such a leaf is decided again on perturbed copies of the params; only a leaf that
gets exactly 0 there too fails, and one no copy could evaluate is reported undecided.
"""
import warnings

import autograd
import autograd.numpy as np
import numpy as onp

from .. import tree
from .._validate import as_rng

__all__ = ["PERTURB_SCALE", "gradient_reach", "leaves", "perturb"]

PERTURB_SCALE = 0.5


def perturb(params, rng=0, scale=PERTURB_SCALE):
    """A copy of a params pytree with N(0, s^2) noise added to every float leaf.

    s = scale for vectors and scalars, scale / sqrt(rows) for a weight matrix (so a
    layer's outputs move by O(scale) whatever its width). Untrained layers start
    near the identity (zero last layers, ActNorm's s = t = 0), where a wrong
    log-det (0 instead of sum alpha) would go unnoticed: perturbing moves them away.
    """
    rng = as_rng(rng)

    def noisy(leaf):
        a = onp.asarray(leaf)
        if a.dtype.kind != "f":
            return leaf  # integer structure (if any) is not trainable
        s = scale / onp.sqrt(a.shape[0]) if a.ndim == 2 else scale
        return a + s * rng.standard_normal(a.shape)

    return tree.map(noisy, params)  # draws in tinygen.tree's visiting order


def leaves(params, path="params"):
    """[(path, leaf)] for the float leaves of a pytree, with readable paths like `params[0]['W']`."""
    return [(p, leaf) for p, leaf in tree.leaves_with_paths(params, path) if onp.asarray(leaf).dtype.kind == "f"]


N_COPIES = 3  # perturbed copies tried for a leaf whose gradient is exactly 0 at the given params


def _gradient(flow, params, v, c, rng):
    """[dL/dtheta] for the float leaves of params, L as in the module docstring."""
    w_x, w_z = rng.standard_normal(v.shape), rng.standard_normal(v.shape)
    a_f, a_g = rng.standard_normal(v.shape[0]), rng.standard_normal(v.shape[0])

    def objective(p):
        x, ld_f = flow.forward(p, v, context=c)
        z, ld_g = flow.inverse(p, v, context=c)
        return np.sum(w_x * x) + np.sum(a_f * ld_f) + np.sum(w_z * z) + np.sum(a_g * ld_g)

    with warnings.catch_warnings():  # a leaf the output ignores makes autograd warn; we report it
        warnings.simplefilter("ignore")
        return [onp.asarray(g) for _, g in leaves(autograd.grad(objective)(params))]


def gradient_reach(report, flow, params, v, c, rng):
    """Add the row "every parameter gets a gradient" to report (see the module docstring).

    At the given params: a non-finite gradient fails, a nonzero one passes. A leaf at exactly 0
    is retried on N_COPIES perturbed copies: nonzero on one passes, 0 on every copy that could be
    evaluated fails, and no copy evaluated (the layer raised or overflowed) is undecided.
    """
    named = [(path, leaf) for path, leaf in leaves(params) if onp.size(leaf)]  # an empty leaf has nothing to reach
    if not named:
        report.add("every parameter gets a gradient (no parameters)", 0, 0)
        return
    keep = [onp.size(leaf) > 0 for _, leaf in leaves(params)]
    grads = [g for g, k in zip(_gradient(flow, params, v, c, rng), keep) if k]
    label = f"every parameter gets a gradient ({len(named)} leaves)" if len(named) > 1 else \
        "every parameter gets a gradient (1 leaf)"
    bad = [f"{path} (shape {g.shape}): non-finite at the given params"
           for (path, _), g in zip(named, grads) if not onp.all(onp.isfinite(g))]
    zero = [i for i, g in enumerate(grads) if onp.all(g == 0)]
    reached, tried, why = set(), {i: 0 for i in zero}, ""
    for _ in range(N_COPIES if zero else 0):
        try:
            with onp.errstate(all="ignore"):
                moved = [g for g, keep_ in zip(_gradient(flow, perturb(params, rng), v, c, rng), keep) if keep_]
        except (ValueError, ArithmeticError) as err:  # the layer refuses these params: this copy says nothing
            why = f"{type(err).__name__}: {err}"
            continue
        for i in zero:
            if onp.all(onp.isfinite(moved[i])):
                tried[i] += 1
                if onp.any(moved[i] != 0):
                    reached.add(i)
        if len(reached) == len(zero):
            break
    undecided = [named[i][0] for i in zero if i not in reached and not tried[i]]
    bad += [f"{named[i][0]} (shape {grads[i].shape}): zero at the given params and on {tried[i]} perturbed "
            f"cop{'y' if tried[i] == 1 else 'ies'}" for i in zero if i not in reached and tried[i]]
    if reached:
        report.notes.append(f"gradients: {len(reached)} of {len(named)} leaves were exactly 0 at the given params "
                            f"(a zero last layer, the identity) and were decided on perturbed copies")
    if bad or not undecided:
        report.add(label, len(bad), 0, where="no gradient reaches " + ", ".join(bad))
    else:
        report.add(label, len(undecided), 0, decided=False,
                   where=f"could not decide {', '.join(undecided)}: 0 at the given params and no perturbed copy "
                         f"could be evaluated ({why or 'non-finite gradients'})")
