"""Input checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the
argument, what was expected and what came, so that a student's mistake is
reported where it is made instead of surfacing later as a NaN.
"""
import numbers

import autograd.numpy as anp
import numpy as onp
from autograd.tracer import getval


class NonFiniteError(ValueError):
    """A NaN or an infinity where finite values are expected.

    Raised by every "expected finite values" check. Inside training the data
    were checked up front, so ``optim.minimize`` reads this error, raised
    during a step, as "the parameters went bad" (``NonFiniteLossError``).
    """


def as_rng(rng, name="rng"):
    """Return an ``np.random.Generator`` from a Generator or a non-negative int seed.

    tinygen never touches NumPy's global random state: same seed, same numbers.
    """
    if isinstance(rng, onp.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{name}: expected an np.random.Generator or an int seed >= 0, got {rng}")
        return onp.random.default_rng(int(rng))
    raise TypeError(
        f"{name}: expected an np.random.Generator or an int seed, got {type(rng).__name__}"
    )


def check_finite(value, name):
    """Raise NonFiniteError unless every entry of the plain array ``value`` is finite."""
    if not onp.all(onp.isfinite(value)):
        raise NonFiniteError(f"{name}: expected finite values, got NaN or inf")


def check_real_dtype(value, name):
    """Real numbers only: bool, int or float. Complex values would lose their imaginary
    part in float64, and strings ("1.5") would be parsed: both are a TypeError."""
    kind = onp.asarray(value).dtype.kind
    if kind not in "biuf":
        what = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "objects"}.get(kind, "non-numbers")
        raise TypeError(f"{name}: expected an array of real numbers, got {what} (dtype {onp.asarray(value).dtype})")


def as_float_array(x, name, ndim=None, last_dim=None, finite=True):
    """Convert ``x`` to a float64 array and check its shape and values.

    ``ndim``: required number of axes (None: any). ``last_dim``: required size
    of the last axis (None: any). ``finite``: reject NaN and infinities.
    """
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, (dict, set)):
        raise TypeError(f"{name}: expected an array of numbers, got {type(x).__name__}")
    try:
        raw = onp.asarray(x)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise TypeError(f"{name}: expected an array of numbers, got {type(x).__name__}") from err
    check_real_dtype(raw, name)
    arr = raw.astype(onp.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected an array with {ndim} axes, got shape {arr.shape}")
    if last_dim is not None and (arr.ndim == 0 or arr.shape[-1] != last_dim):
        raise ValueError(f"{name}: expected last axis of size {last_dim}, got shape {arr.shape}")
    if finite:
        check_finite(arr, name)
    return arr


def value_of(a):
    """The plain array under any autograd boxes: for checks and shapes, never for the math."""
    return onp.asarray(getval(a))


def check_binary(x, name="x"):
    """Data for a Bernoulli likelihood: every value 0 or 1 (traced or not). Returns x unchanged."""
    v = value_of(x)
    if not onp.all((v == 0) | (v == 1)):
        raise ValueError(f"{name}: expected binary values in {{0, 1}}, got values in [{v.min()}, {v.max()}]")
    return x


def check_labels(x, n_classes, name="x", what="class labels"):
    """Class labels (or ``what`` else: grey levels): every value an integer in 0..K-1 (traced or not).
    Returns them as int64."""
    v = value_of(x)
    check_real_dtype(v, name)
    check_finite(v, name)
    if not onp.all(v == onp.round(v)):
        raise ValueError(f"{name}: expected integer {what} in 0..{n_classes - 1}, got non-integer values")
    if v.size and (v.min() < 0 or v.max() >= n_classes):
        raise ValueError(
            f"{name}: expected {what} in 0..{n_classes - 1}, got values in {int(v.min())}..{int(v.max())}"
        )
    return v.astype(onp.int64)


def check_batch(x, name="x", dim=None):
    """Check a batch of points: finite, shape ``(n, D)`` with ``n >= 1``.

    Works on plain and on autograd-traced arrays (it only reads the values).
    Returns ``x`` unchanged so traced values keep their gradient.
    """
    value = getval(x)  # the plain value under autograd's boxes
    if not hasattr(value, "shape"):
        raise TypeError(f"{name}: expected an array of shape (n, D), got {type(x).__name__}")
    check_real_dtype(value, name)
    if len(value.shape) != 2 or value.shape[0] < 1:
        expected = "(n, D)" if dim is None else f"(n, {dim})"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(value.shape)}")
    if dim is not None and value.shape[1] != dim:
        raise ValueError(f"{name}: expected shape (n, {dim}), got {tuple(value.shape)}")
    check_finite(value, name)
    return x


