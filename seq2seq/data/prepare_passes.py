"""The two passes of `s2s data prepare` over the corpus, chunk by chunk in worker processes.

Pass 1 (`clean`): read each corpus (seq2seq.data.corpus.iter_pairs), normalise, filter, hash ->
every kept pair is spooled as one line "src<TAB>tgt" (normalised text has no tab or newline) to a
file in the temporary output directory; its pair hash (of "src\\0tgt" before data.split_elision,
the text v1 de-duplicated) and split-key hash (the source after it, case-folded, as v1 grouped)
go to two uint64 numpy arrays sized by the input's line count. Nothing else is kept per pair.

Pass 2 (`encode`): the spooled training pairs -> piece ids, entity flags, word counts -> the
training shards, each pair in shard pair_hash % n_shards, rows in corpus order.

Both passes give byte-identical output for any number of workers: chunks are made and consumed in
corpus order (seq2seq.data.pool), and what a worker computes depends on its chunk alone.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np
import sentencepiece

from seq2seq.config_corpora import CorpusSpec
from seq2seq.data.corpus import iter_pairs
from seq2seq.data.normalize import normalize_text, split_elisions
from seq2seq.data.pool import ChunkPool
from seq2seq.data.progress_bar import Bar
from seq2seq.data.shards import ShardInfo, ShardWriter, id_dtype, shard_name
from seq2seq.data.split import TRAIN
from seq2seq.entities import entity_flags, word_counts

CHUNK_PAIRS = 10_000  # pairs a task; a corpus under two chunks is prepared without worker processes
MAX_OPEN_SHARDS = 64  # shard writers open at once (five files each)
CACHE_LIMIT = 1 << 18  # normalised sentences remembered per process (Tatoeba repeats many)
STEPS = ("read", "after_empty_filter", "after_max_words", "after_length_ratio")


def in_process(pairs: int) -> bool:
    """Whether a pass over `pairs` pairs runs without worker processes (under two chunks)."""
    return pairs < 2 * CHUNK_PAIRS


def pair_hash(src: str, tgt: str) -> bytes:
    """8 bytes identifying a pair for de-duplication."""
    return hashlib.blake2b(f"{src}\0{tgt}".encode("utf-8"), digest_size=8).digest()


def split_key(src: str) -> str:
    """Pairs with the same key share a split (the source sentence, case-folded)."""
    return src.casefold()


def key_hash(src: str) -> bytes:
    """8 bytes identifying a pair's split group (its split_key)."""
    return hashlib.blake2b(split_key(src).encode("utf-8"), digest_size=8).digest()


# ---------------------------------------------------------------------------------------------
# Pass 1


@dataclass(frozen=True)
class CleanSettings:
    normalization: str
    lowercase: bool
    max_words: int
    max_length_ratio: float
    elision: str | None  # the source language whose elisions are split, or None


@dataclass
class Cleaned:
    """A cleaned chunk: its step counts (STEPS), the kept pairs' hashes and spool lines."""

    counts: tuple[int, int, int, int]
    pair_hash: np.ndarray
    key_hash: np.ndarray
    text: bytes


_cache: dict[str, str] = {}


def _normalise(text: str, settings: CleanSettings) -> str:
    found = _cache.get(text)
    if found is None:
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        found = _cache[text] = normalize_text(text, settings.normalization, settings.lowercase)
    return found


def clean_chunk(task: tuple[int, CleanSettings, list[str], list[str]]) -> Cleaned:
    """v1's filters on one chunk: both sides non-empty after normalising, at most max_words
    words a side, word-count ratio <= max_length_ratio (words counted before split_elision)."""
    _, settings, sources, targets = task
    after_empty = after_words = 0
    pair_hashes, key_hashes, lines = [], [], []
    for raw_src, raw_tgt in zip(sources, targets):
        src, tgt = _normalise(raw_src, settings), _normalise(raw_tgt, settings)
        if not (src and tgt):
            continue
        after_empty += 1
        src_words, tgt_words = len(src.split()), len(tgt.split())
        if max(src_words, tgt_words) > settings.max_words:
            continue
        after_words += 1
        if max(src_words, tgt_words) > settings.max_length_ratio * min(src_words, tgt_words):
            continue
        pair_hashes.append(pair_hash(src, tgt))
        if settings.elision and ("'" in src or "’" in src):  # the rules need an apostrophe: skip the regex
            src = split_elisions(src, settings.elision)
        key_hashes.append(key_hash(src))
        lines.append(f"{src}\t{tgt}\n")
    return Cleaned((len(sources), after_empty, after_words, len(lines)),
                   np.frombuffer(b"".join(pair_hashes), dtype="<u8"),
                   np.frombuffer(b"".join(key_hashes), dtype="<u8"), "".join(lines).encode("utf-8"))


