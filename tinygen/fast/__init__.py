"""The fast path: hand-written kernels for the hot spots, off the reading path.

The model modules (``nn``, ``flows``, ``arm``, ``vae``) hold the lecture's math once,
as plain autograd-traceable code; that is the reference. Each module here
registers a faster equivalent for one model method (``registry.accelerate``),
and the model module never knows. The kernels are put in place only while a
differentiation that can use them runs: ``minimize`` (hence ``fit``) computes each
gradient inside ``installed()``, and so can a loop of your own:

    with tinygen.fast.installed():
        g = autograd.grad(loss)(params)

The same block serves untraced calls (nothing differentiated: a test NLL, a density grid,
sampling) with kernels that need values only, run block by block over the rows so each
block's intermediates stay in cache. Where they run, and why only there:

- tinygen's own evaluation entry points (``tinygen.evaluate``: ``test_nll``, hence the
  recipes' ``score``; ``grid_integral``; ``plot.density``, hence the demos' density figures; ``kl_to_truth``,
  ``moons_bridge_ratio``) enter ``installed()`` around their model calls;
- your own code gets them the same way:

      with tinygen.fast.installed():
          log_p = model.log_prob(params, x_test)
          x = model.sample(params, 100_000, rng)

- a plain ``model.log_prob`` or ``model.sample`` outside any block runs the reference code,
  the stepping route. Serving it too would need a dispatcher on the class at every call,
  when no block is open: a frame of this package on every public call, under ``disabled()``
  as well (the stepping route would leave the model modules), or a model module that calls
  into the fast path (the wrong direction for the imports). The block keeps both clean.

Everywhere else (your own ``autograd.grad`` outside such a block, a plain call) the model
classes hold only their own methods and the reference code runs. The kernels:

    mlp.py        MLP.apply as one operation with a hand-written backward pass
    coupling.py   AffineCoupling's density direction, likewise
    spline.py     SplineCoupling's density direction (the rational-quadratic spline's inverse)
    made.py       a Gaussian MADE's log-likelihood
    flow.py       a whole stack's density direction (coupling, spline, MAF, permutation, ActNorm layers)
    vae.py        the VAE's ELBO (encoder, reparameterization, decoder, closed-form KL; or an IAF
                  posterior, through flow.py's sampling steps, with the Monte Carlo KL)
    pixelcnn.py   PixelCNN's patch gathering by strided views (im2col / col2im)
    rnn.py        RNNARM.hidden_states: the whole recurrence, backpropagation through time by hand
    transformer.py  TransformerARM.logits_onehot: embeddings, attention blocks and the output layer
                    (untraced too: the same forward pass on blocks of sequences)
    sequence.py   a sequence model's log-likelihood from its logits (log-softmax and the pick)
  untraced (values only, block by block; fast/blocks.py holds the blocks and the in-place MLP):
    flow_values.py    a whole stack's density and sampling directions (couplings, splines, MAF,
                      IAF, permutations, ActNorm, LU linear)
    spline_values.py  the rational-quadratic spline with its bins first, both directions
    model_values.py   MADE's log p and Gaussian sampling, the VAE's importance weights (Gaussian or IAF
                      posterior) and sampling
    continuous.py     the CNF's ODE solves: its field, and the exact trace by forward mode instead of D
                      reverse passes
    transformer.py    (above) the transformer's forward pass on blocks of sequences
  and under both: plain.py, functional.py's stable functions (softplus, sigmoid, log softplus, softmax)
  in plain NumPy, the same floats without autograd's wrapper per operation (tests/test_fast_plain.py)

Rules every kernel keeps: it equals the reference in value and in first and
second derivatives (tests/test_fast.py; the untraced ones in value, for any block size,
tests/test_fast_untraced.py); it steps aside under nested or forward-mode
differentiation, so Hessians differentiate the reference code; it keeps no state
after a call returns. To step through the lecture code in a debugger, even inside
a training loop:

    with tinygen.fast.disabled():
        model.loss(params, x)

Training loops run with one BLAS thread (faster at these sizes, and robust on a
busy machine); ``set_blas_threads(None)`` or ``with blas_threads(n):`` opts out. From the
first loop or block on, malloc keeps freed memory in the process (Linux), so that a step's
arrays do not fault their pages in again every step (tinygen/_heap.py);
``set_heap_retention(False)`` before it opts out.
"""
from .._heap import is_retaining, set_heap_retention
from .._threads import blas_threads, set_blas_threads
from . import (  # noqa: F401  (importing a kernel module registers it)
    continuous,
    coupling,
    flow,
    flow_values,
    made,
    mlp,
    model_values,
    pixelcnn,
    rnn,
    sequence,
    spline,
    transformer,
    vae,
)
from .registry import KERNELS, accelerate, installed, is_installed, reference_of
from .switch import disabled, enabled, is_enabled

__all__ = ["KERNELS", "accelerate", "blas_threads", "disabled", "enabled", "installed", "is_enabled",
           "is_installed", "is_retaining", "reference_of", "set_blas_threads", "set_heap_retention"]
