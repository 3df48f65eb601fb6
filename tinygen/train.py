"""The training loop: theta_{t+1} = update(theta_t, grad_theta L(theta_t)), t = 1..T.

``minimize(objective, params)`` is the loop; ``fit(model, params, x)`` feeds it
minibatches of x, so that L(theta) = (1/b) sum_{i in batch} -log p_theta(x_i | c_i).
The loop is short because each of its parts has a name:

    gradient         L(theta_t) and grad_theta L(theta_t), by autograd (the one differentiation)
    guard            stop on a NaN/inf loss or gradient, or a loss that diverged
    learning_rate    the schedule eta_t (constant or cosine)
    record, report   the history and the progress lines
    validate         the held-out score every ``eval_every`` steps

Everything that changes during a run lives in one ``Run`` object, not in closures.
A user's optimizer object is handed back as it came, however the loop ends.
"""
import contextlib
import sys
import time

import numpy as onp
from autograd import value_and_grad

from . import tree
from ._params_check import check_tree, loop_tree, param_shapes
from ._threads import in_hot_loop
from ._validate import (NonFiniteError, as_examples, as_rng, as_rows_like, check_callable, check_finite,
                        check_option, check_positive, check_positive_int, check_real)
from .optim import MAX_GROWTH, LossDivergedError, NonFiniteLossError, make_optimizer

__all__ = ["HeldOut", "Minibatches", "Run", "fit", "gradient", "guard", "learning_rate", "minimize", "report",
           "restored_lr", "validate"]


class Run:
    """The state of one run. ``flat`` is theta as one vector; the leaves of ``live`` are views
    into it, so the optimizer updates theta in a handful of array operations while autograd
    differentiates the pytree ``live`` directly (no traced unflattening)."""

    def __init__(self, params, opt):
        check_tree(params, param_shapes(params), "params")  # real-valued array leaves only
        self.template = params
        self.flat = tree.flatten(params)
        check_finite(self.flat, "params")
        if self.flat.size == 0:
            raise ValueError("params: expected at least one array to train, got a tree without arrays")
        self.live = tree.unflatten(params, self.flat)
        self.opt_state = opt.init(self.flat)
        self.last_good = self.flat.copy()  # at step 1 there is nothing better than the initial params
        self.limit = None  # the divergence threshold, set from the first loss (see guard)
        self.history = {"step": [], "loss": [], "val_step": [], "val_loss": [], "seconds": 0.0, "steps_per_s": 0.0}
        self.start = time.perf_counter()

    def snapshot(self, flat=None):
        """A copy of the params as a tree: later updates cannot change it."""
        return tree.unflatten(self.template, (self.flat if flat is None else flat).copy())

    def record(self, step, loss):
        self.history["step"].append(step)
        self.history["loss"].append(loss)

    def stop(self, error, message, step):
        """The error that ends a failed run, holding the last finite params and the history so far."""
        self.history["seconds"] = time.perf_counter() - self.start
        return error(f"minimize: {message} at step {step}; try a smaller lr; "
                     "the error's .params holds the last finite parameters", self.snapshot(self.last_good),
                     self.history)


def gradient(value_grad, run, rng, step):
    """(L(theta_t), grad_theta L(theta_t)) as a float and a flat vector."""
    from . import fast  # here, not at the top: fast/ imports the models, which sit above the training loop
    try:
        with fast.installed():  # the fused kernels of tinygen/fast/ serve this differentiation only
            loss, grad = value_grad(run.live, rng)
    except NonFiniteError as err:  # noticed inside the model: the data were finite, so the params went bad
        raise run.stop(NonFiniteLossError, f"a non-finite value inside the model ({err})", step) from err
    except TypeError as err:
        if str(err).startswith("value_and_grad only applies to real scalar-output"):  # autograd's words
            raise TypeError("objective: expected a real scalar loss, got an array or a complex value") from err
        raise
    return float(loss), tree.flatten(grad)


def guard(run, loss, grad, max_growth, step):
    """Stop when L or its gradient is not finite, or when |L_t| > max_growth * max(1, |L_1|)."""
    if not (onp.isfinite(loss) and onp.all(onp.isfinite(grad))):
        what = "loss" if not onp.isfinite(loss) else "gradient"
        raise run.stop(NonFiniteLossError, f"the {what} became non-finite (loss = {loss})", step)
    if run.limit is None and max_growth is not None:
        run.limit = max_growth * max(1.0, abs(loss))  # from the first loss L_1
    if run.limit is not None and abs(loss) > run.limit:
        raise run.stop(LossDivergedError, f"the loss diverged to {loss:.3g} (more than {max_growth:.0e} "
                                          f"times max(1, |first loss|) = {run.limit / max_growth:.3g})", step)


