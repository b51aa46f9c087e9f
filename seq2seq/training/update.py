"""The steps of one optimiser update, in the order `Trainer.update` takes them:

    backward        forward and backward over this process's batches of the update; its loss sum
    UpdateTotals    what every process needs from all of them, summed in the update's one all-reduce
    set_lr          the schedule's rate for the update
    gradient_norm   the norm of the master gradients, which are clipped to train.clip_norm

The optimiser step itself (skipped when float16 overflowed) and the moving average follow in the
Trainer, which owns them.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch.nn.parallel import DistributedDataParallel

from seq2seq.data.batching import Batch
from seq2seq.models import Seq2SeqModel
from seq2seq.training.distributed import Distributed
from seq2seq.training.loss import projected_cross_entropy


def backward(model: torch.nn.Module, work: Seq2SeqModel, batches: list[Batch], device: torch.device,
             label_smoothing: float, scale: float) -> float:
    """Forward and backward over `batches` (collated on the CPU), gradients summed in `work`.

    `model` is `work` itself, or its DistributedDataParallel wrapper with several processes;
    every batch's loss is multiplied by `scale` before backward. Returns the unscaled loss
    summed over the batches.
    """
    ddp = isinstance(model, DistributedDataParallel)
    loss_sum = 0.0
    for i, cpu_batch in enumerate(batches):
        batch = cpu_batch.to(device)
        # DDP: all-reduce gradients only after the last batch of the update.
        sync = i == len(batches) - 1 or not ddp
        with nullcontext() if sync else model.no_sync():
            states = model(batch.src_tokens, batch.src_lengths, batch.prev_tokens, project=False)
            scaled_loss = projected_cross_entropy(states, work.output_proj.weight, batch.gold, label_smoothing,
                                                  scale)
            del states
            scaled_loss.backward()
        loss_sum += scaled_loss.item() / scale
    return loss_sum


@dataclass
class UpdateTotals:
    """One process's share of what every process needs after an update's backward passes.

    The four travel in one all-reduce (`summed`), the update's only one besides DDP's gradients and,
    with subword sampling and several processes, the token count taken before backward (training/epochs.py).
    """

    loss_sum: float  # the unscaled loss summed over the process's batches
    interrupted: float  # 1.0 when a stop signal (Ctrl-C, SIGTERM) reached the process
    clock_s: float  # elapsed training time + the last validation's duration
    snapshot_due: float  # 1.0 when train.snapshot_minutes has come

    def pack(self) -> list[float]:
        return [self.loss_sum, self.interrupted, self.clock_s, self.snapshot_due]

    @staticmethod
    def unpack(values: list[float]) -> UpdateTotals:
        loss_sum, interrupted, clock_s, snapshot_due = values
        return UpdateTotals(loss_sum, interrupted, clock_s, snapshot_due)

    def summed(self, dist: Distributed) -> UpdateTotals:
        """Each field summed over all processes (this process's own values with one process)."""
        return UpdateTotals.unpack(dist.sum(self.pack()))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The rate of the latest update (what progress lines and metrics.csv show)."""
    return optimizer.param_groups[0]["lr"]


def gradient_norm(model: torch.nn.Module, clip_norm: float) -> float:
    """The total norm of `model`'s gradients; they are clipped to `clip_norm` when it is > 0.

    The norm returned is the one before clipping (the progress lines show it).
    """
    params = [p for p in model.parameters() if p.grad is not None]
    if clip_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    return float(torch.nn.utils.get_total_norm([p.grad for p in params]))
