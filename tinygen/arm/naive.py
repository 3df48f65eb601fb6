"""The naive autoregressive model: one network per conditional, D passes both ways.

    p(x) = prod_{t=1}^D p(x_{o_t} | x_{o_1}, ..., x_{o_{t-1}})     (product rule)

Network t takes exactly the t - 1 coordinates before position t in the
ordering o (the first takes a single constant 0: it only learns p(x_{o_1}))
and emits the parameters of p(x_{o_t} | x_<t), with the same likelihood heads
as MADE. Evaluating p(x) needs D forward passes and so does sampling: the
lecture's ":-(" (``tinygen.testing.spy.count_calls(arm, "raw_t")`` counts them).

``sequential_log_prob`` evaluates a MADE the same naive way, one conditional per
pass, hiding every coordinate at or after position t: if MADE really is
autoregressive, this equals its one-pass ``log_prob``.
"""
import autograd.numpy as np
import numpy as onp

from .._deprecated import refuse_unknown, take_renamed
from .._threads import in_hot_loop
from .._validate import as_rng, check_context, check_hidden, check_option, check_params, check_positive_int
from ..nn import MLP
from .made import LIKELIHOODS, check_arm_input, check_order, head_log_prob, head_sample

__all__ = ["NaiveARM", "sequential_log_prob"]


class NaiveARM:
    """D separate MLPs, network t: (x_{o_1..o_{t-1}}, c) -> parameters of p(x_{o_t} | ...).

    Same contract as ``MADE``: init, log_prob, sample, loss, conditionals.
    """

    def __init__(self, dim, hidden=(32,), likelihood="gaussian", n_classes=None, order=None,
                 context_dim=0, rng=0, activation="relu", **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "NaiveARM")
        refuse_unknown(renamed, "NaiveARM")
        self.dim = check_positive_int(dim, "dim")
        self.likelihood = check_option(likelihood, "likelihood", LIKELIHOODS)
        self.n_classes = check_positive_int(n_classes, "n_classes", 2) if likelihood == "categorical" else None
        self.n_raw = {"gaussian": 2, "bernoulli": 1, "categorical": self.n_classes}[likelihood]
        self.context_dim = check_positive_int(context_dim, "context_dim", minimum=0)
        self.order = check_order(order, self.dim, rng)
        self.position = onp.argsort(self.order)  # position[d] = t with o_t = d
        hidden = check_hidden(hidden)
        self.nets = [MLP((max(t, 1) + self.context_dim, *hidden, self.n_raw), activation=activation)
                     for t in range(self.dim)]

    def init(self, rng):
        rng = as_rng(rng)
        return [net.init(rng) for net in self.nets]

    def raw_t(self, params, x, context, t):
        """Raw outputs (n, P) of network t, which reads x_{o_1}, ..., x_{o_{t-1}} (and c): one pass."""
        h = x[:, self.order[:t]] if t > 0 else np.zeros((x.shape[0], 1))
        if self.context_dim:
            h = np.concatenate([h, context], axis=1)
        return self.nets[t].apply(params[t], h)

    def outputs(self, params, x, context=None):
        """Raw outputs (n, P, D) like ``MADE.outputs``, assembled from D passes."""
        check_params(params, self)
        raw = [self.raw_t(params, x, context, t) for t in range(self.dim)]
        return np.stack([raw[t] for t in self.position], axis=2)  # back to coordinate order

    def log_prob(self, params, x, context=None):
        """log p(x | c) = sum_t log p(x_{o_t} | x_{o_<t}, c), shape (n,), in D passes."""
        x, context = self._check(x, context)
        return np.sum(head_log_prob(self.likelihood, self.outputs(params, x, context), x), axis=1)

    def loss(self, params, x, rng=None, context=None):
        return -np.mean(self.log_prob(params, x, context))

    @in_hot_loop  # one pass per dimension or step, each small: one BLAS thread by default (tinygen/_threads.py)
    def sample(self, params, n, rng, context=None):
        """x_{o_1} ~ p(x_{o_1}), x_{o_2} ~ p(x_{o_2} | x_{o_1}), ...: D passes for the whole batch."""
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        x = onp.zeros((n, self.dim))
        context = check_context(context, x, self.context_dim)
        check_params(params, self)
        for t, d in enumerate(self.order):
            x[:, d] = head_sample(self.likelihood, onp.asarray(self.raw_t(params, x, context, t)), rng)
        return x

    def _check(self, x, context):
        return check_arm_input(self, x, context)


def sequential_log_prob(made, params, x, context=None, mask_set=0):
    """log p(x) of a MADE evaluated the naive way: D passes, pass t sees only x_{o_<t}.

    Pass t feeds x with every coordinate at position >= t set to 0 and keeps
    only the conditional of x_{o_t}. Equal to ``made.log_prob`` exactly when the
    output for x_{o_t} does not read x_{o_t}, x_{o_{t+1}}, ... (autoregressive).
    """
    x, context = made._check(x, context)
    check_params(params, made)
    order = made.orders[mask_set]
    raw = []
    for t, d in enumerate(order):
        visible = onp.isin(onp.arange(made.dim), order[:t]).astype(float)  # positions < t
        raw.append(made.outputs(params, x * visible, context, mask_set)[:, :, d])
    raw = np.stack([raw[t] for t in onp.argsort(order)], axis=2)
    return np.sum(head_log_prob(made.likelihood, raw, x), axis=1)
