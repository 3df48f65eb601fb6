"""Input checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the
argument, what was expected and what came, so that a student's mistake is
reported where it is made instead of surfacing later as a NaN.
"""
import numbers

import autograd.numpy as anp
import numpy as onp
from autograd.tracer import Box, getval


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


def check_labels(x, n_classes, name="x"):
    """Class labels: every value an integer in 0..K-1 (traced or not). Returns them as int64."""
    v = value_of(x)
    check_real_dtype(v, name)
    check_finite(v, name)
    if not onp.all(v == onp.round(v)):
        raise ValueError(f"{name}: expected integer class labels in 0..{n_classes - 1}, got non-integer values")
    if v.size and (v.min() < 0 or v.max() >= n_classes):
        raise ValueError(
            f"{name}: expected class labels in 0..{n_classes - 1}, got values in {int(v.min())}..{int(v.max())}"
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
            raise ValueError("context: this model is unconditional (context_dim=0), got a context")
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


ORDERS = ("reverse", "random")


def permutation(dim, order="reverse", rng=None):
    """A permutation of 0..dim-1 as an int array: "reverse", "random" (needs rng) or explicit."""
    if isinstance(order, str):
        if order not in ORDERS:
            raise ValueError(f"order: expected one of {list(ORDERS)} or a permutation, got {order!r}")
        if order == "reverse":
            return onp.arange(dim)[::-1].copy()
        if rng is None:
            raise ValueError("rng: order='random' needs an rng (Generator or int seed), got None")
        return as_rng(rng).permutation(dim)
    perm = onp.asarray(order)
    if perm.dtype.kind not in "iu":
        raise TypeError(f"order: expected a sequence of ints, got dtype {perm.dtype}")
    if perm.shape != (dim,) or not onp.array_equal(onp.sort(perm), onp.arange(dim)):
        raise ValueError(f"order: expected a permutation of 0..{dim - 1}, got {perm.tolist()}")
    return perm.astype(onp.int64)


# ---- params pytrees --------------------------------------------------------------------------
# A model's params must have exactly the tree that its own ``init`` makes: the same
# dict keys, list lengths and leaf shapes. Otherwise zip() silently drops layers, a
# reshape crashes deep inside NumPy, or a head of K = 5 answers for K = 3.


def param_shapes(tree):
    """The skeleton of a params pytree: dicts stay dicts, lists and tuples become lists,
    and every leaf becomes its shape (a tuple)."""
    tree = getval(tree)
    if isinstance(tree, dict):
        return {k: param_shapes(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [param_shapes(v) for v in tree]
    return tuple(onp.shape(tree))


class _Mismatch(Exception):
    """Internal: where a tree differs from its template; the path is filled in on the way out."""

    def __init__(self, message, kind=ValueError):
        super().__init__(message)
        self.message, self.kind, self.path = message, kind, []


def _keys(d):
    return "[" + ", ".join(f'"{k}"' for k in d) + "]"


def _describe(value):
    if isinstance(value, dict):
        return f"a dict with keys {_keys(value)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} entries"
    if hasattr(value, "shape"):
        return f"an array of shape {tuple(value.shape)}"
    return type(value).__name__


def _not_a_tree(value):
    """TypeError for things that are no params at all (None, a string), ValueError for another tree."""
    return ValueError if isinstance(value, (dict, list, tuple)) or hasattr(value, "shape") else TypeError


def _walk(value, template, finite):
    # This runs on every public call, so the common case comes first and is cheap:
    # plain dicts, lists and float arrays of the right shapes.
    if isinstance(value, Box):
        value = getval(value)  # a traced tree (autograd's container boxes) is read, never traced further
    if type(template) is tuple:  # a leaf: template is its shape
        if type(value) is not onp.ndarray or value.shape != template or value.dtype.kind not in "iuf":
            _check_leaf(value, template)
        if finite and not onp.isfinite(value).all():
            raise _Mismatch("expected finite values, got NaN or inf", NonFiniteError)
    elif type(template) is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"expected a dict with keys {_keys(template)}, got {_describe(value)}",
                            _not_a_tree(value))
        if value.keys() != template.keys():
            missing = [k for k in template if k not in value]
            extra = [k for k in value if k not in template]
            what = f"missing {_keys(missing)}" if missing else f"unexpected {_keys(extra)}"
            raise _Mismatch(f"expected a dict with keys {_keys(template)}, got keys {_keys(value)} ({what})")
        for k, t in template.items():
            try:
                _walk(value[k], t, finite)
            except _Mismatch as m:
                m.path.append(f'["{k}"]')
                raise
    else:  # a list
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"expected a list of {len(template)} entries, got {_describe(value)}",
                            _not_a_tree(value))
        if len(value) != len(template):
            raise _Mismatch(f"expected a list of {len(template)} entries, got {len(value)}")
        for i, (v, t) in enumerate(zip(value, template)):
            try:
                _walk(v, t, finite)
            except _Mismatch as m:
                m.path.append(f"[{i}]")
                raise


def _check_leaf(value, shape):
    if isinstance(value, (dict, list, tuple)):
        raise _Mismatch(f"expected an array of shape {shape}, got {_describe(value)}")
    dtype = getattr(value, "dtype", None)
    if dtype is None:  # a plain Python number is a leaf of shape ()
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise _Mismatch(f"expected an array of shape {shape}, got {type(value).__name__}", TypeError)
        got = ()
    else:
        if dtype.kind not in "iuf":
            raise _Mismatch(f"expected an array of real numbers, got dtype {dtype}", TypeError)
        got = tuple(value.shape)
    if got != shape:
        raise _Mismatch(f"expected shape {shape}, got {got}")


def check_tree(tree, template, name="params", finite=False):
    """Compare a pytree with a skeleton from ``param_shapes``; the error names the first
    mismatching path, e.g. ``params[3]["conditioner"][0]["W"]: expected shape (1, 64), got (2, 64)``.
    finite: also require finite leaves (NonFiniteError otherwise)."""
    try:
        _walk(tree, template, finite)
    except _Mismatch as m:
        raise m.kind(f"{name}{''.join(reversed(m.path))}: {m.message}") from None
    return tree


def check_params(params, model, name="params"):
    """``params`` must have the tree of ``model.init``: same keys, list lengths, leaf shapes.

    The skeleton is computed once per model object, from its own ``init`` (seed 0),
    and kept on the object like its masks: it is structure, not parameters.
    Plain (untraced) params must also be finite; traced ones are not scanned, since
    during training ``optim.minimize`` already checks every loss and gradient.
    Returns ``params`` unchanged (traced trees keep their gradient).
    """
    template = model.__dict__.get("_params_template")
    if template is None:
        template = param_shapes(model.init(0))
        model._params_template = template
    return check_tree(params, template, name, finite=not isinstance(params, Box))


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
