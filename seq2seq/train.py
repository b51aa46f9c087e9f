"""Training: `s2s train --config C` trains the configured model on the prepared data.

Read top to bottom:

    train_command        processes, then a Trainer, then its loop
    Trainer.__init__     data, model, optimiser, schedule, run directory; state from last.pt on --resume
    Trainer._loop        one train_step per iteration, then stop rules, validation, checkpoints
    Trainer.train_step   the next update, as the loop makes it (benchmarks call it too)
    Trainer.update       one update over train.accumulate x processes batches: backward, the one
                         all-reduce of the totals, learning rate, clipping, optimiser step, counters
    Trainer.validate     dev loss + greedy BLEU/chrF on rank 0; best.pt; early stopping
    Trainer.save_last    last.pt: everything needed to continue exactly where the run stands

The parts live in `seq2seq/training/`: stop rules and the clock (stopping.py), what may change
on --resume (resume.py), progress lines and metrics.csv (progress.py), the training data and
its batches (epochs.py), an update's steps (update.py), 16-bit training (precision.py),
validation, the loss, the schedule and several processes.

An update's loss is the label-smoothed cross-entropy summed over its batches and divided by its
number of non-padding target tokens (see `seq2seq/training/distributed.py` for several processes).
Resuming is exact: a run killed and resumed ends with the same weights as one never stopped,
because an epoch's batches (with augmentation, each batch's pairs too) are a function of (seed,
epoch) and last.pt holds the position in it, the optimiser and schedule state and every random
generator's state. The batches come from memory-mapped shards, made in DataLoader worker processes
(seq2seq/data/loader.py; training/epochs.py sets it up).
"""

from __future__ import annotations

import dataclasses
import math
import random
import resource
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seq2seq.allocator import bound_primitive_caches, return_large_blocks_to_the_os
from seq2seq.checkpoint import RUNS_ROOT, first_non_finite, keep_weights, make_payload, save_checkpoint
from seq2seq.config import Config
from seq2seq.data.batching import Batch
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.devices import describe, resolve_precision
from seq2seq.errors import UserError
from seq2seq.models import Seq2SeqModel, build_model, describe_model
from seq2seq.training.distributed import Distributed, init_distributed
from seq2seq.training.ema import EMA, averaged
from seq2seq.training.epochs import TrainingData
from seq2seq.training.optimizer import make_optimizer
from seq2seq.training.precision import MixedPrecision
from seq2seq.training.progress import Progress, budget_text, format_bleu
from seq2seq.training.resume import load_resumable, restore_rng, rng_state
from seq2seq.training.run_dir import RunLog, copy_snapshot, plot_curves, prepare_run_dir, read_prepared
from seq2seq.training.schedule import LRSchedule, check_schedule
from seq2seq.training.state import TrainState
from seq2seq.training.stopping import (Clock, StopRequest, UpdateSignals, check_stopping, divergence_message,
                                       out_of_time, stop_reason)
from seq2seq.training.tensorboard import check_tensorboard
from seq2seq.training.update import UpdateTotals, backward, current_lr, gradient_norm, set_lr
from seq2seq.training.validation import DevScores, DevSet, load_dev_set, validate as score_dev_set


def train_command(config: Config, *, run_dir: Path | None = None, resume: bool = False,
                  force: bool = False, quiet: bool = False) -> None:
    """`s2s train`: train `config` into `run_dir` (default runs/<name>), or continue it (--resume)."""
    check_stopping(config.train)
    check_schedule(config.train)
    check_tensorboard(config)  # train.tensorboard: true needs the package
    return_large_blocks_to_the_os()
    bound_primitive_caches()
    dist = init_distributed(config.train.device)
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


