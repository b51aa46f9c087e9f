"""Learning-rate schedules: linear warm-up to `train.lr`, then one of five shapes.

`lr(step)` is the rate of update number `step` (1-based). With W = warmup_steps:

    warm-up        lr * step / W                              for step <= W (all but none)
    inverse_sqrt   lr * sqrt(W / step)                        after warm-up
    noam           d_model^-0.5 * min(step^-0.5, step * W^-1.5), scaled so the peak (at W) is lr;
                   after that scaling it is the same curve as inverse_sqrt with warm-up
    cosine         from lr down to min_lr along half a cosine, reached at cosine_steps
                   (default max_steps), then min_lr
    plateau        lr * factor^k, k = times dev BLEU stalled for plateau_patience validations
    constant       lr
"""

from __future__ import annotations

import math
from typing import Any

from seq2seq.config import TrainConfig
from seq2seq.errors import UserError


class LRSchedule:
    """The learning rate as a function of the update number (plus plateau's small state)."""

    def __init__(self, cfg: TrainConfig, d_model: int) -> None:
        self.kind = cfg.schedule
        self.peak = cfg.lr
        self.warmup = cfg.warmup_steps
        self.min_lr = cfg.min_lr
        self.d_model = d_model
        self.cosine_steps = cfg.cosine_steps or cfg.max_steps
        if self.kind == "cosine" and self.cosine_steps is None:
            raise UserError("train.schedule is cosine, which needs train.cosine_steps or train.max_steps "
                            "(the step where the decay reaches train.min_lr)")
        if self.kind == "cosine" and self.min_lr > self.peak:
            raise UserError(f"train.min_lr ({self.min_lr}) is above train.lr ({self.peak})")
        self.plateau_factor = cfg.plateau_factor
        self.plateau_patience = cfg.plateau_patience
        # plateau state
        self.scale = 1.0
        self.best_bleu = -math.inf
        self.stalled = 0

    def lr(self, step: int) -> float:
        step = max(step, 1)
        warmup = max(self.warmup, 1)
        if step <= self.warmup and self.kind != "noam":
            return self.peak * step / warmup  # noam's formula warms up by itself
        if self.kind == "inverse_sqrt":
            return self.peak * math.sqrt(warmup / step)
        if self.kind == "noam":
            noam = self.d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
            return self.peak * noam / (self.d_model ** -0.5 * warmup ** -0.5)
        if self.kind == "cosine":
            span = max(self.cosine_steps - self.warmup, 1)
            progress = min((step - self.warmup) / span, 1.0)
            return self.min_lr + (self.peak - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "plateau":
            return self.peak * self.scale
        return self.peak  # constant

    def on_validation(self, bleu: float) -> None:
        """plateau: shrink the rate after `plateau_patience` validations without a better BLEU."""
        if self.kind != "plateau":
            return
        if bleu > self.best_bleu:
            self.best_bleu, self.stalled = bleu, 0
            return
        self.stalled += 1
        if self.stalled >= self.plateau_patience:
            self.scale *= self.plateau_factor
            self.stalled = 0

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale, "best_bleu": self.best_bleu, "stalled": self.stalled}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best_bleu, self.stalled = state["scale"], state["best_bleu"], state["stalled"]
