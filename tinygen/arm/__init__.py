"""Autoregressive models: p(x) = prod_d p(x_d | x_1, ..., x_{d-1})."""
from .causal_conv import CausalConvARM
from .made import MADE
from .naive import NaiveARM, sequential_log_prob
from .pixelcnn import PixelCNN, mask, masked_conv2d
from .rnn import RNNARM
from .sequence import SequenceARM
from .transformer import TransformerARM

__all__ = ["CausalConvARM", "MADE", "NaiveARM", "PixelCNN", "RNNARM", "SequenceARM", "TransformerARM", "mask",
           "masked_conv2d", "sequential_log_prob"]
