"""`data.corpora`: several corpora in one config, each one TSV file or two aligned files, mixed by weight.

    data:
      corpora:
        - {name: general, path: data/raw/big.tsv}                          # format tsv, columns 2 -> 1
        - {name: in-domain, format: parallel, src_path: a.fr, tgt_path: a.en, weight: 3}

Without `data.corpora` the config's own data.format / data.path / data.src_path ... describe the one
corpus (named "corpus", weight 1); `corpus_specs` gives the list in both cases, so prepare and
training read corpora one way. A corpus's weight is how often, on average, each of its training
pairs is seen per epoch (3: three times; 0.5: a different half each epoch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seq2seq.config_values import suggest
from seq2seq.errors import UserError

ENTRY_KEYS = ("name", "format", "path", "src_column", "tgt_column", "src_path", "tgt_path", "weight")
SINGLE = "corpus"  # the name of the one corpus a config without data.corpora describes


@dataclass(frozen=True)
class CorpusSpec:
    """One input corpus: where it is, how to read it, its weight in the training mix."""

    name: str
    format: str = "tsv"  # "tsv" or "parallel"
    path: str | None = None
    src_column: int = 2
    tgt_column: int = 1
    src_path: str | None = None
    tgt_path: str | None = None
    weight: float = 1.0
    index: int | None = None  # position in data.corpora; None: the config's single corpus

    def paths(self) -> list[Path]:
        return [Path(p) for p in ([self.path] if self.format == "tsv" else [self.src_path, self.tgt_path]) if p]

    def key(self, field: str) -> str:
        """The config key of `field` for messages: data.path, or data.corpora[1].path."""
        return f"data.{field}" if self.index is None else f"data.corpora[{self.index}].{field}"


def corpus_specs(data: Any) -> list[CorpusSpec]:
    """The corpora a DataConfig describes, in order (checked by `check_corpora` at load time)."""
    if not data.corpora:
        return [CorpusSpec(SINGLE, data.format, data.path, data.src_column, data.tgt_column, data.src_path,
                           data.tgt_path, 1.0)]
    return [_spec(entry, i) for i, entry in enumerate(data.corpora)]


def check_corpora(data: Any, where: str) -> None:
    """One-line errors for a wrong data.corpora (and for data.path & co. given beside it)."""
    if data.corpora is None:
        return
    if not isinstance(data.corpora, list) or not data.corpora:
        raise UserError(f"{where}: data.corpora must be a list of corpora (name, path or src_path/tgt_path, weight); "
                        f"got {data.corpora!r}")
    beside = [key for key in ("path", "src_path", "tgt_path") if getattr(data, key)]
    if beside:
        raise UserError(f"{where}: data.{beside[0]} and data.corpora are both set; describe every corpus under "
                        "data.corpora (or remove data.corpora for a single corpus)")
    names: set[str] = set()
    for i, entry in enumerate(data.corpora):
        spec = _spec(entry, i, where)
        if spec.name in names:
            raise UserError(f"{where}: data.corpora[{i}].name {spec.name!r} is used twice; give each corpus its own name")
        names.add(spec.name)


def _spec(entry: Any, i: int, where: str = "config") -> CorpusSpec:
    """data.corpora[i] checked key by key."""
    at = f"data.corpora[{i}]"
    if not isinstance(entry, dict):
        raise UserError(f"{where}: {at} must be a mapping (name, path, weight, ...); got {entry!r}")
    for key in entry:
        if key not in ENTRY_KEYS:
            raise UserError(f"{where}: unknown key '{key}' in {at}{suggest(str(key), list(ENTRY_KEYS))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "._-" for c in name):
        raise UserError(f"{where}: {at}.name must be a short name of letters, digits, '.', '_' or '-'; got {name!r}")
    fmt = entry.get("format", "tsv")
    if fmt not in ("tsv", "parallel"):
        raise UserError(f"{where}: {at}.format must be tsv or parallel; got {fmt!r}")
    values = {key: entry.get(key) for key in ("path", "src_path", "tgt_path")}
    for key, value in values.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"{where}: {at}.{key} must be a file path; got {value!r}")
    if fmt == "tsv" and not values["path"]:
        raise UserError(f"{where}: {at}.path is required (format tsv)")
    if fmt == "parallel" and not (values["src_path"] and values["tgt_path"]):
        raise UserError(f"{where}: {at}.src_path and {at}.tgt_path are required (format parallel)")
    columns = {key: entry.get(key, default) for key, default in (("src_column", 2), ("tgt_column", 1))}
    for key, value in columns.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{where}: {at}.{key} must be an integer >= 1; got {value!r}")
    if fmt == "tsv" and columns["src_column"] == columns["tgt_column"]:
        raise UserError(f"{where}: {at}.src_column and tgt_column are both {columns['src_column']}; they must differ")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise UserError(f"{where}: {at}.weight must be a number > 0 (how often each pair is seen per epoch); "
                        f"got {weight!r}")
    return CorpusSpec(name, fmt, values["path"], columns["src_column"], columns["tgt_column"], values["src_path"],
                      values["tgt_path"], float(weight), i)
