"""`s2s data prepare`: a raw parallel corpus in, a prepared data directory out.

    read (corpus.py) -> normalise -> drop empty pairs -> drop long pairs (data.max_words)
    -> drop pairs with a skewed length ratio (data.max_length_ratio) -> drop exact duplicate
    pairs (data.dedup) -> split train/dev/test by source sentence -> SentencePiece on train

The data directory (data.dir, default data/<name>) then holds

    train.src train.tgt dev.src dev.tgt test.src test.tgt   normalised text, one sentence a line
    spm.model  (or spm.src.model + spm.tgt.model)            SentencePiece, see tokenizer.spm_filenames
    manifest.json                                            what was done (format below)

The split groups pairs by source sentence (normalised, then case-folded), so every translation
of one source sentence lands in the same split and no dev/test source is ever seen in training.
Groups are shuffled with random.Random(data.seed); the test set is filled first, then dev, the
rest is train. Train keeps the corpus order (the batcher shuffles); dev and test are shuffled,
so any prefix of dev (train.dev_sentences) is a random sample.

Re-running with the same data config and the same input bytes is a no-op. Everything is
written into a hidden temporary sibling directory that is renamed into place at the end, so an
error or Ctrl-C never leaves half a corpus. An output directory that holds a different prepared
corpus (or anything else) is only replaced with force=True (`--force`).

manifest.json (format "s2s-prepared-corpus", version 1):

    format, format_version, s2s_version, sentencepiece_version
    config       the data section used (all keys, as in the YAML file)
    inputs       [{role: corpus|src|tgt, path, sha256, bytes, lines}]
    counts       {read, after_empty_filter, after_max_words, after_length_ratio, after_dedup,
                  train, dev, test}  (pairs after each step, in order)
    splits       {train|dev|test: {pairs, source_sentences, src_words, tgt_words}}
    overlap      {dev|test: {sources_in_train (always 0), targets_in_train}}
    vocabulary   {type, size, joint, trained_on_sentences, src_model, tgt_model}
    files        {file name: {sha256, bytes[, lines]}} for every output file but the manifest

The prepared corpus is identified by the data config without dir/path/src_path/tgt_path (the
inputs are identified by their sha256 instead) plus the input hashes and PREPARE_VERSION.
`seq2seq.data.manifest.check_prepared(cfg)` lets training and evaluation check that the prepared
directory matches their config's data section.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece

from seq2seq import __version__
from seq2seq.config import Config, DataConfig
from seq2seq.data.corpus import RawCorpus, read_corpus
from seq2seq.data.manifest import FORMAT, MANIFEST, PREPARE_VERSION, existing_state
from seq2seq.data.normalize import elision_language, normalize_text, split_elisions
from seq2seq.data.tokenizer import load_tokenizers, spm_filenames, train_sentencepiece
from seq2seq.entities import SYMBOLS, missing_symbols
from seq2seq.errors import UserError
from seq2seq.files import write_directory_atomically
from seq2seq.ownership import (LOCK, MARKER, PREPARED, check_folder, check_replaceable, is_empty, lock, marker_bytes,
                               release)

SPLITS = ("train", "dev", "test")
TEXT_FILES = tuple(f"{split}.{side}" for split in SPLITS for side in ("src", "tgt"))
# Keys that do not change the prepared bytes: where the output goes, and input paths (the
# inputs are identified by their content hash).


@dataclass
class Pair:
    src: str
    tgt: str


class _Progress:
    """One line per stage on stderr, with the elapsed time."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[prepare {time.monotonic() - self.start:5.1f}s] {message}", file=sys.stderr, flush=True)