def as_batch(x, name="x", dim=None):
    """``as_float_array`` for a batch of D-dimensional points, shape (n, D)."""
    if hasattr(x, "_value"):  # already traced by autograd: check, keep the box
        return check_batch(x, name, dim)
    arr = as_float_array(x, name, finite=False)
    return check_batch(arr, name, dim)


def as_examples(x, name="x"):
    """A float64 array with at least one example along axis 0 (any trailing shape)."""
    arr = as_float_array(x, name)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one example along axis 0, got shape {arr.shape}")
    return arr


def as_rows_like(context, x, name="context", x_name="x"):
    """An optional per-example array (a context c) with as many rows as x; None stays None."""
    if context is None:
        return None
    arr = as_float_array(context, name)
    if arr.ndim < 1 or arr.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: expected {x.shape[0]} rows like {x_name}, got shape {arr.shape}")
    return arr


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def check_positive(value, name):
    """A strictly positive finite float (a learning rate, a noise scale ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__}")
    if not (onp.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value}")
    return float(value)


def check_fraction(value, name):
    """A number in [0, 1), such as a momentum or a moment-decay rate beta."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in [0, 1), got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value}")
    return float(value)


def check_real(value, name):
    """One finite real number (a loss, an entropy); numeric strings are refused."""
    return float(as_float_array(value, name, ndim=0))


def check_callable(fn, name, what):
    if not callable(fn):
        raise TypeError(f"{name}: expected a function {what}, got {type(fn).__name__}")
    return fn


def check_option(value, name, options):
    """``value`` must be one of ``options`` (an unknown string is a typo, say so)."""
    if value not in options:
        raise ValueError(f"{name}: expected one of {sorted(options)}, got {value!r}")
    return value


def check_hidden(hidden, name="hidden"):
    """Hidden layer sizes: a tuple of positive ints (may be empty)."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"{name}: expected a tuple of ints, got {type(hidden).__name__}")
    return tuple(check_positive_int(h, f"{name}[{i}]") for i, h in enumerate(hidden))


def check_context(context, x, context_dim):
    """Context c for a conditional flow: shape (n, context_dim); one row is repeated n times."""
    if context_dim == 0:
        if context is not None:
            raise ValueError(f"context: this model is unconditional (context_dim=0) and takes no context, "
                         f"got {type(context).__name__}")
        return None
    if context is None:
        raise ValueError(f"context: this model is conditional, expected shape (n, {context_dim}), got None")
    n = getattr(x, "shape", (1,))[0]
    c = as_batch(context, "context", context_dim)
    if c.shape[0] == 1 and n > 1:
        c = anp.repeat(c, n, axis=0)  # autograd.numpy: a traced context stays traced
    if c.shape[0] != n:
        raise ValueError(f"context: expected {n} rows like x, got shape {c.shape}")
    return c


# The params-pytree checks (check_params, check_tree, param_shapes) live in _params_check.py,
# a lesson of their own; they are imported here so that every check comes from one place.
from ._params_check import Shape, check_params, check_tree, param_shapes  # noqa: E402, F401


def __getattr__(name):
    """``permutation`` and ``ORDERS`` moved to tinygen/orders.py; old imports from here still work."""
    if name in ("permutation", "ORDERS"):
        from . import orders
        return getattr(orders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- numbers and sizes -----------------------------------------------------------------------

def check_finite_number(value, name):
    """One finite real number (a log-normalizer, a loss to print); bool and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite real number, got {type(value).__name__}")
    if not onp.isfinite(value):
        raise ValueError(f"{name}: expected a finite real number, got {value}")
    return float(value)


MAX_FLOATS = 2 ** 27  # 1 GiB of float64: the largest array a public entry point agrees to allocate


def check_size(n_floats, name, value, what):
    """Refuse, before allocating, an array of more than MAX_FLOATS entries.

    n_floats: how many numbers the array would hold (a Python int, so it cannot overflow);
    what: which array, in the model's own words, e.g. "the V^k x V^k state chain".
    """
    if n_floats > MAX_FLOATS:
        raise ValueError(f"{name}: expected a size for which {what} fits in {MAX_FLOATS:,} floats (1 GiB), "
                         f"got {name} = {value}, which needs {n_floats:,} floats ({n_floats * 8 / 2 ** 30:.3g} GiB)")
    return value