def _in_place_update(opt):
    """``opt.update_in_place`` where it is the in-place form of the ``update`` that opt's class uses,
    else None: a subclass that redefines ``update`` (a student's AdamW, say) gets its own update."""
    method = getattr(opt, "update_in_place", None)
    if method is None:
        return None
    owner = next(c for c in type(opt).__mro__ if "update_in_place" in vars(c))
    return method if getattr(type(opt), "update", None) is getattr(owner, "update", None) else None


def learning_rate(schedule, base_lr, step, steps):
    """eta_t: constant, or cosine eta_t = eta (1 + cos(pi (t - 1) / T)) / 2 (eta at t = 1, about 0 at t = T)."""
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + onp.cos(onp.pi * (step - 1) / steps))
    return base_lr


def validate(run, evaluate, step):
    """Append the held-out score evaluate(theta_t) to the history."""
    try:
        val = check_real(evaluate(run.live), "evaluate(params)")
    except NonFiniteError as err:  # the held-out data were checked finite: the params went bad
        raise run.stop(NonFiniteLossError, f"a non-finite value in evaluate ({err})", step) from err
    run.history["val_step"].append(step)
    run.history["val_loss"].append(val)


def report(run, step, steps, loss):
    """One progress line on stderr: step, loss, the held-out score if measured now, speed."""
    line = f"step {step:>6}/{steps}  loss {loss:9.4f}"
    if run.history["val_step"][-1:] == [step]:
        line += f"  val {run.history['val_loss'][-1]:9.4f}"
    rate = step / (time.perf_counter() - run.start)
    print(f"{line}  {rate:7.1f} steps/s", file=sys.stderr, flush=True)


@contextlib.contextmanager
def restored_lr(opt):
    """The schedule writes opt.lr during the run; put it back however the run ends (an error,
    Ctrl-C), so that a user's optimizer object is left as it was found."""
    base_lr = getattr(opt, "lr", None)
    try:
        yield base_lr
    finally:
        if base_lr is not None:
            opt.lr = base_lr


@in_hot_loop  # one BLAS thread by default: see tinygen/_threads.py
def minimize(objective, params, steps=1000, lr=1e-3, rng=0, optimizer="adam", lr_schedule="cosine",
             evaluate=None, eval_every=None, log_every=None, progress=True, callback=None,
             max_growth=MAX_GROWTH):
    """The training loop: theta <- update(theta, grad_theta objective(theta, rng)), ``steps`` times.

    objective(params, rng) -> scalar: the loss of one step; it draws whatever it needs
        (a minibatch for ``fit``, fresh eps ~ N(0, I) for reverse-KL fitting) from rng.
    evaluate(params) -> float: an optional held-out score, every ``eval_every`` steps.
    callback(step, params, loss): called after every step with a copy of the params.
    The other options are ``fit``'s. Returns (params, history) like ``fit``.

    Faults. Training stops with ``NonFiniteLossError`` (``.params`` = the last params
    whose loss and gradient were finite, ``.history`` = the record so far) when the loss
    or its gradient is NaN or inf, or a check inside the model raises ``NonFiniteError``
    during a step (the data were finite, so the params went bad).
    Divergence rule: with L_1 the first loss, the run stops with ``LossDivergedError``
    (a ``NonFiniteLossError``) as soon as |L_t| > max_growth * max(1, |L_1|), i.e. the
    loss grew by about log10(max_growth) = 8 orders of magnitude (max_growth=None: no limit).
    Any other exception (a wrong shape) propagates unchanged.
    """
    steps, rng, opt, log_every, eval_every, max_growth = _checked_options(
        objective, steps, lr, rng, optimizer, lr_schedule, evaluate, eval_every, log_every, callback, max_growth)
    run = Run(params, opt)
    value_grad = value_and_grad(objective)
    step_in_place = _in_place_update(opt)
    with restored_lr(opt) as base_lr, loop_tree(run.live):  # run.live's structure is checked once per model
        for step in range(1, steps + 1):
            loss, grad = gradient(value_grad, run, rng, step)
            guard(run, loss, grad, max_growth, step)
            run.last_good[...] = run.flat  # finite loss and gradient; the update below may overflow
            if lr_schedule == "cosine":
                opt.lr = learning_rate(lr_schedule, base_lr, step, steps)
            if step_in_place is not None:  # tinygen's Adam: theta and its moments overwritten, no new arrays
                run.opt_state = step_in_place(run.flat, grad, run.opt_state)
            else:
                new_flat, run.opt_state = opt.update(run.flat, grad, run.opt_state)
                run.flat[...] = new_flat  # in place: the views in run.live follow
            run.record(step, loss)
            if callback is not None:
                callback(step, run.snapshot(), loss)
            if evaluate is not None and (step % eval_every == 0 or step == steps):
                validate(run, evaluate, step)
            if progress and (step % log_every == 0 or step == steps):
                report(run, step, steps, loss)
    run.history["seconds"] = time.perf_counter() - run.start
    run.history["steps_per_s"] = steps / run.history["seconds"]
    return run.snapshot(), run.history


