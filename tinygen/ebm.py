"""Energy-based models: p_theta(x) = exp(-E_theta(x)) / Z_theta, Z_theta = int_B exp(-E_theta(x)) dx.

E_theta is an MLP (smooth activations, so that grad_x E exists everywhere for
Langevin dynamics). The model lives on a box B (``box``): p_theta(x) = 0 outside
it. That is what makes log Z exact in 2-D: the quadrature covers all of B,
so ``log_prob`` is exact up to the quadrature's error estimate, and a test NLL
can be set beside the true entropy H(p).

Two ways to train, chosen by ``objective``:

* "cd" -- maximum likelihood by contrastive divergence. For one example,
      grad_theta -log p_theta(x) = grad_theta E_theta(x) - E_{x~ ~ p_theta}[grad_theta E_theta(x~)],
  so the surrogate L = E_data[E_theta(x)] - E_model[E_theta(x~)], with x~ drawn by
  Langevin and held fixed, has the likelihood's gradient
      E_data[grad E] - E_model[grad E]
  whenever x~ really follows p_theta. Short-run chains (``loss``) start from
  uniform noise on B; persistent chains (``fit_ebm(..., persistent=True)``) keep
  a buffer of chain states between steps, held by ``fit_ebm``, not by the model.
* "dsm" -- denoising score matching (Vincent 2011): with x~ = x + sigma eps,
      L = sigma^2 / 2 E |s_theta(x~) + eps / sigma|^2,   s_theta(x) = -grad_x E_theta(x).

The lesson: the density the EBM learned (``log_prob``) and the distribution its
short-run sampler draws are not the same; ``tinygen.testing.check_sampler`` with
``model.log_prob`` measures the second against the first, ``log_prob`` on test
data measures the first against the truth.
"""
import autograd.numpy as np
import numpy as onp
from autograd import grad, value_and_grad
from autograd.tracer import getval

from . import optim
from ._threads import in_hot_loop
from ._validate import (NonFiniteError, as_batch, as_float_array, as_rng, check_callable, check_hidden,
                        check_option, check_params, check_positive, check_positive_int)
from .data.potentials import quadrature_log_z
from .nn import MLP

__all__ = ["EBM", "MOONS_BOX", "fit_ebm", "langevin", "reflect"]

MOONS_BOX = ((-2.0, 3.0), (-1.5, 2.0))  # two moons' MOONS_BOUNDS widened by 0.5 = 10 noise widths
OBJECTIVES = ("cd", "dsm")


def _box(box, dim):
    if box is None:
        if dim != 2:
            raise ValueError(f"box: expected {dim} pairs (lo, hi) (the default covers two moons, in 2-D), got None")
        box = MOONS_BOX
    b = as_float_array(box, "box", ndim=2)
    if b.shape != (dim, 2) or not onp.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"box: expected {dim} pairs (lo, hi) with lo < hi, got {b.tolist()}")
    return b


def reflect(x, box):
    """Fold points back into the box like light between two mirrors: y = (x - lo) mod 2L, x' = lo + L - |L - y|.

    Reflection leaves the uniform density on the box invariant, so the noise of a
    Langevin step that crosses a wall is not biased towards the wall.
    """
    lo, length = box[:, 0], box[:, 1] - box[:, 0]
    y = onp.mod(x - lo, 2 * length)
    return lo + length - onp.abs(length - y)


