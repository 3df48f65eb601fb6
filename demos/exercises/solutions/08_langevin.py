"""Exercise 8, reference solution: one step of Langevin dynamics on an energy E."""
import autograd.numpy as np


def langevin_step(x, grad_energy, epsilon, xi):
    """x' = x - epsilon grad E(x) + sqrt(2 epsilon) xi, xi ~ N(0, I): downhill in E, plus noise."""
    return x - epsilon * grad_energy(x) + np.sqrt(2 * epsilon) * xi
