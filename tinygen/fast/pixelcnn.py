"""PixelCNN's patch gathering (im2col) as two linear primitives (``arm.pixelcnn.patches`` is the reference).

The reference slices the padded image k^2 times; autograd's gradient of each
slice scatters into a zero array of the whole image, the slowest step of training.
``im2col`` takes all patches as strided views in one copy, and ``col2im``, its
adjoint, adds every patch slot back onto the pixel it read. Both are linear and
each one's VJP is the other, so they are exact to every order of derivative.
"""
import numpy as onp
from autograd.extend import defvjp, primitive

from ..arm.pixelcnn import PixelCNN, masked_conv2d
from .registry import accelerate

__all__ = ["conv"]


@primitive
def im2col(padded, k):
    """(n, H+2p, W+2p, C) -> (n, H, W, k k C), the same layout as ``arm.pixelcnn.patches``."""
    n, Hp, Wp, C = padded.shape
    H, W = Hp - k + 1, Wp - k + 1
    windows = onp.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
    # windows: (n, H, W, C, k, k) -> (n, H, W, k, k, C), copied into one block
    return onp.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(n, H, W, k * k * C)


@primitive
def col2im(g, padded_shape, k):
    """The adjoint of im2col: every padded pixel sums the patch slots that read it."""
    n, Hp, Wp, C = padded_shape
    H, W = Hp - k + 1, Wp - k + 1
    g = onp.reshape(g, (n, H, W, k, k, C))
    out = onp.zeros(padded_shape)
    for r in range(k):
        for c in range(k):
            out[:, r:r + H, c:c + W, :] += g[:, :, :, r, c, :]
    return out


defvjp(im2col, lambda ans, padded, k: lambda g: col2im(g, padded.shape, k))
defvjp(col2im, lambda ans, g, padded_shape, k: lambda v: im2col(v, k))


@accelerate(PixelCNN, "_conv")
def conv(model, h, layer, m):
    """``masked_conv2d`` with the patches gathered by ``im2col``."""
    return masked_conv2d(h, layer, m, gather=im2col)
