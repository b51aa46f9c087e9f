"""Reading a parallel corpus from disk, streamed: one TSV file with chosen columns, or two aligned files.

`iter_pairs(spec)` yields the corpus as (sources, targets) chunks of `chunk_size` pairs in corpus
order (no normalisation yet), one pair per input line, reading 1 MiB at a time: memory is bounded
by a chunk, whatever the corpus's size. `hash_input` gives what the manifest records of an input
file (sha256, bytes, lines), also in 1 MiB blocks. Every problem a user can fix is a one-line
`UserError` that names the file and, where it applies, the line and the config key:

    missing file, a folder instead of a file   -> "<path>: corpus file not found (data.path) ..."
    invalid UTF-8                              -> "<path>:<line>: not valid UTF-8 ..."
    a TSV line with too few columns            -> "<path>:<line>: expected at least N tab-separated columns ..."
    two aligned files of different lengths     -> "<src> has N lines but <tgt> has M ..."

Lines end at LF (as seq2seq.files.split_lines cuts them: U+2028, form feeds ... stay inside a
line); a CR before it (Windows files) and a UTF-8 byte-order mark are dropped. A completely empty
TSV line is read as an empty pair (the empty-pair filter counts and drops it) rather than refused,
since a stray blank line cannot shift columns or alignment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from seq2seq.config_corpora import CorpusSpec
from seq2seq.errors import UserError

BLOCK = 1 << 20  # bytes read at a time
BOM = b"\xef\xbb\xbf"


@dataclass
class InputFile:
    """One file the corpus was read from, as recorded in manifest.json."""

    role: str  # "corpus" (TSV), "src" or "tgt" (aligned files)
    path: str
    sha256: str
    bytes: int
    lines: int


def hash_input(path: Path, role: str, key: str) -> InputFile:
    """sha256, size and line count (as iter_pairs counts lines) of an input file, read in blocks."""
    digest, size, newlines, first, last = hashlib.sha256(), 0, 0, b"", b""
    with _open(path, key) as handle:
        for block in _blocks(handle, path):
            digest.update(block)
            first = first if len(first) >= len(BOM) else (first + block)[:len(BOM)]
            size, newlines, last = size + len(block), newlines + block.count(b"\n"), block[-1:]
    # a last line without '\n' counts, unless the file is only a byte-order mark
    unterminated = size > (len(BOM) if first == BOM else 0) and last != b"\n"
    return InputFile(role=role, path=str(path), sha256=digest.hexdigest(), bytes=size,
                     lines=newlines + unterminated)


def iter_pairs(spec: CorpusSpec, chunk_size: int = 20_000) -> Iterator[tuple[list[str], list[str]]]:
    """The pairs of corpus `spec` as (sources, targets) chunks of `chunk_size` (the last one
    shorter), in corpus order; src[i] and tgt[i] come from one input line (or aligned lines)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    if spec.format == "tsv":
        yield from _tsv_pairs(spec, chunk_size)
    else:
        yield from _aligned_pairs(spec, chunk_size)


def _tsv_pairs(spec: CorpusSpec, chunk_size: int) -> Iterator[tuple[list[str], list[str]]]:
    """Pairs from the 1-based columns src_column and tgt_column of a tab-separated file."""
    path, needed = Path(spec.path), max(spec.src_column, spec.tgt_column)
    src_at, tgt_at = spec.src_column - 1, spec.tgt_column - 1
    for first, lines in iter_line_chunks(path, spec.key("path"), chunk_size):
        src, tgt = [], []
        for number, line in enumerate(lines, start=first):
            if not line:
                src.append("")
                tgt.append("")
                continue
            columns = line.split("\t", needed)  # the columns after `needed` are never looked at
            if len(columns) < needed:
                raise UserError(
                    f"{path}:{number}: expected at least {needed} tab-separated columns "
                    f"({spec.key('src_column')}={spec.src_column}, {spec.key('tgt_column')}={spec.tgt_column}), "
                    f"found {len(columns)}: {_preview(line)}")
            src.append(columns[src_at])
            tgt.append(columns[tgt_at])
        yield src, tgt


