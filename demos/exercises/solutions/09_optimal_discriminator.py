"""Exercise 9, reference solution: the optimal GAN discriminator and the value V(D) it maximizes."""
import numpy as onp


def optimal_discriminator(log_p, log_q):
    """D*(x) = p(x) / (p(x) + q(x)) = 1 / (1 + q/p), with q/p = exp(log q - log p)."""
    return 1 / (1 + onp.exp(log_q - log_p))


def value(d, log_p, log_q, w):
    """V(D) = int p log D + q log(1 - D) dx, as the quadrature sum with weights w."""
    return onp.sum(w * (onp.exp(log_p) * onp.log(d) + onp.exp(log_q) * onp.log1p(-d)))