def _checked_options(objective, steps, lr, rng, optimizer, lr_schedule, evaluate, eval_every, log_every,
                     callback, max_growth):
    """minimize's arguments, checked; the defaults log_every = steps // 10, eval_every = log_every."""
    steps = check_positive_int(steps, "steps")
    rng = as_rng(rng)
    opt = make_optimizer(optimizer, lr)
    check_option(lr_schedule, "lr_schedule", ("constant", "cosine"))
    if lr_schedule == "cosine" and not hasattr(opt, "lr"):
        raise TypeError("optimizer: a cosine lr_schedule needs an optimizer with an lr attribute")
    log_every = max(1, steps // 10) if log_every is None else check_positive_int(log_every, "log_every")
    eval_every = log_every if eval_every is None else check_positive_int(eval_every, "eval_every")
    if max_growth is not None:
        max_growth = check_positive(max_growth, "max_growth")
    check_callable(objective, "objective", "objective(params, rng) -> scalar loss")
    if callback is not None:
        check_callable(callback, "callback", "callback(step, params, loss)")
    if evaluate is not None:
        check_callable(evaluate, "evaluate", "evaluate(params) -> float")
    return steps, rng, opt, log_every, eval_every, max_growth


class Minibatches:
    """fit's objective: L(theta) on the next minibatch. Each epoch visits every example once,
    in an order reshuffled from the training rng; ``order`` and ``cursor`` say where we are."""

    def __init__(self, model, x, context, batch_size, rng):
        self.model, self.x, self.context = model, x, context
        self.b = min(batch_size, x.shape[0])
        self.order, self.cursor = rng.permutation(x.shape[0]), 0

    def __call__(self, params, rng):
        if self.cursor + self.b > self.x.shape[0]:  # a new epoch
            self.order, self.cursor = rng.permutation(self.x.shape[0]), 0
        idx = self.order[self.cursor:self.cursor + self.b]
        self.cursor += self.b
        context = None if self.context is None else self.context[idx]
        return self.model.loss(params, self.x[idx], rng, context=context)


class HeldOut:
    """fit's evaluate: the loss on held-out data. It draws from its own generator, never the
    training one, so that asking for a validation score cannot change the trained params; each
    evaluation restarts that generator (the same draws every time: the curve moves only with theta)."""

    def __init__(self, model, x_val, context_val, rng):
        self.model, self.x_val, self.context_val = model, x_val, context_val
        self.seed = rng.spawn(1)[0].bit_generator.seed_seq  # a child stream: rng itself does not advance

    def __call__(self, params):
        rng = onp.random.default_rng(self.seed)
        return self.model.loss(params, self.x_val, rng, context=self.context_val)


def fit(model, params, x, steps=1000, batch_size=256, lr=1e-3, rng=0, context=None,
        optimizer="adam", x_val=None, context_val=None, eval_every=None,
        log_every=None, progress=True, callback=None, lr_schedule="cosine", max_growth=MAX_GROWTH):
    """Minimize ``model.loss`` by minibatch gradient descent.

    model: anything with ``loss(params, x, rng, context=None)`` returning a scalar.
    params: its params pytree (``model.init(rng)``); it is not modified.
    x: training data, first axis = examples; context: optional c, same first axis.
    optimizer: "adam" or "sgd", or an object with ``init``/``update`` (handed back unchanged).
    x_val (and context_val): held-out data, evaluated every ``eval_every`` steps with a
        generator of its own, so the trained params are the same with or without them.
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
    x and context are checked finite here, so a NaN noticed inside the model during a
    step means the params went bad: ``NonFiniteLossError`` with the last finite params.
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
        evaluate = HeldOut(model, x_val, as_rows_like(context_val, x_val, "context_val", "x_val"), rng)
    make_optimizer(optimizer, lr)  # a wrong optimizer is reported before any data is touched
    return minimize(Minibatches(model, x, context, batch_size, rng), params, steps, lr=lr, rng=rng,
                    optimizer=optimizer, lr_schedule=lr_schedule, evaluate=evaluate, eval_every=eval_every,
                    log_every=log_every, progress=progress, callback=callback, max_growth=max_growth)
