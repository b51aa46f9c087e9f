"""Training: `s2s train --config C` trains the configured model on the prepared data.

Read top to bottom:

    train_command      processes, then a Trainer, then its loop
    Trainer.__init__   data, model, optimiser, schedule, run directory; state from last.pt on --resume
    Trainer.run        the loop: one optimiser update per iteration, progress, validation,
                       checkpoints, stopping (max_steps, max_epochs, max_minutes, patience, Ctrl-C)
    Trainer.update     one update over train.accumulate x processes batches
    Trainer.validate   dev loss + greedy BLEU/chrF on rank 0; best.pt; early stopping
    Trainer.save_last  last.pt: everything needed to continue exactly where the run stands

An update's loss is the label-smoothed cross-entropy summed over its batches and divided by its
number of non-padding target tokens (see `seq2seq/training/distributed.py` for several processes).
Resuming is exact: a run killed and resumed ends with the same weights as one never stopped,
because the epoch's batch order is a function of (seed, epoch) and last.pt holds the position in
it, the optimiser and schedule state and every random generator's state.
"""

from __future__ import annotations

import dataclasses
import math
import random
import resource
import shutil
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seq2seq.allocator import return_large_blocks_to_the_os
from seq2seq.checkpoint import (RUNS_ROOT, atomic_write, check_resumable, load_checkpoint, make_payload,
                                save_checkpoint)
from seq2seq.config import Config, TrainConfig
from seq2seq.data.batching import ParallelCorpus, collate, encode_split, epoch_generator, make_batches, padding_ratio
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.errors import UserError
from seq2seq.training.distributed import Distributed, init_distributed
from seq2seq.training.loss import projected_cross_entropy
from seq2seq.training.run_dir import MetricsCSV, RunLog, prepare_run_dir
from seq2seq.training.schedule import LRSchedule
from seq2seq.training.validation import DevScores, DevSet, load_dev_set, validate


def train_command(config: Config, *, run_dir: Path | None = None, resume: bool = False,
                  force: bool = False, quiet: bool = False) -> None:
    """`s2s train`: train `config` into `run_dir` (default runs/<name>), or continue it (--resume)."""
    check_stopping(config.train)
    return_large_blocks_to_the_os()
    dist = init_distributed()
    try:
        trainer = Trainer(config, dist, run_dir or RUNS_ROOT / config.name, resume=resume, force=force,
                          quiet=quiet)
        trainer.run()
    except UserError:
        if dist.is_main:
            raise
        raise SystemExit(1) from None  # every process stops; rank 0 alone says why
    finally:
        dist.close()


def check_stopping(train: TrainConfig) -> None:
    if all(v is None for v in (train.max_steps, train.max_epochs, train.max_minutes, train.patience)):
        raise UserError("the config never stops training: set at least one of train.max_steps, "
                        "train.max_epochs, train.max_minutes, train.patience "
                        "(e.g. --set train.max_minutes=30)")


@dataclass
class TrainState:
    """Where training stands; saved in last.pt as plain values."""

    step: int = 0  # optimiser updates done
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # index of the next update's first batch in the epoch's batch list
    best_bleu: float = -math.inf
    best_step: int = 0
    bad_validations: int = 0  # validations since dev BLEU last improved
    elapsed_s: float = 0.0  # wall-clock training time so far, validation included
    last_validation_s: float = 0.0  # how long the latest validation + save took
    snapshot_taken: bool = False  # best-at-<train.snapshot_minutes>min.pt has been written
    # since the last progress line, for its mean loss and tokens/s
    window_loss: float = 0.0
    window_tokens: int = 0
    window_train_s: float = 0.0


