"""Sequences with a known answer: a stationary order-k Markov source, and first names.

``MarkovSource`` draws integer sequences x_1, ..., x_T over V symbols from an
order-k Markov chain,

    p(x_1, ..., x_T) = pi(x_1, ..., x_k) * prod_{t > k} P(x_t | x_{t-k}, ..., x_{t-1}),

started in its stationary distribution pi over k-tuples, so the process is
stationary: every window of k symbols has the law pi. Everything a sequence
model is scored against is exact:

    entropy rate  H_rate = - sum_s pi(s) sum_c P(c | s) log P(c | s)   (nats / symbol)
    H(x_1..x_T)   = H(pi's first min(T, k) symbols) + max(T - k, 0) H_rate

The first k symbols carry the marginal entropy of pi, not k H_rate, so a
model's gap is measured per sequence and reported per symbol:

    gap = ( E[-log p_model(x_1..x_T)] - H(x_1..x_T) ) / T  =  KL(p || p_model) / T  >= 0.

``first_names`` reads the US census first-name lists shipped by the small
package ``names`` (imported only when called) as fixed-length sequences over
27 symbols: "." (end / padding) then "a".."z".
"""
import os
import warnings

import numpy as onp

from .._deprecated import refuse_unknown, take_renamed
from .._validate import as_batch, as_rng, check_finite_number, check_positive, check_positive_int, check_size

__all__ = ["ALPHABET", "MarkovSource", "decode", "encode", "first_names"]


