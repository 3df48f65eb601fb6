"""Autoregressive models: p(x) = prod_d p(x_d | x_1, ..., x_{d-1})."""
