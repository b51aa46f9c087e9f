"""Which folders and files are s2s's own, and the lock on a folder being written.

s2s writes three kinds of folder: a run (`s2s train`), a prepared corpus (`s2s data prepare`)
and an export (`s2s export`). Each holds a marker, `.s2s-folder.json`, that says its kind and
what made it. Folders of earlier releases (no marker) are known by their contents. A fourth
marker, `download`, lists the corpus files `s2s data download` put in a folder. The rule:

- a command writes a folder of its kind only where there is nothing, an empty folder, or an
  s2s folder of that same kind, never a folder that holds one of its inputs (`check_folder`);
- a single-file output (`-o`, a plot) never replaces a file of an s2s folder (checkpoint,
  tokenizer, config, corpus, log, a downloaded corpus), nor a checkpoint, tokenizer or config
  anywhere (`protected`);
- a run or prepared folder being written carries an OS lock (`.s2s.lock`, `fcntl.flock`, let go
  when the process ends however it ends): a second writer is refused with the holder's pid; a
  training (and `eval --split`) holds a shared (reader's) lock on the prepared folder it reads,
  so `data prepare` cannot replace it meanwhile, while other readers may read it too.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import fnmatch
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Sequence

from seq2seq import __version__
from seq2seq.errors import UserError

RUN, PREPARED, EXPORT, DOWNLOAD = "run", "prepared", "export", "download"
MARKER = ".s2s-folder.json"
LOCK = ".s2s.lock"
BOOKKEEPING = (MARKER, LOCK)
DESCRIPTION = {RUN: "an s2s run folder", PREPARED: "an s2s prepared-data folder", EXPORT: "an s2s export folder",
               DOWNLOAD: "a corpus folder of s2s data download", None: "a folder s2s did not make"}
RUN_FILES = ("last.pt", "best.pt", "train.log", "metrics.csv", "config.yaml", "training_curves.png",
             "spm.model", "spm.src.model", "spm.tgt.model")
EVENT_FILES = "events.out.tfevents.*"  # TensorBoard's, in a run folder (training/tensorboard.py)
PREPARED_FILES = tuple(f"{split}.{side}" for split in ("train", "dev", "test") for side in ("src", "tgt")) + (
    "manifest.json", "spm.model", "spm.src.model", "spm.tgt.model", "train.known-words.txt")
# the training shards (seq2seq/data/shards.py): train.00000.src, train.00000.src.npy, train.00000.index.npy ...
SHARD_FILE = re.compile(r"train\.\d{5}\.(src|tgt|src\.npy|tgt\.npy|index\.npy)")
EXPORT_FILES = ("model.bin", "config.json", "vocabulary.json", "shared_vocabulary.json", "source_vocabulary.json",
                "target_vocabulary.json", "shared_vocabulary.txt", "source_vocabulary.txt", "target_vocabulary.txt",
                "spm.src.model", "spm.tgt.model", "s2s_export.json", "README.md")
# What an -o never replaces, wherever it lies: checkpoints, SentencePiece models, configs.
PROTECTED_SUFFIXES = (".pt", ".pth", ".ckpt", ".model", ".yaml", ".yml")

_held: dict[str, int] = {}  # lock file -> open descriptor, kept until the process ends (or release)
_shared: set[str] = set()  # the lock files of _held locked as a reader (shared)


def folder_kind(folder: Path) -> str | None:
    """RUN, PREPARED or EXPORT for an s2s folder (by its marker, or an earlier release's by its
    contents: config.yaml with last.pt, best.pt or train.log; manifest.json; s2s_export.json)."""
    if not folder.is_dir():
        return None
    try:
        kind = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("kind")
        if kind in (RUN, PREPARED, EXPORT, DOWNLOAD):
            return kind
    except (OSError, ValueError, AttributeError):
        pass  # no marker, or a damaged one: judge by the contents
    if (folder / "s2s_export.json").is_file():
        return EXPORT
    if (folder / "manifest.json").is_file():
        return PREPARED
    if (folder / "config.yaml").is_file() and any((folder / n).is_file() for n in ("last.pt", "best.pt", "train.log")):
        return RUN
    return None


def is_empty(folder: Path) -> bool:
    """No entries but s2s's bookkeeping (a marker or lock left by a start that stopped early)."""
    return all(entry.name in BOOKKEEPING for entry in folder.iterdir())


def owns(kind: str, name: str) -> bool:
    """Whether `name` in an s2s folder of `kind` is one of that folder's own files."""
    if name in BOOKKEEPING:
        return True
    if kind == RUN:
        return (name in RUN_FILES or (name.endswith(".pt") and name.startswith(("step-", "best-at-")))
                or fnmatch.fnmatchcase(name, EVENT_FILES))
    if kind == PREPARED:
        return name in PREPARED_FILES or SHARD_FILE.fullmatch(name) is not None
    if kind == DOWNLOAD:
        return False  # which files a download put there its marker says (downloaded)
    return name in EXPORT_FILES


