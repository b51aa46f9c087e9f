"""Training shards on disk: token ids in memory-mappable .npy files, a length index, the rows' text.

A shard `train.NNNNN` is five files (`shard_files`): .src.npy / .tgt.npy, 1-D piece ids (no BOS/EOS)
of all rows back to back (`id_dtype`: uint16 up to 65,536 pieces, else uint32); .index.npy, (rows, 8)
int64 with columns INDEX_COLUMNS (where a row's ids start, how many, the byte offset of its line in
the text files, its entity flags, its corpus number); .src / .tgt, one '\\n'-terminated UTF-8 line a row.

`ShardWriter` appends chunks of rows (memory bounded by a chunk): each .npy file gets a 128-byte
header (format 1.0) first, rewritten with the final shape at close(), so plain `np.load(path,
mmap_mode="r")` reads them. `Shard` maps them read-only: the system pages in what a batch touches,
and close() unmaps them so RSS falls again. Damage is one line naming the file, never a traceback
(the checks: seq2seq/data/shard_checks.py).
"""

from __future__ import annotations

import itertools
import mmap
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Sequence

import numpy as np

from seq2seq.errors import UserError
from seq2seq.special_tokens import PAD_ID

if TYPE_CHECKING:  # torch is imported where tensors are made: prepare's processes write shards without it
    from torch import Tensor

INDEX_COLUMNS = ("src_start", "src_len", "tgt_start", "tgt_len", "src_text", "tgt_text", "flags", "corpus")
SRC_START, SRC_LEN, TGT_START, TGT_LEN, SRC_TEXT, TGT_TEXT, FLAGS, CORPUS = range(8)
SIDES = ("src", "tgt")
HEADER_BYTES = 128  # magic (6) + version (2) + header length (2) + the dict, space-padded, '\n'
SAMPLE_ROWS = 1024  # rows open() checks (evenly spread): cheap on a 1M-row shard
REDO = "run `s2s data prepare --config ... --force`"
_COLUMNS = {"src": (SRC_START, SRC_LEN, SRC_TEXT), "tgt": (TGT_START, TGT_LEN, TGT_TEXT)}
_BLOCK = 1 << 24  # bytes verify() reads at a time


def shard_name(split: str, number: int) -> str:
    """The name of shard `number` of `split`: "train.00003"."""
    return f"{split}.{number:05d}"


def shard_files(name: str) -> tuple[str, ...]:
    """The five file names of shard `name`: ids (src, tgt), index, text (src, tgt)."""
    return (f"{name}.src.npy", f"{name}.tgt.npy", f"{name}.index.npy", f"{name}.src", f"{name}.tgt")


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest id type for a vocabulary: uint16 up to 65,536 pieces, else uint32 (little-endian)."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


