"""Exercise 5, reference solution: the forward and inverse passes of a stack of flow layers."""


def compose_forward(layers, params, z):
    """x = f_K(... f_1(z)), log|det df/dz| = sum_k log|det dz_k/dz_{k-1}|; params[k] belongs to layer k."""
    total = 0.0
    for layer, p in zip(layers, params):  # f_1 first
        z, log_det = layer.forward(p, z)
        total = total + log_det
    return z, total


def compose_inverse(layers, params, x):
    """z = g_1(... g_K(x)), log|det dg/dx| = sum_k log|det dz_{k-1}/dz_k|: the layers in reverse."""
    total = 0.0
    for layer, p in zip(reversed(layers), reversed(params)):  # g_K first
        x, log_det = layer.inverse(p, x)
        total = total + log_det
    return x, total
