"""manifest.json of a prepared data directory: what identifies a prepared corpus, and the checks
that the commands reading prepared data make against their config.

A prepared corpus is identified by its config's data section without dir/path/src_path/tgt_path
and data.workers (the inputs are identified by their sha256 instead; the worker count does not
change a byte), each data.corpora entry likewise without its paths and its weight (weights act
at training time), the input hashes and PREPARE_VERSION.

Version 2 (issue 31) holds training shards; a version 1 directory (train.src/train.tgt) still
serves evaluation and translation (dev/test text, SentencePiece), but not training:
`read_manifest(cfg, shards=True)` says in one line to prepare it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from seq2seq.config import Config, DataConfig
from seq2seq.config_history import upgrade_section
from seq2seq.errors import UserError
from seq2seq.ownership import is_empty

MANIFEST = "manifest.json"
FORMAT = "s2s-prepared-corpus"
PREPARE_VERSION = 2  # bump when the same config and input would give different output
FIRST_WITH_SHARDS = 2
_NOT_IDENTITY = ("dir", "path", "src_path", "tgt_path", "workers")
_NOT_CORPUS_IDENTITY = ("path", "src_path", "tgt_path", "weight")
_CORPUS_DEFAULTS = {"format": "tsv", "src_column": 2, "tgt_column": 1}
_TRAINING_ONLY = ("shard_pairs",)  # keys that change the training shards only, not dev/test or SentencePiece
_SHARD_FILE = re.compile(r"^train\.\d{5}\.")  # big: checked by size on a re-run, the other files by sha256 too


def identity(config: dict[str, Any], inputs: list[dict[str, Any]], version: Any) -> dict[str, Any]:
    """What must be equal for two prepared corpora to be the same."""
    # a key added to DataConfig after a corpus was prepared counts as its default there, a renamed
    # one under its new name
    config = {**dataclasses.asdict(DataConfig()), **upgrade_section("data", config)}
    config = {k: v for k, v in config.items() if k not in _NOT_IDENTITY}
    if isinstance(config.get("corpora"), list):
        config["corpora"] = [_corpus_identity(entry) for entry in config["corpora"]]
    return {"version": version, "config": config,
            "inputs": [(i.get("role"), i.get("sha256")) for i in inputs]}


def _corpus_identity(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {k: v for k, v in {**_CORPUS_DEFAULTS, **entry}.items() if k not in _NOT_CORPUS_IDENTITY}


def existing_state(out_dir: Path, data: DataConfig, inputs: list[dict[str, Any]]) -> tuple[str, str]:
    """What the output directory holds now: (state, reason).

    absent    nothing there (or an empty directory)
    same      this very corpus, all files intact -> nothing to do
    damaged   this corpus, but a file is missing or changed -> prepare again, no --force needed
    different another prepared corpus            -> needs --force
    foreign   something that is not a prepared corpus -> needs --force

    "Intact": every file of the manifest has its size, and the small ones (all but the training
    shards, which can be gigabytes) their sha256 too, so a re-run reads little.
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
        if not _intact(out_dir / name, record):
            return "damaged", f"{name} is missing or was changed since it was prepared"
    return "same", ""


def _intact(path: Path, record: Any) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != record.get("bytes"):
            return False
        if _SHARD_FILE.match(path.name):
            return True
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 24):
                digest.update(block)
        return digest.hexdigest() == record.get("sha256")
    except (OSError, AttributeError):
        return False


def difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old["version"] != new["version"]:
        if isinstance(old["version"], int) and old["version"] < FIRST_WITH_SHARDS:
            return f"prepared by an earlier s2s: format version {old['version']}, no training shards"
        return f"prepared by format version {old['version']}, this s2s writes {new['version']}"
    changed = [f"data.{key} {old['config'].get(key)!r} -> {value!r}"
               for key, value in new["config"].items() if old["config"].get(key) != value]
    if changed:
        return "; ".join(changed[:3]) + ("; ..." if len(changed) > 3 else "")
    return "other input files: their sha256 differ from those in its manifest.json"


PREPARE_ADVICE = "run `s2s data prepare --config ...` with this config (--force to replace it)"


def read_manifest(cfg: Config, advice: str = PREPARE_ADVICE, *, shards: bool = False) -> dict[str, Any]:
    """The manifest of cfg's prepared data directory, checked against cfg.data.

    shards=True (training): the directory must hold training shards (format version 2); one of
    an earlier s2s is a one-line UserError saying to prepare it again with --force.
    shards=False (evaluation, translation: dev/test text and SentencePiece only): a version 1
    directory is accepted when its data settings match.
    A missing directory or one prepared with other data settings is a UserError that says
    which command to run (`advice`). The inputs are not re-hashed here (prepare does that).
    """
    data_dir = cfg.data.resolved_dir(cfg.name)
    path = data_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = manifest["format_version"]
        stored = identity(manifest["config"], [], version)
    except FileNotFoundError:
        raise UserError(f"{data_dir}: no prepared corpus there; run `s2s data prepare --config ...` "
                        "with this config first") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: unreadable; run `s2s data prepare --config ... --force`") from None
    earlier = isinstance(version, int) and version < FIRST_WITH_SHARDS
    if shards and earlier:
        raise UserError(f"{data_dir} was prepared by an earlier s2s (no training shards); "
                        "run `s2s data prepare --config ... --force`")
    wanted = identity(dataclasses.asdict(cfg.data), [], PREPARE_VERSION)
    if earlier:  # evaluation on a version 1 directory: its dev/test and vocabulary settings must match
        wanted["version"] = version
        for key in _TRAINING_ONLY:
            wanted["config"][key] = stored["config"][key]
    if stored != wanted:
        raise UserError(f"{data_dir} was prepared with other data settings ({difference(stored, wanted)}); "
                        f"{advice}")
    return manifest


def check_prepared(cfg: Config, advice: str = PREPARE_ADVICE, *, shards: bool = False) -> str | None:
    """Refuse a prepared directory made with other data settings than `cfg`'s (see read_manifest;
    `shards` as there).

    A directory without manifest.json (made by hand) passes: the returned warning says that its
    settings could not be checked.
    """
    data_dir = cfg.data.resolved_dir(cfg.name)
    if not (data_dir / MANIFEST).is_file():
        return (f"warning: {data_dir} has no {MANIFEST} (not made by `s2s data prepare`), so its data "
                "settings cannot be checked against the config")
    read_manifest(cfg, advice, shards=shards)
    return None
