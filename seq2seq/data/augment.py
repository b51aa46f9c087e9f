"""The training corpus of each epoch, with the optional on-the-fly augmentations.

`TrainCorpus` encodes the prepared train split once (`base`: what training always reads when
both augmentations are off, and what resuming's data signature describes). `corpus(epoch)` is

- with `train.name_augmentation`, `train.number_augmentation`, `train.date_augmentation` and
  `train.subword_sampling` all 0 and `train.protect_entities` off:
  `base`, every epoch, with no re-encoding;
- otherwise a corpus made from the raw text of data/<dir>/train.src and train.tgt as a pure
  function of (train.seed, epoch), so a resumed run re-makes exactly the epoch it stopped in:
  the entity augmentations (seq2seq.entities.EntityAugmentation: names, numbers, months and
  weekdays renamed, then entity symbols with train.protect_entities) change some pairs;
  then, without sampling, only the changed pairs are encoded again and
  put in place of their `base` encoding; with sampling (SentencePiece `enable_sampling`,
  alpha = subword_sampling), every pair is encoded with a segmentation sampled by a generator
  seeded by (seed, epoch, side, chunk).

Each epoch's corpus drops the pairs longer than the model's max_positions, as `base` does.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from seq2seq.config import Config
from seq2seq.data.batching import (ParallelCorpus, TokenArrays, encode_corpus, encode_split, fitting, read_split,
                                   replace_pairs)
from seq2seq.data.normalize import elision_language, split_elisions
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.entities import (EntityAugmentation, Protector, augmentation_names, has_entity_symbols, kinds_left_as_words,
                              known_words, usable_names)
from seq2seq.errors import UserError

CHUNK = 50_000  # sentences encoded per call (bounded memory, and one seed each when sampling)


def encode_sampled(lines: Sequence[str], tokenizer: Tokenizer, alpha: float, seed: str) -> TokenArrays:
    """`lines` encoded with sampled segmentations, a fixed function of `seed` (one per chunk)."""
    parts = [TokenArrays.from_lists(tokenizer.encode_sampled(
        list(lines[start:start + CHUNK]), alpha, zlib.crc32(f"{seed}:{start}".encode())))
        for start in range(0, len(lines), CHUNK)]
    return TokenArrays.concat(parts) if parts else TokenArrays.from_lists([])


class TrainCorpus:
    """The training set: `base` (encoded once) and `corpus(epoch)` (see the module docstring)."""

    def __init__(self, data_dir: Path, src_tok: Tokenizer, tgt_tok: Tokenizer, config: Config,
                 limit: int | None) -> None:
        train = config.train
        full = encode_split(data_dir, "train", src_tok, tgt_tok)
        if len(full) == 0:
            raise UserError(f"{data_dir}/train.src: no training sentence pairs")
        self.base, self.n_dropped = fitting(full, limit)
        if self.n_dropped == len(full):
            raise UserError(f"{data_dir}/train.*: every pair is longer than model.max_positions ({limit}) pieces")
        self.src_tok, self.tgt_tok, self.limit = src_tok, tgt_tok, limit
        self.seed, self.names_p, self.alpha = train.seed, train.name_augmentation, train.subword_sampling
        self.augmenting = bool(self.names_p or train.number_augmentation or train.date_augmentation
                               or train.protect_entities or self.alpha)
        self.description: str | None = None  # for the log: what changes from epoch to epoch
        self.note: str | None = None  # for the log: what the latest corpus(epoch) did
        self.protector: Protector | None = None  # with train.protect_entities: what translation protects
        # "de Tom" -> "d'Alice" puts an elision back together; a split corpus keeps it split
        self.elision = elision_language(config.data.split_elision, config.data.src_lang)
        if not self.augmenting:
            return
        self.full = full
        self.src_lines, self.tgt_lines = read_split(data_dir, "train")
        if len(self.src_lines) != len(full):
            raise UserError(f"{data_dir}/train.src and train.tgt changed while being read; try again")
        self.entities = self._entity_augmentation(data_dir, config)
        parts = self.entities.description()
        left = kinds_left_as_words(self.protector) if self.protector is not None else None
        if left:
            parts.append(f"{left} stay words: {data_dir} was prepared before their symbols "
                         "(`s2s data prepare --force` adds them)")
        if self.alpha:
            parts.append(f"subword segmentations sampled (alpha {self.alpha:g})")
        self.description = "augmentation: " + "; ".join(parts) + ", new for each epoch"

    def _entity_augmentation(self, data_dir: Path, config: Config) -> EntityAugmentation:
        """The names, numbers, dates and symbols steps `config.train` asks for (and the protector)."""
        train, src_lang, tgt_lang = config.train, config.data.src_lang, config.data.tgt_lang
        pool: list[str] = []
        if self.names_p:
            pool = usable_names(augmentation_names(), self.src_tok, self.tgt_tok)
            if len(pool) < 10:
                raise UserError(f"{data_dir}: its SentencePiece vocabulary spells only {len(pool)} of the "
                                "augmentation names; set train.name_augmentation to 0")
        if train.protect_entities:
            if not has_entity_symbols(self.tgt_tok) or not has_entity_symbols(self.src_tok):
                raise UserError(f"{data_dir}: its vocabulary has no entity symbols, which train.protect_entities "
                                "needs; set data.entity_symbols: true and run `s2s data prepare --force`")
            self.protector = Protector.for_vocabularies(known_words(self.src_lines), self.src_tok, self.tgt_tok,
                                                        src_lang, tgt_lang)
        return EntityAugmentation(self.src_lines, self.tgt_lines, src_lang, tgt_lang, names=self.names_p,
                                  name_pool=pool, numbers=train.number_augmentation, dates=train.date_augmentation,
                                  protector=self.protector, name_symbol_probability=train.name_symbol_probability,
                                  symbol_order=train.symbol_order)

    def __call__(self, epoch: int) -> ParallelCorpus:
        """Epoch `epoch`'s corpus, a pure function of (train.seed, epoch)."""
        if not self.augmenting:
            return self.base
        started = time.perf_counter()
        changed = self.entities.changed_pairs(self.seed, epoch)
        if self.elision:
            changed = {i: (split_elisions(src, self.elision), tgt) for i, (src, tgt) in changed.items()}
        if self.alpha:
            src_lines, tgt_lines = list(self.src_lines), list(self.tgt_lines)
            for i, (src, tgt) in changed.items():
                src_lines[i], tgt_lines[i] = src, tgt
            seed = f"subword-sampling:{self.seed}:{epoch}"
            corpus = ParallelCorpus(encode_sampled(src_lines, self.src_tok, self.alpha, f"{seed}:src"),
                                    encode_sampled(tgt_lines, self.tgt_tok, self.alpha, f"{seed}:tgt"))
        else:
            indices = sorted(changed)
            new = encode_corpus([changed[i][0] for i in indices], [changed[i][1] for i in indices],
                                self.src_tok, self.tgt_tok, chunk_size=CHUNK)
            corpus = replace_pairs(self.full, indices, new)
        corpus, _ = fitting(corpus, self.limit)
        what = [f"new names, numbers, dates or entity symbols in {len(changed):,} pairs"] if changed else []
        what += ["every pair re-encoded with sampled subwords"] if self.alpha else []
        self.note = f"corpus of epoch {epoch} (from 0): {', '.join(what)} ({time.perf_counter() - started:.1f} s)"
        return corpus
