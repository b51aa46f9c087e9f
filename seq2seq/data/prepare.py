"""`s2s data prepare`: one or several raw parallel corpora in, a prepared data directory out.

    hash the inputs (sha256; same config and inputs as the directory holds -> nothing to do)
    pass 1, in worker processes (prepare_passes.clean): read -> normalise -> drop empty pairs ->
        drop long pairs (data.max_words) -> drop skewed pairs (data.max_length_ratio) -> spool the
        rest to a temporary file, their 64-bit pair and split-key hashes to numpy arrays
    drop exact duplicates by pair hash, first occurrence kept, across corpora (data.dedup);
        split train/dev/test by source sentence, as v1 (split.py)
    SentencePiece on the training split (a seeded sample of at most data.spm_max_sentences)
    pass 2, in worker processes (prepare_passes.encode): training pairs -> piece ids, entity
        flags, word counts -> training shards (seq2seq.data.shards), known words

Memory is bounded: 16 bytes a pair in numpy arrays (20 M pairs: 320 MB; about 50 while the
split sorts them) besides a few chunks, dev and test and the word counts; SentencePiece and its
sample live in a child process that ends after training. The corpus itself is only ever in the
spool file (as big as the normalised corpus, next to the output; deleted before the rename).

Everything is written into a hidden temporary sibling directory that is renamed into place at
the end, so an error or Ctrl-C never leaves half a corpus behind; an output directory that holds
a different prepared corpus is only replaced with force=True (`--force`). Worker processes
(data.workers, 0 = one per core) never change a byte of the output (seq2seq/data/pool.py).

The data directory (data.dir, default data/<name>) then holds

    dev.src dev.tgt test.src test.tgt     normalised text, one sentence a line (shuffled)
    spm.model  (or spm.src.model + spm.tgt.model)
    train.known-words.txt                 the training source's word parts seen >= KNOWN_MIN_COUNT times
    train.NNNNN.{src.npy,tgt.npy,index.npy,src,tgt}   training shard NNNNN (seq2seq/data/shards.py):
                                          pair p goes to shard pair_hash(p) % n_shards, n_shards =
                                          ceil(train pairs / data.shard_pairs); rows in corpus order
    manifest.json                         what was done (format below)

The split groups pairs by source sentence (normalised, then case-folded), so every translation
of one source sentence lands in the same split and no dev/test source is ever seen in training.
With one corpus and one shard, dev, test and train.00000.{src,tgt} hold exactly what v1 wrote to
{dev,test,train}.{src,tgt}, and spm.model is v1's byte for byte.

manifest.json (format "s2s-prepared-corpus", version 2):

    format, format_version, s2s_version, sentencepiece_version
    config       the data section used (all keys, as in the YAML file)
    inputs       [{role: corpus|src|tgt, path, sha256, bytes, lines}]  (every corpus's, in order)
    counts       {read, after_empty_filter, after_max_words, after_length_ratio, after_dedup,
                  train, dev, test}  (pairs after each step, in order; all corpora)
    splits       {train|dev|test: {pairs, source_sentences, src_words, tgt_words}}
    overlap      {dev|test: {sources_in_train (always 0), targets_in_train}}
    vocabulary   {type, size, joint, trained_on_sentences, src_model, tgt_model}
    corpora      [{name, weight, format, inputs, counts}]   (a shard row's corpus number indexes it)
    shards       [{name, pairs, src_tokens, tgt_tokens, longest_src, longest_tgt}]
    entities     {names, numbers, dates, symbols}: training pairs with that entity flag
    known_words  "train.known-words.txt"
    files        {file name: {sha256, bytes[, lines]}} for every output file but the manifest

See seq2seq/data/manifest.py for what identifies a prepared corpus and the checks of train/eval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece

from seq2seq import __version__
from seq2seq.config import Config, DataConfig
from seq2seq.config_corpora import CorpusSpec, corpus_specs
from seq2seq.data.corpus import InputFile, hash_input
from seq2seq.data.manifest import FORMAT, MANIFEST, PREPARE_VERSION, existing_state
from seq2seq.data.normalize import elision_language
from seq2seq.data.pool import ChunkPool, worker_count
from seq2seq.data.prepare_output import (KNOWN_WORDS, file_record, fsync_directory, held_out_keys,
                                         held_out_pairs, held_out_stats, output_files, overlap, summary_table,
                                         text_bytes, train_vocabulary, write_held_out)
from seq2seq.data.prepare_passes import (STEPS, CleanSettings, Encoding, EncodeSettings, Spool, clean, encode, in_process,
                                         split_key, start_encoder)
from seq2seq.data.progress_bar import Progress
from seq2seq.data.split import DEV, DROPPED, TEST, TRAIN, Split, dedup_mask, split_rows
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.entities import FLAG_DATES, FLAG_NAMES, FLAG_NUMBERS, FLAG_SYMBOLS, known_from_counts, missing_symbols
from seq2seq.errors import UserError
from seq2seq.files import replace_directory
from seq2seq.ownership import (LOCK, MARKER, PREPARED, FolderBusy, check_folder, check_replaceable, is_empty, lock,
                               marker_bytes, release)

SPOOL = ".pairs.spool"  # pass 1's output inside the temporary directory; gone before the rename
FLAGS = {"names": FLAG_NAMES, "numbers": FLAG_NUMBERS, "dates": FLAG_DATES, "symbols": FLAG_SYMBOLS}
__all__ = ["prepare_corpus", "hash_corpus", "build", "split_key"]
_UMASK = os.umask(0)  # read the process umask (only settable together with reading it) ...
os.umask(_UMASK)  # ... and put it back


def prepare_corpus(cfg: Config, force: bool = False) -> Path:
    """Prepare the corpora `cfg.data` describes into its data directory; returns that directory.

    Only a new or empty folder or an s2s prepared-data folder is written (--force included),
    never one that holds an input; it is locked while this runs (seq2seq.ownership).
    """
    data = cfg.data
    out_dir = data.resolved_dir(cfg.name)
    if out_dir.is_symlink():  # data/x -> /big/disk/x: written there, the link kept (renamed over, it became a folder)
        out_dir = Path(os.path.realpath(out_dir))
    specs = corpus_specs(data)
    check_folder(out_dir, PREPARED, inputs=[p for spec in specs for p in spec.paths()], option="data.dir")
    progress = Progress()
    progress(f"reading {' + '.join(_names(spec) for spec in specs)}")
    inputs = [hash_corpus(spec) for spec in specs]  # missing, empty or misaligned inputs: before any write
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # removed again on failure
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot create the prepared corpus there ({exc.strerror or exc}); "
                        "set data.dir to a writable place") from None
    try:
        try:
            lock(out_dir, "prepared-data folder")
            busy = None
        except FolderBusy as refusal:
            if not refusal.readers:
                raise
            busy = refusal  # a training reads it: only "nothing to do" (or a refusal) may follow
        _prepare_locked(cfg, specs, inputs, out_dir, force, progress, busy)
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


def hash_corpus(spec: CorpusSpec) -> list[InputFile]:
    """The InputFile records of a corpus (reads each file once); an empty or misaligned corpus is an error."""
    roles = [("corpus", "path")] if spec.format == "tsv" else [("src", "src_path"), ("tgt", "tgt_path")]
    files = [hash_input(Path(getattr(spec, attr)), role, spec.key(attr)) for role, attr in roles]
    if len(files) == 2 and files[0].lines != files[1].lines:
        raise UserError(f"{files[0].path} has {files[0].lines:,} lines but {files[1].path} has {files[1].lines:,}; "
                        "the two files must be line-aligned (line i of one translates line i of the other)")
    if not files[0].lines:
        raise UserError(f"{_names(spec)}: the corpus is empty (no lines)")
    return files


def _names(spec: CorpusSpec) -> str:
    return " + ".join(str(p) for p in spec.paths())


def _prepare_locked(cfg: Config, specs: list[CorpusSpec], inputs: list[list[InputFile]], out_dir: Path,
                    force: bool, progress: Progress, busy: FolderBusy | None = None) -> None:
    """prepare_corpus, once `out_dir` is locked (busy: not locked, as trainings read it; raised
    unless there is nothing to do)."""
    data = cfg.data
    state, reason = existing_state(out_dir, data, [dataclasses.asdict(i) for files in inputs for i in files])
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
    if busy is not None:
        raise busy
    check_replaceable(out_dir, PREPARED)  # a user's file in it would go with the old corpus
    if state == "damaged":
        progress(f"{out_dir}: {reason}; preparing it again")
    _remove_stale(out_dir)
    tmp_dir = None
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        manifest = build(cfg, specs, inputs, tmp_dir, progress)
        (tmp_dir / MARKER).write_bytes(marker_bytes(PREPARED, "s2s data prepare"))  # what made it
        (tmp_dir / LOCK).write_bytes(b"")
        progress(f"writing {out_dir}")
        fsync_directory(tmp_dir)
        tmp_dir.chmod(0o777 & ~_UMASK)  # mkdtemp makes it 0700
        replace_directory(tmp_dir, out_dir)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write the prepared corpus ({exc.strerror or exc}); "
                        "set data.dir to a writable place with room for it") from None
    finally:
        if tmp_dir is not None and tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    print(summary_table(out_dir, data, manifest["counts"], manifest["vocabulary"], progress.elapsed(),
                        manifest["shards"], manifest["corpora"]))


def _remove_stale(out_dir: Path) -> None:
    """Temporary directories of a prepare of `out_dir` that was killed (SIGKILL, power loss): their
    spool can be as big as the corpus. Under the lock no other prepare of it runs, so they are stale."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.tmp-[a-z0-9_]{{8}}")  # tempfile.mkdtemp's names
    for entry in out_dir.parent.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def build(cfg: Config, specs: list[CorpusSpec], inputs: list[list[InputFile]], out_dir: Path,
          progress: Progress) -> dict[str, Any]:
    """Every output file into `out_dir` (a new directory); returns the manifest (written too)."""
    data = cfg.data
    workers = worker_count(data.workers)
    total = sum(files[0].lines for files in inputs)
    settings = CleanSettings(data.normalization, data.lowercase, data.max_words, data.max_length_ratio,
                             elision_language(data.split_elision, data.src_lang))
    with progress.bar("pass 1: normalise, filter", total) as bar, \
            ChunkPool(workers, in_process(total)) as pool:
        spool = clean(specs, settings, out_dir / SPOOL, total, pool, bar)
    counts = [dict(c) for c in spool.counts]
    for spec, files, c in zip(specs, inputs, counts):
        if c["read"] != files[0].lines:  # its sha256 in the manifest would not be what was read
            raise UserError(f"{_names(spec)}: changed while it was read ({files[0].lines:,} lines, then {c['read']:,}); "
                            "run the command again once nothing writes to it")
    if not len(spool.pair_hash):
        _nothing_left(specs, counts)
    progress(f"de-duplicating and splitting {len(spool.pair_hash):,} pairs by source sentence (seed {data.seed})")
    keep = dedup_mask(spool.pair_hash) if data.dedup else np.ones(len(spool.pair_hash), dtype=bool)
    split = split_rows(keep, _take_kept_keys(spool, keep), dev_size=data.dev_size, test_size=data.test_size,
                       seed=data.seed)
    del keep
    _count_splits(counts, spool, split)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    n_shards = max(1, math.ceil(totals["train"] / data.shard_pairs))
    spool.assign_shards(n_shards)
    for name in ("test", "dev"):
        wanted = getattr(data, f"{name}_size")
        if totals[name] < wanted:
            progress(f"warning: {name} has {totals[name]:,} pairs, not data.{name}_size="
                     f"{wanted:,}: the remaining source sentences have too many translations to fit")
    held = held_out_pairs(spool, split)
    write_held_out(out_dir, held)
    vocab_files, vocabulary = train_vocabulary(spool, split, totals["train"], data, out_dir, progress)
    found = _encode(data, spool, split, held, vocab_files, n_shards, out_dir, workers, progress)
    (out_dir / SPOOL).unlink()
    (out_dir / KNOWN_WORDS).write_bytes(text_bytes(sorted(known_from_counts(found.words))))
    manifest = _manifest(data, specs, inputs, counts, split, held, vocabulary, found)
    progress("recording the files' sha256")
    names = {f"{name}.{side}": len(held[name]) for name in ("dev", "test") for side in ("src", "tgt")}
    names.update(output_files(vocab_files, manifest["shards"]))
    manifest["files"] = {name: file_record(out_dir / name, count) for name, count in names.items()}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _manifest(data: DataConfig, specs: list[CorpusSpec], inputs: list[list[InputFile]], counts: list[dict[str, int]],
              split: Split, held: dict[str, list[tuple[str, str]]], vocabulary: dict[str, Any],
              found: Encoding) -> dict[str, Any]:
    """manifest.json but its "files" (see the module's docstring)."""
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    train_stats = {"pairs": totals["train"], "source_sentences": split.groups["train"],
                   "src_words": found.src_words, "tgt_words": found.tgt_words}
    return {
        "format": FORMAT,
        "format_version": PREPARE_VERSION,
        "s2s_version": __version__,
        "sentencepiece_version": sentencepiece.__version__,
        "config": dataclasses.asdict(data),
        "inputs": [dataclasses.asdict(i) for files in inputs for i in files],
        "counts": totals,
        "splits": {"train": train_stats, **{name: held_out_stats(held[name]) for name in ("dev", "test")}},
        "overlap": overlap(held, found.seen),
        "vocabulary": vocabulary,
        "corpora": [{"name": spec.name, "weight": spec.weight, "format": spec.format,
                     "inputs": [dataclasses.asdict(i) for i in files], "counts": c}
                    for spec, files, c in zip(specs, inputs, counts)],
        "shards": [info.to_dict() for info in found.shards],
        "entities": {name: found.flag_counts[bit] for name, bit in FLAGS.items()},
        "known_words": KNOWN_WORDS,
    }


