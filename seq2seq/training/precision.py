"""16-bit training with float32 master weights (train.precision bf16 / fp16).

The model the optimiser owns, validates and saves stays float32 (the master). Forward and
backward run on a working copy cast to bfloat16 or float16, kept between updates rather than
made by autocast at every layer call (autocast casts each weight on each use, and on a CPU
keeps its float32 activations around: slower and more memory than float32 alone, measured).
After backward the 16-bit gradients are copied into the master's float32 gradients; after the
optimiser step the master weights are copied back into the working copy. The loss's
log-softmax, its gradient and the attention on a CPU stay float32 (seq2seq.training.loss,
seq2seq.models.attention).

float16 has a narrow range, so its loss is multiplied by a dynamic scale (`LossScaler`) that
keeps small gradients from flushing to zero; an update whose gradients overflow is skipped and
the scale halved.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from seq2seq.devices import Precision, dtype_of


class LossScaler:
    """The dynamic loss scale of float16 training (as torch.amp.GradScaler, on our master weights).

    Start high; halve the scale and skip the update when a gradient overflows; double it after
    `growth_interval` updates in a row without overflow.
    """

    def __init__(self, initial: float = 2.0 ** 15, growth_interval: int = 1000, min_scale: float = 1.0) -> None:
        self.scale = initial
        self.growth_interval = growth_interval
        self.min_scale = min_scale
        self.good_updates = 0
        self.skipped = 0

    def update(self, finite: bool) -> bool:
        """Record one update's gradients; True if the update should be applied."""
        if not finite and self.scale <= self.min_scale:
            return True  # no scale left to lower: the training diverged, the trainer says so
        if not finite:
            self.scale = max(self.scale / 2, self.min_scale)
            self.good_updates = 0
            self.skipped += 1
            return False
        self.good_updates += 1
        if self.good_updates >= self.growth_interval:
            self.scale *= 2
            self.good_updates = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_updates": self.good_updates, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.good_updates = float(state["scale"]), int(state["good_updates"])
        self.skipped = int(state.get("skipped", 0))


class MixedPrecision:
    """The float32 master model and the working copy that forward and backward run on."""

    def __init__(self, master: nn.Module, precision: Precision) -> None:
        self.precision = precision
        self.master = master
        # deepcopy keeps tied parameters tied; parameters() lists each shared one once, in the
        # same order in both models
        self.work = master if precision == "fp32" else copy.deepcopy(master).to(dtype_of(precision))
        self.scaler = LossScaler() if precision == "fp16" else None
        self._master_params = list(master.parameters())
        self._work_params = list(self.work.parameters())

    @property
    def enabled(self) -> bool:
        return self.work is not self.master

    @property
    def loss_scale(self) -> float:
        """What the loss is multiplied by before backward (1 but in float16)."""
        return self.scaler.scale if self.scaler is not None else 1.0

    def gradients_to_master(self) -> None:
        """Master grads := working grads / loss scale (in float32); the working grads are zeroed."""
        if not self.enabled:
            return
        pairs = [(m, w) for m, w in zip(self._master_params, self._work_params) if w.grad is not None]
        for master, _ in pairs:
            if master.grad is None:
                master.grad = torch.zeros_like(master)
        master_grads, work_grads = [m.grad for m, _ in pairs], [w.grad for _, w in pairs]
        torch._foreach_copy_(master_grads, work_grads)
        if self.loss_scale != 1.0:
            torch._foreach_mul_(master_grads, 1.0 / self.loss_scale)
        torch._foreach_zero_(work_grads)

    def accept_gradients(self, grad_norm: float) -> bool:
        """After the gradients are in the master: False if float16 overflowed (skip this update;
        the loss scale is lowered)."""
        if self.scaler is None:
            return True
        return self.scaler.update(math.isfinite(grad_norm))

    @torch.no_grad()
    def weights_to_work(self) -> None:
        """Working copy := master weights (after each optimiser step and after loading)."""
        if self.enabled:
            torch._foreach_copy_(self._work_params, self._master_params)

    def state_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, **({"scaler": self.scaler.state_dict()} if self.scaler else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the loss scale carries over when both runs are float16; any other change starts afresh."""
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
