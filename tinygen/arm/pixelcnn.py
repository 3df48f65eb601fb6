"""PixelCNN (van den Oord et al. 2016) for small binary images, pixels in raster order.

An image x of H x W binary pixels is read row by row, left to right, as
x_1, ..., x_D with D = H W, and modelled autoregressively (lecture):

    p(x) = prod_d p(x_d | x_1, ..., x_{d-1}),   p(x_d = 1 | x_{<d}) = s(l_d),

with one Bernoulli logit l_d per pixel. All D logits come out of ONE pass of a
convolutional network whose kernels are masked so that l_d never sees x_d or
any later pixel ("masked convolutions ensure proper conditionals"):

    mask A (first layer)     mask B (later layers), 5 x 5
    1 1 1 1 1                1 1 1 1 1
    1 1 1 1 1                1 1 1 1 1
    1 1 0 0 0                1 1 1 0 0
    0 0 0 0 0                0 0 0 0 0
    0 0 0 0 0                0 0 0 0 0

The first layer reads the image, so it must exclude the centre pixel itself
(A). Later layers read features that at position d already depend only on
x_{<d}, so they may include the centre (B). Sampling still needs D passes.

Receptive field: stacked masked kernels never reach a wedge of earlier
pixels above and to the right (the "blind spot"; in the row just above, only
k // 2 columns to the right of the first kernel). The gated PixelCNN removes
it with two stacks; on tiny images a first kernel of size >= 2 W - 1 covers
the k // 2 rows above it whole (rows farther up are reached through later layers).
"""
import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._threads import in_hot_loop
from .._validate import (as_float_array, as_rng, check_batch, check_binary, check_context, check_option,
                         check_params, check_positive_int)
from ..distributions import Bernoulli
from ..nn import ACTIVATIONS, dense, init_dense

__all__ = ["MASK_KINDS", "PixelCNN", "mask", "masked_conv2d", "patches"]

MASK_KINDS = ("A", "B")


def mask(kind, kernel_size):
    """The k x k PixelCNN mask M: M[r, c] = 1 where the kernel may look.

    Centre p = k // 2. Rows above the centre are all 1, the centre row is 1
    left of the centre, and 0 from there on (A) or from just after it (B).
    Rows below the centre are 0.
    """
    check_option(kind, "kind", MASK_KINDS)
    k = _check_kernel_size(kernel_size)
    p = k // 2
    r, c = onp.meshgrid(onp.arange(k), onp.arange(k), indexing="ij")
    # raster position of (r, c) relative to the centre: negative = earlier pixel
    before = (r < p) | ((r == p) & (c < p))
    return (before | ((kind == "B") & (r == p) & (c == p))).astype(onp.float64)


def _check_kernel_size(k, name="kernel_size"):
    k = check_positive_int(k, name, minimum=3)
    if k % 2 == 0:
        raise ValueError(f"{name}: expected an odd int >= 3 (a centre pixel), got {k}")
    return k


def patches(padded, k):
    """Every k x k patch of a zero-padded image: (n, H+2p, W+2p, C) -> (n, H, W, k k C).

    patches[:, i, j, (r k + c) C + ch] = padded[:, i + r, j + c, ch], the input
    pixel (i + r - p, j + c - p): kernel entry (r, c) looks at the offset
    (r - p, c - p), so the masks above are read the natural way round.
    """
    H, W = padded.shape[1] - k + 1, padded.shape[2] - k + 1
    return np.concatenate([padded[:, r:r + H, c:c + W, :] for r in range(k) for c in range(k)], axis=-1)