def check_folder(folder: Path, kind: str, *, inputs: Sequence[Path] = (), option: str = "-o") -> str | None:
    """Refuse, before any work, to write a folder of `kind` at `folder` unless it is new, empty or
    s2s's own folder of that kind, and never one that holds an input of the command (it would be
    replaced or deleted). Returns the kind found there (None: nothing there yet)."""
    where = folder.resolve()  # judged where it lands: through symlinks, `missing/..` included
    if where.exists() and not where.is_dir():
        raise UserError(f"{folder}: is a file, not {DESCRIPTION[kind]}; choose another {option}")
    for source in inputs:
        source = Path(source).resolve()
        if source == where or where in source.parents:
            raise UserError(f"{folder}: holds {source}, which this command reads; writing {DESCRIPTION[kind]} "
                            f"there would replace it: choose another {option}")
    if not where.exists():
        above = next(parent for parent in where.parents if parent.exists())
        if not above.is_dir():
            raise UserError(f"{folder}: cannot be made there ({above} is a file); choose another {option}")
        return None
    if is_empty(where):
        return None
    found = folder_kind(where)
    if found != kind:
        raise UserError(f"{folder}: is {DESCRIPTION[found]}, not {DESCRIPTION[kind]}; s2s writes one only into a "
                        f"new or empty folder or one of its own (--force included): choose another {option}")
    return found


def check_replaceable(folder: Path, kind: str) -> None:
    """Refuse to replace an s2s folder as a whole (a prepared corpus, an export) while it holds
    files s2s did not write there: they would go with it."""
    if not folder.is_dir():
        return
    strays = sorted(entry.name for entry in folder.iterdir() if not owns(kind, entry.name)
                    and not (entry.name.startswith("bleu_by_length.") and entry.name.endswith(".png")))
    if strays:
        more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
        raise UserError(f"{folder}: holds {strays[0]}{more}, which s2s did not write there; replacing "
                        f"{DESCRIPTION[kind]} replaces all of it: move that out first")


def protected(path: Path, *, checkpoint_output: bool = False) -> str | None:
    """Why a single-file output at `path` would destroy something s2s or the user keeps, or None.

    checkpoint_output: the output is itself a checkpoint (`s2s average`), so a .pt file outside
    s2s's folders may be replaced (its caller asked for --force)."""
    parent = path.parent.resolve()  # where it lands: through symlinks, `missing/..` included
    kind = folder_kind(parent)
    if kind is not None and (owns(kind, path.name) or (kind == DOWNLOAD and path.name in downloaded(parent))):
        return f"{path.name} belongs to {DESCRIPTION[kind]} ({parent})"
    suffix = path.suffix.lower()
    if (parent / path.name).is_file() and suffix in PROTECTED_SUFFIXES and not (checkpoint_output and suffix == ".pt"):
        return f"{path} is a checkpoint, tokenizer or config file ({suffix})"
    return None


