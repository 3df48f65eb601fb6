"""The fast path: hand-written kernels for the hot spots, off the reading path.

The model modules (``nn``, ``flows``, ``arm``, ``vae``) hold the lecture's math once,
as plain autograd-traceable code; that is the reference. Each module here
registers a faster equivalent for one model method (``registry.accelerate``),
and the model module never knows. The kernels are put in place only while a
differentiation that can use them runs: ``minimize`` (hence ``fit``) computes each
gradient inside ``installed()``, and so can a loop of your own:

    with tinygen.fast.installed():
        g = autograd.grad(loss)(params)

Everywhere else (evaluation, sampling, your own ``autograd.grad`` outside such a
block) the model classes hold only their own methods and the reference code runs.
The kernels:

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
after a call returns. To step through the lecture code in a debugger, even inside
a training loop:

    with tinygen.fast.disabled():
        model.loss(params, x)

Training loops run with one BLAS thread (faster at these sizes, and robust on a
busy machine); ``set_blas_threads(None)`` or ``with blas_threads(n):`` opts out.
"""
from .._threads import blas_threads, set_blas_threads
from . import coupling, flow, flow_values, made, mlp, model_values, pixelcnn, spline, vae  # noqa: F401  (importing a kernel module registers it)
from .registry import KERNELS, accelerate, installed, is_installed, reference_of
from .switch import disabled, enabled, is_enabled

__all__ = ["KERNELS", "accelerate", "blas_threads", "disabled", "enabled", "installed", "is_enabled",
           "is_installed", "reference_of", "set_blas_threads"]
