"""Flow layers on images (Kingma & Dhariwal 2018, Glow): squeeze, ActNorm, 1x1 convolution, coupling.

An image h has shape (C, H, W). At the Flow interface every layer takes and
returns flat vectors of D = C H W numbers in channel-major order
(h.reshape(n, D)), so each layer is an ordinary tinygen Flow: check_flow
compares its log-determinant with autograd's D x D Jacobian. In that order the
first half of the channels is the first half of the vector, which is what the
multi-scale factor-out (glow.py) uses. Direction as everywhere in tinygen:
forward f: z -> x (towards the image), inverse g: x -> z.

    Squeeze        g: (C, H, W) -> (4C, H/2, W/2), 2 x 2 space-to-depth    log|det| = 0
    ChannelActNorm x = z exp(s_c) + t_c per channel c                     log|det df/dz| = H W sum_c s_c
    InvConv1x1     x_{:, i, j} = W z_{:, i, j} at every pixel, W = P L U  log|det df/dz| = H W sum_c log|s_c|
    ConvCoupling   x_b = z_b exp(alpha(z_a)) + mu(z_a), a CNN conditioner  log|det df/dz| = sum alpha
"""
import functools
import itertools

import autograd.numpy as np
import numpy as onp

from .. import functional as F
from .._validate import check_hidden, check_positive, check_positive_int, value_of
from ..arm.pixelcnn import masked_conv2d
from ..nn import dense, init_dense
from .base import Flow
from .linear import MIN_STD, LULinear

__all__ = ["ChannelActNorm", "ConvCoupling", "ImageFlow", "InvConv1x1", "Squeeze", "check_shape", "conv",
           "space_to_depth"]


