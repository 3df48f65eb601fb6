"""How a fast kernel replaces a model method without the model module knowing.

``accelerate(cls, "method")`` registers a kernel for ``cls.method``; nothing on the
class changes. ``installed()`` puts the kernels in place for one block:

    with tinygen.fast.installed():         # minimize does this around each gradient
        g = autograd.grad(loss)(params)    # the fused kernels serve this differentiation

Outside such a block the model classes hold only their own methods, so a debugger
stepping from any public call walks the model modules alone, and an untraced call
(evaluation, sampling) costs nothing extra. Inside it, ``cls.method`` is a dispatcher
that runs the kernel only when all of these hold, and the reference method otherwise:

- this thread (context) is inside ``installed()`` and the fast path is enabled
  (``tinygen.fast.disabled()`` turns it off): two context variables, O(1);
- the object is exactly of class ``cls`` (a subclass may change the math, e.g. a
  student's own ``_tau``, so it always gets the reference code);
- the kernel accepts the call: it returns ``NotImplemented`` to step aside.

A class is one object for the whole process, so the dispatchers go in when the first
block is entered (in any thread) and come out when the last one leaves: a count of
users under a lock, as for the BLAS thread limit (tinygen/_threads.py). A thread that
is not inside ``installed()`` (or is under ``disabled()``) while another one is gets
the reference code, after one pass through the dispatcher's two O(1) checks.

Kernels with hand-written backward passes step aside unless the inputs are traced
by exactly one reverse-mode trace (``traced_once``): a Hessian, a Jacobian of a
gradient or forward mode then differentiates the reference code, so derivatives
of every order are exact. An untraced call needs no backward pass: the untraced kernels
(fast/blocks.py ``serve_untraced``) take it, block by block, and pass a traced call on
to the kernel registered before them.
"""
import contextlib
import contextvars
import functools
import threading

from autograd.core import VJPNode
from autograd.tracer import Box

from .. import tree
from .._heap import retain
from .switch import is_enabled

__all__ = ["KERNELS", "accelerate", "has_box", "installed", "is_installed", "reference_of", "traced_once",
           "whole_or_plain"]

KERNELS = {}     # (class, method name) -> kernel: the table of what is accelerated
_METHODS = {}    # (class, method name) -> (reference, dispatcher, whether cls itself defines the reference)
_IN_BLOCK = contextvars.ContextVar("tinygen_fast_installed", default=False)  # this context is in installed()
_LOCK = threading.Lock()
_USERS = {"count": 0}  # installed() blocks running now, in every thread


def accelerate(cls, name):
    """Decorator: register ``kernel(obj, *args, **kwargs)`` as the fast ``cls.name``
    (in place only inside ``installed()``)."""
    def register(kernel):
        reference = reference_of(cls, name)  # the model module's method, even when registered twice
        own = _METHODS[(cls, name)][2] if (cls, name) in _METHODS else name in cls.__dict__

        @functools.wraps(reference)
        def dispatch(self, *args, **kwargs):
            if _IN_BLOCK.get() and is_enabled() and type(self) is cls:
                out = kernel(self, *args, **kwargs)
                if out is not NotImplemented:
                    return out
            return reference(self, *args, **kwargs)

        dispatch.reference = reference
        dispatch.kernel = kernel
        with _LOCK:
            _METHODS[(cls, name)] = (reference, dispatch, own)
            KERNELS[(cls, name)] = kernel
            if _USERS["count"]:  # registered while a block runs: in place at once, like the others
                setattr(cls, name, dispatch)
        return kernel
    return register


def reference_of(cls, name):
    """The model module's own ``cls.name`` (the lecture code), whatever is registered or installed."""
    if (cls, name) in _METHODS:
        return _METHODS[(cls, name)][0]
    method = getattr(cls, name)
    return getattr(method, "reference", method)  # a subclass of an accelerated class, while installed


def _put_in_place():
    for (cls, name), (_reference, dispatch, _own) in _METHODS.items():
        setattr(cls, name, dispatch)


def _take_out():
    for (cls, name), (reference, _dispatch, own) in _METHODS.items():
        if own:
            setattr(cls, name, reference)
        else:  # the class inherited the method: inherit it again
            delattr(cls, name)


@contextlib.contextmanager
def installed():
    """Run the block with the fast kernels serving its differentiations (``autograd.grad``
    and friends); ``minimize``, hence ``fit``, runs each gradient inside this block.

    The kernels are in place for the first block entered in any thread until the last
    one leaves; only code in a thread inside a block (and not under ``disabled()``)
    runs them. Values and derivatives equal the reference code's (tests/test_fast.py).
    Under ``disabled()`` the block puts nothing in place: this thread would not use it.
    """
    if not is_enabled():
        yield
        return
    retain()  # malloc keeps freed memory for the block's next arrays (tinygen/_heap.py)
    with _LOCK:
        if _USERS["count"] == 0:
            _put_in_place()
        _USERS["count"] += 1
    token = _IN_BLOCK.set(True)
    try:
        yield
    finally:
        _IN_BLOCK.reset(token)
        with _LOCK:
            _USERS["count"] -= 1
            if _USERS["count"] == 0:
                _take_out()


def is_installed():
    """True while any thread runs inside ``installed()`` (the dispatchers are on the classes)."""
    return _USERS["count"] > 0


def _boxes(node, found):
    """Collect the autograd boxes in a pytree (walked by ``tinygen.tree``; a box is a leaf
    there, since a traced container is a Box, not a dict or list); a box's value is
    searched too, so a box inside a box (nested tracing) is found."""
    for leaf in tree.leaves(node):
        if isinstance(leaf, Box):
            found.append(leaf)
            _boxes(leaf._value, found)
    return found


def traced_once(*trees):
    """True when the inputs hold boxes of exactly one reverse-mode trace.

    That is the one case a hand-written backward pass serves exactly: autograd hands
    it plain arrays. Anything else (no trace, two traces, a box inside a box from
    nested differentiation, forward mode) goes to the reference code.
    """
    found = []
    for t in trees:
        _boxes(t, found)
    if not found:
        return False
    trace = found[0]._trace
    return all(b._trace == trace and isinstance(b._node, VJPNode) for b in found)


def whole_or_plain(tree):
    """True when a params tree is one traced container (as ``fit`` passes it) or holds no box.

    A plain list holding individually traced leaves is invisible to a primitive that
    takes the tree as one argument, so such a call takes the reference code.
    """
    return isinstance(tree, Box) or not has_box(tree)


def has_box(node):
    """True when a pytree holds an autograd box anywhere (a box is a leaf of ``tinygen.tree``; what
    it holds does not matter here, unlike in ``traced_once``, so the walk does not go inside it)."""
    return any(isinstance(leaf, Box) for leaf in tree.leaves(node))
