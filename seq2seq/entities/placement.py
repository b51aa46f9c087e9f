"""Placement of entity symbols: every symbol of a source is in its translation, as often.

A model trained with entity symbols (protector.py) usually moves each symbol of
the source into its output, but a small model slips: it drops one ("Giulia and Mateo." for
"... Giulia et Mateo à Rome") or writes one twice ("in Mateo" for "à Rome"). Both are worse
than any other mistake it could make, since the symbol is a name or a number the user wrote.
So beam and greedy search (seq2seq/search.py) rule them out: a symbol already placed as often
as the source has it is no output any more, nor is a symbol the source does not have, and EOS
is none while one is missing. The search still chooses where each symbol goes; the length
limit and the repetition stop may still end a hypothesis without one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.special_tokens import EOS_ID

NEG_INF = float("-inf")


@dataclass
class SymbolCounts:
    """How often each entity symbol is in each source (the output must have it as often)."""

    target_ids: Tensor  # (symbols,) the symbols' target ids
    needed: Tensor  # (batch, symbols)
    any_needed: bool  # whether any source has a symbol (most batches: no, and each step is one fill)

    @staticmethod
    def of(src_tokens: Tensor, symbols: tuple[tuple[int, int], ...]) -> SymbolCounts | None:
        if not symbols:
            return None
        source_ids, target_ids = (torch.tensor(ids, device=src_tokens.device) for ids in zip(*symbols))
        needed = (src_tokens.unsqueeze(-1) == source_ids).sum(1)
        return SymbolCounts(target_ids, needed, bool(needed.any()))

    def place_(self, log_probs: Tensor, history: Tensor, sentences: Tensor, must_end: Tensor) -> None:
        """In place: a symbol placed as often as its source has it is no output any more; EOS is
        none while a symbol is missing, except in rows that `must_end` (the length limit, a repetition).

        log_probs: (rows, vocab); history: (rows, step - 1); sentences: (rows,) each row's batch row.
        """
        if not self.any_needed:  # no source of the batch has a symbol: none may be written
            log_probs[:, self.target_ids] = NEG_INF
            return
        needed = self.needed[sentences]  # (rows, symbols)
        placed = (history.unsqueeze(-1) == self.target_ids).sum(1)
        log_probs[:, self.target_ids] = log_probs[:, self.target_ids].masked_fill(placed >= needed, NEG_INF)
        missing = (placed < needed).any(1) & ~must_end
        log_probs[:, EOS_ID] = log_probs[:, EOS_ID].masked_fill(missing, NEG_INF)
