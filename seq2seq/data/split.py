"""De-duplication and the train/dev/test split of `s2s data prepare`, on 64-bit hashes in numpy
arrays (8 bytes a pair each, never a Python object per pair).

Dedup keeps the first occurrence of each pair hash (blake2b of "src\\0tgt", see prepare_passes).
The split groups the kept pairs by the hash of their split key (the source sentence case-folded),
groups numbered in first-appearance order, exactly as v1 grouped the strings, then:

    <= V1_SHUFFLE_GROUPS groups   random.Random(seed).shuffle of the group list, as v1 (a Python list
                                  of that many ints, ~72 MB at the limit), so a corpus v1 prepared
                                  gets the very same dev and test sets, line for line
    more groups                   np.random.Generator(np.random.PCG64(seed)).permutation (v1 would
                                  need a Python list of the whole corpus there)

Groups are taken in that order: into test while it fits, else into dev while it fits, else train.
Train keeps the corpus order; test, then dev, are shuffled with the same generator afterwards.
Hash collisions (about 1 chance in 10^5 at 20 M pairs, n^2 / 2^65): two different pairs with one
pair hash would lose the second as a "duplicate"; two sources with one key hash share a split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from seq2seq.errors import UserError

V1_SHUFFLE_GROUPS = 2_000_000
TRAIN, DEV, TEST = 0, 1, 2
DROPPED = -1
SLICE = 1 << 20  # groups scanned at a time while dev and test still have room
BUCKET_BITS = 4  # dedup and grouping sort 16 buckets of hashes one after the other


@dataclass
class Split:
    """The outcome, by row of the spool (every pair that passed the filters, in corpus order)."""

    label: np.ndarray  # int8 per row: TRAIN, DEV, TEST, or DROPPED (a duplicate)
    dev: np.ndarray  # rows of the dev set, in its (shuffled) output order
    test: np.ndarray  # rows of the test set, likewise
    groups: dict[str, int]  # source sentences (groups) per split


def _buckets(values: np.ndarray) -> Iterator[np.ndarray]:
    """The positions of `values` (64-bit hashes) in 2**BUCKET_BITS groups by their top bits, ascending in
    each: equal values share a bucket, and sorting one bucket at a time keeps the temporary arrays
    of the sort at a sixteenth of the corpus's (the split's peak: ~25 bytes a pair, not ~50)."""
    top = (values >> np.uint64(64 - BUCKET_BITS)).astype(np.uint8)
    for bucket in range(1 << BUCKET_BITS):
        yield np.flatnonzero(top == bucket)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, is_new): a stable sort of `values` and, along it, True where a new value starts."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    is_new = np.empty(len(values), dtype=bool)
    is_new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_new[1:])
    return order, is_new


def dedup_mask(pair_hash: np.ndarray) -> np.ndarray:
    """True for the first occurrence of each pair hash."""
    keep = np.zeros(len(pair_hash), dtype=bool)
    for rows in _buckets(pair_hash):
        order, is_new = _runs(pair_hash[rows])
        keep[rows[order[is_new]]] = True  # stable sort: a run starts at its first occurrence
    return keep


def first_positions(keys: np.ndarray) -> np.ndarray:
    """For each position, the position where its key first appears (int32 while it fits)."""
    first = np.empty(len(keys), dtype=np.int32 if len(keys) < 1 << 31 else np.int64)
    for rows in _buckets(keys):
        order, is_new = _runs(keys[rows])
        run = np.cumsum(is_new) - 1
        first[rows[order]] = rows[order[is_new]][run]
    return first


def group_ids(first: np.ndarray) -> tuple[np.ndarray, int]:
    """Groups (positions sharing a first position), numbered in order of first appearance, and
    their count, from `first_positions`."""
    is_start = np.zeros(len(first), dtype=bool)
    is_start[first] = True
    number = np.cumsum(is_start, dtype=first.dtype)  # 1 + the group number, at each group's start
    number -= 1
    return number[first], int(number[-1]) + 1 if len(number) else 0


def split_rows(keep: np.ndarray, kept_keys: np.ndarray, *, dev_size: int, test_size: int, seed: int) -> Split:
    """Split the rows that `keep` marks (the others are duplicates), whose split-key hashes are
    `kept_keys` (in row order). The caller drops its own references to kept_keys (memory)."""
    n_kept = len(kept_keys)
    if dev_size + test_size >= n_kept:
        raise UserError(f"data.dev_size ({dev_size:,}) + data.test_size ({test_size:,}) leave "
                        f"nothing for training: only {n_kept:,} pairs remain after filtering "
                        "and de-duplication; lower data.dev_size and/or data.test_size")
    first = first_positions(kept_keys)
    del kept_keys  # the last reference (see the docstring): freed before the next arrays are made
    groups, n_groups = group_ids(first)
    del first
    shuffler = _Shuffler(seed, n_groups)
    order = shuffler.group_order()
    group_label = _fill(np.bincount(groups, minlength=n_groups)[order], test_size, dev_size)  # by position in order
    by_group = np.empty(n_groups, dtype=np.int8)
    by_group[order] = group_label
    label = np.full(len(keep), DROPPED, dtype=np.int8)
    label[keep] = by_group[groups]
    if not (label == TRAIN).any():
        raise UserError(f"no training pairs left after the split: all {n_kept:,} pairs went to "
                        "dev/test; lower data.dev_size and/or data.test_size")
    position = np.empty(n_groups, dtype=groups.dtype)
    position[order] = np.arange(n_groups, dtype=groups.dtype)  # where each group came in the shuffled order
    row_group = np.full(len(keep), -1, dtype=groups.dtype)
    row_group[keep] = groups
    del groups
    chosen = {}
    for which in (TEST, DEV):  # v1: each group's pairs in corpus order, groups in shuffled order
        rows = np.flatnonzero(label == which)
        chosen[which] = rows[np.argsort(position[row_group[rows]], kind="stable")]
    test = shuffler.shuffle(chosen[TEST])  # test first: the test set does not depend on data.dev_size
    dev = shuffler.shuffle(chosen[DEV])
    counts = np.bincount(group_label.astype(np.int64), minlength=3)
    return Split(label, dev, test, {"train": int(counts[TRAIN]), "dev": int(counts[DEV]), "test": int(counts[TEST])})


class _Shuffler:
    """v1's random.Random(seed) up to V1_SHUFFLE_GROUPS groups, a numpy PCG64 generator above."""

    def __init__(self, seed: int, n_groups: int) -> None:
        self.n_groups = n_groups
        self.v1 = n_groups <= V1_SHUFFLE_GROUPS
        self.rng = random.Random(seed) if self.v1 else np.random.Generator(np.random.PCG64(seed))

    def group_order(self) -> np.ndarray:
        if not self.v1:
            return self.rng.permutation(self.n_groups)
        order = list(range(self.n_groups))  # shuffle draws depend on the length only: as v1's list of groups
        self.rng.shuffle(order)
        return np.array(order, dtype=np.int64)

    def shuffle(self, rows: np.ndarray) -> np.ndarray:
        if not self.v1:
            return self.rng.permutation(rows)
        items = rows.tolist()  # dev and test only: small
        self.rng.shuffle(items)
        return np.array(items, dtype=np.int64)


