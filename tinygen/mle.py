"""Conditional likelihood heads: a network f_theta(c) gives the parameters of p_theta(x | c).

The lecture's recipe for MLE with neural networks when D = 1:

    categorical:  f_theta(c) = l in R^K,   w = softmax(l),        -log p_theta(x | c) = -log w_x
    normal:       f_theta(c) = (mu, rho),  sigma = softplus(rho), -log p_theta(x | c) = -log N(x; mu, sigma^2)

and training minimizes the mean negative log-likelihood over the pairs (x^(i), c^(i)),

    theta <- theta - eta grad_theta (1/n) sum_i -log p_theta(x^(i) | c^(i))     (tinygen.fit)

With ``context_dim=0`` there is no input c: f_theta() = theta is a free vector
(l, or (mu, rho)), and gradient descent recovers the closed-form MLE (class
frequencies; sample mean and standard deviation).
"""
import autograd.numpy as np
import numpy as onp

from . import functional as F
from ._validate import as_batch, as_float_array, check_context, check_hidden, check_params, check_positive_int
from .distributions import Categorical, Normal
from .nn import MLP

__all__ = ["CategoricalHead", "NormalHead"]


class _Head:
    """f_theta: c -> n_out numbers; a subclass turns them into a distribution over x.

    context_dim: size of c (0: unconditional). hidden, activation: the MLP's
    hidden layer sizes and nonlinearity (unused when context_dim = 0).
    Subclasses set ``n_out`` and write ``_unconditional_init``, ``_check_x``,
    ``_distribution(out)`` and ``predict``.
    """

    n_out = None

    def __init__(self, context_dim, hidden=(32,), activation="tanh"):
        self.context_dim = check_positive_int(context_dim, "context_dim", minimum=0)
        self.hidden = check_hidden(hidden)
        self.net = None
        if self.context_dim > 0:
            self.net = MLP((self.context_dim,) + self.hidden + (self.n_out,), activation=activation)

    def init(self, rng):
        if self.net is None:  # f_theta() = theta: the outputs themselves are the parameters
            return {"out": self._unconditional_init()}
        return {"net": self.net.init(rng)}

    def outputs(self, params, context=None, n=None):
        """f_theta(c), shape (n, n_out); n defaults to the number of context rows (1 without c)."""
        if n is None:
            n = onp.shape(context)[0] if onp.ndim(context) > 0 else 1  # a bad context is reported below
        context = check_context(context, onp.empty((n, 0)), self.context_dim)
        check_params(params, self)  # a K = 5 head's params must not answer for K = 3
        if self.net is None:
            return np.zeros((n, 1)) + params["out"]  # the same outputs for every row
        return self.net.apply(params["net"], context)

    def log_prob(self, params, x, context=None):
        """log p_theta(x^(i) | c^(i)), shape (n,)."""
        x = self._check_x(x)
        return self._distribution(self.outputs(params, context, x.shape[0])).log_prob(x)

    def sample(self, params, n, rng, context=None):
        """x^(i) ~ p_theta(x | c^(i)), shape (n, 1); one context row is repeated n times."""
        n = check_positive_int(n, "n")
        return self._distribution(self.outputs(params, context, n)).sample(1, rng)[0].reshape(n, 1)

    def loss(self, params, x, rng=None, context=None):
        """(1/n) sum_i -log p_theta(x^(i) | c^(i)): the mean NLL."""
        return -np.mean(self.log_prob(params, x, context))


class CategoricalHead(_Head):
    """p_theta(x | c) = w_x with w = softmax(l), l = f_theta(c) in R^K, x in {0, ..., K-1}.

    x: integer labels, shape (n,) or (n, 1). ``sample`` returns int labels, shape (n, 1).
    """

    def __init__(self, context_dim, n_classes, hidden=(32,), activation="tanh"):
        self.n_classes = self.n_out = check_positive_int(n_classes, "n_classes", minimum=2)
        super().__init__(context_dim, hidden, activation)

    def _unconditional_init(self):
        return onp.zeros(self.n_classes)  # l = 0: w uniform, 1/K for every class

    def _check_x(self, x):
        x = as_float_array(x, "x")
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1 or x.shape[0] < 1:
            raise ValueError(f"x: expected class labels of shape (n,) or (n, 1), got shape {x.shape}")
        return x

    def _distribution(self, l):
        # log p_theta(x | c) = log w_x = l_x - log sum_j exp(l_j)
        return Categorical(l)

    def predict(self, params, context=None):
        """w = softmax(f_theta(c)), shape (n, K): the class probabilities for each row of c."""
        return F.softmax(self.outputs(params, context), axis=-1)


class NormalHead(_Head):
    """p_theta(x | c) = N(x; mu, sigma^2) with (mu, rho) = f_theta(c), sigma = softplus(rho).

    x: shape (n, 1). softplus keeps sigma > 0 whatever the network outputs.
    """

    n_out = 2

    def _unconditional_init(self):
        return onp.array([0.0, F.inv_softplus(1.0)])  # mu = 0, sigma = softplus(rho) = 1

    def _check_x(self, x):
        return as_batch(x, "x", 1)

    @staticmethod
    def _mu_sigma(out):
        mu, rho = out[:, :1], out[:, 1:]
        return mu, F.softplus(rho)  # sigma = log(1 + e^rho) > 0

    def _distribution(self, out):
        # log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2, with
        # log sigma = log softplus(rho) computed directly: sigma itself rounds to 0 for rho < -745
        return Normal(out[:, :1], log_scale=F.log_softplus(out[:, 1:]))

    def predict(self, params, context=None):
        """(mu, sigma), each of shape (n, 1): the predicted mean and standard deviation for each c."""
        return self._mu_sigma(self.outputs(params, context))
