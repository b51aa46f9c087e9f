"""Which rows of the training shards an epoch trains on, in which batches, in which order.

An epoch visits the shards one at a time, in an order drawn from (train.seed, epoch)
(`shard_order`). A shard's plan (`plan_shard`) is a pure function of (seed, epoch, shard):

1. its rows that fit the model's positions (both sides, with EOS, <= max_positions; the
   manifest's longest_* tell when all do, and then no row is compared);
2. corpus weights (data.corpora[i].weight = w): each row of corpus i taken floor(w) times, and
   once more with probability w - floor(w), drawn by a generator of (seed, epoch, shard); with
   every weight 1 nothing is drawn;
3. `seq2seq.data.batching.plan_batches` over those rows' lengths -- the augmented lengths of the
   rows the epoch's entity augmentation changes (`AugmentedRows`), so that batches are as long
   as planned -- with the shard's generator,
   which for shard 0 is the epoch's own `epoch_generator(seed, epoch)`: a corpus of one shard with
   weight 1 gets exactly the batches of the earlier, unsharded training;
4. the batch list cut to a multiple of the update's batches (train.accumulate x processes), so
   every update and every process gets whole batches (the few left over differ each epoch).

A plan is a few int64 tensors of the shard's rows (`ShardPlan`): nothing of other shards, no text.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seq2seq.data.augmented_rows import AugmentedRows
from seq2seq.data.batching import epoch_generator, plan_batches
from seq2seq.data.shards import CORPUS, Shard


@dataclass(frozen=True)
class PlanSettings:
    """What the batches depend on besides the shard and the epoch."""

    seed: int
    batch_tokens: int
    bucket_pool: int
    group_size: int  # batches per update: train.accumulate x processes
    limit: int | None  # model.max_positions (with EOS); None: no limit
    weights: tuple[float, ...] = (1.0,)  # per corpus number (the manifest's "corpora" order)


@dataclass
class ShardPlan:
    """The batches of one shard in one epoch: batch k is rows[bounds[k]:bounds[k + 1]]."""

    epoch: int
    position: int  # place in the epoch's shard order
    name: str  # "train.00003"
    rows: Tensor  # (examples,) int64 rows of the shard, the batches back to back
    bounds: Tensor  # (batches + 1,) int64
    tokens: Tensor  # (batches,) int64 target tokens (with EOS) of each batch
    dropped: int  # rows longer than the limit
    made: int  # batches before the cut to whole updates
    padding: tuple[float, float] = (0.0, 0.0)  # (target, source) share of padding in the batches
    augmented: AugmentedRows | None = None  # the rows augmentation changes, with their ids

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def batch(self, k: int) -> Tensor:
        return self.rows[int(self.bounds[k]):int(self.bounds[k + 1])]

    def group_tokens(self, first: int, size: int) -> int:
        """Planned target tokens of batches first .. first + size - 1 (an update's)."""
        return int(self.tokens[first:first + size].sum())


def padding_share(lengths: np.ndarray, bounds: np.ndarray) -> float:
    """Share of padding in the padded (batch x longest) tensors of batches `bounds` over `lengths`."""
    if len(bounds) < 2:
        return 0.0
    padded = int((np.maximum.reduceat(lengths, bounds[:-1]) * np.diff(bounds)).sum())
    return 1.0 - int(lengths.sum()) / padded


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from `parts` (the same on every machine and Python; hash() is salted)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def shard_order(seed: int, epoch: int, count: int) -> list[int]:
    """The order in which epoch `epoch` visits `count` shards (one shard: no draw)."""
    if count <= 1:
        return list(range(count))
    generator = torch.Generator().manual_seed(derived_seed("shard-order", seed, epoch))
    return torch.randperm(count, generator=generator).tolist()


def shard_generator(seed: int, epoch: int, number: int) -> torch.Generator:
    """The generator of shard `number`'s shuffle in `epoch`; shard 0's is the epoch's own."""
    if number == 0:
        return epoch_generator(seed, epoch)
    return torch.Generator().manual_seed(derived_seed("shard", seed, epoch, number))


def fitting_rows(shard: Shard, longest: tuple[int, int], limit: int | None) -> np.ndarray:
    """The rows whose both sides (with EOS) fit `limit`; compared row by row only when the
    manifest's longest rows (`longest`, without EOS) say some do not fit."""
    if limit is None or max(longest) + 1 <= limit:
        return np.arange(len(shard), dtype=np.int64)
    fits = (shard.src_sizes.numpy() <= limit) & (shard.tgt_sizes.numpy() <= limit)
    return np.flatnonzero(fits).astype(np.int64)


def weighted_rows(rows: np.ndarray, corpus: np.ndarray, weights: Sequence[float], seed: int) -> np.ndarray:
    """`rows` with the weight of each one's corpus applied: w = 2.5 takes a row twice, and a third
    time with probability 0.5 (copies next to each other; batching shuffles them)."""
    if all(w == 1.0 for w in weights):
        return rows
    weight = np.asarray(weights, dtype=np.float64)[corpus]
    whole = np.floor(weight)
    extra = np.random.Generator(np.random.PCG64(seed)).random(len(rows)) < weight - whole
    return np.repeat(rows, (whole + extra).astype(np.int64))


def plan_shard(shard: Shard, longest: tuple[int, int], settings: PlanSettings, epoch: int, position: int,
               number: int, augmented: AugmentedRows | None = None) -> ShardPlan:
    """Shard `number`'s batches in `epoch` (see the module docstring); it is visited `position`-th.
    `augmented`: the rows the epoch's augmentation changes (None: none does)."""
    fitting = fitting_rows(shard, longest, settings.limit)
    rows = fitting
    if any(w != 1.0 for w in settings.weights):
        corpus = np.asarray(shard.index[fitting, CORPUS], dtype=np.int64)
        rows = weighted_rows(fitting, corpus, settings.weights, derived_seed("weights", settings.seed, epoch, number))
    src_sizes, tgt_sizes = shard.src_sizes.numpy(), shard.tgt_sizes.numpy()
    if augmented is not None:
        src_sizes, tgt_sizes = augmented.sizes(src_sizes, tgt_sizes)
    order, bounds = plan_batches(src_sizes[rows], tgt_sizes[rows], settings.batch_tokens, settings.bucket_pool,
                                 shard_generator(settings.seed, epoch, number))
    made = len(bounds) - 1
    usable = made // settings.group_size * settings.group_size
    bounds = bounds[:usable + 1]
    rows = rows[order[:int(bounds[-1])]]
    tokens = np.add.reduceat(tgt_sizes[rows], bounds[:-1]) if usable else np.zeros(0, dtype=np.int64)
    padding = (padding_share(tgt_sizes[rows], bounds), padding_share(src_sizes[rows], bounds))
    return ShardPlan(epoch, position, shard.name, torch.from_numpy(rows), torch.from_numpy(bounds),
                     torch.from_numpy(tokens.astype(np.int64)), len(shard) - len(fitting), made, padding, augmented)


def estimated_batches(known: dict[int, int], known_pairs: int, pairs: Sequence[int]) -> int:
    """Batches of an epoch over shards of `pairs` pairs, of which the plans at positions `known`
    are made (batches per position) and cover `known_pairs` pairs: the others at the same rate."""
    unknown = sum(p for i, p in enumerate(pairs) if i not in known)
    rate = sum(known.values()) / known_pairs if known_pairs else 0.0
    return sum(known.values()) + math.ceil(unknown * rate)
