"""Learning-rate schedules: linear warm-up to `train.lr`, then one of six shapes.

`lr(step, clock_s)` is the rate of update number `step` (1-based); `clock_s` is the training time
the run will have used when a validation started now ends (elapsed + the last validation's
duration: the measure `stopping.out_of_time` stops on). With W = warmup_steps:

    warm-up        lr * step / W                              for step <= W (all but noam)
    inverse_sqrt   lr * sqrt(W / step)                        after warm-up
    noam           d_model^-0.5 * min(step^-0.5, step * W^-1.5), scaled so the peak (at W) is lr;
                   after that scaling it is the same curve as inverse_sqrt with warm-up
    linear         from lr down to min_lr in a straight line, } over the fraction p of the budget
    cosine         from lr down to min_lr along half a cosine, } used since warm-up; min_lr after
    plateau        lr * factor^k, k = times dev BLEU stalled for plateau_patience validations
    constant       lr

linear and cosine reach min_lr exactly when the budget ends: p = max(step fraction, time
fraction), each of the budgets that is set: (step - W) / (E - W) with E = decay_steps, else
max_steps; and (clock_s - t_W) / (60 * max_minutes - t_W), t_W the clock at update W
(kept in last.pt, so a resumed run continues the same schedule). Driven by the clock, the rates
depend on the machine's speed: only a step budget gives bit-identical runs.
"""

from __future__ import annotations

import math
from typing import Any

from seq2seq.config import TrainConfig
from seq2seq.errors import UserError

BUDGET_DRIVEN = ("linear", "cosine")  # the schedules that decay to min_lr when the budget ends


class LRSchedule:
    """The learning rate as a function of the update number and the clock (plus a little state)."""

    def __init__(self, cfg: TrainConfig, d_model: int) -> None:
        self.kind = cfg.schedule
        self.peak = cfg.lr
        self.warmup = cfg.warmup_steps
        self.min_lr = cfg.min_lr
        self.d_model = d_model
        check_schedule(cfg)
        self.decay_steps = cfg.decay_steps or cfg.max_steps  # None: no step budget
        self.budget_s = 60 * cfg.max_minutes if cfg.max_minutes is not None else None
        self.warmup_end_s: float | None = None  # the clock at the last warm-up update (linear, cosine)
        self.plateau_factor = cfg.plateau_factor
        self.plateau_patience = cfg.plateau_patience
        # plateau state
        self.scale = 1.0
        self.best_bleu = -math.inf
        self.stalled = 0

    def lr(self, step: int, clock_s: float = 0.0) -> float:
        step = max(step, 1)
        if self.warmup_end_s is None and step >= self.warmup and self.kind in BUDGET_DRIVEN:
            self.warmup_end_s = clock_s  # the last warm-up update: the decay over the time left starts here
        warmup = max(self.warmup, 1)
        if step <= self.warmup and self.kind != "noam":
            return self.peak * step / warmup  # noam's formula warms up by itself
        if self.kind == "inverse_sqrt":
            return self.peak * math.sqrt(warmup / step)
        if self.kind == "noam":
            noam = self.d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
            return self.peak * noam / (self.d_model ** -0.5 * warmup ** -0.5)
        if self.kind in BUDGET_DRIVEN:
            progress = self.progress(step, clock_s)
            if progress >= 1.0:
                return self.min_lr
            shape = 1.0 - progress if self.kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
            return self.min_lr + (self.peak - self.min_lr) * shape
        if self.kind == "plateau":
            return self.peak * self.scale
        return self.peak  # constant

    def progress(self, step: int, clock_s: float) -> float:
        """The fraction of the budget used since warm-up: the larger of the step and time fractions."""
        fractions = [0.0]
        if self.decay_steps is not None:
            fractions.append((step - self.warmup) / max(self.decay_steps - self.warmup, 1))
        if self.budget_s is not None:
            start = self.warmup_end_s if self.warmup_end_s is not None else clock_s
            if clock_s >= self.budget_s or start >= self.budget_s:
                return 1.0  # exactly when out_of_time stops the run
            fractions.append((clock_s - start) / (self.budget_s - start))
        return max(fractions)

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
        return {"kind": self.kind, "scale": self.scale, "best_bleu": self.best_bleu, "stalled": self.stalled,
                "warmup_end_s": self.warmup_end_s}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best_bleu, self.stalled = state["scale"], state["best_bleu"], state["stalled"]
        self.warmup_end_s = state.get("warmup_end_s")


def check_schedule(cfg: TrainConfig) -> None:
    """Refuse a budget-driven schedule without a budget, or with train.snapshot_minutes on the clock."""
    if cfg.schedule not in BUDGET_DRIVEN:
        return
    if cfg.decay_steps is None and cfg.max_steps is None and cfg.max_minutes is None:
        raise UserError(f"train.schedule is {cfg.schedule}, which decays to train.min_lr when the budget ends: "
                        "set train.decay_steps, train.max_steps or train.max_minutes")
    if cfg.min_lr > cfg.lr:
        raise UserError(f"train.min_lr ({cfg.min_lr}) is above train.lr ({cfg.lr})")
    if cfg.snapshot_minutes is not None and cfg.max_minutes is not None:
        raise UserError(f"train.snapshot_minutes cannot be used with train.schedule {cfg.schedule} and "
                        "train.max_minutes: the rate decays over the time budget, so the model at "
                        f"{cfg.snapshot_minutes:g} minutes is not what a {cfg.snapshot_minutes:g}-minute run "
                        "ends with; train that run on its own")
