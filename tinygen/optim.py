"""Gradient-based training: theta <- theta - eta * grad_theta (1/n) sum_i -log p_theta(x_i | c_i).

Optimizers work on any params pytree by flattening it into one vector (one
array operation per step instead of one per leaf). ``fit`` draws minibatches
from ``rng``, differentiates ``model.loss`` with autograd, reports progress,
and stops with ``NonFiniteLossError`` (holding the last finite params) as
soon as the loss or its gradient stops being finite, a check inside the model
finds a NaN, or the loss diverges (``minimize`` states the rule).
"""
import sys
import time

import numpy as onp
from autograd import value_and_grad

from ._threads import in_hot_loop
from ._validate import (NonFiniteError, as_examples, as_rng, as_rows_like, check_callable, check_finite,
                        check_fraction, check_option, check_positive, check_positive_int, check_real, check_tree,
                        param_shapes)

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
        return {"v": onp.zeros_like(tree_flatten(params))}

    def update(self, params, grads, state):
        flat, g = tree_flatten(params), tree_flatten(grads)
        v = self.momentum * state["v"] + g
        return _copy_tree(params, flat - self.lr * v), {"v": v}


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
        flat = tree_flatten(params)
        return {"m": onp.zeros_like(flat), "v": onp.zeros_like(flat), "t": 0}

    def update(self, params, grads, state):
        flat, g = tree_flatten(params), tree_flatten(grads)
        t = state["t"] + 1
        m = self.b1 * state["m"] + (1 - self.b1) * g
        v = self.b2 * state["v"] + (1 - self.b2) * g * g
        m_hat = m / (1 - self.b1 ** t)
        v_hat = v / (1 - self.b2 ** t)
        return _copy_tree(params, flat - self.lr * m_hat / (onp.sqrt(v_hat) + self.eps)), {"m": m, "v": v, "t": t}


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def _loss_call(model, params, x, rng, context):
    if context is None:
        return model.loss(params, x, rng)
    return model.loss(params, x, rng, context=context)


def tree_flatten(tree):
    """All leaves of a pytree in one float64 vector (dicts in sorted key order, lists in order)."""
    leaves = []

    def walk(t):
        if isinstance(t, dict):
            for k in sorted(t):
                walk(t[k])
        elif isinstance(t, (list, tuple)):
            for v in t:
                walk(v)
        else:
            leaves.append(onp.ravel(t))

    walk(tree)
    return onp.concatenate(leaves).astype(onp.float64) if leaves else onp.zeros(0)


def tree_views(template, flat):
    """A pytree shaped like ``template`` whose leaves are views into ``flat`` (``tree_flatten``'s order)."""
    offset = 0

    def build(t):
        nonlocal offset
        if isinstance(t, dict):
            built = {k: build(t[k]) for k in sorted(t)}
            return {k: built[k] for k in t}  # keep the user's key order
        if isinstance(t, (list, tuple)):
            return type(t)(build(v) for v in t)
        size = onp.size(t)
        view = flat[offset:offset + size].reshape(onp.shape(t))
        offset += size
        return view

    return build(template)


def _copy_tree(template, flat):
    return tree_views(template, flat.copy())


def _make_optimizer(optimizer, lr):
    if isinstance(optimizer, str):
        check_option(optimizer, "optimizer", OPTIMIZERS)
        return OPTIMIZERS[optimizer](lr=lr)
    if hasattr(optimizer, "init") and hasattr(optimizer, "update"):
        return optimizer
    raise TypeError(f"optimizer: expected 'adam', 'sgd' or an optimizer object, got {type(optimizer).__name__}")


