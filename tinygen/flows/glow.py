"""Glow (Kingma & Dhariwal 2018): a multi-scale flow on images, x (n, C H W) <-> z ~ N(0, I).

Read from the image x towards z (the inverse g), one level of L:

    squeeze:      (C, H, W) -> (4C, H/2, W/2)
    K steps:      ActNorm -> invertible 1 x 1 conv -> affine coupling with a CNN conditioner
    factor out:   keep h_1 (the first 2C channels), let h_2 (the other 2C) leave as latent:
                  p(h_2 | h_1) = N(h_2; mu(h_1), sigma(h_1)^2), a learned conditional prior
    next level:   on h_1 only, shape (2C, H/2, W/2)

and the last level has no factor-out. The prior on h_2 is written as a flow to a
standard normal, z_2 = (h_2 - mu(h_1)) / sigma(h_1), whose log-det is -sum log sigma:

    log N(z_2; 0, I) - sum log sigma = log N(h_2; mu(h_1), sigma(h_1)^2),

exactly the conditional prior's log-density. So every z coordinate has a N(0, 1)
base and the whole model is a ``FlowModel``:

    log p(x) = log N(g(x); 0, I) + sum over all layers of log|det dg_k/dh_{k-1}|.

Sampling at temperature T draws z ~ N(0, T^2 I) and maps it through f = g^-1.
"""
import autograd.numpy as np

from .._validate import as_rng, check_hidden, check_positive, check_positive_int
from .base import Compose, Flow, FlowModel
from .image import ChannelActNorm, ConvCoupling, InvConv1x1, Squeeze, check_shape

__all__ = ["FactorOut", "Glow", "OnKeptHalf", "glow_flow", "glow_step"]


class FactorOut(ConvCoupling):
    """The learned conditional prior of the factored half, as a flow on (C, H, W):

        z_1 = h_1,   z_2 = (h_2 - mu(h_1)) * exp(-log_sigma(h_1)),   log|det dg/dh| = -sum log_sigma

    with (log_sigma, mu) from one zero-initialized 3 x 3 convolution of the kept half h_1
    (so the prior starts as N(0, I)). This is the affine coupling's inverse with
    alpha = log_sigma; its forward, h_2 = mu(h_1) + sigma(h_1) z_2, is sampling h_2 given h_1.
    log_sigma is soft-clamped like the coupling's alpha, |log_sigma| < s_max = 4: sigma in
    (0.018, 55), wider than a coupling's since this one layer alone sets the prior's scale.
    """

    def __init__(self, shape, s_max=4.0):
        super().__init__(shape, hidden_channels=(), s_max=s_max)


class OnKeptHalf(Flow):
    """Run ``inner`` on the kept half h_1 (the first D/2 coordinates, the first C/2 channels) only.

    The factored half passes through unchanged: the Jacobian is block diagonal
    [[J_inner, 0], [0, I]], so log|det| is the inner flow's.
    """

    def __init__(self, inner):
        self.inner = inner
        self.dim = 2 * inner.dim

    def init(self, rng):
        return self.inner.init(rng)

    def data_init(self, params, x, context=None):
        return self.inner.data_init(params, x[:, :self.inner.dim], context)

    def _apply(self, step, params, v):
        out, log_det = step(params, v[:, :self.inner.dim], None)
        return np.concatenate([out, v[:, self.inner.dim:]], axis=1), log_det

    def _forward(self, params, z, context):
        return self._apply(self.inner._forward, params, z)

    def _inverse(self, params, x, context):
        return self._apply(self.inner._inverse, params, x)


def glow_step(shape, hidden_channels, rng):
    """One step of flow (x side first): ActNorm, invertible 1 x 1 convolution, affine coupling."""
    return [ChannelActNorm(shape), InvConv1x1(shape, rng), ConvCoupling(shape, hidden_channels)]


def glow_flow(shape, levels, steps_per_level, hidden_channels, rng=0):
    """The flow of a ``levels``-scale Glow on images of ``shape``, as nested Compose layers.

    Compose applies its layers' forwards first to last (z -> x), so each list is
    written from z towards x: the inverse, x -> z, reads it back to front.
    """
    rng = as_rng(rng)
    C, H, W = shape
    squeeze = Squeeze(shape)                                         # x side (C, H, W)
    inner = squeeze.out_shape                                        # (4C, H/2, W/2)
    steps = [layer for _ in range(steps_per_level) for layer in glow_step(inner, hidden_channels, rng)]
    if levels == 1:
        return Compose(steps[::-1] + [squeeze])
    kept = (inner[0] // 2, inner[1], inner[2])                       # h_1: (2C, H/2, W/2)
    rest = OnKeptHalf(glow_flow(kept, levels - 1, steps_per_level, hidden_channels, rng))
    # from z: the deeper levels on h_1, the prior of h_2 given h_1, the steps, then unsqueeze
    return Compose([rest, FactorOut(inner)] + steps[::-1] + [squeeze])


class Glow(FlowModel):
    """A multi-scale Glow on images of ``shape`` (C, H, W), flattened to (n, C H W) at the model boundary.

    levels: squeezes (H and W must be divisible by 2^levels); each level but the last
    factors out half its channels. steps_per_level: (ActNorm, 1 x 1 conv, coupling)
    steps per level. hidden_channels: the coupling CNN's channels, e.g. (32, 32).
    rng: draws the fixed permutations P of the 1 x 1 convolutions (structure).
    ``init(rng, x)`` with data x runs ActNorm's data-dependent initialization.
    """

    def __init__(self, shape=(1, 8, 8), levels=2, steps_per_level=4, hidden_channels=(32, 32), rng=0):
        shape = check_shape(shape)
        self.levels = check_positive_int(levels, "levels")
        self.steps_per_level = check_positive_int(steps_per_level, "steps_per_level")
        self.hidden_channels = check_hidden(hidden_channels, "hidden_channels")
        if shape[1] % 2 ** self.levels or shape[2] % 2 ** self.levels:
            raise ValueError(f"shape: expected H and W divisible by 2^levels = {2 ** self.levels}, got {shape}")
        self.shape = shape
        super().__init__(glow_flow(shape, self.levels, self.steps_per_level, self.hidden_channels, rng))

    def sample(self, params, n, rng, context=None, temperature=1.0):
        """x = f(z), z ~ N(0, T^2 I): T < 1 trades diversity for cleaner samples."""
        temperature = check_positive(temperature, "temperature")
        z, context = self._base_sample(n, rng, context)
        return self.flow.forward(params, temperature * z, context)[0]