def marker_bytes(kind: str, command: str, **more: object) -> bytes:
    """The marker's content: the folder's kind and what made it (command, s2s version, time)."""
    made = {"command": command, "argv": sys.argv[1:], "s2s_version": __version__,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return (json.dumps({"kind": kind, "made_by": made, **more}, indent=2) + "\n").encode("utf-8")


def downloaded(folder: Path) -> list[str]:
    """The corpus files `s2s data download` put in `folder` (its marker's list; none elsewhere)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        files = marker.get("files", []) if marker.get("kind") == DOWNLOAD else []
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in files if isinstance(name, str)] if isinstance(files, list) else []


def mark_download(folder: Path, names: Sequence[str]) -> None:
    """Add `names` to the corpus files `folder`'s marker lists, so no output replaces them
    (`protected`). A folder of another kind (a --dest inside a run, say) keeps its own marker."""
    from seq2seq.files import atomic_write

    if folder_kind(folder) not in (None, DOWNLOAD):
        return
    content = marker_bytes(DOWNLOAD, "s2s data download", files=sorted({*downloaded(folder), *names}))
    try:
        atomic_write(folder / MARKER, lambda tmp: tmp.write_bytes(content))
    except UserError:
        pass  # a read-only folder (a shared copy, verified in place): no output can replace its files either


def write_marker(folder: Path, kind: str, command: str, *, keep: bool = False) -> None:
    """Write the marker into `folder` (keep=True: only where there is none, e.g. on --resume)."""
    from seq2seq.files import atomic_write

    if keep and (folder / MARKER).is_file():
        return
    content = marker_bytes(kind, command)
    atomic_write(folder / MARKER, lambda tmp: tmp.write_bytes(content))


class FolderBusy(UserError):
    """The lock on a folder is held by another process: `readers` when only readers hold it
    (a training reading a prepared folder), else a writer."""

    def __init__(self, message: str, readers: bool) -> None:
        super().__init__(message)
        self.readers = readers


def lock(folder: Path, what: str, *, shared: bool = False) -> None:
    """Hold the OS lock on `folder` (which exists) until `release` or the end of the process.

    shared=False, a writer: a second writer, or a reader, in this or another terminal, is
    refused with one line naming the holder's pid (FolderBusy). shared=True, a reader (a training
    reading its prepared data): any number of readers together, but no writer meanwhile. Taking a
    lock this process already holds is a no-op, so one process may open its folder twice.
    """
    path = folder / LOCK
    key = str(path.resolve())
    if key in _held:
        try:
            if os.fstat(_held[key]).st_ino == os.stat(path).st_ino and (shared or key not in _shared):
                return
        except OSError:
            pass
        release(folder)  # the folder was replaced since (or a reader now writes): lock it afresh
    fd = _open_lock_file(folder, path, what)
    if fd is None:
        return  # a read-only folder: nothing is written there (a write says so), so no lock is needed
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as exc:
        _refuse(folder, what, fd, exc, shared)
        return  # a file system without locks (said unless shared)
    try:  # for the message a second writer gets (another user's lock file may be read-only to us)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass
    _held[key] = fd
    if shared:
        _shared.add(key)


def read_prepared(data_dir: Path) -> Path:
    """`data_dir`, locked as a reader until the process ends: `s2s data prepare --force` cannot
    replace it while a training or `eval --split` reads it; other readers may read it too."""
    if folder_kind(data_dir) == PREPARED:  # not prepared: the command fails at once, leaving nothing there
        lock(data_dir, "prepared-data folder", shared=True)
    return data_dir


def _refuse(folder: Path, what: str, fd: int, exc: OSError, shared: bool) -> None:
    """The one line for a lock not taken (FolderBusy names the holder's pid); fd is closed.
    Returns only for a file system that takes no locks."""
    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # e.g. some network file systems
        os.close(fd)
        if not shared:  # a reader's lock is only there to keep writers out: they warn themselves
            print(f"warning: {folder}: this file system takes no locks, so nothing stops a second s2s process "
                  f"from writing this {what} at the same time", file=sys.stderr)
        return
    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
        os.close(fd)
        raise UserError(f"{folder}: cannot lock the {what} ({exc.strerror or exc})") from None
    readers = False
    if not shared:  # held by readers only if a reader's lock can be had: then say they read it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            readers = True
        except OSError:
            pass
    holder = _holder(fd)
    os.close(fd)
    if readers:
        who = f"s2s processes (pids {holder}) are" if "," in holder else f"an s2s process (pid {holder}) is"
        raise FolderBusy(f"{folder}: {who} reading this {what} (a training, or eval --split); replacing it now "
                         "would change the data under them: wait for them to end or choose another folder", True)
    raise FolderBusy(f"{folder}: another s2s process (pid {holder}) is writing this {what}; wait for it "
                     f"to end or choose another folder", False)


def _holder(fd: int) -> str:
    """The pid(s) holding the lock on `fd`'s file: from /proc/locks (Linux), else the pid the
    last holder wrote into the file."""
    info = os.fstat(fd)
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            pids = [fields[4] for fields in map(str.split, table)
                    if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device and fields[4] != "0"]
    except OSError:
        pids = []
    if pids:
        return ", ".join(sorted(set(pids), key=int))
    return os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"


def _open_lock_file(folder: Path, path: Path, what: str) -> int | None:
    """A descriptor of the lock file (made if missing; flock needs no write access), or None in a
    folder this process cannot write. A symbolic link planted there is replaced, never followed
    (the pid written into the lock would overwrite what it names)."""
    if path.is_symlink():
        with contextlib.suppress(OSError):  # a read-only folder: O_NOFOLLOW below still refuses to follow it
            path.unlink()
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ELOOP):
                raise UserError(f"{folder}: cannot write the {what} ({exc.strerror or exc})") from None
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device planted there
            os.close(fd)
            raise UserError(f"{path}: is not a plain file, so s2s cannot lock the {what} with it; remove it")
        return fd
    return None


def release(folder: Path) -> None:
    """Let go of `folder`'s lock (closing the descriptor ends the flock)."""
    key = str((folder / LOCK).resolve())
    _shared.discard(key)
    fd = _held.pop(key, None)
    if fd is not None:
        os.close(fd)
