"""The training corpus of each epoch, with the optional on-the-fly augmentations.

`TrainCorpus` encodes the prepared train split once (`base`: what training always reads when
both augmentations are off, and what resuming's data signature describes). `corpus(epoch)` is

- with `train.name_augmentation`, `train.number_augmentation`, `train.date_augmentation`,
  `train.placeholders` and `train.subword_sampling` all 0:
  `base`, every epoch, with no re-encoding;
- otherwise a corpus made from the raw text of data/<dir>/train.src and train.tgt as a pure
  function of (train.seed, epoch), so a resumed run re-makes exactly the epoch it stopped in:
  in each pair with shared names (seq2seq/data/names.py), with probability name_augmentation,
  every shared name is replaced consistently on both sides by one drawn from
  `augmentation_names()`; in each pair with shared digit strings (seq2seq/data/numbers.py),
  with probability number_augmentation, every shared number by a random one of as many digits;
  in each pair naming the same month or weekday on both sides (seq2seq/data/dates.py), with
  probability date_augmentation, each by another one;
  then, with train.placeholders, shared names (each with that probability) and every shared
  number (the new ones where the steps before changed them) by placeholder symbols
  (seq2seq/data/placeholders.py);
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

import torch

from seq2seq.config import Config
from seq2seq.data.batching import ParallelCorpus, TokenArrays, encode_corpus, encode_split
from seq2seq.data.dates import DATE_WORDS, DateAugmentation
from seq2seq.data.name_lists import augmentation_names
from seq2seq.data.names import NameAugmentation, usable_names
from seq2seq.data.normalize import elision_language, split_elisions
from seq2seq.data.numbers import NumberAugmentation
from seq2seq.data.places import LANGUAGES as PLACE_LANGUAGES
from seq2seq.data.placeholders import (PlaceholderAugmentation, Protector, date_languages, has_symbols, known_words,
                                       places_usable)
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.errors import UserError

CHUNK = 50_000  # sentences encoded per call (bounded memory, and one seed each when sampling)


def fitting(corpus: ParallelCorpus, limit: int | None) -> tuple[ParallelCorpus, int]:
    """`corpus` without the pairs longer than `limit` pieces on either side; and how many went."""
    if limit is None:
        return corpus, 0
    fits = (corpus.src_sizes <= limit) & (corpus.tgt_sizes <= limit)
    n_dropped = len(corpus) - int(fits.sum())
    return (corpus.select(torch.nonzero(fits).squeeze(1)) if n_dropped else corpus), n_dropped


def replace_pairs(corpus: ParallelCorpus, indices: Sequence[int], new: ParallelCorpus) -> ParallelCorpus:
    """`corpus` with its pairs at `indices` replaced by the pairs of `new`, in that order."""
    if not indices:
        return corpus
    order = torch.arange(len(corpus))
    order[torch.tensor(list(indices))] = len(corpus) + torch.arange(len(indices))
    both = ParallelCorpus(TokenArrays.concat([corpus.src, new.src]), TokenArrays.concat([corpus.tgt, new.tgt]))
    return both.select(order)


def encode_sampled(lines: Sequence[str], tokenizer: Tokenizer, alpha: float, seed: str) -> TokenArrays:
    """`lines` encoded with sampled segmentations, a fixed function of `seed` (one per chunk)."""
    parts = [TokenArrays.from_lists(tokenizer.encode_sampled(
        list(lines[start:start + CHUNK]), alpha, zlib.crc32(f"{seed}:{start}".encode())))
        for start in range(0, len(lines), CHUNK)]
    return TokenArrays.concat(parts) if parts else TokenArrays.from_lists([])


def read_raw(path: Path) -> list[str]:
    """A prepared split's lines, split exactly as `encode_split` splits them."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


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
        self.numbers_p, self.placeholders_p = train.number_augmentation, train.placeholders
        self.dates_p = train.date_augmentation
        self.augmenting = bool(self.names_p or self.numbers_p or self.dates_p or self.placeholders_p or self.alpha)
        self.description: str | None = None  # for the log: what changes from epoch to epoch
        self.note: str | None = None  # for the log: what the latest corpus(epoch) did
        self.protector: Protector | None = None  # with train.placeholders: what translation protects
        # "de Tom" -> "d'Alice" puts an elision back together; a split corpus keeps it split
        self.elision = elision_language(config.data.split_elision, config.data.src_lang)
        if not self.augmenting:
            return
        self.full = full
        self.src_lines, self.tgt_lines = read_raw(data_dir / "train.src"), read_raw(data_dir / "train.tgt")
        if not len(self.src_lines) == len(self.tgt_lines) == len(full):
            raise UserError(f"{data_dir}/train.src and train.tgt changed while being read; try again")
        parts = []
        self.names: NameAugmentation | None = None
        if self.names_p:
            pool = usable_names(augmentation_names(), src_tok, tgt_tok)
            if len(pool) < 10:
                raise UserError(f"{data_dir}: its SentencePiece vocabulary spells only {len(pool)} of the "
                                "augmentation names; set train.name_augmentation to 0")
            self.names = NameAugmentation(self.src_lines, self.tgt_lines, pool, config.data.src_lang == "fr",
                                          config.data.tgt_lang == "fr")
            parts.append(f"names substituted in {100 * self.names_p:g}% of the {len(self.names.eligible):,} "
                         f"pairs with a name on both sides (from {len(pool):,} names)")
        self.numbers: NumberAugmentation | None = None
        if self.numbers_p:
            self.numbers = NumberAugmentation(self.src_lines, self.tgt_lines)
            parts.append(f"numbers substituted in {100 * self.numbers_p:g}% of the {len(self.numbers.eligible):,} "
                         "pairs with a number on both sides")
        self.dates: DateAugmentation | None = None
        if self.dates_p:
            self.dates = DateAugmentation(self.src_lines, self.tgt_lines, config.data.src_lang, config.data.tgt_lang)
            parts.append(f"months and weekdays renamed in {100 * self.dates_p:g}% of the {len(self.dates.eligible):,} "
                         "pairs that name one on both sides")
        self.placeholders: PlaceholderAugmentation | None = None
        if self.placeholders_p:
            if not has_symbols(tgt_tok) or not has_symbols(src_tok):
                raise UserError(f"{data_dir}: its vocabulary has no placeholder symbols, which train.placeholders "
                                "needs; set data.placeholders: true and run `s2s data prepare --force`")
            src_lang, tgt_lang = config.data.src_lang, config.data.tgt_lang
            dates = date_languages(src_tok, tgt_tok, src_lang, tgt_lang)
            places = places_usable(src_tok, tgt_tok, src_lang, tgt_lang)
            self.placeholders = PlaceholderAugmentation(self.src_lines, self.tgt_lines, src_lang, tgt_lang,
                                                        dates is not None, places, config.train.placeholder_order)
            self.protector = Protector(known_words(self.src_lines), src_lang == "fr", dates, places)
            what = ("number, month, weekday and place" if places else "number, month and weekday") if dates \
                else "number"
            parts.append(f"placeholders put in place of each shared name with probability {self.placeholders_p:g} "
                         f"and of every shared {what} (in {len(self.placeholders.eligible):,} pairs; symbols "
                         f"numbered in {config.train.placeholder_order} order)")
            if dates is None and src_lang in DATE_WORDS and tgt_lang in DATE_WORDS:
                parts.append(f"months and weekdays stay words: {data_dir} was prepared before their symbols "
                             "(`s2s data prepare --force` adds them)")
            elif dates and not places and src_lang in PLACE_LANGUAGES and tgt_lang in PLACE_LANGUAGES:
                parts.append(f"places stay words: {data_dir} was prepared before their symbols "
                             "(`s2s data prepare --force` adds them)")
        if self.alpha:
            parts.append(f"subword segmentations sampled (alpha {self.alpha:g})")
        self.description = "augmentation: " + "; ".join(parts) + ", new for each epoch"

    def __call__(self, epoch: int) -> ParallelCorpus:
        """Epoch `epoch`'s corpus, a pure function of (train.seed, epoch)."""
        if not self.augmenting:
            return self.base
        started = time.perf_counter()
        changed = self.names.changed_pairs(self.names_p, self.seed, epoch) if self.names is not None else {}
        if self.numbers is not None:
            changed = self.numbers.changed_pairs(self.numbers_p, self.seed, epoch, changed)
        if self.dates is not None:
            changed = self.dates.changed_pairs(self.dates_p, self.seed, epoch, changed)
        if self.placeholders is not None:
            changed = self.placeholders.changed_pairs(self.placeholders_p, self.seed, epoch, changed)
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
        what = [f"new names, numbers, dates or placeholders in {len(changed):,} pairs"] if changed else []
        what += ["every pair re-encoded with sampled subwords"] if self.alpha else []
        self.note = f"corpus of epoch {epoch} (from 0): {', '.join(what)} ({time.perf_counter() - started:.1f} s)"
        return corpus