class Trainer:
    """One training run: data, model, optimiser, schedule and run directory, and the loop over them."""

    def __init__(self, config: Config, dist: Distributed, run_dir: Path, *, resume: bool, force: bool,
                 quiet: bool) -> None:
        self.config, self.dist, self.run_dir, self.device = config, dist, run_dir, dist.device
        train = config.train
        if train.threads:
            torch.set_num_threads(train.threads)

        # Data first: a missing corpus should fail before anything is written.
        data_dir = read_prepared(config.data.resolved_dir(config.name))  # locked: no prepare replaces it meanwhile
        self.src_tok, self.tgt_tok = load_tokenizers(data_dir, config.data.joint_vocab)
        self.raw_model = self._new_model()  # what is saved and validated
        # The training shards (refused when prepared with other settings), planned and batched
        self.data = TrainingData(config, data_dir, self.src_tok, self.tgt_tok, self.raw_model.max_positions, dist)
        self.data_signature = self.data.signature
        # Rank 0 reads the dev set and last.pt (payload, on --resume), checks them, prepares the run directory.
        payload, self.dev = dist.run_on_main(lambda: self._open_run_dir(data_dir, resume=resume, force=force))
        self.log = RunLog(run_dir / "train.log", quiet=quiet, enabled=dist.is_main)

        self._place_model(payload["model_state"] if payload is not None else None)
        self.optimizer = make_optimizer(self.raw_model, train)
        self.schedule = LRSchedule(train, config.model.d_model)
        # train.ema_decay: the moving average of the weights, kept by rank 0 (it alone validates and saves)
        self.ema = EMA(self.raw_model, train.ema_decay) if train.ema_decay and dist.is_main else None
        self.state = TrainState()
        self.last_saved_step: int | None = None  # the step last.pt holds
        if payload is not None:
            self._continue_from(payload)

        self.group_size = train.accumulate * dist.world_size  # batches per update
        self.progress = Progress.open(run_dir, config, self.log, self.state.step if payload else None, self.group_size,
                                      dist.is_main)  # metrics.csv and TensorBoard (rank 0)
        self.stop_request = StopRequest()
        self.grad_norm = math.nan
        self._log_setup(payload, data_dir)
        self.data.start(self.state.epoch, self.state.batch_in_epoch, self.state.shard_batches, self.log)
        self.clock = Clock(self.state.elapsed_s, self.state.step)

    # -----------------------------------------------------------------------------------------
    # Set-up helpers

    def _new_model(self) -> Seq2SeqModel:
        """The same initial weights in every process (DDP would also broadcast rank 0's)."""
        seed = self.config.train.seed
        random.seed(seed)
        torch.manual_seed(seed)
        model = build_model(self.config.model, self.src_tok.vocab_size, self.tgt_tok.vocab_size,
                            self.config.data.joint_vocab)
        torch.manual_seed(seed + self.dist.rank)  # each process draws its own dropout masks
        return model

    def _open_run_dir(self, data_dir: Path, *, resume: bool, force: bool) -> tuple[dict[str, Any] | None, DevSet]:
        """(rank 0) The checked checkpoint to continue (on --resume) and the dev set; then the run
        directory made ready. Everything is checked first, so a refusal leaves the run directory as it was.
        """
        dev = load_dev_set(data_dir, self.src_tok, self.tgt_tok, self.config.train.batch_tokens,
                           self.raw_model.max_positions)
        if len(dev) == 0:
            raise UserError(f"{data_dir}/dev.src is empty; validation needs dev sentences (prepare the "
                            "data with data.dev_size > 0)")
        last = self.run_dir / "last.pt"
        payload = None
        if resume and not force and last.is_file():
            payload = load_resumable(last, self.config, self.dist.world_size, self.src_tok, self.tgt_tok,
                                     data_dir, self.data_signature)
        prepare_run_dir(self.run_dir, self.config, data_dir, resume=resume, force=force)
        return payload, dev

    def _place_model(self, weights: dict[str, Tensor] | None) -> None:
        """raw_model (given `weights`: last.pt's) on the device, then what trains: its 16-bit
        working copy with train.precision bf16/fp16, wrapped in DDP with several processes."""
        if weights is not None:  # before the working copy is made of them
            self.raw_model.load_state_dict(weights)
        self.raw_model.to(self.device)
        self.precision = resolve_precision(self.config.train.precision, self.device, "train.precision")
        self.mixed = MixedPrecision(self.raw_model, self.precision)
        self.model: torch.nn.Module = self.mixed.work
        if self.dist.enabled:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.mixed.work, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _continue_from(self, payload: dict[str, Any]) -> None:
        """--resume: optimiser, schedule, moving average, data position, loss scale and random
        streams as last.pt left them (the weights are already in)."""
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        if self.ema is not None:
            self.ema.load_state_dict(payload["ema"])
        self.state = TrainState(**payload["train_state"])
        self.mixed.load_state_dict(payload.get("precision", {}))
        self.last_saved_step = self.state.step
        restore_rng(payload["rng"], self.dist.rank, self.dist.world_size, self.config.train.seed, self.state.step,
                    self.device)

    def _log_setup(self, payload: dict[str, Any] | None, data_dir: Path) -> None:
        """What the user should know before the first update."""
        log, state, train = self.log, self.state, self.config.train
        if payload is not None:
            log.info(f"resuming {self.run_dir} from step {state.step} (epoch {state.epoch}, "
                     f"{state.elapsed_s / 60:.1f} min trained, best dev BLEU {format_bleu(state.best_bleu)})")
            if payload["world_size"] != self.dist.world_size:
                log.info(f"note: last.pt was written by {payload['world_size']} process(es), this run has "
                         f"{self.dist.world_size}: dropout draws new random numbers from here on")
        else:
            log.info(f"training {self.config.name} into {self.run_dir}")
        log.info(f"model: {describe_model(self.config.model, self.raw_model)}")
        data = self.data
        dropped = f" ({data.n_dropped:,} longer than {self.raw_model.max_positions} pieces dropped)" \
            if data.n_dropped else ""
        shards = f" in {len(data.shards)} shards" if len(data.shards) > 1 else ""
        log.info(f"data: {data.pairs:,} training pairs{shards} from {data_dir}{dropped}, {len(self.dev):,} "
                 f"dev pairs ({min(train.dev_sentences or len(self.dev), len(self.dev)):,} decoded at each "
                 "validation)")
        log.info(f"device: {describe(self.device, self.precision)}, {torch.get_num_threads()} threads per process, "
                 f"{self.dist.world_size} process(es); optimizer {train.optimizer}, lr {train.lr:g} "
                 f"({train.schedule}, {train.warmup_steps} warm-up steps); budget: {budget_text(train)}")

    # -----------------------------------------------------------------------------------------
    # The loop

    def run(self) -> None:
        """Train until a stop rule fires; Ctrl-C / SIGTERM save last.pt first."""
        self.stop_request.install()
        try:
            self._loop()
        finally:
            self.stop_request.uninstall()
            self.data.close()
            self.progress.close()  # metrics.csv and the event files
            self.log.close()

    def _loop(self) -> None:
        state, train = self.state, self.config.train
        # The same test that ended the run (the final validation would not fit any more), so
        # resuming a finished run does nothing until a limit is raised.
        reason = stop_reason(train, state, interrupted=False, out_of_time=self._out_of_time(train.max_minutes))
        if reason is not None:
            self.log.info(f"nothing to do: this run already stopped ({reason}); raise that limit to "
                          "train further")
            return
        while reason is None:
            signals = self.train_step()
            reason = stop_reason(train, state, interrupted=signals.interrupted, out_of_time=signals.out_of_time)
            if reason == "interrupted":
                self.save_last()
                signal_name = self.stop_request.signal_name or "a stop signal (in another process)"
                self.log.info(f"{signal_name} received: stopped after step {state.step}, saved "
                              f"{self.run_dir / 'last.pt'}; continue with --resume")
                raise KeyboardInterrupt
            validating = state.step % train.validate_every == 0 or reason is not None or signals.snapshot_due
            if validating:
                started = time.monotonic()
                self.validate()
                reason = reason or stop_reason(train, state, interrupted=False, out_of_time=False)
                if signals.snapshot_due:
                    self.save_snapshot()
            if validating or (train.save_every and state.step % train.save_every == 0):
                self.save_last()
            if validating:
                state.last_validation_s = time.monotonic() - started
        self._finish(reason)

    def train_step(self) -> UpdateSignals:
        """One optimiser update on the next batches of the epoch, as the loop makes it: the update,
        the data position moved on, the progress reported. Benchmarks call this too."""
        state = self.state
        update = self.data.loader.next_update()
        signals = self.update(update.batches, self.data.update_tokens(update, self.dist))
        state.step += 1
        state.batch_in_epoch += self.group_size
        if update.ends_epoch:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        state.shard_batches = self.data.loader.passed_batches()
        state.elapsed_s = self.elapsed()
        self.progress.report(state, self.data.batches_in_epoch(state.epoch), current_lr(self.optimizer),
                             self.grad_norm, self.clock.seconds_per_update(state.step))
        return signals

    def update(self, group: list[Batch], group_tokens: int) -> UpdateSignals:
        """One optimiser update over `group`, this process's batches of it; `group_tokens`
        counts the target tokens of every process's batches."""
        started = time.monotonic()
        train = self.config.train
        self.model.train()
        # Sum of losses / tokens of the whole update; x world_size undoes DDP's averaging (and
        # x float16's loss scale, divided out again in gradients_to_master)
        scale = self.dist.world_size / group_tokens * self.mixed.loss_scale
        loss_sum = backward(self.model, self.mixed.work, group, self.device, train.label_smoothing, scale)
        totals = self._totals(loss_sum).summed(self.dist)  # the update's one all-reduce
        clock_s = totals.clock_s / self.dist.world_size  # the processes' mean: one rate and one stop for all
        set_lr(self.optimizer, self.schedule.lr(self.state.step + 1, clock_s))
        self.mixed.gradients_to_master()
        grad_norm = gradient_norm(self.raw_model, train.clip_norm)
        self._optimizer_step(totals.loss_sum, grad_norm)
        self.state.count_update(group_tokens, totals.loss_sum, time.monotonic() - started)
        return UpdateSignals(interrupted=totals.interrupted > 0,
                             out_of_time=out_of_time(clock_s, 0.0, train.max_minutes),
                             snapshot_due=totals.snapshot_due > 0)

    def _totals(self, loss_sum: float) -> UpdateTotals:
        """This process's share of what every process needs after the backward passes."""
        snapshot_due = not self.state.snapshot_taken and self._out_of_time(self.config.train.snapshot_minutes)
        return UpdateTotals(loss_sum=loss_sum, interrupted=float(self.stop_request.signal_name is not None),
                            clock_s=self.elapsed() + self.state.last_validation_s, snapshot_due=float(snapshot_due))

    def _optimizer_step(self, loss_sum: float, grad_norm: float) -> None:
        """The optimiser step on the master weights (skipped when float16 overflowed: the loss
        scale is lowered instead), then the working copy and the moving average follow it."""
        applied = self.mixed.accept_gradients(grad_norm)
        if applied and not (math.isfinite(loss_sum) and math.isfinite(grad_norm)):
            self._diverged(loss_sum, grad_norm)
        self.grad_norm = grad_norm  # before clipping; shown in the progress lines
        if applied:
            self.optimizer.step()
            self.mixed.weights_to_work()
        # Keep the gradient buffers: allocated once, they do not fragment the heap between the
        # batches of an accumulated update (~100 MB less peak RSS at batch_tokens 2000, accumulate 2).
        self.optimizer.zero_grad(set_to_none=False)
        if self.ema is not None and applied:
            self.ema.update()

    def elapsed(self) -> float:
        """Wall-clock training time of the run so far (every stop rule and report reads it here)."""
        return self.clock.elapsed()

    def _out_of_time(self, budget: float | None) -> bool:
        return out_of_time(self.elapsed(), self.state.last_validation_s, budget)

    def _diverged(self, loss_sum: float, grad_norm: float, bad_weight: str | None = None) -> None:
        message = divergence_message(self.state.step + (bad_weight is None), loss_sum, grad_norm,
                                     self.run_dir / "last.pt", self.last_saved_step, bad_weight)
        self.log.note(f"error: {message}")  # the CLI prints it on stderr
        raise UserError(message)

    def _finish(self, reason: str | None) -> None:
        state = self.state
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        self.log.info(f"stopped after step {state.step} ({reason}); {state.elapsed_s / 60:.1f} min; best "
                      f"dev BLEU {format_bleu(state.best_bleu)} at step {state.best_step} "
                      f"({self.run_dir / 'best.pt'}); peak memory {peak_mb:,.0f} MB")
        if self.dist.is_main:
            plot_curves(self.run_dir, self.log)

    # -----------------------------------------------------------------------------------------
    # Validation and checkpoints

    def validate(self) -> None:
        """Rank 0 validates; every process learns the dev BLEU (early stopping, plateau schedule)."""
        state = self.state
        scores: DevScores | None = None
        with averaged(self.ema):
            self._refuse_non_finite()  # on every process (same weights): the weights best.pt would get
        if self.dist.is_main:
            # Validation must not move the random streams, or resumed runs would drift.
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []), averaged(self.ema):
                scores = score_dev_set(self.raw_model, self.dev, self.config, self.src_tok, self.tgt_tok,
                                       self.device, self.data.protector, attention=self.progress.wants_attention)
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
        if improved:  # saved before the log says so
            with averaged(self.ema):
                payload = self.payload(kind="best", step=state.step, dev_bleu=scores.bleu, dev_chrf=scores.chrf)
                save_checkpoint(self.run_dir / "best.pt", payload)
        self.progress.validation(state, scores, improved, current_lr(self.optimizer),
                                 self.data.batches_in_epoch(state.epoch))

    def save_last(self) -> None:
        """last.pt: weights, optimiser, schedule, data position, every process's RNG states."""
        self._refuse_non_finite()
        rng = self.dist.gather(rng_state(self.device))  # collective: every process takes part
        self.last_saved_step = self.state.step
        if not self.dist.is_main:
            return
        self.state.elapsed_s = self.elapsed()
        payload = self.payload(
            kind="last", train_state=dataclasses.asdict(self.state), optimizer=self.optimizer.state_dict(),
            schedule=self.schedule.state_dict(), rng=rng, world_size=self.dist.world_size,
            data_signature=self.data_signature, precision=self.mixed.state_dict(),
            **({"ema": self.ema.state_dict()} if self.ema else {}))
        save_checkpoint(self.run_dir / "last.pt", payload)
        if self.config.train.keep_last:  # weights only (the averaged ones with EMA), for `s2s average`
            with averaged(self.ema):
                weights = self.payload(kind="step", step=self.state.step)
                keep_weights(self.run_dir, self.state.step, self.config.train.keep_last, weights)

    def _refuse_non_finite(self) -> None:
        """A finite loss and gradient can still leave a weight NaN or inf: stop as on a diverged loss."""
        if (bad := first_non_finite(self.raw_model.state_dict())) is not None:
            self._diverged(math.nan, math.nan, bad_weight=bad)

    def payload(self, **fields: Any) -> dict[str, Any]:
        """A checkpoint of raw_model (see seq2seq/checkpoint.py) with `fields` added."""
        protector = self.data.protector
        return make_payload(self.config, self.raw_model, self.src_tok, self.tgt_tok, **fields,
                            **({"placeholders": protector.to_state()} if protector else {}))

    def save_snapshot(self) -> None:
        """best-at-<m>min.pt: a copy of best.pt (train.snapshot_minutes)."""
        self.state.snapshot_taken = True
        if self.dist.is_main:
            minutes, state = self.config.train.snapshot_minutes, self.state
            target = copy_snapshot(self.run_dir, minutes)
            self.log.info(f"{minutes:g} minutes: copied best.pt (dev BLEU {format_bleu(state.best_bleu)} at step "
                          f"{state.best_step}) to {target}")