@in_hot_loop  # one BLAS thread by default: see tinygen/_threads.py
def minimize(objective, params, steps=1000, lr=1e-3, rng=0, optimizer="adam", lr_schedule="cosine",
             evaluate=None, eval_every=None, log_every=None, progress=True, callback=None,
             max_growth=MAX_GROWTH):
    """The training loop itself: theta <- update(theta, grad_theta objective(theta, rng)), ``steps`` times.

    objective(params, rng) -> scalar: the loss of one step; it draws whatever it needs
        (a minibatch for ``fit``, fresh eps ~ N(0, I) for reverse-KL fitting) from rng.
    evaluate(params) -> float: an optional held-out score, every ``eval_every`` steps.
    callback(step, params, loss): called after every step with a copy of the params
        (the optimizer never overwrites it, so a callback may keep it).
    The other options are ``fit``'s. Returns (params, history) like ``fit``.

    Faults. Training stops with ``NonFiniteLossError`` (``.params`` = the last params
    whose loss and gradient were finite, ``.history`` = the record so far) when
      - the loss or its gradient is NaN or inf, or
      - a check inside the model raises ``NonFiniteError`` during a step (a latent
        z = g(x) that overflowed, a NaN scale): the data were finite, so the
        params went bad.
    Divergence rule: with L_1 the first loss, the run stops with ``LossDivergedError``
    (a ``NonFiniteLossError``) as soon as |L_t| > max_growth * max(1, |L_1|), i.e. the
    loss grew by about log10(max_growth) = 8 orders of magnitude (max_growth=None: no limit).
    Any other exception (a wrong shape) propagates unchanged.
    """
    steps = check_positive_int(steps, "steps")
    rng = as_rng(rng)
    opt = _make_optimizer(optimizer, lr)
    check_option(lr_schedule, "lr_schedule", ("constant", "cosine"))
    if lr_schedule == "cosine" and not hasattr(opt, "lr"):
        raise TypeError("optimizer: a cosine lr_schedule needs an optimizer with an lr attribute")
    base_lr = getattr(opt, "lr", None)
    log_every = max(1, steps // 10) if log_every is None else check_positive_int(log_every, "log_every")
    eval_every = log_every if eval_every is None else check_positive_int(eval_every, "eval_every")
    if max_growth is not None:
        max_growth = check_positive(max_growth, "max_growth")
    check_callable(objective, "objective", "objective(params, rng) -> scalar loss")
    if callback is not None:
        check_callable(callback, "callback", "callback(step, params, loss)")
    if evaluate is not None:
        check_callable(evaluate, "evaluate", "evaluate(params) -> float")

    # The parameters live in one flat vector and the pytree's leaves are views
    # into it: the optimizer updates the vector in a handful of array ops, and
    # autograd differentiates the pytree directly (no traced unflattening).
    check_tree(params, param_shapes(params), "params")  # real-valued array leaves only
    flat = tree_flatten(params)
    check_finite(flat, "params")
    if flat.size == 0:
        raise ValueError("params: expected at least one array to train, got a tree without arrays")
    live = tree_views(params, flat)
    state = opt.init(flat)
    last_good = flat.copy()  # at step 1 there is nothing better than the initial params
    value_grad = value_and_grad(objective)
    from . import fast  # imported here, not at the top: fast/ imports the models, which sit above optim

    history = {"step": [], "loss": [], "val_step": [], "val_loss": [], "seconds": 0.0, "steps_per_s": 0.0}
    start = time.perf_counter()

    def stop(error, message, step):
        history["seconds"] = time.perf_counter() - start
        if lr_schedule == "cosine":
            opt.lr = base_lr
        return error(f"minimize: {message} at step {step}; try a smaller lr; "
                     "the error's .params holds the last finite parameters", _copy_tree(params, last_good), history)

    limit = None
    for step in range(1, steps + 1):
        try:
            with fast.installed():  # the fused kernels of tinygen/fast/ serve this differentiation only
                loss, grad = value_grad(live, rng)
        except NonFiniteError as err:  # noticed inside the model: the params went bad
            raise stop(NonFiniteLossError, f"a non-finite value inside the model ({err})", step) from err
        except TypeError as err:
            if str(err).startswith("value_and_grad only applies to real scalar-output"):  # autograd's words
                raise TypeError("objective: expected a real scalar loss, got an array or a complex value") from err
            raise
        grad = tree_flatten(grad)
        loss = float(loss)
        if not (onp.isfinite(loss) and onp.all(onp.isfinite(grad))):
            what = "loss" if not onp.isfinite(loss) else "gradient"
            raise stop(NonFiniteLossError, f"the {what} became non-finite (loss = {loss})", step)
        if limit is None and max_growth is not None:
            limit = max_growth * max(1.0, abs(loss))  # |L_t| > max_growth * max(1, |L_1|): diverged
        if limit is not None and abs(loss) > limit:
            raise stop(LossDivergedError, f"the loss diverged to {loss:.3g} (more than {max_growth:.0e} "
                                          f"times max(1, |first loss|) = {limit / max_growth:.3g})", step)
        # `flat` gave a finite loss and gradient: remember it, since the update
        # below may overflow or land where the next loss is NaN.
        last_good[...] = flat
        if lr_schedule == "cosine":
            opt.lr = base_lr * 0.5 * (1 + onp.cos(onp.pi * (step - 1) / steps))
        new_flat, state = opt.update(flat, grad, state)
        flat[...] = new_flat  # in place: the views in `live` follow
        history["step"].append(step)
        history["loss"].append(loss)
        if callback is not None:
            callback(step, _copy_tree(params, flat), loss)  # a snapshot: the next update cannot change it
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            try:
                val = check_real(evaluate(live), "evaluate(params)")  # the held-out data were checked finite
            except NonFiniteError as err:
                raise stop(NonFiniteLossError, f"a non-finite value in evaluate ({err})", step) from err
            history["val_step"].append(step)
            history["val_loss"].append(val)
        if progress and (step % log_every == 0 or step == steps):
            rate = step / (time.perf_counter() - start)
            line = f"step {step:>6}/{steps}  loss {loss:9.4f}"
            if history["val_loss"] and history["val_step"][-1] == step:
                line += f"  val {history['val_loss'][-1]:9.4f}"
            print(f"{line}  {rate:7.1f} steps/s", file=sys.stderr, flush=True)
    if lr_schedule == "cosine":
        opt.lr = base_lr  # leave a user's optimizer object as it came
    history["seconds"] = time.perf_counter() - start
    history["steps_per_s"] = steps / history["seconds"]
    return _copy_tree(params, flat), history


def fit(model, params, x, steps=1000, batch_size=256, lr=1e-3, rng=0, context=None,
        optimizer="adam", x_val=None, context_val=None, eval_every=None,
        log_every=None, progress=True, callback=None, lr_schedule="cosine", max_growth=MAX_GROWTH):
    """Minimize ``model.loss`` by minibatch gradient descent.

    model: anything with ``loss(params, x, rng[, context=])`` returning a scalar.
    params: its params pytree (``model.init(rng)``); it is not modified.
    x: training data, first axis = examples; context: optional c, same first axis.
    optimizer: "adam" or "sgd", or an object with ``init``/``update``.
    x_val (and context_val): held-out data, evaluated every ``eval_every`` steps.
    progress: print "step, loss, steps/s" lines to stderr every ``log_every`` steps.
    callback(step, params, loss): called after every step, with a copy of the params.
    max_growth: the divergence rule of ``minimize`` (None: off).
    lr_schedule: "cosine" (the default): eta_t = eta (1 + cos(pi (t - 1) / T)) / 2, from eta
        at the first step down to about 0 at the last; or "constant": eta_t = eta.
        Why decay by default: with a constant eta, Adam's last steps keep jumping
        around the minimum by an amount that grows with eta, and the params a run
        ends on are one random point of that jitter. Decaying eta lets the run settle.
        On two moons the same flows from the same start, trained at a constant 1e-3
        (benchmarks/REPORT_peers.md, the runs from tinygen's initialization), end a few
        hundredths of a nat further from the truth than with the decay (REPORT.md,
        "Defaults"). A second ``fit`` call, to continue a run, restarts at eta.

    Returns (params, history) where history has lists "step", "loss",
    "val_step", "val_loss" and floats "seconds", "steps_per_s".
    The loop is ``minimize``; fit adds the minibatches: each epoch visits every
    example once, in an order reshuffled from rng. x and context are checked
    finite here, so a NaN noticed inside the model during a step means the
    params went bad: ``NonFiniteLossError`` with the last finite params.
    """
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"model: expected an object with loss(params, x, rng), got {type(model).__name__}")
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = as_rng(rng)
    x = as_examples(x, "x")
    context = as_rows_like(context, x)
    evaluate = None
    if x_val is not None:
        x_val = as_examples(x_val, "x_val")
        context_val = as_rows_like(context_val, x_val, "context_val", "x_val")
        evaluate = lambda p: _loss_call(model, p, x_val, rng, context_val)  # noqa: E731
    _make_optimizer(optimizer, lr)  # a wrong optimizer is reported before any data is touched

    n = x.shape[0]
    b = min(batch_size, n)
    epoch = {"order": rng.permutation(n), "cursor": 0}

    def objective(p, r):
        if epoch["cursor"] + b > n:  # new epoch: reshuffle so every example is seen once per pass
            epoch["order"], epoch["cursor"] = r.permutation(n), 0
        idx = epoch["order"][epoch["cursor"]:epoch["cursor"] + b]
        epoch["cursor"] += b
        return _loss_call(model, p, x[idx], r, None if context is None else context[idx])

    return minimize(objective, params, steps, lr=lr, rng=rng, optimizer=optimizer, lr_schedule=lr_schedule,
                    evaluate=evaluate, eval_every=eval_every, log_every=log_every, progress=progress,
                    callback=callback, max_growth=max_growth)
