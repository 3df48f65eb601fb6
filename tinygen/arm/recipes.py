"""One training recipe per sequence model, shared by demo 10 and benchmarks/bench_sequences.py.

    for name, (model, lr) in sequence_recipes(V, T).items():
        params, history = tinygen.fit(model, model.init(0), x, steps=..., batch_size=BATCH_SIZE,
                                      lr=lr, lr_schedule="cosine")

Sizes are small (a few thousand parameters) so that each model trains in
seconds on one core. The causal convolution gets just enough dilated layers
for its receptive field to cover every earlier position (R >= T - 1).
"""
import math

from .._validate import check_positive_int, check_size
from .causal_conv import CausalConvARM
from .made import MADE
from .rnn import RNNARM
from .transformer import TransformerARM

__all__ = ["BATCH_SIZE", "sequence_recipes"]

BATCH_SIZE = 64


def sequence_recipes(vocab_size, seq_len, seed=0):
    """{name: (model, learning rate)} for the RNN, causal conv, transformer and MADE on sequences (n, T)."""
    V = check_positive_int(vocab_size, "vocab_size", minimum=2)
    T = check_positive_int(seq_len, "seq_len")
    check_size(128 * T * V, *(("seq_len", T) if T > V else ("vocab_size", V)),
               "MADE's last hidden layer to its T V logits (128 x T V)")
    n_layers = max(1, math.ceil(math.log2(max(T - 1, 1))))  # kernel 2: R = 2^L >= T - 1
    return {
        "RNN": (RNNARM(V, T, hidden=32), 1e-2),
        "causal conv": (CausalConvARM(V, T, n_channels=32, n_layers=n_layers, kernel_size=2), 1e-2),
        "transformer": (TransformerARM(V, T, d_model=32, n_heads=4, n_layers=1), 1e-2),
        # MADE reads the tokens as the numbers 0..V-1 (its categorical likelihood), one mask set
        "MADE": (MADE(T, hidden=(128, 128), likelihood="categorical", n_classes=V, seed=seed), 1e-2),
    }
