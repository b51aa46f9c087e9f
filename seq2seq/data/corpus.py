"""Reading a parallel corpus from disk: one TSV file with chosen columns, or two aligned files.

Both forms give the same thing back, a `RawCorpus`: the source and target sentences as read
(no normalisation yet), one pair per input line, plus what was read (paths, sizes, sha256) for
the manifest. Every problem a user can fix is a one-line `UserError` that names the file and,
where it applies, the line:

    missing file, a folder instead of a file   -> "<path>: corpus file not found (data.path) ..."
    invalid UTF-8                              -> "<path>:<line>: not valid UTF-8 ..."
    a TSV line with too few columns            -> "<path>:<line>: expected at least N tab-separated columns ..."
    two aligned files of different lengths     -> "<src> has N lines but <tgt> has M ..."

Lines end at LF; a CR before it (Windows files) and a UTF-8 byte-order mark are dropped. A
completely empty TSV line is read as an empty pair (the empty-pair filter counts and drops it)
rather than refused, since a stray blank line cannot shift columns or alignment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from seq2seq.config import DataConfig
from seq2seq.errors import UserError
from seq2seq.files import split_lines


@dataclass
class InputFile:
    """One file the corpus was read from, as recorded in manifest.json."""

    role: str  # "corpus" (TSV), "src" or "tgt" (aligned files)
    path: str
    sha256: str
    bytes: int
    lines: int


@dataclass
class RawCorpus:
    """Sentence pairs as read: src[i] and tgt[i] come from input line i + 1."""

    src: list[str]
    tgt: list[str]
    inputs: list[InputFile] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.src)


def read_corpus(data: DataConfig) -> RawCorpus:
    """Read the corpus that `data` describes (data.format tsv or parallel)."""
    if data.format == "tsv":
        return read_tsv(Path(data.path), data.src_column, data.tgt_column)
    return read_aligned(Path(data.src_path), Path(data.tgt_path))


def read_tsv(path: Path, src_column: int, tgt_column: int) -> RawCorpus:
    """Pairs from the 1-based columns `src_column` and `tgt_column` of a tab-separated file."""
    lines, info = _read_lines(path, "corpus", "data.path")
    needed = max(src_column, tgt_column)
    src, tgt = [], []
    for number, line in enumerate(lines, start=1):
        if not line:
            src.append("")
            tgt.append("")
            continue
        columns = line.split("\t")
        if len(columns) < needed:
            raise UserError(
                f"{path}:{number}: expected at least {needed} tab-separated columns "
                f"(data.src_column={src_column}, data.tgt_column={tgt_column}), found {len(columns)}: "
                f"{_preview(line)}")
        src.append(columns[src_column - 1])
        tgt.append(columns[tgt_column - 1])
    return RawCorpus(src, tgt, [info])


def read_aligned(src_path: Path, tgt_path: Path) -> RawCorpus:
    """Pairs from two line-aligned files: line i of one translates line i of the other."""
    src, src_info = _read_lines(src_path, "src", "data.src_path")
    tgt, tgt_info = _read_lines(tgt_path, "tgt", "data.tgt_path")
    if len(src) != len(tgt):
        raise UserError(f"{src_path} has {len(src):,} lines but {tgt_path} has {len(tgt):,}; "
                        "the two files must be line-aligned (line i of one translates line i of "
                        "the other)")
    return RawCorpus(src, tgt, [src_info, tgt_info])


def _read_lines(path: Path, role: str, key: str) -> tuple[list[str], InputFile]:
    """All lines of a UTF-8 text file (without line ends) and its InputFile record."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "corpus file not found"
        raise UserError(f"{path}: {what} ({key}; relative paths are taken from the current "
                        f"directory, {Path.cwd()})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the corpus file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                        f"{column} of the line); convert the file to UTF-8, e.g. with iconv") from None
    # at LF only, as every text file (prepared splits too): str.splitlines() would also split on
    # U+2028, U+0085, form feeds ..., which would silently break the alignment of two files
    lines = split_lines(text.removeprefix("\ufeff"))
    info = InputFile(role=role, path=str(path), sha256=hashlib.sha256(raw).hexdigest(),
                     bytes=len(raw), lines=len(lines))
    return lines, info


def _preview(line: str, width: int = 60) -> str:
    return repr(line if len(line) <= width else line[:width] + "...")
