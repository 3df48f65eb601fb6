"""How a fast kernel replaces a model method without the model module knowing.

``accelerate(cls, "method")`` wraps ``cls.method`` in a dispatcher. The dispatcher
runs the kernel only when all of these hold, and the reference method otherwise:

- the fast path is enabled (``tinygen.fast.disabled()`` turns it off);
- the object is exactly of class ``cls`` (a subclass may change the math, e.g. a
  student's own ``_tau``, so it always gets the reference code);
- the kernel accepts the call: it returns ``NotImplemented`` to step aside.

Kernels with hand-written backward passes step aside unless the inputs are traced
by exactly one reverse-mode trace (``traced_once``): a Hessian, a Jacobian of a
gradient or forward mode then differentiates the reference code, so derivatives
of every order are exact. An untraced call needs no backward pass, so it takes
the reference code too (plain NumPy either way).
"""
import functools

from autograd.core import VJPNode
from autograd.tracer import Box

from .switch import is_enabled

KERNELS = {}  # (class, method name) -> kernel: the table of what is accelerated


def accelerate(cls, name):
    """Decorator: register ``kernel(obj, *args, **kwargs)`` as the fast ``cls.name``."""
    def register(kernel):
        reference = cls.__dict__.get(name, getattr(cls, name))
        reference = getattr(reference, "reference", reference)  # registering twice keeps the original

        @functools.wraps(reference)
        def dispatch(self, *args, **kwargs):
            if type(self) is cls and is_enabled():
                out = kernel(self, *args, **kwargs)
                if out is not NotImplemented:
                    return out
            return reference(self, *args, **kwargs)

        dispatch.reference = reference
        dispatch.kernel = kernel
        setattr(cls, name, dispatch)
        KERNELS[(cls, name)] = kernel
        return kernel
    return register


def reference_of(cls, name):
    """The model module's own ``cls.name`` (the lecture code), whatever is registered."""
    method = getattr(cls, name)
    return getattr(method, "reference", method)


def _boxes(tree, found):
    """Collect the autograd boxes in a pytree (dicts, lists, tuples, arrays); a box's
    value is searched too, so a box inside a box (nested tracing) is found."""
    if isinstance(tree, Box):
        found.append(tree)
        _boxes(tree._value, found)
    elif isinstance(tree, dict):
        for v in tree.values():
            _boxes(v, found)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            _boxes(v, found)
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


def has_box(tree):
    """True when a pytree holds an autograd box anywhere."""
    return bool(_boxes(tree, []))
