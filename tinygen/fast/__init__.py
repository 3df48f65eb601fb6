"""The fast path: hand-written kernels for the hot spots, off the reading path.

The model modules (``nn``, ``flows``, ``arm``, ``vae``) hold the lecture's math once,
as plain autograd-traceable code; that is the reference. Each module here
registers a faster equivalent for one model method (``registry.accelerate``),
and the model module never knows:

    mlp.py        MLP.apply as one operation with a hand-written backward pass
    coupling.py   AffineCoupling's density direction, likewise
    spline.py     SplineCoupling's density direction (the rational-quadratic spline's inverse)
    made.py       a Gaussian MADE's log-likelihood
    flow.py       a whole stack's density direction (coupling, spline, MAF, permutation, ActNorm layers)
    vae.py        the Gaussian VAE's ELBO (encoder, reparameterization, decoder, closed-form KL)
    pixelcnn.py   PixelCNN's patch gathering by strided views (im2col / col2im)

Rules every kernel keeps: it equals the reference in value and in first and
second derivatives (tests/test_fast.py); it steps aside under nested or forward-mode
differentiation, so Hessians differentiate the reference code; it keeps no state
after a call returns. To step through the lecture code in a debugger:

    with tinygen.fast.disabled():
        model.loss(params, x)

Training loops run with one BLAS thread (faster at these sizes, and robust on a
busy machine); ``set_blas_threads(None)`` or ``with blas_threads(n):`` opts out.
"""
from .._threads import blas_threads, set_blas_threads
from . import coupling, flow, made, mlp, pixelcnn, spline, vae  # noqa: F401  (importing a kernel module registers it)
from .registry import KERNELS, accelerate, reference_of
from .switch import disabled, enabled, is_enabled

__all__ = ["KERNELS", "accelerate", "blas_threads", "disabled", "enabled", "is_enabled", "reference_of",
           "set_blas_threads"]