@in_hot_loop  # one BLAS thread by default: see tinygen/_threads.py
def langevin(energy, x0, steps, step_size, rng, adjusted=False, box=None):
    """Langevin dynamics on p(x) ~ exp(-E(x)); returns (x_K, acceptance rate).

    energy: x (n, D) -> E(x) (n,), written with autograd.numpy (its gradient in x is taken).
    Unadjusted (ULA), in the parametrization of Welling & Teh (2011) with epsilon/2 -> epsilon
    (Du & Mordatch 2019 write lambda = 2 epsilon):

        x_{k+1} = x_k - epsilon grad_x E(x_k) + sqrt(2 epsilon) xi_k,   xi_k ~ N(0, I).

    Its stationary law differs from p by O(epsilon). Metropolis-adjusted (MALA, ``adjusted=True``)
    takes that step as a proposal x' and accepts it with probability min(1, a),

        a = exp(-E(x') + E(x)) q(x | x') / q(x' | x),   q(x' | x) = N(x'; x - epsilon grad E(x), 2 epsilon I),

    which makes p exactly invariant. On a box, ULA reflects at the walls and MALA rejects
    proposals outside (p = 0 there).
    """
    rng = as_rng(rng)
    check_callable(energy, "energy", "x (n, D) -> E(x) (n,)")
    steps = check_positive_int(steps, "steps", minimum=0)
    eps = check_positive(step_size, "step_size")
    x = onp.array(as_batch(x0, "x0"), dtype=float)
    e_and_grad = value_and_grad(lambda v: np.sum(energy(v)))   # E is per point: grad of the sum is per point

    def energy_of(v):
        return onp.asarray(energy(v), dtype=float)

    accepted = 0.0
    e_x, g_x = (energy_of(x), e_and_grad(x)[1]) if adjusted else (None, None)
    for _ in range(steps):
        g = e_and_grad(x)[1] if not adjusted else g_x
        xi = rng.standard_normal(x.shape)
        proposal = x - eps * g + onp.sqrt(2 * eps) * xi                       # x - eps grad E + sqrt(2 eps) xi
        if not adjusted:
            x = proposal if box is None else reflect(proposal, box)
            continue
        e_p, g_p = energy_of(proposal), e_and_grad(proposal)[1]
        log_q_fwd = -onp.sum((proposal - x + eps * g) ** 2, axis=1) / (4 * eps)   # log q(x' | x) + const
        log_q_bwd = -onp.sum((x - proposal + eps * g_p) ** 2, axis=1) / (4 * eps)  # log q(x | x') + const
        log_a = -e_p + e_x + log_q_bwd - log_q_fwd
        if box is not None:
            inside = onp.all((proposal >= box[:, 0]) & (proposal <= box[:, 1]), axis=1)
            log_a = onp.where(inside, log_a, -onp.inf)
        accept = onp.log(rng.uniform(size=len(x))) < log_a
        x = onp.where(accept[:, None], proposal, x)
        e_x, g_x = onp.where(accept, e_p, e_x), onp.where(accept[:, None], g_p, g_x)
        accepted += accept.mean()
    if not onp.all(onp.isfinite(x)):  # a NaN energy or gradient, or a step far too large for it
        raise NonFiniteError(f"energy: the chains reached NaN or inf; try a smaller step_size than {eps}")
    return x, (accepted / steps if adjusted and steps else 1.0)


class EBM:
    """An energy-based model on the box B: p_theta(x) = exp(-E_theta(x)) / Z_theta for x in B.

    dim: D. hidden: the energy MLP's hidden sizes. activation: smooth ("softplus", "tanh" or "elu")
    so grad_x E is continuous. box: B, D pairs (lo, hi); in 2-D the default ``MOONS_BOX`` covers
    two moons with 10 noise widths to spare (other dimensions must give one).
    objective: "cd" or "dsm" (module docstring).
    steps, step_size: the Langevin chains of ``sample`` and of CD's negatives.
    sigma: the noise of denoising score matching. alpha: the weight of Du & Mordatch's energy
    penalty alpha (E(x)^2 + E(x~)^2), which keeps energies from drifting (0: none).
    """

    def __init__(self, dim, hidden=(64, 64), activation="softplus", box=None, objective="cd",
                 steps=60, step_size=5e-3, sigma=0.1, alpha=0.0):
        self.dim = check_positive_int(dim, "dim")
        check_option(activation, "activation", ("softplus", "tanh", "elu"))
        self.net = MLP((self.dim,) + check_hidden(hidden) + (1,), activation=activation)
        self.box = _box(box, self.dim)
        self.objective = check_option(objective, "objective", OBJECTIVES)
        self.steps = check_positive_int(steps, "steps")
        self.step_size = check_positive(step_size, "step_size")
        self.sigma = check_positive(sigma, "sigma")
        if not (isinstance(alpha, (int, float)) and alpha >= 0):
            raise ValueError(f"alpha: expected a number >= 0, got {alpha!r}")
        self.alpha = float(alpha)

    def init(self, rng):
        return self.net.init(as_rng(rng))

    def energy(self, params, x):
        """E_theta(x), shape (n,)."""
        return self.net.apply(check_params(params, self), as_batch(x, "x", self.dim))[:, 0]

    def log_z(self, params, return_error=False):
        """log Z_theta = log int_B exp(-E_theta(x)) dx by Gauss-Legendre quadrature (D <= 2).

        return_error: also return the quadrature's error estimate (``quadrature_log_z``).
        """
        if self.dim > 2:
            raise ValueError(f"dim: log Z by quadrature needs dim <= 2, got {self.dim}")
        params = check_params(getval(params), self)
        box = self.box if self.dim == 2 else onp.vstack([self.box, [[0.0, 1.0]]])  # 1-D: a unit second axis
        log_z, error = quadrature_log_z(lambda x: -self.energy(params, x[:, :self.dim]), box)
        return (log_z, error) if return_error else log_z

    def log_prob(self, params, x, context=None, log_z=None):
        """log p_theta(x) = -E_theta(x) - log Z_theta inside B, -inf outside (exact up to log Z's error).

        log_z: a value from ``log_z(params)`` to reuse (the quadrature is the costly part);
        log Z is a constant here, not differentiated.
        """
        x = as_batch(x, "x", self.dim)
        log_z = self.log_z(params) if log_z is None else float(log_z)
        inside = onp.all((getval(x) >= self.box[:, 0]) & (getval(x) <= self.box[:, 1]), axis=1)
        return np.where(inside, -self.energy(params, x) - log_z, -np.inf)

    def sample(self, params, n, rng, steps=None, step_size=None, init=None, adjusted=False, context=None):
        """n draws by Langevin (``langevin``) from init (default: uniform on B), ``steps`` steps of ``step_size``."""
        n, rng = check_positive_int(n, "n"), as_rng(rng)
        params = check_params(getval(params), self)
        x0 = self.noise(n, rng) if init is None else as_batch(init, "init", self.dim)
        if x0.shape[0] != n:
            raise ValueError(f"init: expected {n} rows, one per chain, got shape {x0.shape}")
        steps = self.steps if steps is None else steps
        step_size = self.step_size if step_size is None else step_size
        return langevin(lambda v: self.energy(params, v), x0, steps, step_size, rng, adjusted, self.box)[0]

    def noise(self, n, rng):
        """Uniform noise on B, where short-run chains start."""
        return as_rng(rng).uniform(self.box[:, 0], self.box[:, 1], size=(n, self.dim))

    def cd_loss(self, params, x, x_neg):
        """The CD surrogate E_data[E_theta(x)] - E_model[E_theta(x~)] (+ alpha's penalty), x~ held fixed.

        Its gradient, E_data[grad_theta E] - E_model[grad_theta E], is the likelihood's when x~ ~ p_theta.
        """
        e_pos, e_neg = self.energy(params, x), self.energy(params, x_neg)
        penalty = self.alpha * (np.mean(e_pos ** 2) + np.mean(e_neg ** 2))
        return np.mean(e_pos) - np.mean(e_neg) + penalty

    def dsm_loss(self, params, x, rng):
        """sigma^2 / 2 E |s_theta(x + sigma eps) + eps / sigma|^2 with s_theta = -grad_x E_theta."""
        eps = as_rng(rng).standard_normal(getval(x).shape)
        x_noisy = x + self.sigma * eps
        score = -grad(lambda v: np.sum(self.energy(params, v)))(x_noisy)   # s_theta(x~) = -grad_x E
        return 0.5 * self.sigma ** 2 * np.mean(np.sum((score + eps / self.sigma) ** 2, axis=1))

    def loss(self, params, x, rng, context=None):
        """The training loss of ``objective``: CD with short-run chains from noise, or DSM."""
        x, rng = as_batch(x, "x", self.dim), as_rng(rng)
        if self.objective == "dsm":
            return self.dsm_loss(params, x, rng)
        x_neg = self.sample(getval(params), getval(x).shape[0], rng)  # no gradient through the chains
        return self.cd_loss(params, x, x_neg)


