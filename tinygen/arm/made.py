"""MADE: Masked Autoencoder for Distribution Estimation (Germain et al. 2015).

An autoregressive model p(x) = prod_d p(x_d | x_<d) whose D conditionals all
come out of ONE forward pass of a masked MLP (lecture, "MADE").

Degrees (the lecture's m(k)), for an ordering o = (o_1, ..., o_D) of 0..D-1:
    input x_d:            m(d) = t  where o_t = d           (its position, 1..D)
    context c_j:          m = 0     (c comes before every x_d)
    hidden unit k:        m(k) in [min of the previous layer's degrees, D - 1]
    hidden mask:          M[k', k] = 1  iff  m(k) >= m(k')
    output for x_d:       M[k', j] = 1  iff  m_out(j) = m(d) > m(k')
so hidden unit k only sees the inputs at the first m(k) positions, and the
output for x_d only sees x_<d: the autoregressive property. The context c has
degree 0, so it reaches every hidden unit and, through them, every output
(including the first in the ordering) unmasked.

Hidden degrees are drawn from ``rng`` at construction: each layer holds every
degree of its range at least once (so no conditional loses an input for lack
of a unit) and the remaining units get uniform random degrees. A layer with
fewer units than degrees to carry is refused.

Likelihood heads (lecture, "MLE with neural networks"), P raw outputs per x_d:
    "gaussian":    (mu, rho), sigma = softplus(rho),  p(x_d | x_<d) = N(x_d; mu, sigma^2)
    "bernoulli":   logit l,  p(x_d = 1 | x_<d) = sigmoid(l)
    "categorical": K logits,  p(x_d = i | x_<d) = softmax(l)_i, x_d in 0..K-1
Categorical x_d enter the network as the numbers 0..K-1.
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._deprecated import refuse_unknown, take_renamed
from .._threads import in_hot_loop
from .._validate import (as_batch, as_rng, check_binary, check_context, check_hidden, check_labels, check_option,
                         check_params, check_positive_int, check_size)
from ..distributions import Categorical
from ..nn import MLP, init_dense
from ..orders import permutation

__all__ = ["LIKELIHOODS", "MADE", "check_arm_input", "check_order", "check_values", "head_log_prob", "head_params",
           "head_sample", "made_degrees", "made_masks"]

LIKELIHOODS = ("gaussian", "bernoulli", "categorical")


def check_order(order, dim, rng=0, **renamed):
    """Ordering o (o_t = the dimension placed at position t): None (natural), "reverse",
    "random" (drawn from rng) or an explicit permutation of 0..D-1."""
    rng = take_renamed(renamed, "seed", "rng", rng, 0, "check_order")
    refuse_unknown(renamed, "check_order")
    return onp.arange(dim) if order is None else permutation(dim, order, as_rng(rng))


def made_degrees(order, hidden, rng, context_dim=0):
    """Degrees [m_in, m_1, ..., m_L] (inputs x then context, hidden layers) for an ordering."""
    dim = len(order)
    m_in = onp.empty(dim, dtype=onp.int64)
    m_in[order] = onp.arange(1, dim + 1)  # m(d) = position of x_d in the ordering
    degrees = [onp.concatenate([m_in, onp.zeros(context_dim, dtype=onp.int64)])]
    for i, size in enumerate(hidden):
        lo, hi = int(degrees[-1].min()), dim - 1
        if hi < lo:  # D = 1 without context: no hidden unit can feed an output
            degrees.append(onp.full(size, dim))
            continue
        need = onp.arange(lo, hi + 1)
        if size < need.size:
            raise ValueError(
                f"hidden: layer {i} needs at least {need.size} units to carry every degree "
                f"{lo}..{hi} (dim={dim}, context_dim={context_dim}), got {size}"
            )
        m = onp.concatenate([need, rng.integers(lo, hi + 1, size=size - need.size)])
        degrees.append(rng.permutation(m))
    return degrees


def made_masks(degrees, n_raw):
    """Hidden masks M[k', k] = [m(k) >= m(k')], output mask [m_out(j) > m(k')], direct mask."""
    dim = int(onp.sum(degrees[0] > 0))
    masks = [(m[None, :] >= prev[:, None]).astype(float) for prev, m in zip(degrees[:-1], degrees[1:])]
    m_out = onp.tile(degrees[0][:dim], n_raw)  # output j belongs to x_{j mod D}
    masks.append((m_out[None, :] > degrees[-1][:, None]).astype(float))
    direct = (m_out[None, :] > degrees[0][:, None]).astype(float)  # strictly lower triangular in o
    return masks, direct


class MADE:
    """p(x | c) = prod_t p(x_{o_t} | x_{o_1}, ..., x_{o_{t-1}}, c), all conditionals in one pass.

    dim: D. hidden: hidden layer sizes. likelihood: "gaussian", "bernoulli" or
    "categorical" (then n_classes = K). order: None (natural), "random" (drawn
    from ``rng``) or a permutation of 0..D-1. context_dim: size of c (0: p(x)).
    n_masks = E > 1: E mask sets (orderings too if order="random") precomputed
    here; ``loss`` trains one picked from its rng per call; ``log_prob`` is the
    mixture log p(x) = logsumexp_e log p_e(x) - log E. direct: add masked
    input->output weights. zero_last: start the output layer at zero (flows).
    ``outputs`` is the one network evaluation (a "pass"); ``tinygen.testing.spy.count_calls``
    counts them.
    """

    def __init__(self, dim, hidden=(64, 64), likelihood="gaussian", n_classes=None, order=None,
                 context_dim=0, rng=0, n_masks=1, direct=False, activation="relu", zero_last=False, **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "MADE")
        refuse_unknown(renamed, "MADE")
        self.dim = check_positive_int(dim, "dim")
        self.hidden = check_hidden(hidden)
        self.likelihood = check_option(likelihood, "likelihood", LIKELIHOODS)
        if likelihood == "categorical":
            self.n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
        elif n_classes is not None:
            raise ValueError(f"n_classes: only used with likelihood='categorical', got {n_classes!r}")
        else:
            self.n_classes = None
        self.n_raw = {"gaussian": 2, "bernoulli": 1, "categorical": self.n_classes}[likelihood]
        self.context_dim = check_positive_int(context_dim, "context_dim", minimum=0)
        first = self.hidden[0] if self.hidden else self.dim * self.n_raw
        check_size((self.dim + self.context_dim) * first, "context_dim", self.context_dim,
                   "the first layer's (D + context_dim) x hidden[0] weights")
        self.n_masks = check_positive_int(n_masks, "n_masks")
        self.direct = bool(direct)
        rng = as_rng(rng)
        sizes = (self.dim + self.context_dim, *self.hidden, self.dim * self.n_raw)
        self.orders, self.degrees, self.nets, self.direct_masks = [], [], [], []
        for e in range(self.n_masks):
            # order="random": a new ordering per mask set; otherwise only hidden degrees change
            o = check_order(order, self.dim, rng) if (e == 0 or isinstance(order, str)) else self.orders[0]
            degrees = made_degrees(o, self.hidden, rng, self.context_dim)
            masks, direct_mask = made_masks(degrees, self.n_raw)
            self.orders.append(o)
            self.degrees.append(degrees)
            self.nets.append(MLP(sizes, activation=activation, zero_last=zero_last, masks=masks))
            self.direct_masks.append(direct_mask)
        self.order, self.net = self.orders[0], self.nets[0]

    @property
    def masks(self):
        """The masks of the first mask set (hidden layers and output), for plotting."""
        return self.net.masks

    def init(self, rng):
        rng = as_rng(rng)
        params = {"net": self.net.init(rng)}
        if self.direct:  # zero: the direct path starts switched off
            params["direct"] = init_dense(rng, self.net.n_in, self.net.n_out, "zeros")["W"]
        return params

    # ---------------------------------------------------------------- network
    def outputs(self, params, x, context=None, mask_set=0):
        """Raw network outputs, shape (n, P, D): P numbers per x_d, each a function of x_<d and c only."""
        h = x if self.context_dim == 0 else np.concatenate([x, context], axis=1)
        out = self.nets[mask_set].apply(params["net"], h)
        if self.direct:
            out = out + np.dot(h, params["direct"] * self.direct_masks[mask_set])
        return np.reshape(out, (x.shape[0], self.n_raw, self.dim))

    def conditionals(self, params, x, context=None, mask_set=0):
        """Parameters of every p(x_d | x_<d, c) from one pass: a dict of (n, D) arrays
        (mu, sigma / logits; categorical logits are (n, D, K))."""
        x, context = self._check(x, context)
        check_params(params, self)
        return head_params(self.likelihood, self.outputs(params, x, context, mask_set))

    # ---------------------------------------------------------------- density model
    def log_prob(self, params, x, context=None):
        """log p(x | c) = sum_d log p(x_d | x_<d, c), shape (n,); a mixture over mask sets if E > 1."""
        x, context = self._check(x, context)
        check_params(params, self)
        logs = [self._log_prob_e(params, x, context, e) for e in range(self.n_masks)]
        if self.n_masks == 1:
            return logs[0]
        # log p(x) = logsumexp_e log p_e(x) - log E: an equal-weight mixture of E proper ARMs
        return F.logsumexp(np.stack(logs, axis=0), axis=0) - onp.log(self.n_masks)

    def _log_prob_e(self, params, x, context, e):
        raw = self.outputs(params, x, context, e)
        return np.sum(head_log_prob(self.likelihood, raw, x), axis=1)

    def loss(self, params, x, rng=None, context=None):
        """Mean NLL. With E > 1 mask sets and an rng: the NLL of one set drawn from rng
        (order/connectivity-agnostic training); without rng: the mixture NLL."""
        if self.n_masks == 1 or rng is None:
            return -np.mean(self.log_prob(params, x, context))
        x, context = self._check(x, context)
        check_params(params, self)
        e = int(as_rng(rng).integers(self.n_masks))
        return -np.mean(self._log_prob_e(params, x, context, e))

    @in_hot_loop  # one pass per dimension or step, each small: one BLAS thread by default (tinygen/_threads.py)
    def sample(self, params, n, rng, context=None):
        """Ancestral sampling: x_{o_1} ~ p(x_{o_1} | c), then x_{o_2} ~ p(x_{o_2} | x_{o_1}, c), ...
        D passes, each for the whole batch (a mixture draws a mask set per sample)."""
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        x = onp.zeros((n, self.dim))
        context = check_context(context, x, self.context_dim)
        check_params(params, self)
        which = rng.integers(self.n_masks, size=n) if self.n_masks > 1 else onp.zeros(n, dtype=int)
        for e in onp.unique(which):
            rows = onp.flatnonzero(which == e)
            c = None if context is None else context[rows]
            x[rows] = self._sample_e(params, len(rows), rng, c, e)
        return x

    def _sample_e(self, params, n, rng, context, e):
        x = onp.zeros((n, self.dim))
        for d in self.orders[e]:  # one pass per position t; column o_t is final afterwards
            raw = onp.asarray(self.outputs(params, x, context, e))
            x[:, d] = head_sample(self.likelihood, raw[:, :, d], rng)
        return x

    def _check(self, x, context):
        return check_arm_input(self, x, context)


def check_arm_input(model, x, context):
    """x of shape (n, D) with values the model's likelihood accepts, and its context c."""
    x = as_batch(x, "x", model.dim)
    check_values(model.likelihood, x, model.n_classes)
    return x, check_context(context, x, model.context_dim)


# -------------------------------------------------------------------- likelihood heads
def check_values(likelihood, x, n_classes=None):
    """Bernoulli x must be 0/1; categorical x integers in 0..K-1."""
    if likelihood == "bernoulli":
        check_binary(x)
    if likelihood == "categorical":
        check_labels(x, n_classes)


def head_params(likelihood, raw):
    """Raw outputs (n, P, D) -> named conditional parameters."""
    if likelihood == "gaussian":
        return {"mu": raw[:, 0], "sigma": F.softplus(raw[:, 1])}  # sigma = log(1 + e^rho) > 0
    if likelihood == "bernoulli":
        return {"logits": raw[:, 0]}
    return {"logits": np.transpose(raw, (0, 2, 1))}  # (n, D, K)


def head_log_prob(likelihood, raw, x):
    """log p(x_d | x_<d) for every d, shape (n, D)."""
    p = head_params(likelihood, raw)
    if likelihood == "gaussian":
        # log N(x_d; mu_d, sigma_d^2) from log sigma_d = log softplus(rho_d), finite where sigma_d rounds to 0
        return F.log_normal_pdf_log_scale(x, p["mu"], F.log_softplus(raw[:, 1]))
    if likelihood == "bernoulli":
        # x_d log s(l_d) + (1 - x_d) log s(-l_d)
        return x * F.log_sigmoid(p["logits"]) + (1 - x) * F.log_sigmoid(-p["logits"])
    return Categorical(p["logits"]).log_prob(x)  # log softmax(l)_{x_d}


def head_sample(likelihood, raw_d, rng):
    """One draw of x_d per row from raw outputs (n, P) of a single dimension."""
    if likelihood == "gaussian":
        return raw_d[:, 0] + F.softplus(raw_d[:, 1]) * rng.standard_normal(raw_d.shape[0])
    if likelihood == "bernoulli":
        return (rng.uniform(size=raw_d.shape[0]) < F.sigmoid(raw_d[:, 0])).astype(float)
    return Categorical(raw_d).sample(1, rng)[0].astype(float)