class MarkovSource:
    """A stationary order-k Markov chain over V symbols with a fixed, seeded transition table.

    Defaults: V = 4 symbols, order k = 2, each row P(. | s) of the V^k x V
    table drawn from a Dirichlet(alpha = 0.5) with rng 0 (every entry > 0, so the
    chain is irreducible and aperiodic and pi is unique). A smaller alpha gives
    more predictable sequences (a lower entropy rate).

    ``sample(n, rng, T=T)`` draws n sequences of length T; T is a keyword because
    one source serves every length (its exact entropy depends on T too).
    """

    def __init__(self, vocab_size=4, order=2, alpha=0.5, rng=0, **renamed):
        rng = take_renamed(renamed, "seed", "rng", rng, 0, "MarkovSource")
        refuse_unknown(renamed, "MarkovSource")
        self.vocab_size = check_positive_int(vocab_size, "vocab_size", minimum=2)
        self.order = check_positive_int(order, "order")
        self.alpha = check_positive(alpha, "alpha")
        V, k = self.vocab_size, self.order
        rng = as_rng(rng)
        # sizes before allocating: the V^k x V table, and the V^k x V^k chain whose left eigenvector is pi
        check_size(V ** k * V, "vocab_size", V, f"the V^k x V transition table (order k = {k})")
        check_size(V ** k * V ** k, "order", k, f"the V^k x V^k state chain (V = {V})")
        # transition[s, c] = P(x_t = c | (x_{t-k}, ..., x_{t-1}) = s), s a k-tuple read base V
        self.transition = rng.dirichlet(onp.full(V, self.alpha), size=V ** k)
        if not onp.all(onp.isfinite(self.transition)):  # alpha so small that every gamma draw underflows
            raise ValueError(f"alpha: expected a concentration whose Dirichlet draws are finite, got {alpha}")
        self.transition = onp.maximum(self.transition, 1e-12)  # a Dirichlet draw can underflow to 0
        self.transition /= self.transition.sum(axis=1, keepdims=True)
        self.stationary = self._stationary()

    def _next_state(self):
        """s' = (s_2, ..., s_k, c): the state after emitting c in state s, as an int."""
        V = self.vocab_size
        s = onp.arange(V ** self.order)[:, None]
        return (s * V) % (V ** self.order) + onp.arange(V)[None, :]

    def _stationary(self):
        """pi over the V^k states: the left eigenvector of the state chain for eigenvalue 1."""
        n = self.vocab_size ** self.order
        Q = onp.zeros((n, n))
        onp.add.at(Q, (onp.repeat(onp.arange(n), self.vocab_size), self._next_state().ravel()),
                   self.transition.ravel())
        # pi Q = pi, sum pi = 1: solve (Q^T - I) pi = 0 with one equation replaced by the sum
        A = Q.T - onp.eye(n)
        A[-1] = 1.0
        b = onp.zeros(n)
        b[-1] = 1.0
        pi = onp.linalg.solve(A, b)
        return onp.maximum(pi, 0.0) / onp.maximum(pi, 0.0).sum()

    # ---------------------------------------------------------------- exact quantities
    def entropy_rate(self):
        """H_rate = - sum_s pi(s) sum_c P(c | s) log P(c | s), nats per symbol."""
        P = self.transition
        return float(-onp.sum(self.stationary[:, None] * P * onp.log(P)))

    def _prefix_marginal(self, m):
        """The law of the first m <= k symbols: pi summed over the last k - m symbols, shape (V^m,)."""
        V, k = self.vocab_size, self.order
        return self.stationary.reshape((V,) * k).sum(axis=tuple(range(m, k))).ravel()

    def entropy(self, T):
        """H(x_1, ..., x_T) = H(first min(T, k) symbols) + max(T - k, 0) H_rate, nats per sequence."""
        T = check_positive_int(T, "T")
        p = self._prefix_marginal(min(T, self.order))
        p = p[p > 0]
        return float(-onp.sum(p * onp.log(p)) + max(T - self.order, 0) * self.entropy_rate())

    def gap(self, nll, T):
        """(NLL per sequence - H(x_1..x_T)) / T: a model's excess nats per symbol, KL / T."""
        return (check_finite_number(nll, "nll") - self.entropy(T)) / check_positive_int(T, "T")

    def log_prob(self, x):
        """log p(x_1..x_T) = log pi(x_1..x_m) + sum_{t > k} log P(x_t | x_{t-k..t-1}), shape (n,)."""
        x = self._check(x)
        V, k = self.vocab_size, self.order
        n, T = x.shape
        m = min(T, k)
        first = onp.zeros(n, dtype=onp.int64)
        for t in range(m):
            first = first * V + x[:, t]  # the first m symbols as one base-V number
        log_p = onp.log(self._prefix_marginal(m))[first]
        for t in range(k, T):
            s = onp.zeros(n, dtype=onp.int64)
            for j in range(t - k, t):
                s = s * V + x[:, j]
            log_p = log_p + onp.log(self.transition[s, x[:, t]])
        return log_p

    def sample(self, n, rng, *old_order, T=None):
        """n sequences of length T, int array (n, T): (x_1..x_k) ~ pi, then x_t ~ P(. | x_{t-k..t-1}).

        The old order ``sample(n, T, rng)`` (three positional arguments) still works and warns.
        """
        if old_order:
            if len(old_order) > 1 or T is not None:
                raise TypeError(f"T: expected sample(n, rng, T=T), got {2 + len(old_order)} positional arguments"
                                + (" and T=" if T is not None else ""))
            warnings.warn("MarkovSource.sample(n, T, rng) is deprecated, call sample(n, rng, T=T)",
                          DeprecationWarning, stacklevel=2)
            T, rng = rng, old_order[0]
        n = check_positive_int(n, "n")
        T = check_positive_int(T, "T")
        check_size(n * T, *(("T", T) if T > n else ("n", n)), f"{n} sequences of length {T}")
        check_size(n * self.vocab_size ** self.order, "n", n, "the n x V^k table of first-state probabilities")
        rng = as_rng(rng)
        V, k = self.vocab_size, self.order
        state = _draw(self.stationary[None, :].repeat(n, axis=0), rng)  # (x_1..x_k) ~ pi
        digits = [(state // V ** (k - 1 - j)) % V for j in range(k)]  # its k symbols, oldest first
        nxt = self._next_state()
        for _ in range(k, T):
            c = _draw(self.transition[state], rng)
            digits.append(c)
            state = nxt[state, c]
        return onp.stack(digits[:T], axis=1).astype(onp.int64)

    def _check(self, x):
        x = as_batch(x, "x")
        if not onp.all(x == onp.round(x)) or x.min() < 0 or x.max() >= self.vocab_size:
            raise ValueError(f"x: expected integer symbols in 0..{self.vocab_size - 1}, "
                             f"got values in [{x.min()}, {x.max()}]")
        return x.astype(onp.int64)


def _draw(probs, rng):
    """One category per row of probs (n, K) by the inverse CDF: the first k with u < cumsum p_k."""
    u = rng.uniform(size=(probs.shape[0], 1))
    return onp.minimum(onp.sum(u >= onp.cumsum(probs, axis=1), axis=1), probs.shape[1] - 1)


# -------------------------------------------------------------------- text: first names
ALPHABET = ".abcdefghijklmnopqrstuvwxyz"  # symbol 0 = "." ends a name and pads it


def first_names(max_len=8):
    """The distinct US census first names of at most ``max_len`` letters, as int sequences.

    Returns an array (n, max_len + 1): each name's letters as 1..26, then "." (0)
    up to the end, so every name is followed by at least one end symbol. Needs
    the package ``names`` (``pip install names``), which ships the lists.
    """
    max_len = check_positive_int(max_len, "max_len")
    try:
        import names
    except ImportError as err:
        raise ImportError("first_names needs the package `names`, which ships the name lists; "
                          "install it with `pip install names`") from err
    folder = os.path.dirname(names.__file__)
    words = set()
    for fname in ("dist.female.first", "dist.male.first"):
        with open(os.path.join(folder, fname)) as f:
            words.update(line.split()[0].lower() for line in f if line.strip())
    words = sorted(w for w in words if len(w) <= max_len and set(w) <= set(ALPHABET[1:]))
    return encode(words, max_len + 1)


def encode(words, T):
    """Strings -> int array (n, T) over ``ALPHABET``, padded with "." (0)."""
    T = check_positive_int(T, "T")
    if isinstance(words, (str, bytes)) or not isinstance(words, (list, tuple)):
        raise TypeError(f"words: expected a list of strings, got {type(words).__name__}")
    for w in words:
        if not isinstance(w, str):
            raise TypeError(f"words: expected a list of strings, got an entry of type {type(w).__name__}")
    check_size(len(words) * T, "T", T, f"{len(words)} sequences of length T")
    out = onp.zeros((len(words), T), dtype=onp.int64)
    for i, w in enumerate(words):
        if len(w) > T or not set(w) <= set(ALPHABET):
            raise ValueError(f"words: expected strings of at most {T} symbols from {ALPHABET!r}, got {w!r}")
        out[i, :len(w)] = [ALPHABET.index(ch) for ch in w]
    return out


def decode(x):
    """Int sequences (n, T) -> strings, cut at the first "."."""
    x = as_batch(x, "x")
    if not onp.all(x == onp.round(x)) or x.min() < 0 or x.max() >= len(ALPHABET):
        raise ValueError(f"x: expected integer symbols in 0..{len(ALPHABET) - 1}, got values in [{x.min()}, {x.max()}]")
    x = x.astype(onp.int64)
    return ["".join(ALPHABET[c] for c in row).split(".")[0] for row in x]
