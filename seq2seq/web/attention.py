"""The attention of a translation as JSON, for the page of `s2s serve` and any client.

    {"available": true, "layers": L, "heads": H,
     "source_pieces": [...], "target_pieces": [...],     the pieces, EOS included, each entity
     "source_symbols": [...], "target_symbols": [...],   symbol shown as its words; per piece the
                                                         symbol it stands for, else null
     "weights": [layer][head][target piece][source piece]}   each row sums to 1

or {"available": false, "reason": "..."} where the model gives none.
"""

from __future__ import annotations

from typing import Any

from seq2seq.pipeline import TranslationResult

__all__ = ["attention_json", "attention_unavailable"]

DIGITS = 4  # a weight to 1e-4: enough for a heat map, and a 40-word sentence stays a small answer
# At most this many weights in one translation's answer (~7 bytes each in JSON): a 40-word
# sentence of a 3+3-layer, 4-head model has ~50,000; a 2,000-character paragraph ~4,000,000.
MAX_WEIGHTS = 4_000_000


def attention_unavailable(translator: Any) -> str | None:
    """Why `translator` gives no attention weights, or None when it gives them."""
    model = getattr(translator, "model", None)
    if model is None:
        return ("a CTranslate2 export gives no attention here (it keeps at most one head of the last layer); "
                "serve the run folder (s2s serve --model runs/NAME) to see every layer and head")
    if model.attention_layers == 0:
        return "this model has no attention (model.attention: none): its decoder reads one context vector"
    return None


def attention_json(result: TranslationResult, most: int = MAX_WEIGHTS) -> dict[str, Any]:
    """The best hypothesis' encoder-decoder attention of `result` (translated with attention=True),
    unless it has more than `most` weights (then why not)."""
    best = result.best
    if best.attention is None or best.pieces is None or result.source_pieces is None:
        return {"available": False, "reason": "the translation was made without attention"}
    if best.attention.numel() > most:
        return {"available": False, "reason": f"its attention has {best.attention.numel():,} weights, more than the "
                                              f"{most:,} this server sends for one text: translate a shorter text"}
    weights = best.attention.double().permute(1, 2, 0, 3)  # (layers, heads, target, source); double: 0.9084, not 0.90839999
    return {"available": True, "layers": int(weights.size(0)), "heads": int(weights.size(1)),
            "source_pieces": result.source_pieces, "target_pieces": best.pieces,
            "source_symbols": result.source_symbols, "target_symbols": best.symbols,
            "weights": weights.round(decimals=DIGITS).tolist()}
