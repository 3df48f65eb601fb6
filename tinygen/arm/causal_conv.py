"""Dilated causal 1-D convolutions (WaveNet style): output t sees inputs at or before t.

A causal convolution with kernel size k and dilation d over features h (n, T, C):

    y_t = b + sum_{j=0}^{k-1} h_{t - j d} W_j        (h_s = 0 for s < 1: zero padding on the left)

reads positions t, t - d, ..., t - (k-1) d and never a later one. It runs on
the teacher-forced input u_t = (<start>, x_1, ..., x_{T-1}), so the logits at
t see u_{<=t}, i.e. x_<t only: the product rule holds with no mask.

Layer l has dilation d_l = 2^(l-1) (1, 2, 4, ...), so L layers reach back

    R = 1 + (k - 1) (d_1 + ... + d_L) = 1 + (k - 1)(2^L - 1)

input positions (the receptive field, ``receptive_field``): l_t depends on
x_{t-R}, ..., x_{t-1} and on nothing older. It grows exponentially with the
depth at a linear cost, unlike an undilated stack (R = 1 + L (k - 1)).

    h_1 = relu(conv_1(u)),   h_l = h_{l-1} + relu(conv_l(h_{l-1})),   l_t = relu(h_L,t) W_o + b_o
"""
import autograd.numpy as np

from .._validate import as_rng, check_positive_int, check_size
from ..functional import relu
from ..nn import init_dense
from .sequence import SequenceARM, positionwise

__all__ = ["CausalConvARM", "causal_conv1d"]


def causal_conv1d(h, layer, kernel_size, dilation):
    """y_t = b + sum_j h_{t - j d} W_j, shape (n, T, C_out), zero for t - j d < 1.

    layer = {"W": (k C_in, C_out), "b": (C_out,)}; rows j C_in .. (j+1) C_in - 1
    of W are tap j (the input j d steps back). The k shifted copies of h are laid
    side by side, then one matmul: no in-place writes, so autograd can trace it.
    """
    n, T, C_in = h.shape
    k, d = kernel_size, dilation
    # A tap j with j d >= T reads only the zero padding at every t, so it contributes 0 and is not built:
    # the padding is at most T - 1 long, whatever the dilation (2^(L-1) would not fit in memory for large L).
    live = [j for j in range(k) if j * d < T]
    pad = max(live) * d
    padded = np.concatenate([np.zeros((n, pad, C_in)), h], axis=1)  # h_s = 0 for s < 1
    # tap j reads h_{t - j d}: in padded coordinates, position t + pad - j d
    taps = [padded[:, pad - j * d: pad - j * d + T] for j in live]
    W = layer["W"][:len(live) * C_in]  # the live taps are j = 0..len(live) - 1: the first rows of W
    return positionwise({"W": W, "b": layer["b"]}, np.concatenate(taps, axis=2))


MAX_LAYERS = 48  # dilations up to 2^47 > 10^14 positions


class CausalConvARM(SequenceARM):
    """CausalConvARM(vocab_size, seq_len, n_channels=32, n_layers=4, kernel_size=2).

    ``dilations`` = (1, 2, 4, ...) and ``receptive_field`` R = 1 + (k - 1)(2^L - 1):
    the number of previous tokens the conditional of x_t can read.
    """

    def __init__(self, vocab_size, seq_len, n_channels=32, n_layers=4, kernel_size=2):
        super().__init__(vocab_size, seq_len)
        self.n_channels = check_positive_int(n_channels, "n_channels")
        self.n_layers = check_positive_int(n_layers, "n_layers")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", minimum=2)
        if self.n_layers > MAX_LAYERS:
            raise ValueError(f"n_layers: expected at most MAX_LAYERS = {MAX_LAYERS} (a dilation 2^(l-1) beyond "
                             f"2^{MAX_LAYERS - 1} exceeds any sequence length that fits in memory), "
                             f"got {self.n_layers}")
        k, C, V = self.kernel_size, self.n_channels, self.vocab_size
        check_size(k * (V + 1) * C, "vocab_size", V, "the first layer's k (V + 1) x C taps")
        check_size(k * C * C * self.n_layers, *(("kernel_size", k) if k > C else ("n_channels", C)),
                   "the L layers of k C x C taps")
        self.dilations = tuple(2 ** l for l in range(self.n_layers))  # d_l = 2^(l-1), l = 1..L
        self.receptive_field = 1 + (self.kernel_size - 1) * sum(self.dilations)

    def init(self, rng):
        """He-initialized taps (ReLU units) and a Glorot output layer."""
        rng = as_rng(rng)
        k, C, V = self.kernel_size, self.n_channels, self.vocab_size
        conv = [init_dense(rng, k * ((V + 1) if l == 0 else C), C, "he") for l in range(self.n_layers)]
        return {"conv": conv, "out": init_dense(rng, C, V, "glorot")}

    def logits_onehot(self, params, e):
        """l_t for t = 1..T, shape (n, T, V); l_t reads x_{t-R}, ..., x_{t-1}."""
        h = self.shifted(e)  # u: <start>, x_1, ..., x_{T-1}
        for l, (layer, d) in enumerate(zip(params["conv"], self.dilations)):
            a = relu(causal_conv1d(h, layer, self.kernel_size, d))
            h = a if l == 0 else h + a  # h_1 = relu(conv_1(u)); h_l = h_{l-1} + relu(conv_l(h_{l-1}))
        return positionwise(params["out"], relu(h))  # l_t = relu(h_L,t) W_o + b_o
