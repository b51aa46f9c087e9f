"""What a running training shows: the live bar, progress lines, metrics.csv rows (and TensorBoard's
event files: training/tensorboard.py), budget and ETA."""

from __future__ import annotations

import math
from pathlib import Path

from seq2seq.config import Config, TrainConfig
from seq2seq.training.run_dir import MetricsCSV, RunLog
from seq2seq.training.state import TrainState
from seq2seq.training.tensorboard import TensorBoard
from seq2seq.training.validation import DevScores


class Progress:
    """Reports every update on the live bar, and every train.log_every updates in train.log and
    metrics.csv (and TensorBoard's event files)."""

    def __init__(self, log: RunLog, metrics: MetricsCSV | None, train: TrainConfig, group_size: int,
                 tensorboard: TensorBoard | None = None) -> None:
        self.log, self.metrics, self.train, self.tensorboard = log, metrics, train, tensorboard
        self.group_size = group_size  # batches per update

    @classmethod
    def open(cls, run_dir: Path, config: Config, log: RunLog, resume_step: int | None, group_size: int,
             is_main: bool) -> Progress:
        """The progress of a run in `run_dir` (continued from `resume_step` on --resume): rank 0 writes
        metrics.csv, and the event files with train.tensorboard; the other processes neither."""
        metrics = MetricsCSV(run_dir / "metrics.csv", resume_step=resume_step) if is_main else None
        board = TensorBoard.open(run_dir, config, resume_step, log) if is_main else None
        return cls(log, metrics, config.train, group_size, board)

    @property
    def wants_attention(self) -> bool:
        """Whether validation should translate the fixed dev sentence with its attention (for TensorBoard)."""
        return self.tensorboard is not None and self.tensorboard.active

    def close(self) -> None:
        if self.tensorboard is not None:  # (never raises)
            self.tensorboard.close()
        if self.metrics is not None:
            self.metrics.close()

    def report(self, state: TrainState, batches_in_epoch: int, lr: float, grad_norm: float,
               seconds_per_update: float) -> None:
        """After an update: the bar; then, every train.log_every, a progress line and a metrics row
        over the window of updates since the last one (which starts afresh)."""
        fraction, eta, budget = self.budget(state, batches_in_epoch, seconds_per_update)
        tokens_per_s = state.window_tokens / max(state.window_train_s, 1e-9)
        window_loss = state.window_loss / max(state.window_tokens, 1)
        eta_text = f"eta {format_time(eta)} ({budget})" if eta is not None else f"({budget})"
        self.log.live(fraction, f"step {state.step} loss {window_loss:.3f} lr {lr:.2e} "
                                f"{tokens_per_s:,.0f} tok/s {eta_text}")
        if state.step % self.train.log_every:
            return
        epoch = state.epoch_fraction(batches_in_epoch)
        self.log.progress(f"step {state.step:>6} | epoch {epoch:6.2f} | loss {window_loss:.4f} | "
                          f"lr {lr:.3e} | gnorm {grad_norm:.4f} | {tokens_per_s:,.0f} tok/s | "
                          f"{format_time(state.elapsed_s)} | {eta_text}")
        if self.metrics is not None:
            self.metrics.write(step=state.step, epoch=round(epoch, 4), train_loss=window_loss, lr=lr,
                               tokens_per_s=round(tokens_per_s, 1), elapsed_s=round(state.elapsed_s, 1))
        if self.tensorboard is not None:
            self.tensorboard.log_progress(state.step, window_loss, lr, grad_norm, round(tokens_per_s, 1))
        state.window_loss, state.window_tokens, state.window_train_s = 0.0, 0, 0.0

    def validation(self, state: TrainState, scores: DevScores, improved: bool, lr: float,
                   batches_in_epoch: int) -> None:
        """A validation's line and sample translations in the log, and its row in metrics.csv."""
        self.log.info(f"validation at step {state.step}: dev loss {scores.loss:.4f}, BLEU {scores.bleu:.2f}, "
                      f"chrF {scores.chrf:.2f}"
                      + (" (best so far; saved best.pt)" if improved else
                         f" (best {state.best_bleu:.2f} at step {state.best_step}; "
                         f"{state.bad_validations} validation(s) without improvement)"))
        for source, reference, hypothesis in scores.samples:
            self.log.info(f"  source:     {source}\n  reference:  {reference}\n  hypothesis: {hypothesis}")
        assert self.metrics is not None, "only the main process validates"
        self.metrics.write(step=state.step, epoch=round(state.epoch_fraction(batches_in_epoch), 4),
                           dev_loss=scores.loss, dev_bleu=scores.bleu, dev_chrf=scores.chrf, lr=lr,
                           elapsed_s=round(state.elapsed_s, 1))
        if self.tensorboard is not None:
            self.tensorboard.log_validation(state.step, scores.loss, scores.bleu, scores.chrf, scores.attention)

    def budget(self, state: TrainState, batches_in_epoch: int,
               seconds_per_update: float) -> tuple[float, float | None, str]:
        """(fraction done, seconds left, its name) of the stopping budget that ends first."""
        train = self.train
        options = []
        if train.max_steps is not None:
            options.append((state.step / train.max_steps, (train.max_steps - state.step) * seconds_per_update,
                            f"{train.max_steps} steps"))
        if train.max_epochs is not None:
            done = state.epoch_fraction(batches_in_epoch)
            left = (train.max_epochs - done) * batches_in_epoch / self.group_size * seconds_per_update
            options.append((done / train.max_epochs, left, f"{train.max_epochs} epochs"))
        if train.max_minutes is not None:
            options.append((state.elapsed_s / (60 * train.max_minutes),
                            60 * train.max_minutes - state.elapsed_s, f"{train.max_minutes:g} min"))
        if not options:
            return 0.0, None, f"until dev BLEU stalls {train.patience} times"
        return min(options, key=lambda option: option[1])


def budget_text(train: TrainConfig) -> str:
    """The stopping keys that are set, as `max_minutes=10, patience=5`."""
    parts = [f"{key}={value:g}" for key, value in (("max_steps", train.max_steps),
             ("max_epochs", train.max_epochs), ("max_minutes", train.max_minutes),
             ("patience", train.patience)) if value is not None]
    return ", ".join(parts)


def format_time(seconds: float | None) -> str:
    """h:mm:ss, or ? when unknown."""
    if seconds is None:
        return "?"
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_bleu(bleu: float) -> str:
    """Two decimals, or n/a before the first validation."""
    return f"{bleu:.2f}" if math.isfinite(bleu) else "n/a"