def _aligned_pairs(spec: CorpusSpec, chunk_size: int) -> Iterator[tuple[list[str], list[str]]]:
    """Pairs from two line-aligned files: line i of one translates line i of the other."""
    src_path, tgt_path = Path(spec.src_path), Path(spec.tgt_path)
    src_chunks = iter_line_chunks(src_path, spec.key("src_path"), chunk_size)
    tgt_chunks = iter_line_chunks(tgt_path, spec.key("tgt_path"), chunk_size)
    counts = [0, 0]
    for (_, src), (_, tgt) in _zip_longest(src_chunks, tgt_chunks):
        counts[0] += len(src)
        counts[1] += len(tgt)
        if len(src) != len(tgt):  # both come in full chunks until one file ends: count the rest
            counts[0] += sum(len(lines) for _, lines in src_chunks)
            counts[1] += sum(len(lines) for _, lines in tgt_chunks)
            raise UserError(f"{src_path} has {counts[0]:,} lines but {tgt_path} has {counts[1]:,}; "
                            "the two files must be line-aligned (line i of one translates line i of "
                            "the other)")
        yield src, tgt


def _zip_longest(one: Iterator, other: Iterator) -> Iterator[tuple]:
    """Pairs of items of two iterators until both end; the one that ended gives (0, [])."""
    while True:
        a, b = next(one, None), next(other, None)
        if a is None and b is None:
            return
        yield a or (0, []), b or (0, [])


def iter_line_chunks(path: Path, key: str, chunk_size: int) -> Iterator[tuple[int, list[str]]]:
    """The lines of a UTF-8 file as split_lines cuts them (BOM dropped), in chunks of `chunk_size`,
    each with the 1-based number of its first line."""
    pending: list[str] = []
    first = 1  # number of pending[0]
    for lines in _iter_decoded_lines(path, key):
        pending.extend(lines)
        if len(pending) >= chunk_size:
            cut = len(pending) - len(pending) % chunk_size
            for at in range(0, cut, chunk_size):
                yield first + at, pending[at:at + chunk_size]
            first += cut
            pending = pending[cut:]
    if pending:
        yield first, pending


def _iter_decoded_lines(path: Path, key: str) -> Iterator[list[str]]:
    """The file's lines, a block's worth at a time. Blocks are cut after their last '\\n' (never
    inside a UTF-8 character, since 0x0a is no part of a multi-byte one); the rest waits for the
    next block."""
    tail: list[bytes] = []  # bytes after the last '\n' read so far
    line = 1  # number of the first line not yielded yet
    with _open(path, key) as handle:
        for block in _blocks(handle, path):
            end = block.rfind(b"\n") + 1
            if not end:
                tail.append(block)
                continue
            complete = b"".join([*tail, block[:end]])
            tail = [block[end:]] if end < len(block) else []
            lines = _decode(complete, path, line, line == 1).split("\n")
            lines.pop()  # after the final '\n'
            line += len(lines)
            yield [text.removesuffix("\r") for text in lines]
    rest = _decode(b"".join(tail), path, line, line == 1)
    if rest:  # a last line without '\n'
        yield [rest.removesuffix("\r")]


def _decode(data: bytes, path: Path, line: int, at_start: bool) -> str:
    """UTF-8 text of `data`, whose first line is number `line`; invalid bytes are a UserError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(f"{path}:{bad_line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte "
                        f"{column} of the line); convert the file to UTF-8, e.g. with iconv") from None
    return text.removeprefix("\ufeff") if at_start else text


def _open(path: Path, key: str) -> BinaryIO:
    """`path` opened for reading, or a one-line error naming the config key."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "corpus file not found"
        raise UserError(f"{path}: {what} ({key}; relative paths are taken from the current "
                        f"directory, {Path.cwd()})")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the corpus file ({exc.strerror})") from None


def _blocks(handle: BinaryIO, path: Path) -> Iterator[bytes]:
    """The file's bytes, BLOCK at a time."""
    while True:
        try:
            block = handle.read(BLOCK)
        except OSError as exc:
            raise UserError(f"{path}: cannot read the corpus file ({exc.strerror})") from None
        if not block:
            return
        yield block


def _preview(line: str, width: int = 60) -> str:
    return repr(line if len(line) <= width else line[:width] + "...")