class Trainer:
    def __init__(self, config: Config, dist: Distributed, run_dir: Path, *, resume: bool, force: bool,
                 quiet: bool) -> None:
        self.config, self.dist, self.run_dir, self.device = config, dist, run_dir, dist.device
        train = config.train
        if train.threads:
            torch.set_num_threads(train.threads)

        # Data first: a missing corpus should fail before anything is written.
        data_dir = config.data.resolved_dir(config.name)
        self.src_tok, self.tgt_tok = load_tokenizers(data_dir, config.data.joint_vocab)
        self.max_positions = config.model.max_positions if config.model.type == "transformer" else None
        self.train_data, n_dropped = self._load_train_data(data_dir)
        self.data_signature = [len(self.train_data), int(self.train_data.src.lengths.sum()),
                               int(self.train_data.tgt.lengths.sum())]
        # Rank 0 reads the dev set and last.pt, checks them, prepares the run directory.
        payload, self.dev = dist.run_on_main(lambda: self._open_run_dir(data_dir, resume=resume, force=force))
        self.log = RunLog(run_dir / "train.log", quiet=quiet, enabled=dist.is_main)

        self.raw_model = self._build_model(payload)  # what is saved and validated
        self.model = self.raw_model  # what is trained: DDP-wrapped with several processes
        if dist.enabled:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.raw_model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.optimizer = make_optimizer(self.raw_model, train)
        self.schedule = LRSchedule(train, config.model.d_model)
        self.state = TrainState()
        self.last_saved_step: int | None = None
        if payload is not None:
            self.optimizer.load_state_dict(payload["optimizer"])
            self.schedule.load_state_dict(payload["schedule"])
            self.state = TrainState(**payload["train_state"])
            self.last_saved_step = self.state.step
            self._restore_rng(payload["rng"])

        self.group_size = train.accumulate * dist.world_size  # batches per update
        self._epoch_cache: tuple[int, list[Tensor], list[int]] | None = None
        self.metrics = MetricsCSV(run_dir / "metrics.csv", resume_step=self.state.step if payload else None) \
            if dist.is_main else None
        self.stop_signal: str | None = None
        self.grad_norm = math.nan
        self._log_setup(payload, data_dir, n_dropped)

    # -----------------------------------------------------------------------------------------
    # Set-up helpers

    def _load_train_data(self, data_dir: Path) -> tuple[ParallelCorpus, int]:
        """The encoded training set, without pairs too long for the model; and how many were dropped."""
        corpus = encode_split(data_dir, "train", self.src_tok, self.tgt_tok)
        if len(corpus) == 0:
            raise UserError(f"{data_dir}/train.src: no training sentence pairs")
        if self.max_positions is None:
            return corpus, 0
        fits = (corpus.src_sizes <= self.max_positions) & (corpus.tgt_sizes <= self.max_positions)
        n_dropped = len(corpus) - int(fits.sum())
        if n_dropped == len(corpus):
            raise UserError(f"{data_dir}/train.*: every pair is longer than model.max_positions "
                            f"({self.max_positions}) pieces")
        return (corpus.select(torch.nonzero(fits).squeeze(1)) if n_dropped else corpus), n_dropped

    def _open_run_dir(self, data_dir: Path, *, resume: bool, force: bool) -> tuple[dict[str, Any] | None, DevSet]:
        """(rank 0) The checked checkpoint to continue (on --resume) and the dev set; then the run
        directory made ready. Everything is checked first, so a refusal leaves the run directory as it was.
        """
        dev = load_dev_set(data_dir, self.src_tok, self.tgt_tok, self.config.train.batch_tokens, self.max_positions)
        if len(dev) == 0:
            raise UserError(f"{data_dir}/dev.src is empty; validation needs dev sentences (prepare the "
                            "data with data.dev_size > 0)")
        last = self.run_dir / "last.pt"
        payload = None
        if resume and not force and last.is_file():
            payload = load_checkpoint(last)
            check_resumable(payload, self.config, self.dist.world_size)
            if payload["spm_src"] != self.src_tok.to_bytes() or payload["spm_tgt"] != self.tgt_tok.to_bytes():
                raise UserError(f"{last}: its SentencePiece model differs from the one in {data_dir} (data "
                                "prepared again since?); resuming needs the same vocabulary. Start afresh "
                                "with --force")
            if payload.get("data_signature") != self.data_signature:
                raise UserError(f"{last}: the training data changed since this checkpoint (pairs, source "
                                f"and target pieces: {payload.get('data_signature')} then, "
                                f"{self.data_signature} now), so resuming would not continue the same "
                                "epochs. Start afresh with --force")
        prepare_run_dir(self.run_dir, self.config, data_dir, resume=resume, force=force)
        return payload, dev

    def _build_model(self, payload: dict[str, Any] | None) -> torch.nn.Module:
        """The same initial weights in every process (DDP would also broadcast rank 0's)."""
        from seq2seq.models import build_model  # torch-heavy; only when training

        seed = self.config.train.seed
        random.seed(seed)
        torch.manual_seed(seed)
        model = build_model(self.config.model, self.src_tok.vocab_size, self.tgt_tok.vocab_size,
                            self.config.data.joint_vocab)
        torch.manual_seed(seed + self.dist.rank)  # each process draws its own dropout masks
        if payload is not None:
            model.load_state_dict(payload["model_state"])
        return model.to(self.device)

    def _log_setup(self, payload: dict[str, Any] | None, data_dir: Path, n_dropped: int) -> None:
        """What the user should know before the first update."""
        from seq2seq.models import describe_model

        log, state, train = self.log, self.state, self.config.train
        if payload is not None:
            log.info(f"resuming {self.run_dir} from step {state.step} (epoch {state.epoch}, "
                     f"{state.elapsed_s / 60:.1f} min trained, best dev BLEU {_fmt_bleu(state.best_bleu)})")
            if payload["world_size"] != self.dist.world_size:
                log.info(f"note: last.pt was written by {payload['world_size']} process(es), this run has "
                         f"{self.dist.world_size}: dropout draws new random numbers from here on")
        else:
            log.info(f"training {self.config.name} into {self.run_dir}")
        log.info(f"model: {describe_model(self.config.model, self.raw_model)}")
        dropped = f" ({n_dropped:,} longer than {self.max_positions} pieces dropped)" if n_dropped else ""
        log.info(f"data: {len(self.train_data):,} training pairs from {data_dir}{dropped}, {len(self.dev):,} "
                 f"dev pairs ({min(train.dev_sentences or len(self.dev), len(self.dev)):,} decoded at each "
                 "validation)")
        log.info(f"device: {self.device.type}, {torch.get_num_threads()} threads per process, "
                 f"{self.dist.world_size} process(es); optimizer {train.optimizer}, lr {train.lr:g} "
                 f"({train.schedule}, {train.warmup_steps} warm-up steps); budget: {self._budget_text()}")

    def _rng_state(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore_rng(self, states: list[dict[str, Any]]) -> None:
        if len(states) != self.dist.world_size:  # another number of processes: fresh streams
            torch.manual_seed(self.config.train.seed + self.dist.rank + 7919 * self.state.step)
            return
        mine = states[self.dist.rank]
        torch.set_rng_state(mine["torch"])
        random.setstate(mine["python"])
        if "cuda" in mine and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda"], self.device)

    def epoch_batches(self, epoch: int) -> tuple[list[Tensor], list[int]]:
        """The epoch's batches (fixed by seed and epoch) and their target-token counts.

        The list is trimmed to a multiple of accumulate x processes, so every update and every
        process gets the same number of batches (the few left over differ each epoch).
        """
        if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1], self._epoch_cache[2]
        train, data = self.config.train, self.train_data
        batches = make_batches(data.src_sizes, data.tgt_sizes, train.batch_tokens, train.bucket_pool,
                               epoch_generator(train.seed, epoch))
        usable = len(batches) // self.group_size * self.group_size
        if usable == 0:
            raise UserError(f"the training data make only {len(batches)} batch(es) of train.batch_tokens="
                            f"{train.batch_tokens}, fewer than one update needs (train.accumulate "
                            f"{train.accumulate} x {self.dist.world_size} process(es)); lower those")
        batches = batches[:usable]
        counts = [int(data.tgt_sizes[b].sum()) for b in batches]
        if self._epoch_cache is None:  # first epoch of this session: say how well batching packs
            sentences = sum(len(b) for b in batches)
            self.log.info(
                f"batches: {len(batches):,} per epoch ({sentences / len(batches):.1f} sentences, "
                f"{sum(counts) / len(batches):,.0f} target tokens each on average), "
                f"{len(batches) // self.group_size:,} updates per epoch; padding "
                f"{100 * padding_ratio(data.tgt_sizes, batches):.1f}% of target and "
                f"{100 * padding_ratio(data.src_sizes, batches):.1f}% of source tokens")
        self._epoch_cache = (epoch, batches, counts)
        return batches, counts

    # -----------------------------------------------------------------------------------------
    # The loop

    def run(self) -> None:
        handlers = self._catch_stop_signals()
        try:
            self._loop()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self.log.close()
            if self.metrics is not None:
                self.metrics.close()

    def _loop(self) -> None:
        state = self.state
        self.session_start, self.session_step0 = time.monotonic(), state.step
        self.elapsed_at_start = state.elapsed_s
        # The same test that ended the run (the final validation would not fit any more), so
        # resuming a finished run does nothing until a limit is raised.
        reason = self.stop_reason(interrupted=False, out_of_time=self._out_of_time(self.config.train.max_minutes))
        if reason is not None:
            self.log.info(f"nothing to do: this run already stopped ({reason}); raise that limit to "
                          "train further")
            return
        while True:
            batches, counts = self.epoch_batches(state.epoch)
            first = state.batch_in_epoch
            group = slice(first, first + self.group_size)
            interrupted, out_of_time, snapshot_due = self.update(batches[group], sum(counts[group]))
            state.step += 1
            state.batch_in_epoch += self.group_size
            if state.batch_in_epoch >= len(batches):
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            state.elapsed_s = self.elapsed()
            self.report_progress(len(batches))

            reason = self.stop_reason(interrupted, out_of_time)
            if reason == "interrupted":
                self.save_last()
                signal_name = self.stop_signal or "a stop signal (in another process)"
                self.log.info(f"{signal_name} received: stopped after step {state.step}, saved "
                              f"{self.run_dir / 'last.pt'}; continue with --resume")
                raise KeyboardInterrupt
            validating = (state.step % self.config.train.validate_every == 0 or reason is not None
                          or snapshot_due)
            if validating:
                started = time.monotonic()
                self.validate()
                reason = reason or self.stop_reason(interrupted=False, out_of_time=False)
                if snapshot_due:
                    self.save_snapshot()
            save_every = self.config.train.save_every
            if validating or (save_every and state.step % save_every == 0):
                self.save_last()
            if validating:
                state.last_validation_s = time.monotonic() - started
            if reason is not None:
                break

        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        self.log.info(f"stopped after step {state.step} ({reason}); {state.elapsed_s / 60:.1f} min; best "
                      f"dev BLEU {_fmt_bleu(state.best_bleu)} at step {state.best_step} "
                      f"({self.run_dir / 'best.pt'}); peak memory {peak_mb:,.0f} MB")
        if self.dist.is_main:
            self._plot()

    def update(self, group: list[Tensor], group_tokens: int) -> tuple[bool, bool, bool]:
        """One optimiser update over `group` (this process takes every world_size-th batch).

        Returns whether any process was asked to stop (a signal), whether time is up and
        whether the train.snapshot_minutes mark has been reached (all processes agree).
        """
        started = time.monotonic()
        train, state = self.config.train, self.state
        lr = self.schedule.lr(state.step + 1)
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr
        self.model.train()
        mine = group[self.dist.rank::self.dist.world_size]
        # Sum of losses / tokens of the whole update; x world_size undoes DDP's averaging.
        scale = self.dist.world_size / group_tokens
        loss_sum = 0.0
        for i, indices in enumerate(mine):
            batch = collate(self.train_data, indices).to(self.device)
            # DDP: all-reduce gradients only after the last batch of the update.
            sync = i == len(mine) - 1 or not self.dist.enabled
            with nullcontext() if sync else self.model.no_sync():
                states = self.model(batch.src_tokens, batch.src_lengths, batch.prev_tokens, project=False)
                scaled_loss = projected_cross_entropy(states, self.raw_model.output_proj.weight, batch.gold,
                                                      train.label_smoothing, scale)
                del states
                scaled_loss.backward()
            loss_sum += scaled_loss.item() / scale
        snapshot_due = not self.state.snapshot_taken and self._out_of_time(train.snapshot_minutes)
        loss_sum, interrupted, out_of_time, snapshot_due = self.dist.sum(
            [loss_sum, float(self.stop_signal is not None), float(self._out_of_time(train.max_minutes)),
             float(snapshot_due)])

        params = [p for p in self.raw_model.parameters() if p.grad is not None]
        if train.clip_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, train.clip_norm))
        else:
            grad_norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
        if not (math.isfinite(loss_sum) and math.isfinite(grad_norm)):
            self._diverged(loss_sum, grad_norm)
        self.grad_norm = grad_norm  # before clipping; shown in the progress lines
        self.optimizer.step()
        # Keep the gradient buffers: allocated once, they do not fragment the heap between the
        # batches of an accumulated update (~100 MB less peak RSS at batch_tokens 2000, accumulate 2).
        self.optimizer.zero_grad(set_to_none=False)

        state.window_loss += loss_sum
        state.window_tokens += group_tokens
        state.window_train_s += time.monotonic() - started
        return interrupted > 0, out_of_time > 0, snapshot_due > 0

    def stop_reason(self, interrupted: bool, out_of_time: bool) -> str | None:
        train, state = self.config.train, self.state
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

    def elapsed(self) -> float:
        return self.elapsed_at_start + time.monotonic() - self.session_start

    def _out_of_time(self, budget: float | None) -> bool:
        """Stop now if the final validation would not fit in `budget` minutes any more."""
        return budget is not None and self.elapsed() + self.state.last_validation_s >= 60 * budget

    def _diverged(self, loss_sum: float, grad_norm: float) -> None:
        what = f"loss {loss_sum}" if not math.isfinite(loss_sum) else f"gradient norm {grad_norm}"
        saved = (f"{self.run_dir / 'last.pt'} still holds step {self.last_saved_step}"
                 if self.last_saved_step is not None else "no checkpoint was written")
        message = (f"training diverged at step {self.state.step + 1}: {what}. That update was not "
                   f"applied and {saved}. Lower train.lr, lengthen train.warmup_steps or set train.clip_norm")
        self.log.note(f"error: {message}")  # the CLI prints it on stderr
        raise UserError(message)

    # -----------------------------------------------------------------------------------------
    # Progress, validation, checkpoints

    def report_progress(self, batches_in_epoch: int) -> None:
        """The live bar every update; a line in train.log and metrics.csv every train.log_every."""
        train, state = self.config.train, self.state
        fraction, eta, budget = self.budget(batches_in_epoch)
        tokens_per_s = state.window_tokens / max(state.window_train_s, 1e-9)
        lr = self.optimizer.param_groups[0]["lr"]
        window_loss = state.window_loss / max(state.window_tokens, 1)
        eta_text = f"eta {_fmt_time(eta)} ({budget})" if eta is not None else f"({budget})"
        self.log.live(fraction, f"step {state.step} loss {window_loss:.3f} lr {lr:.2e} "
                                f"{tokens_per_s:,.0f} tok/s {eta_text}")
        if state.step % train.log_every:
            return
        epoch = state.epoch + state.batch_in_epoch / batches_in_epoch
        self.log.progress(f"step {state.step:>6} | epoch {epoch:6.2f} | loss {window_loss:.4f} | "
                          f"lr {lr:.3e} | gnorm {self.grad_norm:.4f} | {tokens_per_s:,.0f} tok/s | "
                          f"{_fmt_time(state.elapsed_s)} | {eta_text}")
        if self.metrics is not None:
            self.metrics.write(step=state.step, epoch=round(epoch, 4), train_loss=window_loss, lr=lr,
                               tokens_per_s=round(tokens_per_s, 1), elapsed_s=round(state.elapsed_s, 1))
        state.window_loss, state.window_tokens, state.window_train_s = 0.0, 0, 0.0

    def budget(self, batches_in_epoch: int) -> tuple[float, float | None, str]:
        """(fraction done, seconds left, its name) of the stopping budget that ends first."""
        train, state = self.config.train, self.state
        updates = state.step - self.session_step0
        per_update = (time.monotonic() - self.session_start) / max(updates, 1)
        options = []
        if train.max_steps is not None:
            options.append((state.step / train.max_steps, (train.max_steps - state.step) * per_update,
                            f"{train.max_steps} steps"))
        if train.max_epochs is not None:
            done = state.epoch + state.batch_in_epoch / batches_in_epoch
            left = (train.max_epochs - done) * batches_in_epoch / self.group_size * per_update
            options.append((done / train.max_epochs, left, f"{train.max_epochs} epochs"))
        if train.max_minutes is not None:
            options.append((state.elapsed_s / (60 * train.max_minutes),
                            60 * train.max_minutes - state.elapsed_s, f"{train.max_minutes:g} min"))
        if not options:
            return 0.0, None, f"until dev BLEU stalls {train.patience} times"
        return min(options, key=lambda option: option[1])

    def _budget_text(self) -> str:
        train = self.config.train
        parts = [f"{key}={value:g}" for key, value in (("max_steps", train.max_steps),
                 ("max_epochs", train.max_epochs), ("max_minutes", train.max_minutes),
                 ("patience", train.patience)) if value is not None]
        return ", ".join(parts)

    def validate(self) -> None:
        """Rank 0 validates; every process learns the dev BLEU (early stopping, plateau schedule)."""
        state = self.state
        scores: DevScores | None = None
        if self.dist.is_main:
            # Validation must not move the random streams, or resumed runs would drift.
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                scores = validate(self.raw_model, self.dev, self.config, self.src_tok, self.tgt_tok, self.device)
        bleu = self.dist.broadcast(scores.bleu if scores is not None else None)
        improved = bleu > state.best_bleu
        if improved:
            state.best_bleu, state.best_step, state.bad_validations = bleu, state.step, 0
        else:
            state.bad_validations += 1
        self.schedule.on_validation(bleu)
        if scores is None:
            return
        state.elapsed_s = self.elapsed()
        lr = self.optimizer.param_groups[0]["lr"]
        batches = len(self.epoch_batches(state.epoch)[0])
        epoch = state.epoch + state.batch_in_epoch / batches
        self.log.info(f"validation at step {state.step}: dev loss {scores.loss:.4f}, BLEU {scores.bleu:.2f}, "
                      f"chrF {scores.chrf:.2f}"
                      + (" (best so far; saved best.pt)" if improved else
                         f" (best {state.best_bleu:.2f} at step {state.best_step}; "
                         f"{state.bad_validations} validation(s) without improvement)"))
        for source, reference, hypothesis in scores.samples:
            self.log.info(f"  source:     {source}\n  reference:  {reference}\n  hypothesis: {hypothesis}")
        assert self.metrics is not None
        self.metrics.write(step=state.step, epoch=round(epoch, 4), dev_loss=scores.loss, dev_bleu=scores.bleu,
                           dev_chrf=scores.chrf, lr=lr, elapsed_s=round(state.elapsed_s, 1))
        if improved:
            payload = make_payload(self.config, self.raw_model, self.src_tok, self.tgt_tok, kind="best",
                                   step=state.step, dev_bleu=scores.bleu, dev_chrf=scores.chrf)
            save_checkpoint(self.run_dir / "best.pt", payload)

    def save_last(self) -> None:
        """last.pt: weights, optimiser, schedule, data position, every process's RNG states."""
        rng = self.dist.gather(self._rng_state())  # collective: every process takes part
        self.last_saved_step = self.state.step
        if not self.dist.is_main:
            return
        self.state.elapsed_s = self.elapsed()
        payload = make_payload(
            self.config, self.raw_model, self.src_tok, self.tgt_tok, kind="last",
            train_state=dataclasses.asdict(self.state), optimizer=self.optimizer.state_dict(),
            schedule=self.schedule.state_dict(), rng=rng, world_size=self.dist.world_size,
            data_signature=self.data_signature)
        save_checkpoint(self.run_dir / "last.pt", payload)

    def save_snapshot(self) -> None:
        """best-at-<m>min.pt: a copy of best.pt as a run with train.max_minutes=<m> would leave it."""
        self.state.snapshot_taken = True
        if not self.dist.is_main:
            return
        minutes = self.config.train.snapshot_minutes
        target = self.run_dir / f"best-at-{minutes:g}min.pt"
        atomic_write(target, lambda tmp: shutil.copyfile(self.run_dir / "best.pt", tmp))
        self.log.info(f"{minutes:g} minutes: copied best.pt (dev BLEU {_fmt_bleu(self.state.best_bleu)} "
                      f"at step {self.state.best_step}) to {target}")

    def _plot(self) -> None:
        """training_curves.png; a plotting problem never fails a finished training."""
        try:
            from seq2seq.plots import plot_training_curves

            plot_training_curves(self.run_dir / "metrics.csv", self.run_dir / "training_curves.png")
        except Exception as exc:  # noqa: BLE001 - plotting is a convenience
            self.log.info(f"(training curves not plotted: {type(exc).__name__}: {exc})")

    def _catch_stop_signals(self) -> dict[int, Any]:
        """Ctrl-C / SIGTERM: finish the current update, save last.pt, exit; a second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Any) -> None:
            if self.stop_signal is not None:
                raise KeyboardInterrupt
            self.stop_signal = signal.Signals(signum).name

        return {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}


def make_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW; the fused kernel (CPU and CUDA) is the fastest and as exact."""
    kind = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=train.lr, betas=(train.adam_beta1, train.adam_beta2),
                weight_decay=train.weight_decay, fused=True)


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _fmt_bleu(bleu: float) -> str:
    return f"{bleu:.2f}" if math.isfinite(bleu) else "n/a"
