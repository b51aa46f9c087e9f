"""Reading and writing the user's files: text lines, and atomic writes of files and directories.

Every file s2s writes goes through `atomic_write` (or `write_directory_atomically` for a whole
directory): the content is written to a temporary sibling and renamed into place, so a reader,
a crash or Ctrl-C never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from seq2seq.errors import UserError

_UMASK = os.umask(0)  # read the process umask (only settable together with reading it) ...
os.umask(_UMASK)  # ... and put it back


def read_lines(path: Path, what: str) -> list[str]:
    """A text file's lines, split on '\\n' only (a '\\r' or form feed inside stays in its line).

    `what` names the file in errors ("input file", "reference file", ...).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: {what} is a directory, expected a text file") from None
    text = data.decode("utf-8", errors="replace")
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_lines(path: Path, lines: list[str]) -> None:
    """Write lines (each followed by '\\n', UTF-8) atomically."""
    atomic_write(Path(path), lambda tmp: tmp.write_text("".join(f"{line}\n" for line in lines),
                                                        encoding="utf-8"))


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp_path)`, then rename over `path`, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); give it a normal file's mode
    try:
        write(Path(tmp_name))
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_directory_atomically(out_dir: Path, files: dict[str, bytes], what: str, fix: str) -> None:
    """Write `files` (name -> content) into a temporary sibling of out_dir, then rename it into place.

    An existing out_dir is replaced as a whole (moved aside, then deleted). Errors are one line
    naming `what` is being written and how to `fix` it.
    """
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot create {what} there ({exc.strerror or exc}); {fix}") from None
    try:
        for name, content in files.items():
            with open(tmp_dir / name, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        tmp_dir.chmod(0o777 & ~_UMASK)  # mkdtemp makes it 0700
        _replace_directory(tmp_dir, out_dir)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write {what} ({exc.strerror or exc})") from None
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)


def _replace_directory(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing target is moved aside first and restored on failure."""
    if not (target.exists() or target.is_symlink()):
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
