"""What `s2s data prepare` writes beside the shards: SentencePiece models, dev/test text, known
words, file records, manifest.json and the summary table (seq2seq/data/prepare.py runs it all)."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from seq2seq.config import DataConfig
from seq2seq.data.pool import ChunkPool
from seq2seq.data.prepare_passes import Spool, in_process, open_spool, spool_rows
from seq2seq.data.progress_bar import Progress
from seq2seq.data.shards import shard_files
from seq2seq.data.split import TRAIN, Split, sample_masks
from seq2seq.data.tokenizer import spm_filenames, train_sentencepiece
from seq2seq.entities import SYMBOLS

SPLITS = ("train", "dev", "test")
HELD_OUT = ("dev", "test")
KNOWN_WORDS = "train.known-words.txt"
HASH_BLOCK = 1 << 24


# ---------------------------------------------------------------------------------------------
# SentencePiece, on the training pairs of the spool (read again for each side, never held)


def train_vocabulary(spool: Spool, split: Split, n_train: int, data: DataConfig, out_dir: Path,
                     progress: Progress) -> tuple[dict[str, bytes], dict[str, Any]]:
    """SentencePiece model(s) trained on the training split only, as v1 trained them: joint on
    [every training source] + [every training target], or each side on its own; when there are
    more than data.spm_max_sentences, on v1's seeded sample of them. ({file name: proto}, info).

    A big corpus trains in a child process, whose memory (SentencePiece holds its sentences and
    more) goes back to the system when it ends, instead of staying with this process for pass 2.
    """
    src_name, tgt_name = spm_filenames(data.joint_vocab)
    masks = sample_masks(n_train, data.joint_vocab, data.spm_max_sentences, data.seed)
    used = 2 * n_train if data.joint_vocab else n_train
    if data.spm_max_sentences:
        used = min(used, data.spm_max_sentences)
    what = "training sentences" + ("" if masks is None else " (a seeded sample, data.spm_max_sentences)")
    how = "joint" if data.joint_vocab else "src and tgt separately, each"
    progress(f"training SentencePiece ({data.vocab_type}, {data.vocab_size:,} pieces, {how}) on {used:,} {what}")
    with ChunkPool(1, in_process(n_train), _vocabulary_source, (spool.path, split.label, masks)) as pool:
        files = next(pool.map(_train_models, [data]))[1]
    for name, proto in files.items():
        (out_dir / name).write_bytes(proto)
    info = {"type": data.vocab_type, "size": data.vocab_size, "joint": data.joint_vocab,
            "trained_on_sentences": used, "src_model": src_name, "tgt_model": tgt_name}
    return files, info


_source: dict[str, Any] = {}


def _vocabulary_source(spool: Path, label: np.ndarray, masks: tuple[np.ndarray, np.ndarray] | None) -> None:
    _source.update(spool=spool, label=label, masks=masks)


def _train_models(data: DataConfig) -> dict[str, bytes]:
    """{file name: proto} of the model(s), from the sentences `_vocabulary_source` names."""
    src_name, tgt_name = spm_filenames(data.joint_vocab)
    settings = dict(vocab_size=data.vocab_size, model_type=data.vocab_type,
                    character_coverage=data.character_coverage, seed=data.seed,
                    symbols=SYMBOLS if data.entity_symbols else ())
    if data.joint_vocab:
        return {src_name: train_sentencepiece(itertools.chain(_side(0), _side(1)), **settings)}
    return {name: train_sentencepiece(_side(side), what=f"data.vocab_size ({which} side)", **settings)
            for side, name, which in ((0, src_name, "source"), (1, tgt_name, "target"))}


def _side(side: int) -> Iterator[str]:
    """One side's training sentences in corpus order (those of the sample only, if any)."""
    label, masks = _source["label"], _source["masks"]
    position = 0  # of the training pair
    with open_spool(_source["spool"]) as handle:
        for first, lines in spool_rows(handle):
            train = np.flatnonzero(label[first:first + len(lines)] == TRAIN)
            if masks is not None:
                sampled = masks[side][position:position + len(train)]
                position += len(train)
                train = train[sampled]
            for i in train.tolist():
                yield lines[i].split("\t")[side]


# ---------------------------------------------------------------------------------------------
# Dev and test text


