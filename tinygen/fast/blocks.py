"""The untraced fast path's two tools: row blocks that stay in cache, and an MLP pass done in place.

An untraced evaluation (log p of a test set, a density grid, sampling) needs values only: no
autograd boxes and no residuals for a backward pass. The reference code, run on 10^5 rows at
once, makes every elementwise step (a bias add, a ReLU, an exp) a pass over a (10^5, 64) array of
51 MB, far larger than the cache, so its time goes to memory traffic, not to arithmetic. Every
model here is a map row by row (row i of the output depends on row i of the input only), so the
untraced kernels run it on blocks of rows (``block_rows``): a block's intermediates (a few (BLOCK, 64)
arrays of 2 MB at most) stay in the L2/L3 cache between one step and the next, and the ReLU and
bias add overwrite the matmul's output in place (``out=``) instead of allocating new arrays.

The block changes the order in which rows are visited, never the arithmetic done on one row, so
every value equals the reference path's to rounding (the matmul kernel may sum a row in another
order for another block shape: a difference of a few ulps).
"""
import numpy as onp

from .mlp import ACTIVATIONS_NP
from .registry import KERNELS, accelerate, has_box

__all__ = ["activation", "block_rows", "mlp_values", "mlp_weights", "row_blocks", "serve_untraced", "soft_clamp",
           "widest"]

# Rows per block: as many as make the widest activation about 1 MB of float64, the L2 cache of one
# core here: 2048 rows of 64 units (BLOCK), 512 of 256. Measured by benchmarks/bench_eval.py (its "Block
# size" table, RealNVP-8's log p of 10^5 points, width 64): 512 to 2048 rows were as fast as any, on a
# loaded machine whose figures vary by +-15%; larger blocks spill out of L2, much smaller ones pay
# Python's cost per block. At width 256 (10^5 points, medians of 5 runs in turns, CPU seconds): a
# MADE 2-256-256-4 took 0.79 s in 2048-row blocks and 0.51 s in 512-row blocks, MAF-5 3.81 s and 2.74 s.
BLOCK_BYTES = 1 << 20
BLOCK = BLOCK_BYTES // (8 * 64)  # rows per block at width 64, and where no width is known
MIN_BLOCK = 64  # below this, Python's cost per block dominates whatever the width


def block_rows(width):
    """Rows per block for activations ``width`` units wide: BLOCK_BYTES of float64, at least MIN_BLOCK."""
    return max(MIN_BLOCK, BLOCK_BYTES // (8 * int(width)))


def widest(mlps):
    """The widest layer (input, hidden or output) of any of ``mlps``, or None when there is none."""
    return max((size for mlp in mlps for size in mlp.sizes), default=None)


def row_blocks(n, block=None, width=None):
    """slice(start, stop) of each block covering rows 0..n - 1 (the last may be short): ``block`` rows
    each, or by default ``block_rows(width)`` (BLOCK when the width is not given)."""
    if block is not None:
        size = int(block)
    else:
        size = BLOCK if width is None else block_rows(width)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _relu_(a):
    # max(a, 0) written over a; the reference's where(a > 0, a, 0) has the same values
    return onp.maximum(a, 0.0, out=a)


def _tanh_(a):
    return onp.tanh(a, out=a)


IN_PLACE = {"relu": _relu_, "tanh": _tanh_}  # the others allocate, as in fast/mlp.py


def activation(name):
    """act(a) for the untraced path: written over a where it can be (relu, tanh), else a fresh array."""
    return IN_PLACE.get(name) or ACTIVATIONS_NP[name]


def mlp_weights(mlp, params):
    """[(W_l * M_l, b_l)] of ``mlp`` with its masks applied once per call, not once per block."""
    return [(layer["W"] if mlp.masks is None else layer["W"] * mlp.masks[l], layer["b"])
            for l, layer in enumerate(params)]


def mlp_values(mlp, weights, x):
    """The MLP's output on one block x (rows, n_in), with weights from ``mlp_weights``:
    a_l = h_{l-1} W_l + b_l, h_l = act(a_l) (l < L), output a_L; a_l is overwritten in place."""
    act = activation(mlp.activation)
    h = x
    last = len(weights) - 1
    for l, (W, b) in enumerate(weights):
        # one input (a coupling of 2-D data): h W is an outer product, and a broadcast product gives
        # the same numbers at half the matmul's cost (a (rows, 1) x (1, width) product is all packing)
        a = h * W[0] if W.shape[0] == 1 else h @ W
        a += b  # a_l = h_{l-1} W_l + b_l, in the product's own output
        h = act(a) if l < last else a
    return h


def soft_clamp(a, s_max):
    """alpha = s_max tanh(a / s_max) (functional.soft_clamp's values), in a fresh array."""
    alpha = a / s_max
    onp.tanh(alpha, out=alpha)
    alpha *= s_max
    return alpha


def serve_untraced(cls, name):
    """Decorator: register ``untraced(obj, *args)`` as ``cls.name`` for calls holding no autograd box.

    A traced call, or one the untraced kernel declines (``NotImplemented``), goes on to the kernel
    registered before for the same method (the traced one, fast/flow.py or fast/made.py), or to the
    reference. The decision is one walk of the arguments for a box, once per call (not per layer).
    """
    def register(untraced):
        before = KERNELS.get((cls, name))

        @accelerate(cls, name)
        def kernel(obj, *args, **kwargs):
            if not has_box((args, kwargs)):
                out = untraced(obj, *args, **kwargs)
                if out is not NotImplemented:
                    return out
            return NotImplemented if before is None else before(obj, *args, **kwargs)

        kernel.untraced = untraced
        return kernel
    return register
