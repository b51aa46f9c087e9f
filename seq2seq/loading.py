"""Opening what a user points `--model` at: a run directory, a checkpoint, or a directory that
`s2s export` wrote. Both kinds answer `translate` and `translate_batch` the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seq2seq.errors import UserError
from seq2seq.export.ct2 import CTranslate2Translator, is_exported
from seq2seq.translator import TextTranslator, Translator


def open_translator(path: str | Path, **options: Any) -> TextTranslator:
    """A Translator for a run or checkpoint, or a CTranslate2Translator for a directory that
    `s2s export` wrote (options: beam, batch_tokens, length_penalty, and for s2s models the
    others of `Translator.load`)."""
    if is_exported(Path(path)):
        if options.get("length_penalty_kind") == "length":  # what CTranslate2 does anyway
            options = {**options, "length_penalty_kind": None}
        taken = ("beam", "batch_tokens", "length_penalty")
        unsupported = [key for key, value in options.items() if value is not None and key not in taken]
        if unsupported:
            raise UserError(f"{path}: an exported CTranslate2 model takes no {', '.join(unsupported)}")
        return CTranslate2Translator(Path(path), **{key: options.get(key) for key in taken})
    return Translator.load(path, **options)
