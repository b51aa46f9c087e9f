"""The batches of each training epoch, cut into whole updates."""

from __future__ import annotations

from torch import Tensor

from seq2seq.config import TrainConfig
from seq2seq.data.augment import TrainCorpus
from seq2seq.data.batching import ParallelCorpus, epoch_generator, make_batches, padding_ratio
from seq2seq.errors import UserError
from seq2seq.training.run_dir import RunLog


class EpochBatches:
    """`batches(epoch)`: the epoch's batches (a fixed function of seed and epoch) and their
    target-token counts, the latest epoch's kept.

    The list is trimmed to a multiple of group_size (accumulate x processes), so every update and
    every process gets the same number of batches (the few left over differ each epoch).

    `source` is the corpus, or a TrainCorpus that makes each epoch's corpus (augmentation);
    `data` is the corpus of the epoch whose batches were returned last (batches index it).
    """

    def __init__(self, source: ParallelCorpus | TrainCorpus, train: TrainConfig, group_size: int,
                 world_size: int, log: RunLog) -> None:
        self.source, self.train, self.group_size, self.world_size, self.log = source, train, group_size, world_size, log
        self.data = source if isinstance(source, ParallelCorpus) else source.base
        self._cache: tuple[int, list[Tensor], list[int], ParallelCorpus] | None = None

    def __call__(self, epoch: int) -> tuple[list[Tensor], list[int]]:
        if self._cache is not None and self._cache[0] == epoch:
            self.data = self._cache[3]
            return self._cache[1], self._cache[2]
        train, data = self.train, self._corpus(epoch)
        batches = make_batches(data.src_sizes, data.tgt_sizes, train.batch_tokens, train.bucket_pool,
                               epoch_generator(train.seed, epoch))
        usable = len(batches) // self.group_size * self.group_size
        if usable == 0:
            raise UserError(f"the training data make only {len(batches)} batch(es) of train.batch_tokens="
                            f"{train.batch_tokens}, fewer than one update needs (train.accumulate "
                            f"{train.accumulate} x {self.world_size} process(es)); lower those")
        batches = batches[:usable]
        counts = [int(data.tgt_sizes[b].sum()) for b in batches]
        if self._cache is None:  # first epoch of this session: say how well batching packs
            sentences = sum(len(b) for b in batches)
            self.log.info(
                f"batches: {len(batches):,} per epoch ({sentences / len(batches):.1f} sentences, "
                f"{sum(counts) / len(batches):,.0f} target tokens each on average), "
                f"{len(batches) // self.group_size:,} updates per epoch; padding "
                f"{100 * padding_ratio(data.tgt_sizes, batches):.1f}% of target and "
                f"{100 * padding_ratio(data.src_sizes, batches):.1f}% of source tokens")
        self._cache = (epoch, batches, counts, data)
        self.data = data
        return batches, counts

    def _corpus(self, epoch: int) -> ParallelCorpus:
        if isinstance(self.source, ParallelCorpus):
            return self.source
        if self._cache is None and self.source.description:
            self.log.info(self.source.description)
        corpus = self.source(epoch)
        if self.source.note:
            self.log.info(self.source.note)
        return corpus
