"""s2s: a command-line trainer for neural machine translation (RNN with attention, Transformer)."""

__version__ = "0.1.0"