def held_out_pairs(spool: Spool, split: Split) -> dict[str, list[tuple[str, str]]]:
    """The dev and test pairs (small), in their output order."""
    wanted = np.zeros(len(split.label), dtype=bool)
    wanted[split.dev] = True
    wanted[split.test] = True
    found: dict[int, tuple[str, str]] = {}
    with open_spool(spool.path) as handle:
        for first, lines in spool_rows(handle):
            for i in np.flatnonzero(wanted[first:first + len(lines)]).tolist():
                src, tgt = lines[i].split("\t")
                found[first + i] = (src, tgt)
    return {"dev": [found[row] for row in split.dev.tolist()], "test": [found[row] for row in split.test.tolist()]}


def text_bytes(lines: Iterable[str]) -> bytes:
    text = "\n".join(lines)
    return (text + "\n").encode("utf-8") if text else b""


def write_held_out(out_dir: Path, pairs: dict[str, list[tuple[str, str]]]) -> None:
    for split in HELD_OUT:
        for side, suffix in enumerate(("src", "tgt")):
            (out_dir / f"{split}.{suffix}").write_bytes(text_bytes(pair[side] for pair in pairs[split]))


def held_out_stats(pairs: list[tuple[str, str]]) -> dict[str, int]:
    """v1's split statistics of a dev or test set."""
    return {"pairs": len(pairs), "source_sentences": len({src.casefold() for src, _ in pairs}),
            "src_words": sum(len(src.split()) for src, _ in pairs),
            "tgt_words": sum(len(tgt.split()) for _, tgt in pairs)}


def held_out_keys(pairs: dict[str, list[tuple[str, str]]]) -> tuple[frozenset[str], frozenset[str]]:
    """Dev+test sources (split keys) and targets (case-folded): pass 2 reports which train has."""
    held = [pair for split in HELD_OUT for pair in pairs[split]]
    return frozenset(src.casefold() for src, _ in held), frozenset(tgt.casefold() for _, tgt in held)


def overlap(pairs: dict[str, list[tuple[str, str]]], seen: tuple[set[str], set[str]]) -> dict[str, dict[str, int]]:
    """How many dev/test pairs have their source / target also in train (source: always 0)."""
    return {split: {"sources_in_train": sum(src.casefold() in seen[0] for src, _ in pairs[split]),
                    "targets_in_train": sum(tgt.casefold() in seen[1] for _, tgt in pairs[split])}
            for split in HELD_OUT}


# ---------------------------------------------------------------------------------------------
# Files


def file_record(path: Path, lines: int | None = None) -> dict[str, Any]:
    """{sha256, bytes[, lines]} of a written file, read back in blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    record: dict[str, Any] = {"sha256": digest.hexdigest(), "bytes": size}
    if lines is not None:
        record["lines"] = lines
    return record


def output_files(vocab_files: Iterable[str], shards: list[dict[str, Any]]) -> dict[str, int | None]:
    """Every output file but the manifest, with its line count where it is a text file."""
    files: dict[str, int | None] = dict.fromkeys(vocab_files)
    for shard in shards:
        names = shard_files(shard["name"])
        files.update(dict.fromkeys(names[:3]))
        files.update(dict.fromkeys(names[3:], shard["pairs"]))
    files[KNOWN_WORDS] = None
    return files


def fsync_directory(folder: Path) -> None:
    """Every file of `folder` on disk before it is renamed into place."""
    for entry in folder.iterdir():
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())


def summary_table(out_dir: Path, data: DataConfig, counts: dict[str, int], vocab: dict[str, Any],
                  seconds: float, shards: list[dict[str, Any]], corpora: list[dict[str, Any]]) -> str:
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
    if len(corpora) > 1:
        for corpus in corpora:
            c = corpus["counts"]
            lines.append(f"  corpus {corpus['name']}: {c['read']:,} read, {c['after_dedup']:,} kept, {c['train']:,} "
                         f"train, {c['dev']:,} dev, {c['test']:,} test")
    model_files = vocab["src_model"] if vocab["joint"] else f"{vocab['src_model']}, {vocab['tgt_model']}"
    lines.append(f"  SentencePiece: {vocab['type']}, {vocab['size']:,} pieces, "
                 f"{'joint' if vocab['joint'] else 'separate'} ({model_files})")
    tokens = sum(s["src_tokens"] + s["tgt_tokens"] for s in shards)
    lines.append(f"  training shards: {len(shards)} (data.shard_pairs={data.shard_pairs:,}), {tokens:,} tokens")
    return "\n".join(lines)