def prepare_corpus(cfg: Config, force: bool = False) -> Path:
    """Prepare the corpus `cfg.data` describes into its data directory; returns that directory.

    Only a new or empty folder or an s2s prepared-data folder is written (--force included),
    never one that holds the corpus; it is locked while this runs (seq2seq.ownership).
    """
    data = cfg.data
    out_dir = data.resolved_dir(cfg.name)
    sources = [Path(p) for p in ([data.path] if data.format == "tsv" else [data.src_path, data.tgt_path]) if p]
    check_folder(out_dir, PREPARED, inputs=sources, option="data.dir")
    progress = _Progress()
    inputs_text = data.path if data.format == "tsv" else f"{data.src_path} + {data.tgt_path}"
    progress(f"reading {inputs_text}")
    corpus = read_corpus(data)
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # removed again on failure
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot create the prepared corpus there ({exc.strerror or exc}); "
                        "set data.dir to a writable place") from None
    try:
        lock(out_dir, "prepared-data folder")
        _prepare_locked(cfg, corpus, out_dir, force, progress)
    except BaseException:
        if created and out_dir.is_dir() and is_empty(out_dir):  # nothing of it was written
            shutil.rmtree(out_dir, ignore_errors=True)
            for folder in created[1:]:
                with contextlib.suppress(OSError):  # only if empty
                    folder.rmdir()
        raise
    finally:
        release(out_dir)
    return out_dir


