"""The DDPM model: a noise-prediction network, its loss, the reverse chain and its bound.

Time: t = 0 is the data, t = T the noise (DDPM). The reverse chain, for t = T..1,

    p(x_T) = N(0, I),   p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I),
    mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t),

is the posterior q(x_{t-1} | x_t, x_0) with x_0 replaced by the network's guess (Ho et al.
eq. 11). Reverse variance sigma_t^2 = beta_tilde_t, the posterior's own, for t >= 2; the last
step is the decoder p(x_0 | x_1) = N(mu_theta(x_1, 1), beta_1 I) (beta_tilde_1 = 0 cannot serve:
continuous 2-D data need a density, and beta_1 is the noise the first forward step added).

The network predicts the noise eps (prediction="eps", Ho et al.) or the velocity
v = cos(phi_t) eps - sin(phi_t) x_0 (prediction="v", Salimans & Ho 2022), and then

    eps_theta(x_t, t) = sin(phi_t) x_t + cos(phi_t) v_theta(x_t, t),   phi_t = arccos sqrt(alpha_bar_t)

(Schedule): every formula below reads eps_theta either way.
"""
import autograd.numpy as np
import numpy as onp

from .._threads import in_hot_loop
from .._validate import (
    as_batch,
    as_float_array,
    as_rng,
    check_context,
    check_hidden,
    check_option,
    check_params,
    check_positive_int,
)
from ..distributions import Normal
from ..nn import ACTIVATIONS, MLP, fourier_features
from . import probability_flow
from .schedule import Schedule

__all__ = ["Diffusion", "METHODS", "time_features"]

METHODS = ("ancestral", "ode")
PREDICTIONS = ("eps", "v")
TRAIN_TIMES = ("steps", "continuous")
N_FREQ = 8  # time features: sin and cos of k pi t / T, k = 1..8
MAX_ROWS = 50_000  # rows per network pass in elbo (bounds memory: T steps x n points)


def time_features(t, T, n_freq=N_FREQ):
    """[sin(k pi t / T), cos(k pi t / T)], k = 1..n_freq, shape (n, 2 n_freq), for t of shape (n,).

    Why not t / T itself: one scalar input reaches the network through one direction of its
    first layer, so eps_theta would change with the noise level only slowly and almost linearly.
    Sines and cosines of several frequencies (the Transformer's position code, which Ho et al.
    use for t) give it a basis of smooth functions of time, fine enough to tell t = 1 from t = 3
    where sigma_t changes fastest, and they are smooth in t, which the ODE needs between steps.
    """
    k = onp.arange(1, n_freq + 1)
    angle = onp.pi * onp.reshape(t, (-1, 1)) / T * k
    return onp.concatenate([onp.sin(angle), onp.cos(angle)], axis=1)


