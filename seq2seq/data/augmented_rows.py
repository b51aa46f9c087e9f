"""The rows of a shard that an epoch's augmentation changes (entities, joins), with their new piece ids,
made before the shard's batches are planned -- in parallel, or in the background ahead of need.

Why before planning: batches are cut by length (train.batch_tokens, rows of a batch sorted by
length). Augmentation changes ~10 % of the rows' lengths (a name becomes a 2-piece symbol, a
longer name, a date in other words), and one longer row pads its whole batch: planned on the
prepared lengths, Tatoeba's padded batches were ~45 % larger than planned. Planned on these
lengths, the batches are exactly as planned.

`AugmentedRows` is a pure function of (train.seed, epoch, shard): `BatchMaker.augmented_rows`
makes it for a range of rows, `augment_shard` for a whole shard in `processes` forked processes
(the trainer waits: the first shard of a run), `AugmentAhead` in one forked process while the
trainer trains on the shard before it. Memory: the new ids of the changed rows only, in the
shard's id type (uint16 up to 65,536 pieces).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from seq2seq.errors import UserError


@dataclass
class AugmentedRows:
    """Changed rows (sorted) and their ids: row rows[k] has src[src_bounds[k]:src_bounds[k + 1]]."""

    rows: np.ndarray  # (k,) int64
    src: np.ndarray  # flat piece ids, no EOS
    src_bounds: np.ndarray  # (k + 1,) int64
    tgt: np.ndarray
    tgt_bounds: np.ndarray

    @classmethod
    def join(cls, parts: Sequence[AugmentedRows]) -> AugmentedRows:
        """Parts over consecutive, disjoint row ranges, as one."""
        def bounds(name: str) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            offsets = np.cumsum([0] + [int(a[-1]) for a in arrays[:-1]])
            return np.concatenate([arrays[0][:1]] + [a[1:] + o for a, o in zip(arrays, offsets)])
        return cls(np.concatenate([p.rows for p in parts]), np.concatenate([p.src for p in parts]),
                   bounds("src_bounds"), np.concatenate([p.tgt for p in parts]), bounds("tgt_bounds"))

    def __len__(self) -> int:
        return len(self.rows)

    def sizes(self, src_sizes: np.ndarray, tgt_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A shard's (source, target) lengths + 1 (EOS) with the changed rows' new lengths."""
        src_sizes, tgt_sizes = src_sizes.copy(), tgt_sizes.copy()
        src_sizes[self.rows] = np.diff(self.src_bounds) + 1
        tgt_sizes[self.rows] = np.diff(self.tgt_bounds) + 1
        return src_sizes, tgt_sizes

    def ids_at(self, rows: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{position in `rows`: (source ids, target ids)} of the changed rows among `rows`."""
        if not len(self.rows):
            return {}
        at = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
        found = {}
        for i in np.flatnonzero(self.rows[at] == rows).tolist():
            k = int(at[i])
            found[i] = (self.src[self.src_bounds[k]:self.src_bounds[k + 1]],
                        self.tgt[self.tgt_bounds[k]:self.tgt_bounds[k + 1]])
        return found


class AugmentedRowsBuilder:
    """Collects changed rows (in increasing order) in compact arrays: a 1M-row shard's ~300,000
    changed rows held as Python lists of ids took ~500 MB more."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}[self.dtype.itemsize]
        self.rows, self.src, self.tgt = array("q"), array(code), array(code)
        self.src_lengths, self.tgt_lengths = array("q"), array("q")

    def add(self, row: int, src: Sequence[int], tgt: Sequence[int]) -> None:
        self.rows.append(row)
        self.src.extend(src)
        self.tgt.extend(tgt)
        self.src_lengths.append(len(src))
        self.tgt_lengths.append(len(tgt))

    def build(self) -> AugmentedRows:
        def bounds(lengths: array) -> np.ndarray:
            out = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=out[1:])
            return out
        rows = np.frombuffer(self.rows, dtype=np.int64).copy()
        assert np.all(np.diff(rows) > 0), "rows must come in increasing order"
        return AugmentedRows(rows, np.frombuffer(self.src, dtype=self.dtype).copy(), bounds(self.src_lengths),
                             np.frombuffer(self.tgt, dtype=self.dtype).copy(), bounds(self.tgt_lengths))


Augmenter = Callable[[int, int], AugmentedRows]  # rows lo .. hi - 1 of one shard in one epoch


def _ranges(rows: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, rows, max(1, min(parts, rows)) + 1).astype(np.int64).tolist()
    return list(zip(edges[:-1], edges[1:]))


def _child(augment: Augmenter, lo: int, hi: int, pipe: Connection) -> None:
    """A forked process: augment rows lo .. hi - 1, send the result (or the one-line error) back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and SIGTERM are the trainer's to handle
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        result: object = augment(lo, hi)
    except UserError as exc:
        result = UserError(str(exc))
    except BaseException:  # noqa: BLE001 -- a bug: the trainer shows where
        result = RuntimeError(traceback.format_exc())
    try:
        pipe.send(result)
    except (BrokenPipeError, OSError):
        pass  # the trainer stopped waiting


class AugmentAhead:
    """The augmented rows of one shard in one epoch, made by forked processes over row ranges."""

    def __init__(self, augment: Augmenter, rows: int, processes: int) -> None:
        context = multiprocessing.get_context("fork")
        self.jobs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        for lo, hi in _ranges(rows, processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(augment, lo, hi, sender), daemon=True)
            process.start()
            sender.close()
            self.jobs.append((process, receiver))

    def result(self) -> AugmentedRows:
        """Wait for every range; a damaged shard is its one-line UserError."""
        parts = []
        try:
            for process, receiver in self.jobs:
                try:
                    part = receiver.recv()
                except EOFError:
                    process.join(5)
                    raise RuntimeError(f"the augmentation process {process.pid} ended without a result "
                                       f"(exit code {process.exitcode})") from None
                if isinstance(part, BaseException):
                    raise part
                parts.append(part)
        finally:
            self.cancel()
        return AugmentedRows.join(parts)

    def cancel(self) -> None:
        """Stop the processes still running (a run that ends before it needs them)."""
        for process, receiver in self.jobs:
            receiver.close()
            if process.is_alive():
                process.kill()
            process.join()
        self.jobs = []


def augment_shard(augment: Augmenter, rows: int, processes: int, min_rows: int = 10_000) -> AugmentedRows:
    """All rows of a shard, now: in `processes` forked processes, or in this one with 1 (or with
    fewer than `min_rows` rows, where starting processes costs more than it saves)."""
    if processes <= 1 or rows < min_rows:
        return augment(0, rows)
    return AugmentAhead(augment, rows, processes).result()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
