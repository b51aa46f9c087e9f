"""The training batches of each update, made from the memory-mapped shards in DataLoader workers.

`TrainLoader.next_update()` gives this process's batches of the next update. Behind it, one shard
at a time (seq2seq/data/plan.py says in which order and which batches): a torch DataLoader over
the shard's planned batches (`ShardBatches`, map-style, batch_size=None) makes each batch with
`seq2seq.data.augment.BatchMaker` -- in train.data_workers forked worker processes, or in the
trainer itself with 0 -- and hands them over in order. Every batch is a pure function of (seed,
epoch, shard, batch rows), so 0, 1 or 2 workers give the same batches, and a resumed run starts
the shard it stopped in at the update it stopped at.

Several processes (torchrun): each computes the same plans and asks its DataLoader only for its
share, batches rank, rank + N, ... of each update's train.accumulate x N (nothing is copied or
sent between processes).

No pause at a shard's or an epoch's end: when the last update of a shard begins, the next shard
is planned and its DataLoader started, so its workers make its first batches while the trainer
still trains on the old one; afterwards the old shard's workers stop and its maps are closed.
Entity augmentation changes the lengths of some rows, and batches are planned on lengths: a
shard's augmented rows (seq2seq/data/augmented_rows.py) are made before its plan -- for the
run's first shard on every core while the trainer waits, for each next one in a forked process
started half-way through the shard before it -- and handed to the workers with the plan.

Memory: the plans (int64 tensors), augmented rows and maps of at most two shards.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seq2seq.data.augment import BatchMaker
from seq2seq.data.augmented_rows import AugmentAhead, AugmentedRows, augment_shard, cores
from seq2seq.data.batching import Batch
from seq2seq.data.plan import PlanSettings, ShardPlan, estimated_batches, plan_shard, shard_order
from seq2seq.data.shards import Shard
from seq2seq.errors import UserError


@dataclass
class Failure:
    """A batch that could not be made, and why."""

    message: str


class ShardBatches(Dataset):
    """A shard's planned batches in one epoch, each made on demand (by a worker)."""

    def __init__(self, shard: Shard, plan: ShardPlan, maker: BatchMaker) -> None:
        self.shard, self.plan, self.maker = shard, plan, maker

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, k: int) -> Batch | Failure:
        try:
            return self.maker(self.shard, self.plan.epoch, k, self.plan.batch(k), self.plan.augmented)
        except UserError as exc:  # (a damaged shard) raised again by the trainer as its one line: a
            return Failure(str(exc))  # worker's exception would come with the worker's traceback


def _worker_started(_: int) -> None:
    """A worker leaves Ctrl-C and SIGTERM to the trainer, which saves last.pt and then stops the
    workers; a worker that died of them would make the DataLoader raise in the trainer instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _as_is(batch: Batch | Failure) -> Batch | Failure:
    return batch


@dataclass
class Update:
    """This process's batches of one update."""

    batches: list[Batch]
    planned_tokens: int  # target tokens of all processes' batches (as made, but with subword sampling)
    ends_epoch: bool  # the last update of its epoch


@dataclass
class ShardRun:
    """A shard being trained on: its plan, maps and this process's batch iterator."""

    plan: ShardPlan
    shard: Shard
    iterator: Iterator[Batch | Failure]
    update: int  # the next update's number within the shard
    updates: int
    ahead_started: bool = False  # the next shard's augmented rows are being made

    def close(self) -> None:
        self.iterator = iter(())  # the DataLoader iterator's workers stop when it goes
        self.shard.close()


@dataclass
class LoaderSettings:
    """Who this process is and how it makes batches."""

    rank: int = 0
    world_size: int = 1
    workers: int = 1  # train.data_workers
    pin_memory: bool = False  # batches go to a GPU
    shard_names: Sequence[str] = ()
    longest: Sequence[tuple[int, int]] = ()  # per shard: the manifest's (longest_src, longest_tgt)
    pairs: Sequence[int] = ()  # per shard
    vocab_size: int | None = None


