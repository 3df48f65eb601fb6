"""One training recipe per sequence model, shared by demo 10 and benchmarks/bench_sequences.py.

    for name, recipe in sequence_recipes(V, T).items():
        model, params, history = recipe.train(x, rng=0, steps=...)

Each is a ``tinygen.recipe.Recipe``: Adam at the recipe's rate, cosine-decayed,
batches of BATCH_SIZE sequences, STEPS steps unless told otherwise.
Sizes are small (a few thousand parameters) so that each model trains in
seconds on one core. The causal convolution gets just enough dilated layers
for its receptive field to cover every earlier position (R >= T - 1).
"""
import math

from .._deprecated import refuse_unknown, take_renamed
from .._validate import as_rng, check_positive_int, check_size
from ..recipe import Recipe
from .causal_conv import CausalConvARM
from .made import MADE
from .rnn import RNNARM
from .transformer import TransformerARM

__all__ = ["BATCH_SIZE", "STEPS", "sequence_recipes"]

BATCH_SIZE = 64
STEPS = 400  # demo 10's default


def sequence_recipes(vocab_size, seq_len, rng=0, **renamed):
    """{name: Recipe} for the RNN, causal conv, transformer and MADE on sequences (n, T).

    rng: MADE's hidden degrees (its one mask set), drawn when its recipe builds it.
    """
    rng = take_renamed(renamed, "seed", "rng", rng, 0, "sequence_recipes")
    refuse_unknown(renamed, "sequence_recipes")
    as_rng(rng)
    V = check_positive_int(vocab_size, "vocab_size", minimum=2)
    T = check_positive_int(seq_len, "seq_len")
    check_size(128 * T * V, *(("seq_len", T) if T > V else ("vocab_size", V)),
               "MADE's last hidden layer to its T V logits (128 x T V)")
    n_layers = max(1, math.ceil(math.log2(max(T - 1, 1))))  # kernel 2: R = 2^L >= T - 1
    recipes = {
        "RNN": lambda: RNNARM(V, T, hidden=32),
        "causal conv": lambda: CausalConvARM(V, T, n_channels=32, n_layers=n_layers, kernel_size=2),
        "transformer": lambda: TransformerARM(V, T, d_model=32, n_heads=4, n_layers=1),
        # MADE reads the tokens as the numbers 0..V-1 (its categorical likelihood), one mask set
        "MADE": lambda: MADE(T, hidden=(128, 128), likelihood="categorical", n_classes=V, rng=rng),
    }
    return {name: Recipe(name, build, STEPS, 1e-2, batch_size=BATCH_SIZE) for name, build in recipes.items()}