@dataclass
class ShardInfo:
    """What the manifest records of a shard (tokens and lengths without EOS)."""

    name: str
    pairs: int
    src_tokens: int
    tgt_tokens: int
    longest_src: int
    longest_tgt: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A .npy format 1.0 header of exactly HEADER_BYTES bytes for a C-order array."""
    text = f"{{'descr': {np.lib.format.dtype_to_descr(dtype)!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    room = HEADER_BYTES - 10
    if len(text) + 1 > room:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + room.to_bytes(2, "little") + (text.ljust(room - 1) + "\n").encode("latin1")


class ShardWriter:
    """Writes one shard from chunks of rows (`add`), holding no more than a chunk in memory."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype) -> None:
        self.directory, self.name, self.dtype = Path(directory), name, np.dtype(dtype).newbyteorder("<")
        if self.dtype not in (np.dtype("<u2"), np.dtype("<u4")):
            raise ValueError(f"ids are stored as uint16 or uint32, not {self.dtype}")
        self.paths = [self.directory / f for f in shard_files(name)]
        self._files: list[BinaryIO] = [open(p, "wb") for p in self.paths]
        for handle in self._files[:3]:
            handle.write(b"\0" * HEADER_BYTES)  # the real header comes at close(), with the shape
        self._tokens, self._text_bytes, self._longest = [0, 0], [0, 0], [0, 0]  # per side, so far
        self.rows = 0

    def add(self, src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]], src_text: Sequence[str],
            tgt_text: Sequence[str], flags: Sequence[int], corpus: Sequence[int]) -> None:
        """Append rows: row i is (src_ids[i], tgt_ids[i], src_text[i], ...), all of one length.
        Everything is checked before anything is written, so a refused chunk leaves the files whole."""
        n = len(src_ids)
        if not n == len(tgt_ids) == len(src_text) == len(tgt_text) == len(flags) == len(corpus):
            raise ValueError("ShardWriter.add: the six sequences must have one length")
        index = np.empty((n, len(INDEX_COLUMNS)), dtype="<i8")
        index[:, FLAGS], index[:, CORPUS] = np.asarray(flags, dtype=np.int64), np.asarray(corpus, dtype=np.int64)
        if (index[:, FLAGS] < 0).any() or (index[:, CORPUS] < 0).any():
            raise ValueError("ShardWriter.add: flags and corpus numbers are >= 0")
        if n == 0:
            return
        blobs = [self._ids(side, ids, index) for side, ids in enumerate((src_ids, tgt_ids))]
        blobs += [self._text(side, lines, index) for side, lines in enumerate((src_text, tgt_text))]
        for side in (0, 1):  # all checked: now the counters move and the bytes go out
            self._tokens[side] += len(blobs[side]) // self.dtype.itemsize
            self._text_bytes[side] += len(blobs[2 + side])
            self._longest[side] = max(self._longest[side], int(index[:, _COLUMNS[SIDES[side]][1]].max()))
        for handle, blob in zip(self._files, (blobs[0], blobs[1], index.tobytes(), blobs[2], blobs[3])):
            handle.write(blob)
        self.rows += n

    def _ids(self, side: int, ids: Sequence[Sequence[int]], index: np.ndarray) -> bytes:
        """One side's ids as bytes; fills the side's start and length columns of `index`."""
        start, length, _ = _COLUMNS[SIDES[side]]
        index[:, length] = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        index[:, start] = self._tokens[side] + np.cumsum(index[:, length]) - index[:, length]
        flat = (np.concatenate(ids).astype(np.int64) if len(ids) and isinstance(ids[0], np.ndarray)  # fast path
                else np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(index[:, length].sum())))
        if flat.size and (flat.min() < 0 or flat.max() > np.iinfo(self.dtype).max):
            raise ValueError(f"ShardWriter.add: an id is outside the range of {self.dtype}")
        return flat.astype(self.dtype).tobytes()

    def _text(self, side: int, lines: Sequence[str], index: np.ndarray) -> bytes:
        """One side's lines as '\\n'-terminated UTF-8; fills the side's text-offset column."""
        encoded = [line.encode("utf-8") + b"\n" for line in lines]
        block = b"".join(encoded)
        if block.count(b"\n") != len(encoded):
            raise ValueError("ShardWriter.add: a text line contains '\\n'")
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        index[:, _COLUMNS[SIDES[side]][2]] = self._text_bytes[side] + np.cumsum(sizes) - sizes
        return block

    def close(self) -> ShardInfo:
        """Write the final .npy headers, close the files; what the manifest records of the shard."""
        shapes = [(self._tokens[0],), (self._tokens[1],), (self.rows, len(INDEX_COLUMNS))]
        for handle, dtype, shape in zip(self._files, [self.dtype, self.dtype, np.dtype("<i8")], shapes):
            handle.seek(0)
            handle.write(npy_header(dtype, shape))
        for handle in self._files:
            handle.close()
        return ShardInfo(self.name, self.rows, self._tokens[0], self._tokens[1], *self._longest)

    def abort(self) -> None:
        """Close and delete the files (prepare failed); after close() too."""
        for handle, path in zip(self._files, self.paths):
            handle.close()
            path.unlink(missing_ok=True)


def damaged(path: Path, what: str) -> UserError:
    """The one-line error for a shard file that is not as prepare wrote it."""
    return UserError(f"{path}: damaged training shard ({what}); {REDO}")