def masked_conv2d(h, layer, m, gather=None):
    """One masked 2-D convolution, im2col style.

    h: features (n, H, W, C_in); layer: {"W": (k k C_in, C_out), "b": (C_out,)}
    with row (r k + c) C_in + ch of W the kernel weight at (r, c) for input
    channel ch; m: a k x k mask. Returns (n, H, W, C_out):

        y[i, j, o] = b_o + sum_{r, c, ch} M[r, c] W[r, c, ch, o] h[i + r - p, j + c - p, ch]

    zero outside the image. This is a cross-correlation (no kernel flip), so
    M[r, c] is the weight's own position; autograd.scipy.signal.convolve flips
    the kernel, which would turn mask A upside down. All H W patches are
    gathered into one (n, H, W, k k C_in) array (im2col; ``gather`` replaces
    ``patches`` with a faster equivalent), then one masked matmul.
    """
    C_in = h.shape[-1]
    k = m.shape[0]
    p = k // 2
    padded = np.pad(h, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant")
    # the mask repeats over input and output channels: (k k, 1) -> (k k C_in, C_out)
    m_full = onp.repeat(m.reshape(k * k, 1), C_in, axis=0) * onp.ones((1, layer["b"].shape[0]))
    return dense(layer, (gather or patches)(padded, k), mask=m_full)


class PixelCNN:
    """PixelCNN over (n, height, width) binary images.

    l = out_1x1( act( h_L ) ),  h_1 = act( conv_A(2 x - 1) ),
    h_l = h_{l-1} + act( conv_B(h_{l-1}) )   (residual=True; else h_l = act(conv_B(h_{l-1}))).

    n_layers counts the masked convolutions: one A (kernel_size x kernel_size,
    the lecture's 5 x 5) and n_layers - 1 B (kernel_size_b, 3 x 3 as in the
    paper: a k x k layer costs k^2 n_channels^2 multiply-adds per pixel), each
    with n_channels features. Pixels enter as 2 x - 1 in {-1, +1}, so the zero
    padding means "unknown", not "black".
    """

    def __init__(self, height, width, n_channels=16, n_layers=4, kernel_size=5,
                 kernel_size_b=3, activation="relu", residual=True):
        self.height = check_positive_int(height, "height")
        self.width = check_positive_int(width, "width")
        self.n_channels = check_positive_int(n_channels, "n_channels")
        self.n_layers = check_positive_int(n_layers, "n_layers")
        self.kernel_size = _check_kernel_size(kernel_size)
        self.kernel_size_b = _check_kernel_size(kernel_size_b, "kernel_size_b")
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        self.residual = bool(residual)
        self.dim = self.height * self.width
        # structure, not parameters: one k x k mask per layer
        self.masks = [mask("A", self.kernel_size)]
        self.masks += [mask("B", self.kernel_size_b) for _ in range(self.n_layers - 1)]

    def init(self, rng):
        """He-initialized masked kernels and the 1x1 output layer."""
        rng = as_rng(rng)
        C = self.n_channels
        conv = [init_dense(rng, m.size * (1 if l == 0 else C), C, "he") for l, m in enumerate(self.masks)]
        return {"conv": conv, "out": init_dense(rng, C, 1, "glorot")}

    def _check_x(self, x, name="x"):
        """Shape (n, H, W) with n >= 1 and finite values; works on traced arrays."""
        if not hasattr(x, "_value"):
            x = as_float_array(x, name, finite=False)
        shape = tuple(x.shape)
        expected = f"(n, {self.height}, {self.width})"
        if len(shape) != 3 or shape[1:] != (self.height, self.width) or shape[0] < 1:
            raise ValueError(f"{name}: expected images of shape {expected}, got shape {shape}")
        check_batch(np.reshape(x, (shape[0], self.dim)), name)  # NaN / inf
        return x

    def _conv(self, h, layer, m):
        """One masked convolution (``masked_conv2d``); tinygen.fast gathers its patches faster."""
        return masked_conv2d(h, layer, m)

    def _logits(self, params, x):
        act = ACTIVATIONS[self.activation]
        h = 2.0 * x[..., None] - 1.0  # (n, H, W, 1), pixels in {-1, +1}
        for l, (layer, m) in enumerate(zip(params["conv"], self.masks)):
            a = act(self._conv(h, layer, m))
            h = h + a if (self.residual and l > 0) else a
        return dense(params["out"], act(h))[..., 0]  # 1x1 convolution: (n, H, W)

    def logits(self, params, x):
        """l, shape (n, H, W): l[i, j] is the logit of p(x_ij = 1 | pixels before (i, j)).

        x may hold any finite values here (e.g. to take Jacobians); log_prob needs {0, 1}.
        """
        return self._logits(check_params(params, self), self._check_x(x))

    def log_prob(self, params, x, context=None):
        """log p(x) = sum_d [x_d log s(l_d) + (1 - x_d) log s(-l_d)], shape (n,)."""
        x = self._check_x(x)
        check_context(context, x, 0)  # unconditional: context must be None
        check_params(params, self)
        n = x.shape[0]
        l = np.reshape(self._logits(params, x), (n, self.dim))
        return Bernoulli(l).log_prob(np.reshape(x, (n, self.dim)))  # also checks x in {0, 1}

    def loss(self, params, x, rng=None, context=None):
        """Mean negative log-likelihood -(1/n) sum_i log p(x_i), in nats."""
        return -np.mean(self.log_prob(params, x, context))

    @in_hot_loop  # one pass per dimension or step, each small: one BLAS thread by default (tinygen/_threads.py)
    def sample(self, params, n, rng, context=None):
        """x ~ p(x), shape (n, H, W): D passes, pixel d drawn from s(l_d) given x_{<d}.

        Pixels not yet drawn are 0; pixel d's logit cannot see them (masks),
        nor the rows below row i, so each pass only runs on rows 0..i.
        """
        n = check_positive_int(n, "n")
        rng = as_rng(rng)
        x = onp.zeros((n, self.height, self.width))
        check_context(context, x, 0)
        check_params(params, self)
        for d in range(self.dim):
            i, j = divmod(d, self.width)
            p = F.sigmoid(self._logits(params, x[:, :i + 1])[:, i, j])  # p(x_d = 1 | x_{<d})
            x[:, i, j] = rng.uniform(size=n) < p
        return x


    def inpaint(self, params, x, rng, n_known=None):
        """Complete images from their first ``n_known`` pixels in raster order (default: the top half).

        x: (n, H, W); its first n_known pixels x_1..x_m (rows 1..H/2 by default)
        are observed and must be 0/1, the rest are ignored. The missing pixels
        are drawn one at a time, x_d ~ p(x_d | x_<d) for d = m + 1, ..., D. Every
        observed pixel comes before every missing one in the raster order, so
        the product rule gives the conditional exactly:

            p(x_{m+1..D} | x_{1..m}) = prod_{d > m} p(x_d | x_<d),

        and this is exact sampling from the model's p(bottom | top), in D - m passes.
        Observed pixels are copied into the result, never redrawn.

        Why not an arbitrary mask: if a missing pixel d comes BEFORE an observed
        pixel d' in the ordering, p(x_d | x_<d) never looks at x_{d'}, so drawing
        x_d from it ignores evidence. The exact p(x_d | x_observed) is proportional
        to a sum of p(x) over every completion of the pixels between them (2^m
        terms for m such pixels); a fixed ordering only conditions on its prefix.
        Exact inpainting of any region needs a model trained for that ordering
        (or an ensemble of orderings, or MCMC).
        """
        params = check_params(params, self)
        x = as_float_array(x, "x", finite=False)  # the missing pixels may hold anything, NaN included
        if x.ndim != 3 or x.shape[1:] != (self.height, self.width) or x.shape[0] < 1:
            raise ValueError(f"x: expected images of shape (n, {self.height}, {self.width}), got shape {x.shape}")
        x = onp.array(x, dtype=onp.float64)
        rng = as_rng(rng)
        m = (self.height // 2) * self.width if n_known is None else n_known
        m = check_positive_int(m, "n_known", minimum=0)
        if m > self.dim:
            raise ValueError(f"n_known: expected at most H W = {self.dim} observed pixels, got {m}")
        flat = x.reshape(len(x), self.dim)
        check_binary(flat[:, :m])  # the observed pixels x_1..x_m (NaN is not 0 or 1: refused here)
        flat[:, m:] = 0.0  # not yet drawn: no logit reads them (masks), their value is irrelevant
        x = flat.reshape(x.shape)
        for d in range(m, self.dim):
            i, j = divmod(d, self.width)
            p = F.sigmoid(self._logits(params, x[:, :i + 1])[:, i, j])  # p(x_d = 1 | x_<d)
            x[:, i, j] = rng.uniform(size=len(x)) < p
        return x
