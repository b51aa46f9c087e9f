"""The interface every model family offers to training, search and evaluation.

Training calls `forward` (teacher forcing). Search calls `encode` once per batch, then
`decode_step` once per output position, and `reorder` to expand sentences to beams or to follow
back-pointers. Nothing outside `seq2seq/models` needs to know what a family keeps in its
`Memory` or decoder state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(batch,) lengths -> (batch, max_len) bool, True at the first `length` positions."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def select_rows(value: Any, order: Tensor) -> Any:
    """Rows `order` of a batch-first tensor, or of every tensor in a list/tuple; other values as they are."""
    if isinstance(value, Tensor):
        return value.index_select(0, order)
    if isinstance(value, (list, tuple)):
        return type(value)(select_rows(item, order) for item in value)
    return value


@dataclass(kw_only=True)
class Memory:
    """What the decoder needs from the encoder, one row per sentence (or per beam hypothesis).

    Every tensor field (or tensor in a list/tuple field) is batch-first, so `index_select` can
    pick or repeat rows generically.
    Families subclass it (also with kw_only=True) to add their own fields.
    """

    src_mask: Tensor  # (batch, src_len) bool, True at real source tokens
    # (batch, src_len, d) top encoder states (RNN: projected to hidden_size);
    # None when the decoder never looks at them (RNN with attention: none)
    encoder_out: Tensor | None
    # (batch,) long: which sentence of the encoded batch each row holds (default 0..batch-1);
    # rows with the same id hold the same memory
    row_ids: Tensor | None = None

    def __post_init__(self) -> None:
        if self.row_ids is None:
            self.row_ids = torch.arange(self.src_mask.size(0), device=self.src_mask.device)

    def index_select(self, order: Tensor) -> Memory:
        """Rows `order` ((new_batch,) long) of every tensor field, as a new Memory.

        When the selected rows hold the same sentences as before (beam search following
        back-pointers inside each sentence's beam), nothing needs copying and self is returned.
        """
        row_ids = self.row_ids.index_select(0, order)
        if torch.equal(row_ids, self.row_ids):
            return self
        selected = {field.name: select_rows(getattr(self, field.name), order) for field in dataclasses.fields(self)}
        return dataclasses.replace(self, **selected)

    @property
    def batch_size(self) -> int:
        return self.src_mask.size(0)


class Seq2SeqModel(nn.Module):
    """An encoder-decoder that maps source token ids to target-vocabulary logits."""

    # Every family ends in a bias-free linear layer to the target vocabulary.
    output_proj: nn.Linear

    # Facts about the model that callers need, so that nothing outside `seq2seq/models`
    # has to know which family it is. Families override what differs from these defaults.

    @property
    def max_positions(self) -> int | None:
        """Longest source or target (in pieces, BOS/EOS included) the model takes; None: no bound."""
        return None

    @property
    def attention_layers(self) -> int:
        """Decoder layers whose encoder-decoder attention `decode_step` returns (0: no attention)."""
        return 1

    @property
    def attention_heads(self) -> int:
        """Attention heads in each of those layers."""
        return 1

    def forward(self, src_tokens: Tensor, src_lengths: Tensor, prev_tokens: Tensor,
                project: bool = True) -> Tensor:
        """Teacher-forced scores of every target position.

        src_tokens: (batch, src_len) long, pieces + [EOS], right-padded with PAD_ID.
        src_lengths: (batch,) long, real lengths (EOS included).
        prev_tokens: (batch, tgt_len) long, [BOS] + target pieces, right-padded with PAD_ID.
        Returns logits (batch, tgt_len, tgt_vocab) (raw scores, not log-probs), or with
        project=False the states (batch, tgt_len, d) that `output_proj` turns into them (training
        fuses that projection with the loss: see training/loss.py).
        """
        raise NotImplementedError

    def encode(self, src_tokens: Tensor, src_lengths: Tensor) -> Memory:
        """Run the encoder once: (batch, src_len) tokens -> Memory of the batch."""
        raise NotImplementedError

    def decode_step(
        self,
        memory: Memory,
        state: Any | None,
        prev_tokens: Tensor,
        need_attention: bool = False,
    ) -> tuple[Tensor, Any, Tensor | None]:
        """One incremental decoder step for every row.

        prev_tokens: (batch,) the last output tokens (BOS at the first step, when state is None).
        Returns logits (batch, tgt_vocab), the new state, and if need_attention the
        encoder-decoder attention of this step (batch, layers, heads, src_len), else None.
        The returned state may share storage with the state passed in: keep only the newest
        (or the one `reorder` returns, which is always a fresh copy).
        """
        raise NotImplementedError

    def reorder(self, memory: Memory, state: Any, order: Tensor) -> tuple[Memory, Any]:
        """Rows `order` ((new_batch,) long) of memory and state, e.g. for beam search.

        state may be None (before the first step), and then stays None.
        """
        return memory.index_select(order), (None if state is None else state.index_select(order))
