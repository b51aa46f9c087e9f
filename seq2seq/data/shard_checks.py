"""The checks of a training shard (seq2seq/data/shards.py): one set of rules, applied to a sample
of rows read with pread when a shard is opened (`Shard.open`), or to every row on the maps
(`Shard.verify`). Damage is one line naming the file (`damaged`), never a traceback.
"""

from __future__ import annotations

import codecs
import mmap
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq.data.shards import (_BLOCK, _COLUMNS, CORPUS, FLAGS, INDEX_COLUMNS, SAMPLE_ROWS, SIDES, damaged,
                                 flat_positions, id_dtype)


class Preads:
    """Just enough of a read-only array for open()'s checks (shape, size, a[positions]), read with
    os.pread: nothing is mapped, so nothing enters the RSS, and a few scattered reads do not page in
    whole files as faults on a map do (read-around, fault-around)."""

    def __init__(self, path: Path, like: np.ndarray | None) -> None:
        """`path` read as `like` (read_npy's array of it) lies there; None: a text file's bytes."""
        try:
            self.fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise damaged(path, "file missing" if isinstance(exc, FileNotFoundError) else exc.strerror) from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            self.close()
            raise damaged(path, "not a file")
        size = os.fstat(self.fd).st_size
        self.offset, self.dtype = getattr(like, "offset", 0), np.dtype(np.uint8 if like is None else like.dtype)
        self.shape = (size,) if like is None else like.shape
        self.size, self.row = int(np.prod(self.shape)), self.dtype.itemsize * int(np.prod(self.shape[1:]))

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        """a[positions], one read per run of consecutive positions."""
        cuts = np.flatnonzero(np.diff(positions) != 1) + 1
        runs = zip(positions[np.r_[0, cuts]] if len(positions) else [], np.diff(np.r_[0, cuts, len(positions)]))
        data = b"".join(os.pread(self.fd, self.row * int(n), self.offset + self.row * int(p)) for p, n in runs)
        return np.frombuffer(data, dtype=self.dtype).reshape(-1, *self.shape[1:])

    def close(self) -> None:
        os.close(self.fd)


def check(index: Any, ids: list[Any], texts: list[Any], paths: list[Path], vocab_size: int | None,
           numbers: np.ndarray | None) -> None:
    """The index at rows `numbers` (sorted, unique, the first and the last row among them; None: all):
    ids and lines back to back from the start to the end of their files, ids inside the vocabulary."""
    every = numbers is None  # verify(): slices of the map, not copies of the whole index
    rows = index.shape[0]
    numbers = np.arange(rows) if numbers is None else numbers
    picked = index if every else index[numbers]
    following = numbers + 1 < rows
    after = index[1:] if every else index[numbers[following] + 1]
    if (picked[:, FLAGS] < 0).any() or (picked[:, CORPUS] < 0).any():
        raise damaged(paths[2], "negative flags or corpus number")
    for side, name in enumerate(SIDES):
        start, length, column = _COLUMNS[name]
        begins, ends = picked[:, start], picked[:, start] + picked[:, length]
        if (picked[:, length] < 0).any() or (begins < 0).any() or (ends > ids[side].size).any():
            raise damaged(paths[2], f"{name} ids of a row outside the {ids[side].size:,} ids of {name}.npy")
        if (after[:, start] != ends[following]).any() or (rows and begins[0] != 0) \
                or (int(ends[-1]) if rows else 0) != ids[side].size:
            raise damaged(paths[2], f"{name} rows are not back to back from the first to the last id")
        values = ids[side] if every else ids[side][flat_positions(begins, picked[:, length])]
        if vocab_size is not None and values.size and int(values.max()) >= vocab_size:
            raise damaged(paths[side], f"an id >= the vocabulary's {vocab_size:,} pieces")
        check_offsets(picked[:, column], after[:, column], following, texts[side], paths[3 + side])


def check_offsets(lines: np.ndarray, after: np.ndarray, following: np.ndarray, text: Any, path: Path) -> None:
    """Line offsets rising from 0, each just after a '\\n', the text's last byte a '\\n'."""
    rising = (after > lines[following]).all() and (lines[1:] > 0).all() and not (len(lines) and lines[0])
    last = text[np.array([text.size - 1] if text.size else [], dtype=np.int64)].tobytes()
    if not rising or last != (b"\n" if len(lines) else b"") or (lines >= text.size).any():
        raise damaged(path, "the index's line offsets do not match the text")
    if (text[lines[1:] - 1] != 10).any():  # lines[0] is 0
        raise damaged(path, "a line offset is not at the start of a line")


def check_layout(arrays: list[np.ndarray], paths: list[Path], vocab_size: int | None) -> None:
    """Shapes and dtypes of a shard's three arrays (src, tgt, index)."""
    src, tgt, index = arrays
    if index.ndim != 2 or index.shape[1] != len(INDEX_COLUMNS) or index.dtype != np.dtype("<i8"):
        raise damaged(paths[2], f"index is {index.dtype} {index.shape}, expected int64 (rows, 8)")
    for ids, path in zip((src, tgt), paths):
        if ids.ndim != 1 or ids.dtype not in (np.dtype("<u2"), np.dtype("<u4")):
            raise damaged(path, f"ids are {ids.dtype} {ids.shape}, expected 1-D uint16 or uint32")
        expected = src.dtype if vocab_size is None else id_dtype(vocab_size)  # of the spm model's vocabulary
        if ids.dtype != expected:
            raise damaged(path, f"ids are {ids.dtype}, expected {expected}: prepared with another vocabulary?")


def sample(rows: int) -> np.ndarray:
    """The rows open() checks: the first, the last and SAMPLE_ROWS spread evenly between."""
    return np.unique(np.linspace(0, rows - 1, num=min(rows, SAMPLE_ROWS)).astype(np.int64))


def check_lines(text: mmap.mmap | bytes, path: Path, rows: int) -> None:
    """The text has exactly `rows` '\\n'-terminated lines of valid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:  # a block at a time: bounded copies
        newlines = sum(decoder.decode(text[at:at + _BLOCK], final=at + _BLOCK > len(text)).count("\n")
                       for at in range(0, len(text) + 1, _BLOCK))
    except UnicodeDecodeError:
        raise damaged(path, "not valid UTF-8") from None
    if newlines != rows:
        raise damaged(path, f"{newlines:,} lines for {rows:,} rows")
