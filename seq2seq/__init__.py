"""s2s: a command-line trainer for neural machine translation (RNN with attention, Transformer).

From Python: `from seq2seq import Translator` (see `seq2seq.translator`).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Translator", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `s2s --help` does not wait for torch.
    if name == "Translator":
        from seq2seq.translator import Translator

        return Translator
    raise AttributeError(f"module 'seq2seq' has no attribute {name!r}")
