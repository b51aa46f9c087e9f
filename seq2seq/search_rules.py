"""The rules every step of greedy and beam search applies to the next token's log-probabilities
(seq2seq/search.py's module docstring says what they are): PAD and BOS never, no EOS before the
minimum length, the repetition rules (seq2seq/repetition.py), each entity symbol placed as often
as the source has it, and only EOS where a hypothesis must end.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from seq2seq.entities import SymbolCounts
from seq2seq.repetition import block_piece_runs_, block_repeated_ngrams_, repeating
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID

NEG_INF = float("-inf")


def log_probs_of(logits: Tensor) -> Tensor:
    """(rows, vocab) scores -> log-probabilities; PAD and BOS are never outputs (-inf)."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_probs[:, PAD_ID] = NEG_INF
    log_probs[:, BOS_ID] = NEG_INF
    return log_probs


def apply_rules_(log_probs: Tensor, step: int, at_limit: Tensor, history: Tensor, sentences: Tensor,
                  min_length: int, max_repeats: int, cut_at_max_len: bool, symbols: SymbolCounts | None,
                  no_repeat_ngram: int = 0, max_piece_run: int = 0) -> Tensor:
    """In place, the rules of every step of both searches (see the module docstring); returns
    the (rows,) bool rows that must end, where only EOS is left.

    log_probs: (rows, vocab); at_limit: (rows,) bool; history: (rows, step - 1) the tokens so
    far; sentences: (rows,) each row's sentence in the batch.
    """
    if no_repeat_ngram:
        block_repeated_ngrams_(log_probs, history, no_repeat_ngram)
    if max_piece_run:
        block_piece_runs_(log_probs, history, max_piece_run)
    if step <= min_length:  # no EOS yet, except where the length limit ends the row
        log_probs[:, EOS_ID] = log_probs[:, EOS_ID].masked_fill(~at_limit, NEG_INF)
    must_end = (at_limit | repeating(history, max_repeats)) if max_repeats else at_limit
    if symbols is not None:
        symbols.place_(log_probs, history, sentences, must_end)
    _force_eos_(log_probs, must_end, at_limit if cut_at_max_len else None)
    return must_end


def _force_eos_(log_probs: Tensor, must_end: Tensor, cut: Tensor | None) -> None:
    """In place: rows marked in `must_end` may only emit EOS (every other column becomes -inf);
    rows marked in `cut` (the length limit cut them, the model did not end them) get it for free."""
    if not bool(must_end.any()):
        return
    rows = must_end.nonzero().squeeze(1)
    eos_log_probs = log_probs[rows, EOS_ID]
    log_probs[rows] = NEG_INF
    log_probs[rows, EOS_ID] = eos_log_probs
    if cut is not None:
        log_probs[cut.nonzero().squeeze(1), EOS_ID] = 0.0
