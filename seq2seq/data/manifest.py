"""manifest.json of a prepared data directory: what identifies a prepared corpus, and the checks
that the commands reading prepared data make against their config.

A prepared corpus is identified by its config's data section without dir/path/src_path/tgt_path
(the inputs are identified by their sha256 instead), the input hashes and PREPARE_VERSION.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from seq2seq.config import Config, DataConfig
from seq2seq.config_history import upgrade_section
from seq2seq.errors import UserError
from seq2seq.ownership import is_empty

MANIFEST = "manifest.json"
FORMAT = "s2s-prepared-corpus"
PREPARE_VERSION = 1  # bump when the same config and input would give different output
_NOT_IDENTITY = ("dir", "path", "src_path", "tgt_path")


def identity(config: dict[str, Any], inputs: list[dict[str, Any]], version: Any) -> dict[str, Any]:
    # a key added to DataConfig after a corpus was prepared counts as its default there, a renamed
    # one under its new name
    config = {**dataclasses.asdict(DataConfig()), **upgrade_section("data", config)}
    return {"version": version,
            "config": {k: v for k, v in config.items() if k not in _NOT_IDENTITY},
            "inputs": [(i.get("role"), i.get("sha256")) for i in inputs]}


def existing_state(out_dir: Path, data: DataConfig, inputs: list[dict[str, Any]]) -> tuple[str, str]:
    """What the output directory holds now: (state, reason).

    absent    nothing there (or an empty directory)
    same      this very corpus, all files intact -> nothing to do
    damaged   this corpus, but a file is missing or changed -> prepare again, no --force needed
    different another prepared corpus            -> needs --force
    foreign   something that is not a prepared corpus -> needs --force
    """
    if not out_dir.exists() and not out_dir.is_symlink():
        return "absent", ""
    if not out_dir.is_dir():
        return "foreign", "a file, not a prepared corpus directory"
    if is_empty(out_dir):  # s2s's own marker or lock aside
        return "absent", ""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError
        old = identity(manifest["config"], manifest["inputs"], manifest["format_version"])
    except FileNotFoundError:
        return "foreign", f"files but no {MANIFEST} (not a prepared corpus)"
    except (ValueError, KeyError, TypeError, AttributeError):
        return "foreign", f"an unreadable {MANIFEST} (not a prepared corpus)"
    new = identity(dataclasses.asdict(data), inputs, PREPARE_VERSION)
    if old != new:
        return "different", f"a different prepared corpus ({difference(old, new)})"
    for name, record in manifest.get("files", {}).items():
        path = out_dir / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record.get("sha256"):
            return "damaged", f"{name} is missing or was changed since it was prepared"
    return "same", ""


def difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old["version"] != new["version"]:
        return f"prepared by format version {old['version']}, this s2s writes {new['version']}"
    changed = [f"data.{key} {old['config'].get(key)!r} -> {value!r}"
               for key, value in new["config"].items() if old["config"].get(key) != value]
    if changed:
        return "; ".join(changed[:3]) + ("; ..." if len(changed) > 3 else "")
    return "other input files: their sha256 differ from those in its manifest.json"


PREPARE_ADVICE = "run `s2s data prepare --config ...` with this config (--force to replace it)"


def read_manifest(cfg: Config, advice: str = PREPARE_ADVICE) -> dict[str, Any]:
    """The manifest of cfg's prepared data directory, checked against cfg.data (for train/eval).

    A missing directory or one prepared with other data settings is a UserError that says
    which command to run (`advice`). The inputs are not re-hashed here (prepare does that).
    """
    data_dir = cfg.data.resolved_dir(cfg.name)
    path = data_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        stored = identity(manifest["config"], [], manifest["format_version"])
    except FileNotFoundError:
        raise UserError(f"{data_dir}: no prepared corpus there; run `s2s data prepare --config ...` "
                        "with this config first") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: unreadable; run `s2s data prepare --config ... --force`") from None
    wanted = identity(dataclasses.asdict(cfg.data), [], PREPARE_VERSION)
    if stored != wanted:
        raise UserError(f"{data_dir} was prepared with other data settings ({difference(stored, wanted)}); "
                        f"{advice}")
    return manifest


def check_prepared(cfg: Config, advice: str = PREPARE_ADVICE) -> str | None:
    """Refuse a prepared directory made with other data settings than `cfg`'s (see read_manifest).

    A directory without manifest.json (made by hand) passes: the returned warning says that its
    settings could not be checked.
    """
    data_dir = cfg.data.resolved_dir(cfg.name)
    if not (data_dir / MANIFEST).is_file():
        return (f"warning: {data_dir} has no {MANIFEST} (not made by `s2s data prepare`), so its data "
                "settings cannot be checked against the config")
    read_manifest(cfg, advice)
    return None
