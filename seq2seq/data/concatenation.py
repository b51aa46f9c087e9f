"""Concatenation augmentation (train.concat_augmentation): training examples of several pairs.

Tatoeba's pairs are short and hold one sentence each; a model trained on them alone has seldom
seen a long target or a sentence boundary inside one line, and on a pasted paragraph it drops
sentences or loops. With probability p a training example becomes its pair followed by 1 to
`max_pairs` - 1 other pairs of the same shard, joined on both sides (Kondo et al. 2021; Nguyen et
al. 2021): the source pieces of all, then the target pieces of all, in the same order. Pieces are
joined as they are: a SentencePiece encoding starts every word with its "▁", so the joined ids
are the encoding of the sentences joined with a space.

Which rows are joined, and with which, is a pure function of (train.seed, epoch, shard, row) --
a counter-based hash of the row number, not a generator's sequence -- so any range of rows, in
any process, draws the same joins, and a resumed run re-makes exactly the examples it stopped in.
The examples are made with the entity augmentation's rows (`BatchMaker.augmented_rows`), before
the shard's batches are planned, so batches are cut on the joined lengths.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over uint64 values (wrapping arithmetic): well-spread 64-bit hashes."""
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def row_hashes(key: int, rows: np.ndarray, count: int) -> np.ndarray:
    """(len(rows), count) uint64: `count` independent hashes of each row under `key`."""
    base = _mix(np.asarray(rows, dtype=np.uint64) ^ np.uint64(key))
    return _mix(base[:, None] + _GOLDEN * np.arange(1, count + 1, dtype=np.uint64))


@dataclass(frozen=True)
class Concatenation:
    """Which training rows become joined examples, and the rows joined to them."""

    probability: float
    max_pairs: int  # pairs in the longest joined example (2 or more)
    seed: int

    def key(self, epoch: int, shard: str) -> int:
        digest = hashlib.blake2b(f"concat:{self.seed}:{epoch}:{shard}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little")

    def partners(self, epoch: int, shard: str, shard_rows: int, rows: np.ndarray) -> dict[int, np.ndarray]:
        """{position in `rows`: the rows joined after it, in order} of the rows joined in `epoch`;
        each joined example has 2 to max_pairs pairs, every count equally likely."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows) or self.probability <= 0 or shard_rows < 1:
            return {}
        hashes = row_hashes(self.key(epoch, shard), rows, 2 + self.max_pairs - 1)
        uniform = (hashes[:, 0] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        chosen = np.flatnonzero(uniform < self.probability)
        more = 1 + (hashes[chosen, 1] % np.uint64(self.max_pairs - 1)).astype(np.int64)  # 1 .. max_pairs - 1
        others = (hashes[chosen, 2:] % np.uint64(shard_rows)).astype(np.int64)
        return {int(i): others[k, :more[k]] for k, i in enumerate(chosen.tolist())}

    def description(self) -> str:
        return f"{self.probability:g} of the examples joined from 2 to {self.max_pairs} pairs"