class Diffusion:
    """A DDPM on R^dim: ``init``, ``loss``, ``sample``, ``elbo``, ``log_prob``, ``score``.

    hidden: the noise network's hidden sizes. n_steps: T (default 100: the bound sums T
    terms and the chain takes T steps; with the rescaled linear schedule, see Schedule, the
    continuous-time process does not depend on T). schedule: "linear" (default), "cosine" or
    an array of T betas. activation: "softplus" by default, so that eps_theta is smooth in x
    and the ODE's trace is a smooth function of time. train_times: where ``loss`` draws t,
    "steps" (default: t ~ U{1..T}, as in DDPM) or "continuous" (t ~ U(0, T), with alpha_bar(t)
    interpolated as the probability-flow ODE reads it): the ODE asks eps_theta for every real t
    in (0, T), also between the steps and below t = 1, where "steps" never trains it.
    x_features: K >= 0, the network also reads ``nn.fourier_features(x_t, K)`` (sines of x_t at
    K doubling frequencies; 0, the default: [x_t, features(t)] only). Why: at low noise eps_theta
    must change across a data set's finest width (two moons: 0.05), which a plain MLP of the
    coordinates learns very slowly.
    prediction: what the network outputs, "eps" (default: the noise, Ho et al.) or "v" (the
    velocity v = d x_t / d phi = cos(phi) eps - sin(phi) x_0 of x_t = cos(phi) x_0 + sin(phi) eps,
    Salimans & Ho 2022). Both give eps_theta, and every formula below reads eps_theta. Why "v":
    near the noise end (cos phi -> 0) eps* is close to x_t itself, and an eps-network's small
    errors there are divided by cos phi in the probability-flow ODE (its velocity is
    (eps_theta - sin(phi) x) / cos(phi)), so they move the ODE's density far more than the loss
    sees. With "v" the network's output *is* that velocity, and eps_theta = sin(phi) x_t +
    cos(phi) v_theta tends to x_t by construction. The loss |v - v_theta|^2 equals
    |eps - eps_theta|^2 / cos^2(phi): denoising score matching weighted towards high noise.
    """

    context_dim = 0

    def __init__(self, dim, hidden=(128, 128), n_steps=100, schedule="linear", activation="softplus",
                 train_times="steps", x_features=0, prediction="eps"):
        self.dim = check_positive_int(dim, "dim")
        self.hidden = check_hidden(hidden)
        self.schedule = Schedule(schedule, n_steps)
        self.T = self.schedule.T
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        self.train_times = check_option(train_times, "train_times", TRAIN_TIMES)
        self.x_features = check_positive_int(x_features, "x_features", minimum=0)
        self.prediction = check_option(prediction, "prediction", PREDICTIONS)
        n_in = self.dim * (1 + 2 * self.x_features) + 2 * N_FREQ
        self.network = MLP((n_in,) + self.hidden + (self.dim,), self.activation)

    def init(self, rng):
        return {self.prediction: self.network.init(as_rng(rng))}  # {"eps": ...} or {"v": ...}

    # ---- the network and the score ------------------------------------------------------------
    def _times(self, t, n, name="t", positive=False):
        """Times as a float array of shape (n,): one number for every row, or one per row."""
        t = as_float_array(t, name)
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, n)):
            raise ValueError(f"{name}: expected a number or shape ({n},), got shape {t.shape}")
        low = "0 < t" if positive else "0 <= t"
        if onp.any(t > self.T) or onp.any(t <= 0 if positive else t < 0):
            raise ValueError(f"{name}: expected times with {low} <= T = {self.T}, got values in "
                             f"[{t.min():.6g}, {t.max():.6g}]")
        return onp.broadcast_to(t, (n,)).astype(float)

    def _output(self, params, t, x):
        """The network's output (eps_theta or v_theta) at real t of shape (n,); it reads
        [x_t, features(x_t), features(t)]."""
        h = np.concatenate([x, fourier_features(x, self.x_features), time_features(t, self.T)], axis=1)
        return self.network.apply(params[self.prediction], h)

    def _epsilon(self, params, t, x):
        """eps_theta(x_t, t) for real t of shape (n,): the output itself, or sin(phi) x_t + cos(phi) v_theta."""
        out = self._output(params, t, x)
        if self.prediction == "eps":
            return out
        phi = self.schedule.phi_at(t)[:, None]
        return onp.sin(phi) * x + onp.cos(phi) * out

    def epsilon(self, params, t, x):
        """The noise prediction eps_theta(x_t, t), shape (n, dim); t a number or (n,), 0 <= t <= T."""
        x = as_batch(x, "x", self.dim)
        return self._epsilon(check_params(params, self), self._times(t, x.shape[0]), x)

    def score(self, params, t, x):
        """s_theta(x, t) = -eps_theta(x, t) / sigma_t ~ grad_x log q_t(x), sigma_t = sqrt(1 - alpha_bar(t)).

        E[eps | x_t] = -sigma_t grad log q_t(x_t) (Tweedie), so the best noise prediction is the
        score times -sigma_t. t > 0 (a number or one per row; real t between steps as in the ODE).
        """
        x = as_batch(x, "x", self.dim)
        t = self._times(t, x.shape[0], positive=True)
        return -self._epsilon(check_params(params, self), t, x) / self.schedule.sigma_at(t)[:, None]

    # ---- training: denoising score matching ---------------------------------------------------
    def loss(self, params, x, rng, context=None):
        """L_simple = E_{t, eps} ||eps - eps_theta(sqrt(alpha_bar_t) x + sqrt(1 - alpha_bar_t) eps, t)||^2,

        t ~ U{1..T}, eps ~ N(0, I), one draw per data point (Ho et al. eq. 14); a scalar.
        With train_times="continuous", t ~ U(0, T) and alpha_bar_t = alpha_bar(t) = cos^2 phi(t).
        With prediction="v" the regression is on v instead: E ||v - v_theta(x_t, t)||^2,
        v = sqrt(alpha_bar_t) eps - sigma_t x (= cos(phi) eps - sin(phi) x).
        """
        x = as_batch(x, "x", self.dim)
        check_context(context, x, 0)
        params = check_params(params, self)
        rng = as_rng(rng)
        n = x.shape[0]
        s = self.schedule
        if self.train_times == "steps":
            t = rng.integers(1, self.T + 1, size=n)
            root_alpha_bar, sigma = onp.sqrt(s.alpha_bar[t]), s.sigma[t]
        else:  # real t; 1 - uniform lies in (0, 1], so t > 0 and sigma(t) > 0
            t = self.T * (1.0 - rng.uniform(size=n))
            phi = s.phi_at(t)
            root_alpha_bar, sigma = onp.cos(phi), onp.sin(phi)
        eps = rng.standard_normal((n, self.dim))
        x_t = root_alpha_bar[:, None] * x + sigma[:, None] * eps  # x_t ~ q(x_t | x_0)
        if self.prediction == "eps":  # through _epsilon, so that a subclass's own eps_theta is what is fitted
            return np.mean(np.sum((eps - self._epsilon(params, t.astype(float), x_t)) ** 2, axis=1))
        v = root_alpha_bar[:, None] * eps - sigma[:, None] * x  # v = d x_t / d phi: cos phi eps - sin phi x
        return np.mean(np.sum((v - self._output(params, t.astype(float), x_t)) ** 2, axis=1))

    # ---- the reverse chain --------------------------------------------------------------------
    def _mean(self, params, x_t, t):
        """mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t)."""
        s = self.schedule
        eps = self._epsilon(params, t.astype(float), x_t)
        return (x_t - (s.beta[t] / s.sigma[t])[:, None] * eps) / onp.sqrt(s.alpha[t])[:, None]

    @in_hot_loop  # T small steps (or an ODE solve): one BLAS thread by default, see tinygen/_threads.py
    def sample(self, params, n, rng, method="ancestral", context=None, ode_method="dopri5", steps=None,
               rtol=1e-5, atol=1e-5):
        """n points, (n, dim): x_T ~ N(0, I), then

        "ancestral": x_{t-1} = mu_theta(x_t, t) + sigma_t z, z ~ N(0, I), t = T..1 (sigma_1^2 = beta_1,
                     the decoder's noise; sigma_t^2 = beta_tilde_t above), a draw from the chain's p_theta;
        "ode":       the probability-flow ODE from t = T back to 0 (tinygen.ode; ode_method, steps, rtol
                     and atol are passed to odeint), a deterministic map of x_T.
        """
        n = check_positive_int(n, "n")
        check_option(method, "method", METHODS)
        params = check_params(params, self)
        rng = as_rng(rng)
        x = rng.standard_normal((n, self.dim))  # x_T ~ N(0, I)
        check_context(context, x, 0)
        if method == "ode":
            return probability_flow.integrate(self, params, x, to_data=True, method=ode_method, steps=steps,
                                              rtol=rtol, atol=atol)
        s = self.schedule
        for t in range(self.T, 0, -1):
            std = onp.sqrt(s.beta_tilde[t] if t > 1 else s.beta[1])
            x = self._mean(params, x, onp.full(n, t)) + std * rng.standard_normal((n, self.dim))
        return onp.asarray(x)

    # ---- the variational bound ----------------------------------------------------------------
    @in_hot_loop  # T terms, each a small network call: one BLAS thread by default
    def elbo(self, params, x, rng):
        """The variational bound on log p_theta(x_0) of the chain, per point, shape (n,):

        L = E_q[log p(x_0 | x_1)] - sum_{t=2}^T E_q KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))
            - KL(q(x_T | x_0) || N(0, I))

        Every term is an expectation over one x_t ~ q(x_t | x_0) (the KLs are closed-form given
        x_t), so one independent draw per term makes an unbiased estimate of L, all T terms kept.
        """
        x = as_batch(x, "x", self.dim)
        params = check_params(params, self)
        rng = as_rng(rng)
        s, n, D = self.schedule, x.shape[0], self.dim
        # t = 1, the decoder: log N(x_0; mu_theta(x_1, 1), beta_1 I), x_1 ~ q(x_1 | x_0)
        ones = onp.ones(n, dtype=int)
        x1 = onp.sqrt(s.alpha_bar[1]) * x + s.sigma[1] * rng.standard_normal((n, D))
        total = Normal(self._mean(params, x1, ones), onp.sqrt(s.beta[1]) * onp.ones(D)).log_prob(x)
        # t = 2..T: KL(N(mu_tilde, beta_tilde I) || N(mu_theta, beta_tilde I))
        #         = |mu_tilde - mu_theta|^2 / (2 beta_tilde)
        per_chunk = max(1, MAX_ROWS // n)
        for start in range(2, self.T + 1, per_chunk):
            t = onp.repeat(onp.arange(start, min(start + per_chunk, self.T + 1)), n)
            x0 = onp.tile(x, (len(t) // n, 1))
            x_t = onp.sqrt(s.alpha_bar[t])[:, None] * x0 + s.sigma[t][:, None] * rng.standard_normal(x0.shape)
            mu_tilde, beta_tilde = s.posterior(x_t, x0, t)
            kl = np.sum((mu_tilde - self._mean(params, x_t, t)) ** 2, axis=1) / (2 * beta_tilde[:, 0])
            total = total - np.sum(np.reshape(kl, (-1, n)), axis=0)
        # KL(N(sqrt(a) x_0, (1 - a) I) || N(0, I)) = 1/2 sum_d [(1 - a) + a x_d^2 - 1 - log(1 - a)], a = alpha_bar_T
        a = s.alpha_bar[self.T]
        prior_kl = 0.5 * np.sum(a * x ** 2 - a - np.log1p(-a), axis=1)
        return total - prior_kl

    # ---- the exact likelihood -----------------------------------------------------------------
    def log_prob(self, params, x, context=None, method="dopri5", steps=None, rtol=1e-5, atol=1e-5):
        """log p(x) of the probability-flow ODE's density, (n,): exact up to the solver's error.

        See tinygen.diffusion.probability_flow: the ODE from the data (t = 0) to t = T carries
        x to x_T and accumulates the exact trace; log p(x) = log N(x_T; 0, I) + int tr(df/dx) dt.
        """
        x = as_batch(x, "x", self.dim)
        check_context(context, x, 0)
        return probability_flow.log_prob(self, check_params(params, self), onp.asarray(x), method=method,
                                         steps=steps, rtol=rtol, atol=atol)
