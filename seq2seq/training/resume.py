"""Resuming a run: what may change, what must match, and the random streams to restore.

A resumed run continues the same training: `s2s train --resume` refuses a last.pt whose config
differs in anything but the keys in RESUMABLE_CHANGES, whose SentencePiece model differs from
the prepared data's, or whose training data changed; and it restores every process's random
generators, so a run killed and resumed ends with the same weights as one never stopped.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from seq2seq.checkpoint import load_checkpoint
from seq2seq.config import STORED_DEFAULTS, Config
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.errors import UserError

# Keys a resumed run may change: when and how often to stop, validate, log and save, and the
# search settings. Any other difference (model sizes, data, batching, optimiser, seed, ...) would
# not continue the same training, so resuming refuses it and names the keys.
RESUMABLE_CHANGES = {
    "name", "data.dir", "data.path", "data.src_path", "data.tgt_path",
    "train.max_steps", "train.max_epochs", "train.max_minutes", "train.patience",
    "train.validate_every", "train.save_every", "train.dev_sentences", "train.log_every", "train.tensorboard",
    "train.threads", "train.keep_last", "train.device", "train.precision", "decode.precision",
    "train.data_workers",  # batches are a function of (seed, epoch, rows), whichever process makes them
}


def config_differences(stored: dict[str, Any], current: dict[str, Any],
                       allowed: set[str] = RESUMABLE_CHANGES) -> list[str]:
    """'section.key: stored -> current' for every key (outside `allowed` and decode.*) that differs."""
    differences = []
    for section in sorted(set(stored) | set(current)):
        if section == "decode":
            continue
        old, new = stored.get(section), current.get(section)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if old != new and section not in allowed:
                differences.append(f"{section}: {old!r} -> {new!r}")
            continue
        for key in sorted(set(old) | set(new)):
            name = f"{section}.{key}"
            if name not in allowed and old.get(key) != new.get(key):
                differences.append(f"{name}: {old.get(key)!r} -> {new.get(key)!r}")
    return differences


def with_new_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the keys added since it was written at their defaults (off, for a new
    feature), so a last.pt from before a new key resumes unless the config now turns it on; keys
    whose default changed what a model does take their STORED_DEFAULTS value (the old behaviour)."""
    defaults = Config().to_dict()
    for name, value in STORED_DEFAULTS.items():  # what the checkpoint's model was made with
        section, key = name.split(".")
        defaults[section][key] = value
    filled = dict(stored)
    for section, values in stored.items():
        if isinstance(values, dict) and isinstance(defaults.get(section), dict):
            filled[section] = {**defaults[section], **values}
    return filled


def check_resumable(payload: dict[str, Any], config: Config, world_size: int = 1) -> None:
    """Refuse to resume `payload` under `config` if that would not continue the same training.

    train.accumulate may change with the number of processes as long as an update still takes
    the same number of batches (2 processes x accumulate 1 = 1 process x accumulate 2).
    """
    where = payload.get("path", "checkpoint")
    if "optimizer" not in payload or "train_state" not in payload:
        raise UserError(f"{where}: holds weights only (no optimizer or data position), so training "
                        "cannot resume from it; start afresh with --force")
    allowed = set(RESUMABLE_CHANGES)
    stored_update = payload.get("world_size", 1) * payload["config"]["train"]["accumulate"]
    if stored_update == world_size * config.train.accumulate:
        allowed.add("train.accumulate")
    differences = config_differences(with_new_defaults(payload["config"]), config.to_dict(), allowed)
    if differences:
        shown = "; ".join(differences[:6]) + ("; ..." if len(differences) > 6 else "")
        raise UserError(f"{where} was trained with another config (checkpoint -> now: {shown}); "
                        "restore those keys to resume, or start afresh with --force")


def load_resumable(last: Path, config: Config, world_size: int, src_tokenizer: Tokenizer,
                   tgt_tokenizer: Tokenizer, data_dir: Path, data_signature: list[int]) -> dict[str, Any]:
    """last.pt, checked to continue the same training under `config` on the data in `data_dir`."""
    payload = load_checkpoint(last)
    check_resumable(payload, config, world_size)
    if payload["spm_src"] != src_tokenizer.to_bytes() or payload["spm_tgt"] != tgt_tokenizer.to_bytes():
        raise UserError(f"{last}: its SentencePiece model differs from the one in {data_dir} (data "
                        "prepared again since?); resuming needs the same vocabulary. Start afresh "
                        "with --force")
    if payload.get("data_signature") != data_signature:
        raise UserError(f"{last}: the training data changed since this checkpoint (pairs, source "
                        f"and target pieces: {payload.get('data_signature')} then, "
                        f"{data_signature} now), so resuming would not continue the same "
                        "epochs. Start afresh with --force")
    return payload


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's random generators (torch, Python, CUDA), to save in last.pt."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(states: list[dict[str, Any]], rank: int, world_size: int, seed: int, step: int,
                device: torch.device) -> None:
    """Put back this process's generators from last.pt's `states` (one per process).

    With another number of processes than the checkpoint's, each process starts fresh streams
    (seeded by seed, rank and step): the run continues, but dropout draws other numbers.
    """
    if len(states) != world_size:
        torch.manual_seed(seed + rank + 7919 * step)
        return
    mine = states[rank]
    torch.set_rng_state(mine["torch"])
    random.setstate(mine["python"])
    if "cuda" in mine and device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], device)
