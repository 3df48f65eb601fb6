"""Exercise 4, reference solution: the affine coupling layer, written for a binary mask."""
import autograd.numpy as np


def coupling_forward(z, alpha, mu, mask):
    """x = m * z + (1 - m) * (z * exp(alpha) + mu): copied where m = 1, scaled and shifted where m = 0."""
    return mask * z + (1 - mask) * (z * np.exp(alpha) + mu)


def coupling_inverse(x, alpha, mu, mask):
    """z = m * x + (1 - m) * (x - mu) * exp(-alpha): the forward map solved for z."""
    return mask * x + (1 - mask) * (x - mu) * np.exp(-alpha)


def coupling_log_det(alpha, mask):
    """log|det df/dz| = sum over the transformed coordinates (m = 0) of alpha, shape (n,).

    The Jacobian is triangular with 1 on the copied coordinates and exp(alpha_i) on the others.
    """
    return np.sum((1 - mask) * alpha, axis=1)
