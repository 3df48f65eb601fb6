"""The untraced fast path's two tools: row blocks that stay in cache, and an MLP pass done in place.

An untraced evaluation (log p of a test set, a density grid, sampling) needs values only: no
autograd boxes and no residuals for a backward pass. The reference code, run on 10^5 rows at
once, makes every elementwise step (a bias add, a ReLU, an exp) a pass over a (10^5, 64) array of
51 MB, far larger than the cache, so its time goes to memory traffic, not to arithmetic. Every
model here is a map row by row (row i of the output depends on row i of the input only), so the
untraced kernels run it on blocks of rows (``block_rows``): a block's intermediates (a few (BLOCK, 64)
arrays of 2 MB at most) stay in the L2/L3 cache between one step and the next, the ReLU overwrites
the matmul's output in place instead of allocating a new array, and where the activation lets a 1
through (ReLU, ELU, leaky ReLU) the bias add is a row of the product itself (``mlp_weights``).

The block changes the order in which rows are visited, never the arithmetic done on one row, so
every value equals the reference path's to rounding (the matmul kernel may sum a row in another
order for another block shape, or add the bias inside its sum: a difference of a few ulps).
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


# Activations with act(1) = 1: a column of ones passes through them unchanged (see mlp_weights)
ONE_AT_ONE = {"relu", "leaky_relu", "elu"}


def mlp_weights(mlp, params, fold_bias=True):
    """``mlp``'s weights for ``mlp_values``, made once per call (not once per block): [(W_l * M_l, b_l)].

    fold_bias (for an activation with act(1) = 1): the bias goes inside the product instead, as
    [(A_l, None)] with A_l = [[W_l * M_l, 0], [b_l, 1]] (the last layer without its column of ones).
    A_l acts on [h_{l-1}, 1], so [h_{l-1}, 1] A_l = [h_{l-1} W_l + b_l, 1]: the 1 comes out exactly
    (0 h + 1 = 1 in any order of summation) and act(1) = 1 keeps it for the next layer. The bias add,
    a pass over every hidden activation, becomes one more row of the product (1/65 more work at width
    64); a one-input first layer becomes a two-input product instead of a broadcast and a bias pass.
    """
    pairs = [(layer["W"] if mlp.masks is None else layer["W"] * mlp.masks[l], layer["b"])
             for l, layer in enumerate(params)]
    if not (fold_bias and mlp.activation in ONE_AT_ONE):
        return pairs
    last = len(pairs) - 1
    folded = []
    for l, (W, b) in enumerate(pairs):
        A = onp.zeros((W.shape[0] + 1, W.shape[1] + (l < last)))
        A[:-1, :W.shape[1]] = W
        A[-1, :W.shape[1]] = b
        if l < last:
            A[-1, -1] = 1.0  # the column of ones for the next layer
        folded.append((A, None))
    return folded


def mlp_values(mlp, weights, x):
    """The MLP's output on one block x (rows, n_in), with weights from ``mlp_weights``:
    a_l = h_{l-1} W_l + b_l, h_l = act(a_l) (l < L), output a_L; a_l is overwritten in place."""
    act = activation(mlp.activation)
    h = x
    last = len(weights) - 1
    if weights and weights[0][1] is None:  # folded biases: the input gets its column of ones
        h = onp.empty((x.shape[0], x.shape[1] + 1))
        h[:, :-1] = x
        h[:, -1] = 1.0
        for l, (A, _) in enumerate(weights):
            a = h @ A  # [h_{l-1}, 1] A_l = [a_l, 1]
            h = act(a) if l < last else a
        return h
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