def read_npy(path: Path) -> np.ndarray:
    """The array of a .npy file, memory-mapped read-only (an empty array is a plain one)."""
    try:
        with open(path, "rb") as handle:
            if np.lib.format.read_magic(handle) != (1, 0):
                raise ValueError("not npy format 1.0")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            offset = handle.tell()
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise damaged(path, "file missing") from None
    except Exception:  # numpy's header parsing raises ValueError, SyntaxError, tokenize.TokenError ...
        raise damaged(path, "not a .npy file, or its header is damaged") from None
    if fortran or dtype.hasobject:
        raise damaged(path, "not a plain C-order array")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise damaged(path, f"{size:,} bytes, the header says {expected:,}: truncated or grown")
    if expected == offset:
        return np.empty(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _map_text(path: Path) -> mmap.mmap | bytes:
    """A text file (checked to be one) mapped read-only; an empty one as b"", which mmap refuses."""
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(handle.fileno()).st_size else b""


def flat_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions start_i, start_i + 1, ..., start_i + length_i - 1 for every i, concatenated."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


class Shard:
    """One training shard, memory-mapped read-only (`Shard.open`); `close()` unmaps it."""

    def __init__(self, directory: Path, name: str, vocab_size: int | None, arrays: list[np.ndarray],
                 texts: list[mmap.mmap | bytes]) -> None:
        self.directory, self.name, self.vocab_size = Path(directory), name, vocab_size
        self.paths = [self.directory / f for f in shard_files(name)]
        (self.src, self.tgt, self.index), self._texts = arrays, texts
        self.rows = len(self.index)
        self._sizes: dict[str, Tensor] = {}

    @classmethod
    def open(cls, directory: Path, name: str, vocab_size: int | None = None) -> Shard:
        """Map shard `name` of `directory` after cheap checks (shapes, dtypes; the first, the last and
        SAMPLE_ROWS rows spread evenly, read with pread: nothing is paged in); damage: a UserError."""
        paths = [Path(directory) / f for f in shard_files(name)]
        arrays = [read_npy(path) for path in paths[:3]]
        from seq2seq.data.shard_checks import Preads, check, check_layout, sample  # they import this module
        check_layout(arrays, paths, vocab_size)
        reads: list[Preads] = []
        try:
            for path, array in itertools.zip_longest(paths, arrays):
                reads.append(Preads(path, array))
            check(reads[2], reads[:2], reads[3:], paths, vocab_size, sample(len(arrays[2])))
        finally:
            for read in reads:
                read.close()
        return cls(Path(directory), name, vocab_size, arrays, [_map_text(path) for path in paths[3:]])

    def verify(self) -> None:
        """Check every row, every id against the vocabulary and the text files' every line."""
        texts = [np.frombuffer(text, dtype=np.uint8) for text in self._texts]
        from seq2seq.data.shard_checks import check, check_lines
        check(self.index, [self._side("src"), self.tgt], texts, self.paths, self.vocab_size, None)
        for text, path in zip(self._texts, self.paths[3:]):
            check_lines(text, path, self.rows)

    def __len__(self) -> int:
        return self.rows

    def ids(self, side: str, rows: np.ndarray) -> list[np.ndarray]:
        """The piece ids (int64 copies) of `rows` on `side` ("src" or "tgt"), one gather."""
        start, length, _ = _COLUMNS[side]
        ids = self._side(side)
        picked = self.index[np.asarray(rows, dtype=np.int64)]
        lengths = picked[:, length]
        flat = ids[flat_positions(picked[:, start], lengths)].astype(np.int64)
        return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []

    def padded(self, side: str, rows: Tensor, width: int) -> Tensor:
        """(len(rows), width) int64: the ids of `rows` on `side`, right-padded with PAD_ID (cut at width);
        one fancy index over the map: position j of row r reads ids[start_r + j]."""
        import torch
        start, length, _ = _COLUMNS[side]
        ids = self._side(side)
        picked = self.index[rows.numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows, dtype=np.int64)]
        real = np.arange(width) < picked[:, length, None]
        if ids.size == 0:
            return torch.full((len(picked), width), PAD_ID, dtype=torch.int64)
        where = picked[:, start, None] + np.arange(width)
        where[~real] = 0  # any valid position; overwritten with PAD below
        out = ids[where].astype(np.int64)
        out[~real] = PAD_ID
        return torch.from_numpy(out)

    def text(self, row: int) -> tuple[str, str]:
        """The normalised source and target text of `row`."""
        self._side("src")  # not closed
        if not 0 <= row < self.rows:
            raise IndexError(f"row {row} of a shard of {self.rows} rows")
        lines, columns = [], [SRC_TEXT, TGT_TEXT]
        ends = self.index[row + 1, columns] if row + 1 < self.rows else [len(text) for text in self._texts]
        for begin, end, text, path in zip(self.index[row, columns].tolist(), ends, self._texts, self.paths[3:]):
            try:
                lines.append(text[begin:end - 1].decode("utf-8"))
            except UnicodeDecodeError:
                raise damaged(path, f"line {row + 1} is not valid UTF-8") from None
        return lines[0], lines[1]

    src_sizes = property(lambda self: self._sizes_of("src"), doc="(rows,) int64: source lengths + 1 (EOS)")
    tgt_sizes = property(lambda self: self._sizes_of("tgt"), doc="(rows,) int64: target lengths + 1 (EOS)")

    def _sizes_of(self, side: str) -> Tensor:
        """Lengths + 1 (EOS) of a side, as ParallelCorpus has them; computed once (reads the index)."""
        if side not in self._sizes:
            import torch
            self._sizes[side] = torch.from_numpy(np.asarray(self.index[:, _COLUMNS[side][1]], dtype=np.int64) + 1)
        return self._sizes[side]

    def release_pages(self) -> None:
        """Drop this process's resident pages of the maps and the cached lengths: the trainer's,
        once a shard is planned and its DataLoader workers read the rows (the pages come back from
        the page cache if touched again). A 1M-row shard's index alone is 64 MB of RSS."""
        self._sizes.clear()
        maps = [getattr(array, "_mmap", None) for array in (self.src, self.tgt, self.index)] + list(self._texts)
        for mapped in maps:
            if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
                mapped.madvise(mmap.MADV_DONTNEED)

    def _side(self, side: str) -> np.ndarray:
        if self.index is None:
            raise ValueError(f"shard {self.name} is closed")
        return self.src if side == "src" else self.tgt

    def close(self) -> None:
        """Drop the maps (and what was computed from them), so their pages leave the process's RSS."""
        # our references are the last ones (views made by verify() die with it): the maps go with them
        self.src = self.tgt = self.index = None  # type: ignore[assignment]
        self._texts = [b"", b""]
        self._sizes = {}

    def __reduce__(self) -> tuple:
        """Pickled (e.g. to a spawned DataLoader worker) as "open it again", never as a copy of the data."""
        return (Shard.open, (self.directory, self.name, self.vocab_size))
