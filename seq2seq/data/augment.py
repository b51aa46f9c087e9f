"""A training batch made from a shard's rows, with the per-example augmentations.

`BatchMaker(shard, epoch, batch, rows)` is a pure function of (train.seed, epoch, shard, batch
number, rows), so DataLoader workers can make batches in any process, in any order, and a resumed
run re-makes exactly the batches it stopped in:

1. the rows' piece ids, gathered from the memory-mapped shard (`Shard.padded`);
2. with entity augmentation on (train.name_augmentation, number_augmentation, date_augmentation,
   protect_entities), each row whose prepared entity flags are not 0: its text ->
   `EntityAugmentation.augment` with `augmentation_rng(seed, epoch, "<shard>:<row>")` (names,
   numbers, dates renamed, then entity symbols) -> the source's elisions split again when the
   corpus has them split (data.split_elision: "de Tom" -> "d'Alice") -> encoded; a pair that no
   longer fits model.max_positions keeps its prepared ids. The loader makes these for a whole
   shard before planning its batches (`augmented_rows`, seq2seq/data/augmented_rows.py), so the
   plan knows the new lengths, and passes them in; called without them, the maker makes its own;
   with train.concat_augmentation, the rows it joins (seq2seq/data/concatenation.py) are made
   there too: the row's ids (augmented or prepared) followed by those of the rows joined to it;
3. with train.subword_sampling, every row's text (augmented or not) is encoded with a sampled
   segmentation (SentencePiece, one thread), seeded by (seed, epoch, shard, batch, side) -- and by
   a salt SentencePiece draws once per process (see `before_fork`), so a resumed run samples
   other segmentations from there on: resuming is exact without subword sampling;
4. collated into the model's padded tensors (`seq2seq.data.batching.collate_pieces`).

Step 2 looks only at the rows whose flags name one of the chain's steps (prepare computed the
flags as a superset filter): without subword sampling most rows are never decoded or encoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seq2seq.config import Config
from seq2seq.data.augmented_rows import AugmentedRows, AugmentedRowsBuilder
from seq2seq.data.batching import Batch, collate_pieces
from seq2seq.data.concatenation import Concatenation
from seq2seq.data.normalize import elision_language, split_elisions
from seq2seq.data.shards import FLAGS, SRC_LEN, TGT_LEN, Shard
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.entities import (EntityAugmentation, Protector, augmentation_names, augmentation_rng, has_entity_symbols,
                              kinds_left_as_words, usable_names)
from seq2seq.errors import UserError
from seq2seq.special_tokens import PAD_ID

AUGMENT_CHUNK = 4096  # rows whose texts augmented_rows holds at a time


@dataclass
class Augmentation:
    """What changes training pairs from epoch to epoch (nothing, when every field is left empty)."""

    entities: EntityAugmentation | None = None
    protector: Protector | None = None  # with train.protect_entities: what translation protects
    elision: str | None = None  # the source language whose elisions the corpus has split
    alpha: float = 0.0  # train.subword_sampling
    concatenation: Concatenation | None = None  # train.concat_augmentation
    description: str | None = None  # for the log

    @property
    def changes_rows(self) -> bool:
        """Some rows get other ids each epoch (`BatchMaker.augmented_rows` makes them)."""
        return self.entities is not None or self.concatenation is not None


def make_augmentation(config: Config, data_dir: Path, manifest: dict[str, Any], src_tok: Tokenizer,
                      tgt_tok: Tokenizer) -> Augmentation:
    """The augmentations `config.train` asks for, checked against the prepared data."""
    train, data = config.train, config.data
    augmentation = Augmentation(elision=elision_language(data.split_elision, data.src_lang),
                                alpha=train.subword_sampling)
    parts: list[str] = []
    if train.name_augmentation or train.number_augmentation or train.date_augmentation or train.protect_entities:
        pool: list[str] = []
        if train.name_augmentation:
            pool = usable_names(augmentation_names(), src_tok, tgt_tok)
            if len(pool) < 10:
                raise UserError(f"{data_dir}: its SentencePiece vocabulary spells only {len(pool)} of the "
                                "augmentation names; set train.name_augmentation to 0")
        if train.protect_entities:
            augmentation.protector = _protector(config, data_dir, manifest, src_tok, tgt_tok)
        augmentation.entities = EntityAugmentation(
            data.src_lang, data.tgt_lang, names=train.name_augmentation, name_pool=pool,
            numbers=train.number_augmentation, dates=train.date_augmentation, protector=augmentation.protector,
            name_symbol_probability=train.name_symbol_probability, symbol_order=train.symbol_order)
        parts += augmentation.entities.description(manifest.get("entities", {}))
        left = kinds_left_as_words(augmentation.protector) if augmentation.protector is not None else None
        if left:
            parts.append(f"{left} stay words: {data_dir} was prepared before their symbols "
                         "(`s2s data prepare --force` adds them)")
    if augmentation.alpha:
        parts.append(f"subword segmentations sampled (alpha {augmentation.alpha:g})")
    if train.concat_augmentation:
        if augmentation.alpha:
            raise UserError("train.concat_augmentation does not work with train.subword_sampling: "
                            "set one of them to 0")
        augmentation.concatenation = Concatenation(train.concat_augmentation, train.concat_max_pairs, train.seed)
        parts.append(augmentation.concatenation.description())
    if parts:
        augmentation.description = "augmentation: " + "; ".join(parts) + ", new for each epoch"
    return augmentation


def _protector(config: Config, data_dir: Path, manifest: dict[str, Any], src_tok: Tokenizer,
               tgt_tok: Tokenizer) -> Protector:
    """train.protect_entities: the protector of these vocabularies, knowing the prepared known words."""
    if not has_entity_symbols(tgt_tok) or not has_entity_symbols(src_tok):
        raise UserError(f"{data_dir}: its vocabulary has no entity symbols, which train.protect_entities "
                        "needs; set data.entity_symbols: true and run `s2s data prepare --force`")
    path = data_dir / manifest.get("known_words", "train.known-words.txt")
    try:
        known = frozenset(line for line in path.read_text(encoding="utf-8").split("\n") if line)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the prepared known words ({getattr(exc, 'strerror', None) or exc}); "
                        "run `s2s data prepare --config ... --force`") from None
    return Protector.for_vocabularies(known, src_tok, tgt_tok, config.data.src_lang, config.data.tgt_lang)


class BatchMaker:
    """Makes training batches from shard rows (see the module docstring); picklable and cheap to
    fork, it holds only the tokenizers and the settings."""

    def __init__(self, src_tok: Tokenizer, tgt_tok: Tokenizer, limit: int | None, seed: int,
                 augmentation: Augmentation) -> None:
        self.tokenizers, self.limit, self.seed, self.augmentation = (src_tok, tgt_tok), limit, seed, augmentation

    def __call__(self, shard: Shard, epoch: int, batch: int, rows: Tensor,
                 augmented: AugmentedRows | None = None) -> Batch:
        """Batch number `batch` of `shard`'s plan in `epoch`: the pairs at `rows`. `augmented`: the
        shard's augmented rows in `epoch` when made already (the plan's), else made here."""
        picked = np.asarray(shard.index[rows.numpy()])
        lengths = [torch.from_numpy(picked[:, SRC_LEN].copy()), torch.from_numpy(picked[:, TGT_LEN].copy())]
        new: dict[int, tuple[Any, Any]] = {}
        if self.augmentation.alpha:
            new = self._sampled_ids(shard, epoch, batch, rows, picked)
        elif self.augmentation.changes_rows:
            if augmented is None:
                augmented = self.augmented_rows(shard, epoch, np.unique(rows.numpy()))
            new = augmented.ids_at(rows.numpy())
        pieces = []
        for side, name in enumerate(("src", "tgt")):
            for i, ids in new.items():
                lengths[side][i] = len(ids[side])
            width = int(lengths[side].max()) + 1  # room for EOS
            padded = shard.padded(name, rows, width)
            for i, ids in new.items():
                padded[i] = PAD_ID
                padded[i, :len(ids[side])] = torch.as_tensor(np.asarray(ids[side], dtype=np.int64))
            pieces.append(padded)
        return collate_pieces(pieces[0], lengths[0], pieces[1], lengths[1])

    def augmented_rows(self, shard: Shard, epoch: int, rows: np.ndarray) -> AugmentedRows:
        """Which of `rows` (increasing, distinct) the augmentation changes in `epoch`, with their new
        ids: the entity augmentation's (a pair grown past the model's positions keeps its prepared
        ids) and the joined examples' (train.concat_augmentation: as many of the rows joined to it
        as fit). Rows go in chunks, so memory holds one chunk's texts at a time."""
        src_tok, tgt_tok = self.tokenizers
        concatenation = self.augmentation.concatenation
        made = AugmentedRowsBuilder(shard.src.dtype)
        for begin in range(0, len(rows), AUGMENT_CHUNK):
            chunk = rows[begin:begin + AUGMENT_CHUNK]
            texts = self._augmented_texts(shard, epoch, chunk, np.asarray(shard.index[chunk, FLAGS]))
            joins = concatenation.partners(epoch, shard.name, len(shard), chunk) if concatenation else {}
            joined = self._joined_ids(shard, joins)
            for i in sorted(texts.keys() | joins.keys()):
                ids: tuple[Any, Any] | None = None
                if i in texts:
                    ids = (src_tok.encode(texts[i][0]), tgt_tok.encode(texts[i][1]))
                    if not self._fits(len(ids[0]), len(ids[1])):
                        ids = None
                if i in joins:
                    if ids is None:
                        ids = (shard.ids("src", chunk[i:i + 1])[0], shard.ids("tgt", chunk[i:i + 1])[0])
                    ids = self._join(ids, [joined[row] for row in joins[i].tolist()])
                if ids is not None:
                    made.add(int(chunk[i]), ids[0], ids[1])
        return made.build()

    def _fits(self, src_pieces: int, tgt_pieces: int) -> bool:
        """A pair of this many pieces (and its EOS) fits the model's positions."""
        return self.limit is None or max(src_pieces, tgt_pieces) + 1 <= self.limit

    @staticmethod
    def _joined_ids(shard: Shard, joins: dict[int, np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{row: (source ids, target ids)} of every row joined to another in `joins`, one gather per side."""
        if not joins:
            return {}
        partners = np.unique(np.concatenate(list(joins.values())))
        return dict(zip(partners.tolist(), zip(shard.ids("src", partners), shard.ids("tgt", partners))))

    def _join(self, first: tuple[Any, Any], others: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Any, Any]:
        """`first` followed by as many of `others` (in order) as fit the model's positions."""
        src, tgt = [np.asarray(first[0], dtype=np.int64)], [np.asarray(first[1], dtype=np.int64)]
        src_length, tgt_length = len(src[0]), len(tgt[0])
        for other_src, other_tgt in others:
            if not self._fits(src_length + len(other_src), tgt_length + len(other_tgt)):
                break
            src.append(other_src)
            tgt.append(other_tgt)
            src_length, tgt_length = src_length + len(other_src), tgt_length + len(other_tgt)
        return np.concatenate(src), np.concatenate(tgt)

    def _sampled_ids(self, shard: Shard, epoch: int, batch: int, rows: Tensor,
                     picked: np.ndarray) -> dict[int, tuple[list[int], list[int]]]:
        """train.subword_sampling: {position in the batch: (source ids, target ids)} of every row,
        its text (augmented or not) encoded with a sampled segmentation."""
        texts = self._augmented_texts(shard, epoch, rows, picked[:, FLAGS])
        src_tok, tgt_tok = self.tokenizers
        everything = [texts.get(i) or shard.text(int(row)) for i, row in enumerate(rows.tolist())]
        src_ids = self._sampled(src_tok, [src for src, _ in everything], epoch, shard.name, batch, "src")
        tgt_ids = self._sampled(tgt_tok, [tgt for _, tgt in everything], epoch, shard.name, batch, "tgt")
        # a pair grown past the model's positions keeps its prepared ids
        return {i: ids for i, ids in enumerate(zip(src_ids, tgt_ids))
                if self.limit is None or max(len(ids[0]), len(ids[1])) + 1 <= self.limit}

    def _augmented_texts(self, shard: Shard, epoch: int, rows: Tensor | np.ndarray,
                         flags: np.ndarray) -> dict[int, tuple[str, str]]:
        """{position in the batch: (source, target)} of the rows the entity augmentation changed."""
        entities, elision = self.augmentation.entities, self.augmentation.elision
        if entities is None:
            return {}
        texts = {}
        for i in np.flatnonzero(flags & entities.flags).tolist():  # the rows a step of the chain can change
            row = int(rows[i])
            src, tgt = shard.text(row)
            rng = augmentation_rng(self.seed, epoch, f"{shard.name}:{row}")
            changed = entities.augment(src, tgt, int(flags[i]), rng)
            if changed is not None:
                # "de Tom" -> "d'Alice" puts an elision back together; a split corpus keeps it split
                texts[i] = (split_elisions(changed[0], elision) if elision else changed[0], changed[1])
        return texts

    def before_fork(self) -> None:
        """Called before worker processes are forked. SentencePiece's sampling generator
        (absl::BitGen) mixes a salt drawn once per process, at its first use, into every seed: used
        here first, forked workers share the trainer's salt and make the batches it would make.
        (A new process draws another salt: sampled segmentations are reproducible within a run only.)"""
        if self.augmentation.alpha:
            for tokenizer in self.tokenizers:
                tokenizer.encode_sampled(["s2s"], self.augmentation.alpha, 0)

    def _sampled(self, tokenizer: Tokenizer, lines: Sequence[str], epoch: int, shard: str, batch: int,
                 side: str) -> list[list[int]]:
        seed = zlib.crc32(f"subword-sampling:{self.seed}:{epoch}:{shard}:{batch}:{side}".encode())
        return tokenizer.encode_sampled(list(lines), self.augmentation.alpha, seed)
