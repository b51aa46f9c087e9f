"""When training stops: step, epoch and time budgets, early stopping, divergence, and the clock they read."""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seq2seq.config import TrainConfig
from seq2seq.errors import UserError
from seq2seq.training.state import TrainState


def check_stopping(train: TrainConfig) -> None:
    """Refuse a config that would train forever."""
    if all(v is None for v in (train.max_steps, train.max_epochs, train.max_minutes, train.patience)):
        raise UserError("the config never stops training: set at least one of train.max_steps, "
                        "train.max_epochs, train.max_minutes, train.patience "
                        "(e.g. --set train.max_minutes=30)")


@dataclass
class UpdateSignals:
    """What every process agrees on after an update."""

    interrupted: bool  # a stop signal (Ctrl-C, SIGTERM) reached some process
    out_of_time: bool  # the final validation would no longer fit in train.max_minutes
    snapshot_due: bool  # train.snapshot_minutes has been reached


class Clock:
    """Wall-clock training time of a run: what earlier sessions trained plus this session's.

    Started when the Trainer is made, so every part of it (and a benchmark) can read it.
    """

    def __init__(self, trained_before_s: float, step: int) -> None:
        self.started = time.monotonic()
        self.trained_before_s = trained_before_s
        self.start_step = step  # updates already made when this session began

    def elapsed(self) -> float:
        return self.trained_before_s + time.monotonic() - self.started

    def seconds_per_update(self, step: int) -> float:
        """This session's mean time per update so far (validation included)."""
        return (time.monotonic() - self.started) / max(step - self.start_step, 1)


def out_of_time(elapsed_s: float, last_validation_s: float, budget_minutes: float | None) -> bool:
    """Stop now if the final validation would not fit in `budget_minutes` any more."""
    return budget_minutes is not None and elapsed_s + last_validation_s >= 60 * budget_minutes


def divergence_message(step: int, loss_sum: float, grad_norm: float, last: Path, last_saved_step: int | None,
                       bad_weight: str | None = None) -> str:
    """Why training stops at update `step` (not applied): its loss or gradient norm is not finite;
    or, with `bad_weight`, update `step` (applied) left that weight NaN or inf, and it is not
    validated or saved (best.pt never holds such weights)."""
    what = f"loss {loss_sum}" if not math.isfinite(loss_sum) else f"gradient norm {grad_norm}"
    saved = (f"{last} still holds step {last_saved_step}" if last_saved_step is not None
             else "no checkpoint was written")
    if bad_weight is not None:
        return (f"training diverged at step {step}: the update left weight {bad_weight} NaN or inf. Nothing was saved "
                f"from it and {saved}. Lower train.lr, lengthen train.warmup_steps or set train.clip_norm")
    return (f"training diverged at step {step}: {what}. That update was not applied and {saved}. "
            "Lower train.lr, lengthen train.warmup_steps or set train.clip_norm")


def stop_reason(train: TrainConfig, state: TrainState, *, interrupted: bool, out_of_time: bool) -> str | None:
    """Why training should stop after the update just made, or None to go on."""
    if interrupted:
        return "interrupted"
    if train.max_steps is not None and state.step >= train.max_steps:
        return f"train.max_steps={train.max_steps}"
    if train.max_epochs is not None and state.epoch >= train.max_epochs:
        return f"train.max_epochs={train.max_epochs}"
    if out_of_time or (train.max_minutes is not None and state.elapsed_s >= 60 * train.max_minutes):
        return f"train.max_minutes={train.max_minutes:g}"
    if train.patience is not None and state.bad_validations >= train.patience:
        return f"train.patience={train.patience}: no better dev BLEU in {train.patience} validations"
    return None


class StopRequest:
    """Ctrl-C / SIGTERM during training: the first asks the loop to stop after the current update
    (it saves last.pt first); a second one stops at once."""

    def __init__(self) -> None:
        self.signal_name: str | None = None  # the signal received, e.g. "SIGINT"
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set signal handlers
        self._previous = {signum: signal.signal(signum, self._on_signal)
                          for signum in (signal.SIGINT, signal.SIGTERM)}

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
