"""Autoregressive models: p(x) = prod_d p(x_d | x_1, ..., x_{d-1})."""
from .made import MADE
from .naive import NaiveARM, sequential_log_prob
from .pixelcnn import PixelCNN, mask, masked_conv2d
