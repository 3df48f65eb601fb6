"""BLAS threads for tinygen's hot loops: one, unless the user asks otherwise.

At tinygen's sizes (batches of a few hundred rows, layers of 64 units) one matrix
product takes microseconds, and waking a second BLAS thread costs more than it
saves; on a machine whose cores are busy the threads wait for each other, and a
training run can take 5-10 times longer. So the training loop (``optim.minimize``,
hence ``fit``) runs with one BLAS thread, without any environment variable, and so do
the other loops of many small products: ``ode.odeint``, and the samplers that make one
pass per dimension or step (MADE, NaiveARM, PixelCNN, the sequence ARMs, a flow's
``sample``, ``Diffusion.sample`` and ``elbo``). The setting:

    tinygen.fast.set_blas_threads(None)   # opt out: leave BLAS as the environment set it
    with tinygen.fast.blas_threads(4):    # or choose, for one block
        tinygen.fit(...)

The thread count of a BLAS library is one setting for the whole process, so the
limit is taken by the first running loop and given back by the last one (two
loops in two threads share it).
"""
import contextlib
import contextvars
import functools
import numbers
import threading

from ._heap import retain

_SETTING = contextvars.ContextVar("tinygen_blas_threads", default=1)
_LOCK = threading.Lock()
_STATE = {"users": 0, "limit": None}  # loops running now, and the limit they share


def _check(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n: expected None or an int >= 1 (BLAS threads), got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n: expected None or an int >= 1 (BLAS threads), got {n!r}")
    return int(n)


def set_blas_threads(n):
    """BLAS threads for training loops from now on: an int >= 1, or None to leave BLAS alone."""
    _SETTING.set(_check(n))


@contextlib.contextmanager
def blas_threads(n):
    """BLAS threads for training loops inside the block: an int >= 1, or None to leave BLAS alone."""
    token = _SETTING.set(_check(n))
    try:
        yield
    finally:
        _SETTING.reset(token)


@functools.lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController  # finding the BLAS libraries takes ~1 ms: once
    return ThreadpoolController()


@contextlib.contextmanager
def hot_loop():
    """Run the block with the chosen number of BLAS threads (see the module docstring), and with
    malloc keeping freed memory for the loop's next step (tinygen/_heap.py)."""
    retain()
    n = _SETTING.get()
    if n is None:
        yield
        return
    with _LOCK:
        if _STATE["users"] == 0:
            _STATE["limit"] = _controller().limit(limits=n, user_api="blas")
        _STATE["users"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["users"] -= 1
            if _STATE["users"] == 0:
                _STATE["limit"].restore_original_limits()
                _STATE["limit"] = None


def in_hot_loop(fn):
    """Decorator: ``fn`` runs inside ``hot_loop()``."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with hot_loop():
            return fn(*args, **kwargs)
    return wrapped
