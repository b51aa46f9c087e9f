"""Reading and writing the user's files: text lines, YAML, and atomic writes of files and directories.

Every file s2s writes goes through `atomic_write` (or `write_directory_atomically` for a whole
directory): the content is written to a temporary sibling and renamed into place, so a reader,
a crash or Ctrl-C never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import yaml

from seq2seq.errors import UserError

_UMASK = os.umask(0)  # read the process umask (only settable together with reading it) ...
os.umask(_UMASK)  # ... and put it back


def split_lines(text: str) -> list[str]:
    """`text` cut into lines as s2s reads every text file: at '\\n' only (a final one ends the
    last line), a '\\r' before it dropped. str.splitlines() would also cut at U+2028, U+0085,
    form feeds ..., giving one file more lines than the file it is aligned with."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file as `split_lines` cuts them, read one at a time (bounded memory)."""
    with open(path, encoding="utf-8", newline="\n") as handle:  # newline="\n": no other line end
        for line in handle:
            yield line.removesuffix("\n").removesuffix("\r")


def read_lines(path: Path, what: str) -> list[str]:
    """A text file's lines, split on '\\n' only (a '\\r' or form feed inside stays in its line).

    `what` names the file in errors ("input file", "reference file", ...). Anything readable
    that is not a directory will do: /dev/stdin, a pipe (`<(cmd)`), /dev/null. Bytes that are
    not UTF-8 become U+FFFD, with one warning naming the first such line.
    """
    if path.is_dir():
        raise UserError(f"{path}: {what} is a directory, expected a text file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    return split_lines(decode_utf8(data, f"{path} line {{line}}"))


def decode_utf8(data: bytes, where: str, first_line: int = 1) -> str:
    """UTF-8 text of `data`; invalid bytes become U+FFFD with a warning on stderr naming the
    first bad line (`where` holds '{line}'; `first_line` is the number of data's first line)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data[:exc.start].count(b"\n")
        print(f"warning: {where.format(line=line)} is not valid UTF-8; its undecodable bytes were "
              "replaced by U+FFFD (convert the file to UTF-8 for a faithful translation)",
              file=sys.stderr)
        return data.decode("utf-8", errors="replace")


def write_lines(path: Path, lines: list[str]) -> None:
    """Write lines (each followed by '\\n', UTF-8) atomically to a user's output file (see atomic_write)."""
    atomic_write(Path(path), lambda tmp: tmp.write_text("".join(f"{line}\n" for line in lines),
                                                        encoding="utf-8"), output=True)


def atomic_write(path: Path, write: Callable[[Path], object], *, output: bool = False) -> None:
    """Call `write(tmp_path)`, then rename over `path`, so readers never see half a file.

    output: `path` is a file the user named (-o, a plot), not one of an s2s folder's: a symlink's
    target is written (the link kept), and /dev/stdout, /dev/null or a FIFO are written through
    (renaming over them would destroy them). Inside s2s's folders a planted link is replaced,
    never followed. An operating-system error (a full disk, a directory in the way, no
    permission) leaves `path` as it was and is a one-line UserError naming it.
    """
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name to write to")
    if output and is_special(path):
        try:
            write(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot write it ({exc.strerror or exc})") from None
        return
    if output:
        path = _link_target(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); give it a normal file's mode
        write(Path(tmp_name))
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        raise UserError(f"{path}: cannot write it ({exc.strerror or exc}); nothing there was changed") from None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def is_special(path: Path) -> bool:
    """A path to write through rather than replace: an existing device, FIFO or socket, or a
    name of an open descriptor (/dev/stdout, /proc/self/fd/1, whatever it points to). Renaming a
    file over one would destroy it (as root: /dev/null, /dev/stdout for everyone)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return True
    link = os.readlink(path) if os.path.islink(path) else ""
    return os.path.abspath(path).startswith(("/dev/", "/proc/")) or link.startswith(("/dev/", "/proc/"))


def _link_target(path: Path) -> Path:
    """Where a write to `path` lands: a symlink's target (written, the link kept), else `path`."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def check_output(path: Path, inputs: Sequence[Path] = (), what: str = "output", *,
                 others: Sequence[Path] = (), checkpoint_output: bool = False) -> None:
    """Refuse, before any work, an output path that would destroy an input or cannot be written.

    inputs: files the same command reads (writing over one would replace what it reads).
    others: the command's other outputs (two outputs on one path: one of them is lost).
    A file of an s2s run, prepared-data or export folder, and a checkpoint, tokenizer or config
    anywhere, is never replaced (see seq2seq.ownership.protected; checkpoint_output: `average`).
    """
    from seq2seq.ownership import protected

    for source in inputs:
        if _same_file(path, source):
            raise UserError(f"{path}: the {what} would replace an input file of this command; "
                            "write it somewhere else")
    for other in others:
        if _same_file(path, other):
            raise UserError(f"{path}: the {what} and another output of this command would be written to "
                            "the same file; give them different names")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name for the {what}")
    if is_special(path):  # written through (atomic_write): it must be writable, nothing else
        if not os.access(path, os.W_OK):
            raise UserError(f"{path}: cannot write the {what} there (no permission)")
        return
    target = _link_target(path)  # what atomic_write replaces
    reason = protected(target, checkpoint_output=checkpoint_output)
    if reason:
        raise UserError(f"{path}: s2s does not write the {what} over it ({reason}); write it somewhere else")
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # atomic_write makes the missing directories
    if not existing.is_dir():
        raise UserError(f"{path}: cannot write the {what} there ({existing} is not a directory)")
    try:  # a probe, so a read-only place fails now, not after a long translation
        fd, probe = tempfile.mkstemp(prefix=".s2s-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the {what} there ({exc.strerror or exc})") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


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
        replace_directory(tmp_dir, out_dir)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write {what} ({exc.strerror or exc})") from None
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)


def replace_directory(new: Path, target: Path) -> None:
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


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a one-line UserError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error: "
        raise UserError(f"{path}{line}: {kind}{problem}") from None
