"""Where training stands: the plain values last.pt keeps so that a resumed run continues exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TrainState:
    """Where training stands; saved in last.pt as plain values."""

    step: int = 0  # optimiser updates done
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # index of the next update's first batch in the epoch's batch list
    shard_batches: list[int] = field(default_factory=list)  # batches of the epoch's shards before the current
    best_bleu: float = -math.inf
    best_step: int = 0
    bad_validations: int = 0  # validations since dev BLEU last improved
    elapsed_s: float = 0.0  # wall-clock training time so far, validation included
    last_validation_s: float = 0.0  # how long the latest validation + save took
    tokens_seen: int = 0  # non-padding target tokens trained on so far
    snapshot_taken: bool = False  # best-at-<train.snapshot_minutes>min.pt has been written
    # since the last progress line, for its mean loss and tokens/s
    window_loss: float = 0.0
    window_tokens: int = 0
    window_train_s: float = 0.0

    def count_update(self, tokens: int, loss_sum: float, seconds: float) -> None:
        """An update of `tokens` target tokens, summed loss `loss_sum`, `seconds` of training."""
        self.tokens_seen += tokens
        self.window_loss += loss_sum
        self.window_tokens += tokens
        self.window_train_s += seconds

    def epoch_fraction(self, batches_in_epoch: int) -> float:
        """Epochs done, counting the current one's share (2.25: a quarter into the third)."""
        return self.epoch + self.batch_in_epoch / batches_in_epoch