def _prepare_locked(cfg: Config, corpus: RawCorpus, out_dir: Path, force: bool, progress: _Progress) -> None:
    """prepare_corpus, once `out_dir` is locked."""
    data = cfg.data
    inputs = [dataclasses.asdict(i) for i in corpus.inputs]
    state, reason = existing_state(out_dir, data, inputs)
    if state == "same" and not force:
        print(f"{out_dir}: already prepared, nothing to do (same data config and input; "
              "--force prepares it again)")
        tokenizer = load_tokenizers(out_dir, data.joint_vocab)[1] if data.entity_symbols else None
        what = missing_symbols(tokenizer) if tokenizer is not None else None
        if what:
            print(f"{out_dir}: its vocabulary predates the {what}, so they stay words in training; "
                  "--force prepares it again with them (the same splits)")
        return
    if state in ("different", "foreign") and not force:
        raise UserError(f"{out_dir} already holds {reason}; use --force to replace it, or set "
                        "data.dir to another directory")
    check_replaceable(out_dir, PREPARED)  # a user's file in it would go with the old corpus
    if state == "damaged":
        progress(f"{out_dir}: {reason}; preparing it again")

    progress(f"normalising and filtering {len(corpus):,} pairs")
    pairs, counts = clean_pairs(corpus, data)
    progress(f"splitting {len(pairs):,} pairs by source sentence (seed {data.seed})")
    splits = split_pairs(pairs, data.dev_size, data.test_size, data.seed)
    for split in ("test", "dev"):
        wanted = getattr(data, f"{split}_size")
        if len(splits[split]) < wanted:
            progress(f"warning: {split} has {len(splits[split]):,} pairs, not data.{split}_size="
                     f"{wanted:,}: the remaining source sentences have too many translations to fit")
    counts.update({split: len(splits[split]) for split in SPLITS})

    vocab_files, vocab_info = _train_vocabulary(splits["train"], data, progress)

    files: dict[str, bytes] = {}
    for split in SPLITS:
        files[f"{split}.src"] = _text_bytes(p.src for p in splits[split])
        files[f"{split}.tgt"] = _text_bytes(p.tgt for p in splits[split])
    files.update(vocab_files)
    manifest = {
        "format": FORMAT,
        "format_version": PREPARE_VERSION,
        "s2s_version": __version__,
        "sentencepiece_version": sentencepiece.__version__,
        "config": dataclasses.asdict(data),
        "inputs": inputs,
        "counts": counts,
        "splits": {split: _split_stats(splits[split]) for split in SPLITS},
        "overlap": _overlap(splits),
        "vocabulary": vocab_info,
        "files": {name: _file_record(name, content) for name, content in files.items()},
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    # bookkeeping, outside the manifest: the marker (what made it), the (empty) lock file
    files.update({MARKER: marker_bytes(PREPARED, "s2s data prepare"), LOCK: b""})

    progress(f"writing {out_dir}")
    write_directory_atomically(out_dir, files, "the prepared corpus", "set data.dir to a writable place")
    print(summary_table(out_dir, data, counts, vocab_info, time.monotonic() - progress.start))


# ---------------------------------------------------------------------------------------------
# Cleaning, splitting


def normalize_sentence(text: str, data: DataConfig) -> str:
    """The text as it is written to the prepared files (but for data.split_elision)."""
    return normalize_text(text, data.normalization, data.lowercase)


def clean_pairs(corpus: RawCorpus, data: DataConfig) -> tuple[list[Pair], dict[str, int]]:
    """Normalise and filter; returns the kept pairs and the pair count after each step."""
    counts = {"read": len(corpus)}
    if not len(corpus):
        raise UserError(f"{_input_names(corpus)}: the corpus is empty (no lines)")
    cache: dict[str, str] = {}  # Tatoeba repeats a sentence on many lines

    def norm(text: str) -> str:
        if text not in cache:
            cache[text] = normalize_sentence(text, data)
        return cache[text]

    pairs = [Pair(norm(s), norm(t)) for s, t in zip(corpus.src, corpus.tgt)]
    pairs = [p for p in pairs if p.src and p.tgt]
    counts["after_empty_filter"] = len(pairs)

    lengths = [(len(p.src.split()), len(p.tgt.split())) for p in pairs]
    keep = [max(ls, lt) <= data.max_words for ls, lt in lengths]
    pairs, lengths = _select(pairs, keep), _select(lengths, keep)
    counts["after_max_words"] = len(pairs)

    keep = [max(ls, lt) <= data.max_length_ratio * min(ls, lt) for ls, lt in lengths]
    pairs = _select(pairs, keep)
    counts["after_length_ratio"] = len(pairs)

    if data.dedup:
        seen: set[tuple[str, str]] = set()
        unique = []
        for p in pairs:
            if (p.src, p.tgt) not in seen:
                seen.add((p.src, p.tgt))
                unique.append(p)
        pairs = unique
    counts["after_dedup"] = len(pairs)
    elision = elision_language(data.split_elision, data.src_lang)
    if elision:  # after the filters, which count words as written
        pairs = [Pair(split_elisions(p.src, elision), p.tgt) for p in pairs]

    if not pairs:
        steps = ", ".join(f"{n:,} {step.replace('_', ' ')}" for step, n in counts.items())
        raise UserError(f"{_input_names(corpus)}: no sentence pairs left after filtering ({steps}); "
                        "check data.format, the columns or files, data.max_words and "
                        "data.max_length_ratio")
    return pairs, counts


def split_key(src: str) -> str:
    """Pairs with the same key share a split (the source sentence, case-folded)."""
    return src.casefold()


def split_pairs(pairs: list[Pair], dev_size: int, test_size: int, seed: int) -> dict[str, list[Pair]]:
    """Seeded split into train/dev/test with no source sentence in more than one split."""
    if dev_size + test_size >= len(pairs):
        raise UserError(f"data.dev_size ({dev_size:,}) + data.test_size ({test_size:,}) leave "
                        f"nothing for training: only {len(pairs):,} pairs remain after filtering "
                        "and de-duplication; lower data.dev_size and/or data.test_size")
    groups: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        groups.setdefault(split_key(pair.src), []).append(index)
    order = list(groups.values())  # first-appearance order: deterministic
    rng = random.Random(seed)
    rng.shuffle(order)
    chosen: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    for group in order:
        if len(chosen["test"]) + len(group) <= test_size:
            chosen["test"].extend(group)
        elif len(chosen["dev"]) + len(group) <= dev_size:
            chosen["dev"].extend(group)
        else:
            chosen["train"].extend(group)
    if not chosen["train"]:
        raise UserError(f"no training pairs left after the split: all {len(pairs):,} pairs went to "
                        "dev/test; lower data.dev_size and/or data.test_size")
    chosen["train"].sort()  # corpus order
    rng.shuffle(chosen["test"])  # test first: the test set does not depend on data.dev_size
    rng.shuffle(chosen["dev"])
    return {split: [pairs[i] for i in indices] for split, indices in chosen.items()}


def _select(items: list, keep: list[bool]) -> list:
    return [item for item, k in zip(items, keep) if k]


def _input_names(corpus: RawCorpus) -> str:
    return " + ".join(i.path for i in corpus.inputs)


def _split_stats(pairs: list[Pair]) -> dict[str, int]:
    return {"pairs": len(pairs),
            "source_sentences": len({split_key(p.src) for p in pairs}),
            "src_words": sum(len(p.src.split()) for p in pairs),
            "tgt_words": sum(len(p.tgt.split()) for p in pairs)}


def _overlap(splits: dict[str, list[Pair]]) -> dict[str, dict[str, int]]:
    """How many dev/test pairs have their source / target also in train (source: always 0)."""
    train_src = {split_key(p.src) for p in splits["train"]}
    train_tgt = {p.tgt.casefold() for p in splits["train"]}
    return {split: {"sources_in_train": sum(split_key(p.src) in train_src for p in splits[split]),
                    "targets_in_train": sum(p.tgt.casefold() in train_tgt for p in splits[split])}
            for split in ("dev", "test")}


# ---------------------------------------------------------------------------------------------
# SentencePiece


def _train_vocabulary(train: list[Pair], data: DataConfig, progress: _Progress) -> tuple[dict[str, bytes], dict[str, Any]]:
    """SentencePiece model(s) trained on the training split only: ({file name: proto}, info)."""
    src_name, tgt_name = spm_filenames(data.joint_vocab)
    settings = dict(vocab_size=data.vocab_size, model_type=data.vocab_type,
                    character_coverage=data.character_coverage,
                    max_sentences=data.spm_max_sentences, seed=data.seed,
                    symbols=SYMBOLS if data.entity_symbols else ())
    if data.joint_vocab:
        sentences = [p.src for p in train] + [p.tgt for p in train]
        progress(f"training SentencePiece ({data.vocab_type}, {data.vocab_size:,} pieces, joint) on "
                 f"{len(sentences):,} training sentences")
        files = {src_name: train_sentencepiece(sentences, **settings)}
    else:
        files = {}
        for side, name in (("src", src_name), ("tgt", tgt_name)):
            sentences = [getattr(p, side) for p in train]
            progress(f"training SentencePiece ({data.vocab_type}, {data.vocab_size:,} pieces, {side}) "
                     f"on {len(sentences):,} training sentences")
            what = f"data.vocab_size ({'source' if side == 'src' else 'target'} side)"
            files[name] = train_sentencepiece(sentences, what=what, **settings)
    used = len(train) * 2 if data.joint_vocab else len(train)
    if data.spm_max_sentences:
        used = min(used, data.spm_max_sentences)
    info = {"type": data.vocab_type, "size": data.vocab_size, "joint": data.joint_vocab,
            "trained_on_sentences": used, "src_model": src_name, "tgt_model": tgt_name}
    return files, info


# ---------------------------------------------------------------------------------------------
# The output directory


def _text_bytes(lines) -> bytes:
    text = "\n".join(lines)
    return (text + "\n").encode("utf-8") if text else b""


def _file_record(name: str, content: bytes) -> dict[str, Any]:
    record: dict[str, Any] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    if name in TEXT_FILES:
        record["lines"] = content.count(b"\n")
    return record


def summary_table(out_dir: Path, data: DataConfig, counts: dict[str, int], vocab: dict[str, Any],
                  seconds: float) -> str:
    """The few lines printed at the end of `s2s data prepare`."""
    steps = [("read", "read"),
             ("after_empty_filter", "normalised, both sides non-empty"),
             ("after_max_words", f"at most {data.max_words} words a side"),
             ("after_length_ratio", f"word-count ratio <= {data.max_length_ratio:g}"),
             ("after_dedup", "without duplicate pairs" if data.dedup else "duplicates kept (data.dedup false)")]
    lines = [f"prepared {out_dir} ({data.src_lang} -> {data.tgt_lang}) in {seconds:.1f} s",
             f"  {'step':<36}{'pairs':>10}{'dropped':>10}"]
    previous = None
    for key, label in steps:
        dropped = "" if previous is None else f"{previous - counts[key]:,}"
        lines.append(f"  {label:<36}{counts[key]:>10,}{dropped:>10}")
        previous = counts[key]
    for split in SPLITS:
        lines.append(f"  {split + ' split':<36}{counts[split]:>10,}")
    model_files = vocab["src_model"] if vocab["joint"] else f"{vocab['src_model']}, {vocab['tgt_model']}"
    lines.append(f"  SentencePiece: {vocab['type']}, {vocab['size']:,} pieces, "
                 f"{'joint' if vocab['joint'] else 'separate'} ({model_files})")
    return "\n".join(lines)