@dataclass
class Spool:
    """What pass 1 leaves: the spool file, one row per kept pair, and per row its two hashes."""

    path: Path
    pair_hash: np.ndarray | None  # None once `assign_shards` has used them
    key_hash: np.ndarray | None  # None once the split has them
    starts: list[int]  # the first row of each corpus, and the row count at the end
    counts: list[dict[str, int]]  # per corpus: STEPS
    shard: np.ndarray | None = None  # each row's shard, pair_hash % n_shards (uint16 while it fits)

    def assign_shards(self, n_shards: int) -> None:
        """Each row's shard, computed once; the pair hashes (8 bytes a row) go, the shard (2) stays."""
        shard = np.empty(len(self.pair_hash), dtype=np.uint16 if n_shards <= 1 << 16 else np.uint32)
        for start in range(0, len(shard), 1 << 20):  # no 8-byte temporary of the whole corpus
            shard[start:start + (1 << 20)] = self.pair_hash[start:start + (1 << 20)] % np.uint64(n_shards)
        self.shard, self.pair_hash = shard, None


class _Column:
    """A uint64 array filled chunk by chunk; starts at the input's line count, doubles if a file grew."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1), dtype="<u8")
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        if self.size + len(values) > len(self.data):
            self.data = np.resize(self.data, max(2 * len(self.data), self.size + len(values)))
        self.data[self.size:self.size + len(values)] = values
        self.size += len(values)

    def array(self) -> np.ndarray:
        return self.data[:self.size]


def clean(specs: Sequence[CorpusSpec], settings: CleanSettings, spool_path: Path, capacity: int,
          pool: ChunkPool, bar: Bar) -> Spool:
    """Pass 1 over every corpus, in order."""
    pairs, keys = _Column(capacity), _Column(capacity)
    counts = [dict.fromkeys(STEPS, 0) for _ in specs]
    starts = [0] * (len(specs) + 1)
    tasks = ((number, settings, src, tgt) for number, spec in enumerate(specs)
             for src, tgt in iter_pairs(spec, CHUNK_PAIRS))
    with open(spool_path, "wb") as spool:
        for (number, _, sources, _), cleaned in pool.map(clean_chunk, tasks):
            for step, n in zip(STEPS, cleaned.counts):
                counts[number][step] += n
            spool.write(cleaned.text)
            pairs.extend(cleaned.pair_hash)
            keys.extend(cleaned.key_hash)
            starts[number + 1:] = [pairs.size] * (len(specs) - number)
            bar.update(len(sources))
    return Spool(spool_path, pairs.array(), keys.array(), starts, counts)


def spool_rows(spool: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """(first row, lines without their '\\n') of the spool, CHUNK_PAIRS rows at a time."""
    first = 0
    while True:
        lines = list(itertools.islice(spool, CHUNK_PAIRS))
        if not lines:
            return
        yield first, [line[:-1] for line in lines]
        first += len(lines)


def open_spool(path: Path) -> IO[str]:
    return open(path, encoding="utf-8", newline="\n")


# ---------------------------------------------------------------------------------------------
# Pass 2


@dataclass
class Encoded:
    """An encoded chunk of training pairs."""

    src_ids: list[list[int]]  # lists: what ShardWriter.add reads fastest (pickled about as fast as arrays)
    tgt_ids: list[list[int]]
    flags: np.ndarray
    words: Counter  # word_counts of the sources (known words)
    src_words: int  # whitespace words, as manifest "splits" counts them
    tgt_words: int
    seen: tuple[frozenset[str] | set[str], frozenset[str] | set[str]]  # held-out keys this chunk's pairs have


@dataclass
class EncodeSettings:
    src_model: bytes
    tgt_model: bytes | None  # None: joint
    src_lang: str
    tgt_lang: str
    held_out: tuple[frozenset[str], frozenset[str]]  # dev+test sources (split keys), targets (case-folded)


_state: dict[str, object] = {}


def start_encoder(settings: EncodeSettings) -> None:
    """Pool initializer of pass 2: the SentencePiece model(s), once per process."""
    src = sentencepiece.SentencePieceProcessor(model_proto=settings.src_model)
    tgt = src if settings.tgt_model is None else sentencepiece.SentencePieceProcessor(model_proto=settings.tgt_model)
    _state.update(settings=settings, src=src, tgt=tgt)


def encode_chunk(task: tuple[list[str], list[str]]) -> Encoded:
    """Ids (as Tokenizer.encode gives them), entity flags, word counts of a chunk of training pairs."""
    sources, targets = task
    settings: EncodeSettings = _state["settings"]  # type: ignore[assignment]
    src_ids = _state["src"].encode(sources, out_type=int, num_threads=1)  # type: ignore[attr-defined]
    tgt_ids = _state["tgt"].encode(targets, out_type=int, num_threads=1)  # type: ignore[attr-defined]
    flags = np.fromiter((entity_flags(s, t, settings.src_lang, settings.tgt_lang) for s, t in zip(sources, targets)),
                        dtype=np.int64, count=len(sources))
    held_src, held_tgt = settings.held_out
    seen = (held_src.intersection(map(str.casefold, sources)) if held_src else set(),
            held_tgt.intersection(map(str.casefold, targets)) if held_tgt else set())
    words = len(" ".join(sources).split()), len(" ".join(targets).split())  # = the lines' word counts summed
    return Encoded(src_ids, tgt_ids, flags, word_counts(sources), *words, seen)


@dataclass
class Encoding:
    """What pass 2 found, beside the shards."""

    shards: list[ShardInfo] = field(default_factory=list)
    words: Counter = field(default_factory=Counter)
    src_words: int = 0
    tgt_words: int = 0
    flag_counts: Counter = field(default_factory=Counter)  # pairs per flag bit
    seen: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))


def encode(spool: Spool, label: np.ndarray, out_dir: Path, n_shards: int, vocab_size: int, pool: ChunkPool,
           bar: Bar) -> Encoding:
    """Pass 2: the training rows of the spool into `n_shards` shards in `out_dir` (MAX_OPEN_SHARDS at a
    time: more would open too many files, so a tiny data.shard_pairs reads the spool several times)."""
    found = Encoding()
    for low in range(0, n_shards, MAX_OPEN_SHARDS):
        group = range(low, min(low + MAX_OPEN_SHARDS, n_shards))
        writers = {n: ShardWriter(out_dir, shard_name("train", n), id_dtype(vocab_size)) for n in group}
        try:
            with open_spool(spool.path) as handle:
                chunks = _train_chunks(handle, label, spool.shard, n_shards, group)
                for (rows, shard, sources, targets), encoded in pool.map(_encode_task, chunks):
                    corpus = np.searchsorted(np.asarray(spool.starts), rows, side="right") - 1
                    _write_rows(writers, shard, corpus, sources, targets, encoded)
                    _tally(found, encoded)
                    bar.update(len(rows))
            found.shards += [writers[n].close() for n in group]
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
    return found


def _train_chunks(handle: IO[str], label: np.ndarray, shards: np.ndarray, n_shards: int,
                  group: range) -> Iterator[tuple[np.ndarray, np.ndarray, list[str], list[str]]]:
    """(rows, their shards, sources, targets) of the training pairs bound for the shards of
    `group`, CHUNK_PAIRS spool rows at a time."""
    for first, lines in spool_rows(handle):
        train = np.flatnonzero(label[first:first + len(lines)] == TRAIN)
        shard = shards[first + train].astype(np.int64)
        if len(group) < n_shards:
            inside = (shard >= group.start) & (shard < group.stop)
            train, shard = train[inside], shard[inside]
        if len(train):
            pairs = [lines[i].split("\t") for i in train.tolist()]
            yield first + train, shard, [p[0] for p in pairs], [p[1] for p in pairs]


def _encode_task(task: tuple[np.ndarray, np.ndarray, list[str], list[str]]) -> Encoded:
    return encode_chunk((task[2], task[3]))


def _write_rows(writers: dict[int, ShardWriter], shard: np.ndarray, corpus: np.ndarray, sources: list[str],
                targets: list[str], encoded: Encoded) -> None:
    src, tgt = encoded.src_ids, encoded.tgt_ids
    if len(writers) == 1:
        next(iter(writers.values())).add(src, tgt, sources, targets, encoded.flags, corpus)
        return
    for number in np.unique(shard).tolist():
        rows = np.flatnonzero(shard == number).tolist()
        writers[number].add([src[i] for i in rows], [tgt[i] for i in rows], [sources[i] for i in rows],
                            [targets[i] for i in rows], encoded.flags[rows], corpus[rows])


def _tally(found: Encoding, encoded: Encoded) -> None:
    found.words.update(encoded.words)
    found.src_words += encoded.src_words
    found.tgt_words += encoded.tgt_words
    for bit in range(4):
        found.flag_counts[1 << bit] += int(np.count_nonzero(encoded.flags & (1 << bit)))
    found.seen[0].update(encoded.seen[0])
    found.seen[1].update(encoded.seen[1])