def check_shape(shape, name="shape", even=()):
    """An image shape (C, H, W) of positive ints; axes listed in ``even`` must be even."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(f"{name}: expected a tuple (C, H, W), got {shape!r}")
    shape = tuple(check_positive_int(s, f"{name}[{i}]") for i, s in enumerate(shape))
    for axis in even:
        if shape[axis] % 2:
            raise ValueError(f"{name}: expected an even {'CHW'[axis]} (it is halved), got shape {shape}")
    return shape


class ImageFlow(Flow):
    """A Flow on flat images: ``shape`` (C, H, W), dim = C H W; ``image`` and ``flat`` convert."""

    def __init__(self, shape, even=()):
        self.shape = check_shape(shape, even=even)
        self.dim = int(onp.prod(self.shape))

    def image(self, v):
        return np.reshape(v, (v.shape[0],) + self.shape)        # (n, D) -> (n, C, H, W)

    @staticmethod
    def flat(h):
        return np.reshape(h, (h.shape[0], -1))                   # (n, C, H, W) -> (n, D)


def space_to_depth(h):
    """(n, C, H, W) -> (n, 4C, H/2, W/2): out[:, 4c + 2r + s, i, j] = h[:, c, 2i + r, 2j + s]."""
    n, C, H, W = h.shape
    h = np.reshape(h, (n, C, H // 2, 2, W // 2, 2))              # (n, c, i, r, j, s)
    h = np.transpose(h, (0, 1, 3, 5, 2, 4))                      # (n, c, r, s, i, j)
    return np.reshape(h, (n, 4 * C, H // 2, W // 2))


class Squeeze(ImageFlow):
    """g: (C, H, W) -> (4C, H/2, W/2), each 2 x 2 block of a channel becomes 4 channels of one pixel.

    It only moves numbers, so it is a permutation of the D coordinates: |det| = 1, log|det| = 0,
    and it inverts exactly. ``shape`` is the image side (x); the z side is (4C, H/2, W/2).
    The permutation is found once by squeezing the indices 0..D-1 (structure, not params).
    """

    def __init__(self, shape):
        super().__init__(shape, even=(1, 2))
        C, H, W = self.shape
        self.out_shape = (4 * C, H // 2, W // 2)
        self.perm = space_to_depth(onp.arange(self.dim).reshape((1,) + self.shape)).ravel()
        self.inv_perm = onp.argsort(self.perm)

    def _inverse(self, params, x, context):
        return x[:, self.perm], np.zeros(x.shape[0])              # z = squeeze(x)

    def _forward(self, params, z, context):
        return z[:, self.inv_perm], np.zeros(z.shape[0])          # x = unsqueeze(z)


class ChannelActNorm(ImageFlow):
    """x_{c,i,j} = z_{c,i,j} exp(s_c) + t_c: ActNorm with one scale and shift per channel.

    The Jacobian is diagonal with exp(s_c) repeated over the H W pixels of channel c:
    log|det df/dz| = H W sum_c s_c. ``data_init`` sets t_c, s_c to the mean and log std
    of channel c over the batch and all pixels, so g(x) starts standardized per channel.
    params: {"s": (C,), "t": (C,)}
    """

    def init(self, rng):
        return {"s": onp.zeros(self.shape[0]), "t": onp.zeros(self.shape[0])}

    def data_init(self, params, x, context=None):
        h = value_of(self.image(x))
        if h.shape[0] < 2:
            raise ValueError(f"x: ChannelActNorm.data_init needs at least 2 rows, got {h.shape[0]}")
        t = h.mean(axis=(0, 2, 3))
        return {"s": onp.log(onp.maximum(h.std(axis=(0, 2, 3)), MIN_STD)), "t": t}

    def _affine(self, params, v, sign):
        s, t = params["s"][:, None, None], params["t"][:, None, None]
        h = self.image(v)
        out = h * np.exp(s) + t if sign > 0 else (h - t) * np.exp(-s)   # x = z e^s + t;  z = (x - t) e^-s
        HW = self.shape[1] * self.shape[2]
        return self.flat(out), sign * HW * np.sum(params["s"]) * np.ones(v.shape[0])

    def _forward(self, params, z, context):
        return self._affine(params, z, +1)

    def _inverse(self, params, x, context):
        return self._affine(params, x, -1)


class InvConv1x1(ImageFlow):
    """An invertible 1 x 1 convolution: the same C x C matrix W = P L U mixes the channels at every pixel.

    As a D x D matrix it is W kron I_{HW} (channel-major order), whose determinant is
    det(W)^{HW}: log|det df/dz| = H W log|det W| = H W sum_c log s_c, with the diagonal
    s_c = exp(log_s_c) of U. W, its LU factors and the bias b per channel are an ``LULinear``'s.

        forward   x_{:, i, j} = W z_{:, i, j} + b
        inverse   z_{:, i, j} = W^-1 (x_{:, i, j} - b)

    W is only C x C (4 or 8 here), so the inverse forms W^-1 once per call, one small matrix
    inverse, and applies it to all n H W pixels in one product. (Solving L U z = P^T (x - b) by
    substitution, as ``LULinear`` does for a long vector, would cost a row-by-row Python loop
    per call: most of a Glow training step, which evaluates log p and so runs this inverse.)
    """

    def __init__(self, shape, rng=0):
        super().__init__(shape)
        self.linear = LULinear(self.shape[0], rng)

    def init(self, rng):
        return self.linear.init(rng)

    def _mix(self, M, b, v):
        """M h_{:, i, j} + b at every pixel: (n, D) -> (n, D), one tensordot over the channels."""
        h = np.tensordot(self.image(v), M, axes=([1], [1]))     # (n, H, W, C): sum_c' h_{c'} M_{c c'}
        return self.flat(np.transpose(h + b, (0, 3, 1, 2)))

    def _forward(self, params, z, context):
        HW = self.shape[1] * self.shape[2]
        log_det = HW * np.sum(params["log_s"]) * np.ones(z.shape[0])         # H W sum_c log s_c
        return self._mix(self.linear.weight(params), params["b"], z), log_det  # x = W z + b

    def _inverse(self, params, x, context):
        W_inv = np.linalg.inv(self.linear.weight(params))                     # C x C
        HW = self.shape[1] * self.shape[2]
        log_det = -HW * np.sum(params["log_s"]) * np.ones(x.shape[0])
        return self._mix(W_inv, -np.dot(W_inv, params["b"]), x), log_det    # z = W^-1 x - W^-1 b


MAX_GATHER_PIXELS = 256  # images up to 16 x 16 gather patches by one product with ``neighbours``


@functools.lru_cache(maxsize=None)
def neighbours(height, width, k):
    """The k x k neighbourhoods of an image as a fixed 0/1 array S, shape (H W, H W, k k) (structure).

    S[p', p, q] = 1 when pixel p' sits at offset (r - k//2, c - k//2), q = r k + c, from pixel p;
    offsets falling outside the image have no p' (zero padding).
    """
    S = onp.zeros((height * width, height * width, k * k))
    for i, j, r, c in itertools.product(range(height), range(width), range(k), range(k)):
        i2, j2 = i + r - k // 2, j + c - k // 2
        if 0 <= i2 < height and 0 <= j2 < width:
            S[i2 * width + j2, i * width + j, r * k + c] = 1.0
    S.flags.writeable = False
    return S


def conv(h, layer, k):
    """A k x k convolution with zero padding, channel-last (n, H, W, C_in) -> (n, H, W, C_out), by im2col.

    The patches (n, H, W, k k C_in), laid out as ``arm.pixelcnn.patches`` lays them out, then one
    dense layer. On small images they are gathered by one product with ``neighbours``,

        patches[:, p, q, ch] = sum_p' h[:, p', ch] S[p', p, q],

    whose gradient is one product too: the k^2 slices of a padded image that ``masked_conv2d`` takes
    cost autograd a scatter each on the way back, most of a Glow step's time on 8 x 8 digits.
    """
    if k == 1:
        return dense(layer, h)                                    # a 1 x 1 convolution is a dense layer per pixel
    n, H, W, C = h.shape
    if H * W > MAX_GATHER_PIXELS:                                 # S grows as (H W)^2: slice instead
        return masked_conv2d(h, layer, onp.ones((k, k)))          # a full k x k kernel: the mask keeps it all
    patches = np.tensordot(np.reshape(h, (n, H * W, C)), neighbours(H, W, k), axes=([1], [0]))  # (n, C, HW, kk)
    patches = np.reshape(np.transpose(patches, (0, 2, 3, 1)), (n, H, W, k * k * C))
    return dense(layer, patches)


class ConvCoupling(ImageFlow):
    """Affine coupling on channels (RealNVP / Glow): z = (z_a, z_b), the first and second half of the channels.

        x_a = z_a,   x_b = z_b * exp(alpha) + mu,   (alpha, mu) = CNN(z_a)
        z_b = (x_b - mu) * exp(-alpha),   log|det df/dz| = sum_{c, i, j} alpha_{c,i,j}

    alpha = s_max tanh(a / s_max) soft-clamps the raw output a, as ``AffineCoupling`` does.
    The CNN: 3 x 3 conv -> relu -> 1 x 1 conv -> relu -> 3 x 3 conv for hidden_channels=(h, h)
    (one 3 x 3 conv then the last 3 x 3 for (h,); the last alone for ()). Its last layer
    is zero, so alpha = mu = 0 and the layer starts as the identity.
    """

    def __init__(self, shape, hidden_channels=(32, 32), s_max=2.0):
        super().__init__(shape, even=(0,))
        self.hidden = check_hidden(hidden_channels, "hidden_channels")
        self.s_max = check_positive(s_max, "s_max")
        C = self.shape[0]
        sizes = (C // 2, *self.hidden, C)                         # C_a in; alpha and mu for C_b = C/2 out
        # kernels: 3 x 3 first and last, 1 x 1 in between (Glow's conditioner)
        self.kernels = [3 if l in (0, len(sizes) - 2) else 1 for l in range(len(sizes) - 1)]
        self.sizes = sizes

    def init(self, rng):
        last = len(self.kernels) - 1
        return {"conv": [init_dense(rng, k * k * a, b, "zeros" if l == last else "he")
                         for l, (k, a, b) in enumerate(zip(self.kernels, self.sizes[:-1], self.sizes[1:]))]}

    def _theta(self, params, z_a):
        """(alpha, mu) from the CNN, each (n, C/2, H, W)."""
        h = np.transpose(z_a, (0, 2, 3, 1))                       # channel-last for im2col
        for l, (layer, k) in enumerate(zip(params["conv"], self.kernels)):
            h = conv(h, layer, k)
            if l < len(self.kernels) - 1:
                h = F.relu(h)
        h = np.transpose(h, (0, 3, 1, 2))
        half = self.shape[0] // 2
        return F.soft_clamp(h[:, :half], self.s_max), h[:, half:]

    def _couple(self, params, v, inverse):
        h = self.image(v)
        half = self.shape[0] // 2
        z_a, u = h[:, :half], h[:, half:]
        alpha, mu = self._theta(params, z_a)
        out = (u - mu) * np.exp(-alpha) if inverse else u * np.exp(alpha) + mu
        log_det = np.sum(np.reshape(alpha, (v.shape[0], -1)), axis=1)
        return self.flat(np.concatenate([z_a, out], axis=1)), -log_det if inverse else log_det

    def _forward(self, params, z, context):
        return self._couple(params, z, inverse=False)

    def _inverse(self, params, x, context):
        return self._couple(params, x, inverse=True)