def _fill(sizes: np.ndarray, test_size: int, dev_size: int) -> np.ndarray:
    """Label of each group (sizes in shuffled order): TEST while it fits, else DEV while it fits, else TRAIN."""
    label = np.full(len(sizes), TRAIN, dtype=np.int8)
    room = {TEST: test_size, DEV: dev_size}
    for start in range(0, len(sizes), SLICE):
        if not room[TEST] and not room[DEV]:
            break  # the rest is train
        part = sizes[start:start + SLICE]
        for i in np.flatnonzero(part <= max(room.values())).tolist():  # only groups that may still fit
            if not room[TEST] and not room[DEV]:
                break
            size = int(part[i])
            which = TEST if size <= room[TEST] else DEV if size <= room[DEV] else TRAIN
            if which != TRAIN:
                label[start + i] = which
                room[which] -= size
    return label


def spm_sample(n_sentences: int, max_sentences: int, seed: int) -> np.ndarray | None:
    """Which of `n_sentences` training sentences SentencePiece learns from (sorted positions), or
    None for all: v1's `random.Random(seed).sample(range(n), max_sentences)`, so a corpus v1
    sampled gets the same sentences."""
    if not max_sentences or n_sentences <= max_sentences:
        return None
    chosen = np.array(random.Random(seed).sample(range(n_sentences), max_sentences), dtype=np.int64)
    chosen.sort()
    return chosen


def sample_masks(n_train: int, joint: bool, max_sentences: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(source mask, target mask) over the training pairs: which side of which pair is in the
    SentencePiece sample. Joint: one sample over [all sources] + [all targets]; separate: each
    model samples range(n_train) with a fresh random.Random(seed), i.e. the same pairs. None: all."""
    chosen = spm_sample(2 * n_train if joint else n_train, max_sentences, seed)
    if chosen is None:
        return None
    src = np.zeros(n_train, dtype=bool)
    tgt = np.zeros(n_train, dtype=bool)
    if joint:
        src[chosen[chosen < n_train]] = True
        tgt[chosen[chosen >= n_train] - n_train] = True
    else:
        src[chosen] = True
        tgt[chosen] = True
    return src, tgt


def chunks(n: int, size: int) -> Iterator[slice]:
    """slice(0, size), slice(size, 2 * size), ... up to n."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