class TrainLoader:
    """This process's batches, update by update, epoch after epoch (see the module docstring)."""

    def __init__(self, data_dir: Path, plan: PlanSettings, settings: LoaderSettings, maker: BatchMaker) -> None:
        self.data_dir, self.plan_settings, self.settings, self.maker = data_dir, plan, settings, maker
        self.accumulate = plan.group_size // settings.world_size
        self.current: ShardRun | None = None
        self.following: ShardRun | None = None
        self.known: dict[int, dict[int, int]] = {}  # epoch -> {position: batches} of the plans made
        self.ahead: dict[tuple[int, int], AugmentAhead] = {}  # (epoch, position) -> its augmentation, under way

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, epoch: int, position: int) -> tuple[ShardPlan, Shard]:
        """The plan of the shard visited `position`-th in `epoch`, and the shard (open)."""
        number = shard_order(self.plan_settings.seed, epoch, len(self.settings.shard_names))[position]
        shard = Shard.open(self.data_dir, self.settings.shard_names[number], self.settings.vocab_size)
        try:
            augmented = self._augmented(epoch, position, shard)
            plan = plan_shard(shard, tuple(self.settings.longest[number]), self.plan_settings, epoch, position, number,
                              augmented)
        except BaseException:
            shard.close()
            raise
        self.known.setdefault(epoch, {})[position] = len(plan)
        for old in [e for e in self.known if e < epoch - 1]:
            del self.known[old]
        return plan, shard

    def _augmented(self, epoch: int, position: int, shard: Shard) -> AugmentedRows | None:
        """The rows of `shard` that `epoch`'s augmentation changes: made ahead (`_start_ahead`)
        or now, on this process's share of the cores (the trainer waits for them: a run's first shard)."""
        if not self.maker.augmentation.changes_rows:
            return None
        pending = self.ahead.pop((epoch, position), None)
        if pending is not None:
            return pending.result()
        return augment_shard(self._augmenter(shard, epoch), len(shard), max(1, cores() // self.settings.world_size))

    def _augmenter(self, shard: Shard, epoch: int) -> Callable[[int, int], AugmentedRows]:
        return lambda lo, hi: self.maker.augmented_rows(shard, epoch, np.arange(lo, hi, dtype=np.int64))

    def _start_ahead(self, plan: ShardPlan) -> None:
        """Start making the augmented rows of the shard after `plan`'s, in one forked process, while
        the trainer trains on the second half of `plan`'s shard (Tatoeba's: 3-4 s of one core, where
        an epoch takes minutes on 2 CPU cores and about a minute on an H200)."""
        if not self.maker.augmentation.changes_rows:
            return
        epoch, position = plan.epoch, plan.position + 1
        if position == len(self.settings.shard_names):
            epoch, position = epoch + 1, 0
        if (epoch, position) in self.ahead:
            return
        number = shard_order(self.plan_settings.seed, epoch, len(self.settings.shard_names))[position]
        shard = Shard.open(self.data_dir, self.settings.shard_names[number], self.settings.vocab_size)
        try:  # the forked process keeps its own copy of the maps
            self.ahead[(epoch, position)] = AugmentAhead(self._augmenter(shard, epoch), len(shard), 1)
        finally:
            shard.close()

    def start(self, epoch: int, batch_in_epoch: int, passed: Sequence[int] = ()) -> None:
        """Continue at batch `batch_in_epoch` of `epoch` (0, 0 for a new run): the shards before it
        are planned again (plans only, no batch is made) unless `passed` has their batch counts
        (`passed_batches()` of the run that stopped), the one it lies in is started."""
        self.close()
        done, most = 0, 0
        for position in range(len(self.settings.shard_names)):
            if position < len(passed) and done + passed[position] <= batch_in_epoch:
                self.known.setdefault(epoch, {})[position] = passed[position]
                done += passed[position]
                continue
            plan, shard = self._plan(epoch, position)
            most = max(most, plan.made)
            if done + len(plan) > batch_in_epoch:
                first = (batch_in_epoch - done) // self.plan_settings.group_size
                self.current = self._run(plan, shard, first)
                return
            done += len(plan)
            shard.close()
        if done == 0:
            self._too_few(most)
        raise UserError(f"the saved position (batch {batch_in_epoch:,} of epoch {epoch}) is past the epoch's "
                        f"{done:,} batches: the training data or batching changed; start afresh with --force")

    def passed_batches(self) -> list[int]:
        """The batch counts of the current epoch's shards before the current one (saved in last.pt
        so that a resumed run need not plan them again)."""
        run = self.current
        if run is None:
            return []
        known = self.known.get(run.plan.epoch, {})
        return [known[position] for position in range(run.plan.position)]

    def _too_few(self, most: int) -> None:
        """No shard makes the batches of one update (each shard's batches are cut to whole updates)."""
        settings, shards = self.plan_settings, len(self.settings.shard_names)
        where = "the training data make only" if shards == 1 else f"the {shards} training shards make at most"
        each = "" if shards == 1 else " each"
        raise UserError(f"{where} {most} batch(es) of train.batch_tokens={settings.batch_tokens}{each}, fewer than "
                        f"one update needs (train.accumulate {self.accumulate} x {self.settings.world_size} "
                        "process(es)); lower those")

    def _following(self, run: ShardRun) -> ShardRun:
        """The next shard with batches after `run`'s, in its epoch or the next ones, started."""
        epoch, position, most, visited = run.plan.epoch, run.plan.position + 1, 0, 0
        while True:
            if position == len(self.settings.shard_names):
                epoch, position = epoch + 1, 0
            plan, shard = self._plan(epoch, position)
            if len(plan):
                return self._run(plan, shard, 0)
            shard.close()
            most, visited, position = max(most, plan.made), visited + 1, position + 1
            if visited > len(self.settings.shard_names):  # a whole epoch without one update
                self._too_few(most)

    def _run(self, plan: ShardPlan, shard: Shard, first_update: int) -> ShardRun:
        """`plan`'s DataLoader started at update `first_update`, for this process's batches."""
        settings, group = self.settings, self.plan_settings.group_size
        updates = len(plan) // group
        mine = torch.arange(settings.rank, group, settings.world_size)  # my batches of an update
        indices = (torch.arange(first_update, updates).unsqueeze(1) * group + mine).view(-1).tolist()
        workers = settings.workers
        if workers:
            shard.release_pages()  # the workers read the rows; this process needs only the plan
            self.maker.before_fork()
        loader = DataLoader(ShardBatches(shard, plan, self.maker), batch_size=None, sampler=indices,
                            num_workers=workers, collate_fn=_as_is, pin_memory=settings.pin_memory,
                            worker_init_fn=_worker_started if workers else None,
                            multiprocessing_context="fork" if workers else None,
                            prefetch_factor=2 * self.accumulate if workers else None,
                            # its own generator: the DataLoader draws a seed from it, which from the
                            # global one would shift dropout's random numbers (and break exact resume)
                            generator=torch.Generator())
        return ShardRun(plan, shard, iter(loader), first_update, updates)

    # -- training ---------------------------------------------------------------------------

    def next_update(self) -> Update:
        """This process's batches of the next update."""
        run = self.current
        assert run is not None, "start() first"
        if run.update >= run.updates // 2 and not run.ahead_started:
            self._start_ahead(run.plan)  # half-way: not during a run's first updates, nor for a short run
            run.ahead_started = True
        if run.update == run.updates - 1 and self.following is None:
            self.following = self._following(run)  # its workers start now, while this update trains
        batches = [next(run.iterator) for _ in range(self.accumulate)]
        for batch in batches:
            if isinstance(batch, Failure):
                raise UserError(batch.message)
        tokens = run.plan.group_tokens(run.update * self.plan_settings.group_size, self.plan_settings.group_size)
        run.update += 1
        ends_epoch = False
        if run.update == run.updates:
            assert self.following is not None
            ends_epoch = self.following.plan.epoch != run.plan.epoch
            run.close()
            self.current, self.following = self.following, None
        return Update(batches, tokens, ends_epoch)

    def batches_in_epoch(self, epoch: int) -> tuple[int, bool]:
        """(batches of `epoch`, exact): an estimate until every shard of the epoch is planned."""
        known = self.known.get(epoch, {})
        pairs = self.settings.pairs
        order = shard_order(self.plan_settings.seed, epoch, len(pairs))
        by_position = [pairs[number] for number in order]
        known_pairs = sum(by_position[position] for position in known)
        return estimated_batches(known, known_pairs, by_position), len(known) == len(pairs)

    def close(self) -> None:
        """Stop the workers (and augmentations under way) and close the maps."""
        for run in (self.current, self.following):
            if run is not None:
                run.close()
        self.current = self.following = None
        for pending in self.ahead.values():
            pending.cancel()
        self.ahead.clear()
