"""`s2s average`: one checkpoint whose weights are the mean of several of one run's checkpoints.

Averaging the last checkpoints of a run (kept with `train.keep_last`) smooths the update-to-
update swings of the weights; the result is an ordinary checkpoint that every command takes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from seq2seq.checkpoint import average_checkpoints, save_checkpoint, step_checkpoints
from seq2seq.errors import UserError
from seq2seq.files import check_output
from seq2seq.ownership import EXPORT, folder_kind


def average_command(*, sources: list[Path], last: int | None, output: Path | None, force: bool) -> None:
    """Average the checkpoint files given, or a run directory's last `last` step-<N>.pt files."""
    if not sources:
        raise UserError("give a run directory (its step-<N>.pt files) or the checkpoint files to average")
    if len(sources) == 1 and sources[0].is_dir():
        run_dir = sources[0]
        paths = step_checkpoints(run_dir)
        if not paths and folder_kind(run_dir) == EXPORT:
            raise UserError(f"{run_dir}: a CTranslate2 export (s2s export), not a run: give the run directory "
                            "it was exported from")
        if not paths:
            raise UserError(f"{run_dir}: no step-<N>.pt checkpoints to average; train with "
                            "--set train.keep_last=5 (or name the checkpoint files)")
        paths = paths[-last:] if last else paths
        output = output or run_dir / "averaged.pt"
    else:
        if last is not None:
            raise UserError("--last goes with a run directory; with files, name the ones to average")
        paths = sources
        if output is None:
            raise UserError("give --output FILE.pt for the averaged checkpoint")
    if len(paths) < 2:
        raise UserError(f"{len(paths)} checkpoint to average: give at least two")
    # what --force may never replace (a run's own files, an input) is refused first
    check_output(output, [p for p in paths if p.exists()], "averaged checkpoint", checkpoint_output=True)
    if output.exists() and not force:
        raise UserError(f"{output} already exists; use --force to replace it")
    save_checkpoint(output, average_checkpoints(paths))
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {output}",
          file=sys.stderr)
