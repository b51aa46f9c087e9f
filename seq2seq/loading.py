"""Opening what a user points `--model` at: a run directory, a checkpoint, or a directory that
`s2s export` wrote. Both kinds answer `translate` and `translate_batch` the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seq2seq.errors import UserError
from seq2seq.export.ct2 import CTranslate2Translator, ct2_device, is_exported
from seq2seq.pipeline import DECODE_ARGUMENTS, check_argument
from seq2seq.translator import TextTranslator, Translator


def open_translator(path: str | Path, *, device: str | None = None, precision: str | None = None,
                    workers: int = 1, **options: Any) -> TextTranslator:
    """A Translator for a run or checkpoint, or a CTranslate2Translator for a directory that
    `s2s export` wrote (options: beam, batch_tokens, length_penalty, and for s2s models the
    others of `Translator.load`).

    device and precision are the command line's --device and --precision (None: auto, and the
    run's decode.precision); their errors, and those of the decode options, name those options.
    workers: how many threads will translate batches at once (`s2s serve --workers`): an export
    gets as many CTranslate2 workers; an s2s model needs nothing for them. An export computes in the
    quantization it was exported with, so it takes no --precision.
    """
    for name, value in options.items():  # the command line's options, named as it names them
        if value is not None and name in DECODE_ARGUMENTS:
            check_argument(name, value, "--" + name.replace("_", "-"))
    if is_exported(Path(path)):
        if options.get("length_penalty_kind") == "length":  # what CTranslate2 does anyway
            options = {**options, "length_penalty_kind": None}
        if precision is not None:
            raise UserError(f"--precision {precision}: an exported CTranslate2 model computes in the quantization "
                            "it was exported with; drop --precision, or export again with "
                            "s2s export --quantization float32|bfloat16|float16|int8|int16")
        taken = ("beam", "batch_tokens", "length_penalty", "protect_entities", "no_repeat_ngram", "split")
        if not options.get("max_piece_run"):  # 0: what CTranslate2 does anyway
            options = {key: value for key, value in options.items() if key != "max_piece_run"}
        unsupported = [key for key, value in options.items() if value is not None and key not in taken]
        if unsupported:
            raise UserError(f"{path}: an exported CTranslate2 model takes no {', '.join(unsupported)}")
        ct2_device(device, "--device")  # its errors name the option
        return CTranslate2Translator(Path(path), device=device, workers=workers,
                                     **{key: options.get(key) for key in taken})
    from seq2seq.devices import resolve_device, resolve_precision

    target = resolve_device(device, "--device")  # checked here so that the errors name the options
    if precision is not None:
        resolve_precision(precision, target, "--precision")
    return Translator.load(path, device=target, precision=precision, **options)
