"""The training data as the Trainer sees it: the prepared shards, their plans and loader, the log lines.

`TrainingData` reads the manifest (shards, corpora, entity counts), checks that the model can
train on the data, makes the augmentations and the `TrainLoader` (seq2seq/data/loader.py), and
says what it does in the log. Its data signature, which --resume compares, is the manifest's
totals (pairs, source and target pieces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seq2seq.config import Config
from seq2seq.config_corpora import corpus_specs
from seq2seq.data.augment import BatchMaker, make_augmentation
from seq2seq.data.loader import LoaderSettings, TrainLoader, Update
from seq2seq.data.manifest import read_manifest
from seq2seq.data.plan import PlanSettings
from seq2seq.data.shards import Shard
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.entities import Protector
from seq2seq.errors import UserError
from seq2seq.training.distributed import Distributed
from seq2seq.training.run_dir import RunLog


def corpus_weights(config: Config, manifest: dict[str, Any]) -> tuple[float, ...]:
    """The weight of each corpus number (the manifest's "corpora" order) from the config."""
    weights = {spec.name: spec.weight for spec in corpus_specs(config.data)}
    return tuple(weights.get(corpus.get("name"), 1.0) for corpus in manifest.get("corpora") or [{}]) or (1.0,)


def count_too_long(data_dir: Path, shards: list[dict[str, Any]], limit: int | None) -> int:
    """Training pairs longer than `limit` tokens (with EOS) on a side; only the shards whose
    longest row (in the manifest) is too long are read."""
    if limit is None:
        return 0
    total = 0
    for info in shards:
        if max(info["longest_src"], info["longest_tgt"]) + 1 > limit:
            shard = Shard.open(data_dir, info["name"])
            total += int(((shard.src_sizes > limit) | (shard.tgt_sizes > limit)).sum())
            shard.close()
    return total


class TrainingData:
    """The shards of data/<name>/, planned and loaded update by update (see the module docstring)."""

    def __init__(self, config: Config, data_dir: Path, src_tok: Tokenizer, tgt_tok: Tokenizer, limit: int | None,
                 dist: Distributed) -> None:
        train = config.train
        self.manifest = read_manifest(config, shards=True)
        self.shards: list[dict[str, Any]] = self.manifest["shards"]
        self.pairs = sum(info["pairs"] for info in self.shards)
        if self.pairs == 0:
            raise UserError(f"{data_dir}: no training sentence pairs")
        self.n_dropped = count_too_long(data_dir, self.shards, limit)
        if self.n_dropped == self.pairs:
            raise UserError(f"{data_dir}/train.*: every pair is longer than model.max_positions ({limit}) pieces")
        self.signature = [self.pairs, sum(info["src_tokens"] for info in self.shards),
                          sum(info["tgt_tokens"] for info in self.shards)]
        self.augmentation = make_augmentation(config, data_dir, self.manifest, src_tok, tgt_tok)
        self.group_size = train.accumulate * dist.world_size
        plan = PlanSettings(train.seed, train.batch_tokens, train.bucket_pool, self.group_size, limit,
                            corpus_weights(config, self.manifest))
        settings = LoaderSettings(dist.rank, dist.world_size, train.data_workers, dist.device.type == "cuda",
                                  [info["name"] for info in self.shards],
                                  [(info["longest_src"], info["longest_tgt"]) for info in self.shards],
                                  [info["pairs"] for info in self.shards],
                                  max(src_tok.vocab_size, tgt_tok.vocab_size))  # the shards' id type's
        self.loader = TrainLoader(data_dir, plan, settings,
                                  BatchMaker(src_tok, tgt_tok, limit, train.seed, self.augmentation))
        self.weights = plan.weights

    @property
    def protector(self) -> Protector | None:
        """With train.protect_entities: what translation protects (saved in checkpoints)."""
        return self.augmentation.protector

    def start(self, epoch: int, batch_in_epoch: int, passed: list[int], log: RunLog) -> None:
        """Continue at (epoch, batch_in_epoch) (0, 0: a new run; `passed`: the batches of the epoch's
        shards before it, when known) and say how the data is batched."""
        self.loader.start(epoch, batch_in_epoch, passed)
        if self.augmentation.description:
            log.info(self.augmentation.description)
        log.info(self.describe(epoch))

    def update_tokens(self, update: Update, dist: Distributed) -> int:
        """The target tokens of `update`, every process's batches together (the loss's divisor)."""
        if not self.augmentation.alpha:
            return update.planned_tokens  # planned on the augmented lengths: the batches' lengths
        # Subword sampling changes lengths, and a process makes only its own batches: the others'
        # count comes in one scalar all-reduce (before backward, which divides by the total).
        own = sum(batch.n_tokens for batch in update.batches)
        return round(dist.sum([float(own)])[0]) if dist.enabled else own

    def batches_in_epoch(self, epoch: int) -> int:
        """Batches of `epoch` (an estimate until its shards are planned: progress and ETA only)."""
        return self.loader.batches_in_epoch(epoch)[0]

    def padding(self) -> tuple[float, float]:
        """(target, source) share of padding in the batches of the shard being trained on."""
        run = self.loader.current
        assert run is not None, "start() first"
        return run.plan.padding

    def describe(self, epoch: int) -> str:
        """The log line on batching: batches per epoch (~ while estimated), their size, padding."""
        assert self.loader.current is not None, "start() first"
        plan = self.loader.current.plan
        batches, exact = self.loader.batches_in_epoch(epoch)
        sentences, tokens = len(plan.rows) / len(plan), int(plan.tokens.sum()) / len(plan)
        where = "" if len(self.shards) == 1 else f" in {plan.name}, one of {len(self.shards)} shards"
        updates, (target, source) = batches // self.group_size, self.padding()
        mixed = "" if all(w == 1.0 for w in self.weights) else \
            f"; corpora weighted {', '.join(f'{w:g}' for w in self.weights)}"
        return (f"batches: {'' if exact else '~'}{batches:,} per epoch ({sentences:.1f} sentences, {tokens:,.0f} "
                f"target tokens each on average{where}), {'' if exact else '~'}{updates:,} updates per epoch; "
                f"padding {100 * target:.1f}% of target and {100 * source:.1f}% of source tokens{mixed}")

    def close(self) -> None:
        """Stop the DataLoader workers and close the shards' maps."""
        self.loader.close()
