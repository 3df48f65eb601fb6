"""Property checks for your own layers and models: point them at your code.

    from tinygen.testing import check_flow
    report = check_flow(my_layer)      # draws and perturbs params itself
    print(report)                      # a table: property, worst case, tolerance, pass/FAIL
    report.assert_ok()                 # in a pytest test

Every check returns a ``Report``: truthy iff every property holds, printed as a
short table that names, for a failure, the input where it failed and by how much.

* ``check_flow``: invertibility both ways, hand-written log-dets against autograd's
  Jacobian, their cancelling, a gradient for every parameter, large inputs.
* ``check_normalized``: the density sums / integrates to one (enumeration,
  quadrature or importance sampling, and it says which).
* ``check_autoregressive``: output at position t reads only inputs at positions < t.
* ``check_bound``: an ELBO / IWAE estimate stays below log p(x) within its Monte
  Carlo error, rises with K, and is tight at the exact posterior.

``tinygen.testing.strategies`` holds the hypothesis strategies tinygen's own tests use.
"""
from .autoregressive import check_autoregressive
from .bound import check_bound
from .continuous import check_log_density_ode, check_trace_estimator
from .density import check_normalized
from .diffusion import check_diffusion_bound, check_schedule, check_score
from .flows import check_flow, leaves, perturb
from .report import Report, Row
from .samplers import check_discriminator, check_sampler

__all__ = ["Report", "Row", "check_autoregressive", "check_bound", "check_diffusion_bound", "check_flow",
           "check_log_density_ode", "check_normalized", "check_schedule", "check_score", "check_trace_estimator",
           "check_discriminator", "check_sampler", "leaves", "perturb"]