def fit_ebm(model, params, x, steps=1000, rng=0, batch_size=256, lr=1e-3, persistent=True,
            buffer_size=10000, reinit=0.05, **options):
    """Train an EBM; with ``persistent`` (objective "cd"), by persistent contrastive divergence.

    The buffer of chain states is local to this call (not in the model, not in params):
    each step takes batch_size states, replaces a share ``reinit`` of them by fresh noise
    (Du & Mordatch 2019), runs ``model.steps`` Langevin steps from there, uses the result
    as x~ in ``cd_loss`` and writes it back. Without ``persistent`` (or for "dsm") this is
    ``optim.fit`` on ``model.loss``. Other options go to ``optim.minimize`` / ``optim.fit``.
    Returns (params, history); with persistent chains history["buffer"] holds the final buffer.
    """
    if not isinstance(model, EBM):
        raise TypeError(f"model: expected a tinygen.ebm.EBM, got {type(model).__name__}")
    if not persistent or model.objective != "cd":
        return optim.fit(model, params, x, steps=steps, batch_size=batch_size, lr=lr, rng=rng, **options)
    x = as_batch(x, "x", model.dim)
    rng, batch_size = as_rng(rng), check_positive_int(batch_size, "batch_size")
    buffer_size = check_positive_int(buffer_size, "buffer_size", minimum=batch_size)
    if not (isinstance(reinit, (int, float)) and 0 <= reinit <= 1):
        raise ValueError(f"reinit: expected a number in [0, 1], got {reinit!r}")
    buffer = model.noise(buffer_size, rng)

    def objective(p, r):
        idx = r.choice(buffer_size, batch_size, replace=False)
        start = onp.where((r.uniform(size=batch_size) < reinit)[:, None], model.noise(batch_size, r), buffer[idx])
        x_neg = model.sample(getval(p), batch_size, r, init=start)
        buffer[idx] = x_neg  # the chains persist to the next step
        batch = x[r.choice(len(x), min(batch_size, len(x)), replace=False)]
        return model.cd_loss(p, batch, x_neg)

    params, history = optim.minimize(objective, params, steps, lr=lr, rng=rng, **options)
    history["buffer"] = buffer
    return params, history
