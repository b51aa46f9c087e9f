"""The run directory a training writes, and what it shows while it runs.

    runs/<name>/
        config.yaml           the resolved config (after --set overrides)
        spm.model             SentencePiece model (spm.src.model + spm.tgt.model when not joint)
        last.pt               full training state, written at every validation (and train.save_every)
        best.pt               the weights with the best dev BLEU so far (no optimizer state)
        step-<N>.pt           the weights at the last train.keep_last saves (for `s2s average`)
                              (best.pt and step-<N>.pt: the moving average with train.ema_decay)
        train.log             everything printed, with time stamps
        metrics.csv           step, epoch, train_loss, dev_loss, dev_bleu, dev_chrf, lr, tokens_per_s, elapsed_s
        training_curves.png   plotted from metrics.csv at the end
        .s2s-folder.json      the marker: an s2s run folder, and what made it (seq2seq.ownership)
        .s2s.lock             locked while a training writes here

Only the main process (rank 0) creates any of these.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from seq2seq.files import atomic_write
from seq2seq.config import Config
from seq2seq.data.tokenizer import spm_filenames
from seq2seq.errors import UserError
from seq2seq.ownership import RUN, RUN_FILES, check_folder, lock, read_prepared, write_marker  # noqa: F401

ARTIFACTS = RUN_FILES  # what --force deletes (with step-<N>.pt), nothing else
METRIC_COLUMNS = ("step", "epoch", "train_loss", "dev_loss", "dev_bleu", "dev_chrf", "lr",
                  "tokens_per_s", "elapsed_s")


def prepare_run_dir(run_dir: Path, config: Config, data_dir: Path, *, resume: bool, force: bool) -> None:
    """Make `run_dir` ready: locked, marked, config.yaml and the SentencePiece model(s) written,
    old runs refused.

    Only a new or empty folder or an s2s run folder is taken (seq2seq.ownership), never one that
    holds the prepared data. A folder that already holds a run is refused unless --resume
    (continue it) or --force (delete the files a run writes, nothing else, and start afresh).
    The lock is held until the process ends: a second training into it is refused.
    """
    if resume and force:
        raise UserError("--resume and --force contradict each other: --resume continues the run in "
                        f"{run_dir}, --force starts it afresh")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a run directory; choose another --run-dir")
    check_folder(run_dir, RUN, inputs=[data_dir], option="--run-dir")
    last = run_dir / "last.pt"
    if resume and not last.is_file():
        raise UserError(f"{run_dir}: nothing to resume (no last.pt); start without --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock(run_dir, "run folder")
    if not resume:  # looked at under the lock: another training may have saved meanwhile
        existing = [name for name in ARTIFACTS if (run_dir / name).exists()]
        existing += sorted(path.name for path in run_dir.glob("step-*.pt"))  # train.keep_last
        # Only trained weights are worth refusing for: a run stopped during start-up (config,
        # vocabulary, log, no checkpoint yet) simply starts again.
        trained = [name for name in existing if name.endswith(".pt")]
        if trained and not force:
            raise UserError(f"{run_dir} already holds a run; use --resume to continue it or --force to "
                            "start afresh")
        for name in existing:
            (run_dir / name).unlink()
    write_marker(run_dir, RUN, "s2s train", keep=resume)
    for stale in run_dir.glob(".*.pt.*.tmp"):  # left by a process killed while saving
        stale.unlink(missing_ok=True)
    atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(config.to_yaml(), encoding="utf-8"))
    for name in sorted(set(spm_filenames(config.data.joint_vocab))):
        source = data_dir / name
        if not source.is_file():
            raise UserError(f"{source}: SentencePiece model not found; run `s2s data prepare --config ...` first")
        atomic_write(run_dir / name, lambda tmp, source=source: shutil.copyfile(source, tmp))


class RunLog:
    """Messages to train.log (time-stamped) and stderr; a live progress bar unless quiet.

    `info` lines always go to both. `progress` lines (every train.log_every updates) go to the
    log, and to stderr only when there is no bar (--quiet, or stderr is not a terminal).
    Processes other than rank 0 stay silent.
    """

    def __init__(self, path: Path | None, *, quiet: bool, enabled: bool = True) -> None:
        self.enabled = enabled
        self.file = None
        if path is not None and enabled:
            self.file = open_own_for_append(path, encoding="utf-8")
        show_bar = enabled and not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=1000, file=sys.stderr, dynamic_ncols=True, leave=False,
                        bar_format="{percentage:3.0f}%|{bar:20}| {desc}") if show_bar else None

    def note(self, message: str) -> None:
        """To train.log only."""
        if self.file is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            for line in message.splitlines() or [""]:
                self.file.write(f"{stamp} {line}\n")
            self.file.flush()

    def info(self, message: str) -> None:
        if not self.enabled:
            return
        self.note(message)
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def progress(self, message: str) -> None:
        if not self.enabled:
            return
        self.note(message)
        if self.bar is None:
            print(message, file=sys.stderr, flush=True)

    def live(self, fraction: float, message: str) -> None:
        """Move the bar to `fraction` (0..1) of the active budget and show `message` beside it."""
        if self.bar is not None:
            self.bar.n = int(1000 * min(max(fraction, 0.0), 1.0))
            self.bar.set_description_str(message, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.file is not None:
            self.file.close()
            self.file = None


class MetricsCSV:
    """metrics.csv, one row per progress line and per validation; blank cells where n/a.

    On resume, rows after the checkpoint's step (written by the interrupted process after its
    last save) are dropped, so the file reads as if the run had never stopped.
    """

    def __init__(self, path: Path, *, resume_step: int | None) -> None:
        self.path = path
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.is_file() and not path.is_symlink():  # never read through a planted link
            with open(path, newline="", encoding="utf-8", errors="replace") as handle:
                rows = [r for r in csv.DictReader(handle) if _step(r) is not None and _step(r) <= resume_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in METRIC_COLUMNS} for r in rows)
        atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue(), encoding="utf-8"))
        self.handle = open_own_for_append(path, newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=METRIC_COLUMNS, lineterminator="\n")

    def write(self, **row: Any) -> None:
        self.writer.writerow({k: _cell(row.get(k)) for k in METRIC_COLUMNS})
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def open_own_for_append(path: Path, **text: Any) -> TextIO:
    """`path`, a file of the run folder, opened to append to it, never through a link planted there.

    A symbolic link (to another user's file, say, in a shared folder) is replaced by a new file
    of the run: its target is neither written nor read (copying it in could show a private file
    to whoever reads the run). A hard link (a `cp -al` backup of the run) becomes the run's own
    copy of what it held, so appending leaves the other name's file as it was."""
    if path.is_symlink():
        print(f"warning: {path} was a symbolic link (to {os.readlink(path)}); s2s writes only its own "
              "files in a run folder, so it now is a new file and what the link named is unchanged",
              file=sys.stderr)
        atomic_write(path, lambda tmp: tmp.write_bytes(b""))
    else:
        try:
            info = path.stat()
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            def copy(tmp: Path) -> None:
                shutil.copyfile(path, tmp)
                os.chmod(tmp, stat.S_IMODE(info.st_mode))  # no wider access than the shared file had
            atomic_write(path, copy)
    try:  # O_NOFOLLOW: a link planted since the check above is refused, not followed
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise UserError(f"{path}: cannot write it ({exc.strerror or exc}); it must be a plain file") from None
    return os.fdopen(fd, "a", **text)


def _step(row: dict[str, Any]) -> int | None:
    """The row's step, or None for a row that a crash or an editor damaged (it is dropped)."""
    try:
        return int(row.get("step") or "")
    except (TypeError, ValueError):
        return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def plot_curves(run_dir: Path, log: RunLog) -> None:
    """training_curves.png from metrics.csv; a plotting problem never fails a finished training."""
    try:
        from seq2seq.plots import plot_training_curves

        plot_training_curves(run_dir / "metrics.csv", run_dir / "training_curves.png")
    except Exception as exc:  # noqa: BLE001 - plotting is a convenience
        log.info(f"(training curves not plotted: {type(exc).__name__}: {exc})")


def copy_snapshot(run_dir: Path, minutes: float) -> Path:
    """best-at-<m>min.pt: a copy of best.pt as it stands after `minutes` of training (with a
    schedule that does not depend on the budget, what a run with train.max_minutes=<m> would leave)."""
    target = run_dir / f"best-at-{minutes:g}min.pt"
    atomic_write(target, lambda tmp: shutil.copyfile(run_dir / "best.pt", tmp))
    return target
