"""`s2s eval --sweep`: score a grid of beam sizes and length penalties on one set.

Beam search with a model trained with label smoothing tends to prefer short outputs; how much
length to reward depends on the model and the data. The sweep decodes the set once per setting
and prints BLEU, chrF, the brevity penalty and the length ratio, so a user can choose on dev
(never on the test set, whose score would then be optimistic) and put the winner in
`decode.beam_size`, `decode.length_penalty` and `decode.length_penalty_kind`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from seq2seq.checkpoint import resolve_model
from seq2seq.errors import UserError
from seq2seq.evaluate import eval_files, read_test_set
from seq2seq.export.ct2 import is_exported

PENALTY_KINDS = ("gnmt", "length")


def parse_list(text: str, option: str, kind: type) -> list[Any]:
    """'1,5' -> [1, 5] for option `option`; a one-line error for anything else."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated {kind.__name__} values, e.g. "
                        f"{'1,5' if kind is int else '0,0.6,1'}") from None
    if not values or any(v < (1 if kind is int else 0) for v in values):
        raise UserError(f"{option} {text!r}: expected comma-separated values of at least {1 if kind is int else 0}")
    return values


def sweep_grid(beams: list[int], alphas: list[float], kinds: list[str]) -> list[tuple[int, str, float]]:
    """(beam, penalty kind, alpha) settings; greedy search once (the penalty cannot change its output)."""
    unknown = [k for k in kinds if k not in PENALTY_KINDS]
    if unknown:
        raise UserError(f"--sweep-kinds: unknown length penalty kind {unknown[0]!r}; use gnmt and/or length")
    grid: list[tuple[int, str, float]] = []
    for beam in beams:
        grid += [(1, "-", 0.0)] if beam == 1 else [(beam, kind, alpha) for kind in kinds for alpha in alphas]
    return list(dict.fromkeys(grid))


def sweep_command(*, model: Path | None, split: str, src: Path | None, ref: Path | None, beams: str,
                  alphas: str, kinds: str, batch_tokens: int | None, max_repeats: int | None,
                  json_output: bool, device: str | None = None, precision: str | None = None,
                  no_repeat_ngram: int | None = None, max_piece_run: int | None = None,
                  split_sentences: bool | None = None) -> None:
    """Decode the set with every setting of the grid; print a table (or JSON lines) and the best."""
    from sacrebleu.metrics import BLEU, CHRF

    from seq2seq.allocator import keep_large_tensors_on_the_heap
    from seq2seq.loading import open_translator

    grid = sweep_grid(parse_list(beams, "--sweep-beams", int), parse_list(alphas, "--sweep-alphas", float),
                      [k.strip() for k in kinds.split(",") if k.strip()])
    if src is None and split == "test":
        raise UserError("choose decoding settings on the dev split (--split dev): a sweep on the test split "
                        "makes its score optimistic. Or give your own --src FILE --ref FILE")
    path = resolve_model(model)
    if is_exported(path):
        raise UserError(f"{path}: sweep the s2s run the export came from (CTranslate2 models use the "
                        "length kind only); then export it again, or pass --beam/--length-penalty to eval")
    translator: Any = open_translator(path, batch_tokens=batch_tokens, max_repeats=max_repeats, device=device,
                                      precision=precision, no_repeat_ngram=no_repeat_ngram,
                                      max_piece_run=max_piece_run, split=split_sentences)
    keep_large_tensors_on_the_heap()
    src_path, ref_path, set_name = eval_files(translator.config, split, src, ref)
    sources, references = read_test_set(src_path, ref_path)
    if not json_output:
        print(f"decoding sweep: {translator.path} on {set_name} ({len(sources)} sentences)")
        print(f"{'beam':>5} {'penalty':>8} {'alpha':>6} {'BLEU':>6} {'chrF':>6} {'BP':>6} {'ratio':>6} {'sent/s':>7}")
    base = translator.settings
    rows = []
    for beam, kind, alpha in grid:
        translator.settings = dataclasses.replace(base, beam_size=beam, length_penalty=alpha,
                                                  length_penalty_kind=base.length_penalty_kind if kind == "-" else kind)
        start = time.perf_counter()
        hypotheses = translator.translate(sources)
        seconds = time.perf_counter() - start
        bleu = BLEU().corpus_score(hypotheses, [references])
        row = {"beam": beam, "length_penalty_kind": kind, "length_penalty": alpha, "bleu": round(bleu.score, 2),
               "chrf": round(CHRF().corpus_score(hypotheses, [references]).score, 2), "bp": round(bleu.bp, 3),
               "length_ratio": round(bleu.sys_len / max(bleu.ref_len, 1), 3),
               "sentences_per_second": round(len(sources) / max(seconds, 1e-9), 1)}
        rows.append(row)
        if json_output:
            print(json.dumps(row))
        else:
            alpha_text = "-" if kind == "-" else f"{alpha:g}"
            print(f"{beam:>5} {kind:>8} {alpha_text:>6} {row['bleu']:>6.2f} {row['chrf']:>6.2f} {row['bp']:>6.3f} "
                  f"{row['length_ratio']:>6.3f} {row['sentences_per_second']:>7.1f}", flush=True)
    if not json_output:
        best = max(rows, key=lambda r: r["bleu"])
        how = f"--beam {best['beam']}"
        if best["beam"] > 1:
            how += f" --length-penalty {best['length_penalty']:g} --length-penalty-kind {best['length_penalty_kind']}"
        print(f"best BLEU: {best['bleu']:.2f} with {how} (s2s eval / translate options; or decode.beam_size, "
              "decode.length_penalty and decode.length_penalty_kind in a config)")