def _encode(data: DataConfig, spool: Spool, split: Split, held: dict[str, list[tuple[str, str]]],
            vocab_files: dict[str, bytes], n_shards: int, out_dir: Path, workers: int, progress: Progress) -> Encoding:
    """Pass 2: the training shards."""
    protos = list(vocab_files.values())
    settings = EncodeSettings(protos[0], None if data.joint_vocab else protos[1], data.src_lang, data.tgt_lang,
                              held_out_keys(held))
    n_train = int(np.count_nonzero(split.label == TRAIN))
    vocab_size = max(tokenizer.vocab_size for tokenizer in load_tokenizers(out_dir, data.joint_vocab))
    what = f"pass 2: encode into {n_shards:,} shard{'s' if n_shards > 1 else ''}"
    with progress.bar(what, n_train, "pairs") as bar, \
            ChunkPool(workers, in_process(n_train), start_encoder, (settings,)) as pool:
        return encode(spool, split.label, out_dir, n_shards, vocab_size, pool, bar)


def _take_kept_keys(spool: Spool, keep: np.ndarray) -> np.ndarray:
    """The kept rows' split keys; the spool lets go of all of them (split_rows frees these early)."""
    keys, spool.key_hash = spool.key_hash, None
    return keys[keep]


def _count_splits(counts: list[dict[str, int]], spool: Spool, split: Split) -> None:
    """Each corpus's after_dedup, train, dev and test counts."""
    for number, c in enumerate(counts):
        labels = split.label[spool.starts[number]:spool.starts[number + 1]]
        found = np.bincount(labels.astype(np.int64) + 1, minlength=4)  # DROPPED..TEST -> 0..3
        c["after_dedup"] = int(len(labels) - found[DROPPED + 1])
        c.update(train=int(found[TRAIN + 1]), dev=int(found[DEV + 1]), test=int(found[TEST + 1]))


def _nothing_left(specs: list[CorpusSpec], counts: list[dict[str, int]]) -> None:
    totals = {step: sum(c[step] for c in counts) for step in STEPS}
    totals["after_dedup"] = 0
    steps = ", ".join(f"{n:,} {step.replace('_', ' ')}" for step, n in totals.items())
    raise UserError(f"{' + '.join(_names(spec) for spec in specs)}: no sentence pairs left after filtering "
                    f"({steps}); check data.format, the columns or files, data.max_words and "
                    "data.max_length_ratio")
