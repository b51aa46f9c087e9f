"""`s2s eval`: translate a test set with a trained model and score it with sacrebleu.

The scores themselves are computed in `seq2seq.metrics` (validation uses the same functions).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from seq2seq.checkpoint import resolve_model
from seq2seq.data.manifest import check_prepared
from seq2seq.errors import UserError
from seq2seq.files import check_output, read_lines, write_lines
from seq2seq.metrics import bleu_by_length, copy_rate, full_scores
from seq2seq.ownership import read_prepared


def eval_files(config: Any, split: str, src: Path | None, ref: Path | None) -> tuple[Path, Path, str]:
    """(source file, reference file, name of the test set) for `s2s eval`."""
    if (src is None) != (ref is None):
        raise UserError("--src and --ref go together: give both files, or neither to use --split")
    if src is not None and ref is not None:
        return src, ref, src.name
    if split not in ("test", "dev"):
        raise UserError(f"--split must be test or dev; got {split!r}")
    if config is None:
        raise UserError("an exported model does not know its prepared data: give --src FILE --ref FILE")
    data_dir = read_prepared(config.data.resolved_dir(config.name))  # no prepare replaces it meanwhile
    src_path, ref_path = data_dir / f"{split}.src", data_dir / f"{split}.tgt"
    for path in (src_path, ref_path):
        if not path.is_file():
            raise UserError(f"{path}: prepared {split} split not found (looked relative to "
                            f"{Path.cwd()}); run `s2s data prepare --config ...` there first, "
                            "or give --src FILE --ref FILE")
    # A split prepared with another seed or other filters may hold the model's training pairs.
    warning = check_prepared(config, advice=f"its {split} split may hold sentences this model was trained "
                             "on. Prepare the data again with the model's data settings, or give --src FILE "
                             "--ref FILE")
    if warning:
        print(warning, file=sys.stderr)
    return src_path, ref_path, f"{split} split"


def read_test_set(src_path: Path, ref_path: Path) -> tuple[list[str], list[str]]:
    """The source and reference lines, checked to be line-aligned and not empty."""
    sources = read_lines(src_path, "source file")
    references = read_lines(ref_path, "reference file")
    if len(sources) != len(references):
        raise UserError(f"{src_path} has {len(sources)} lines but {ref_path} has "
                        f"{len(references)}; source and reference must be line-aligned")
    if not sources:
        raise UserError(f"{src_path} is empty: nothing to evaluate")
    return sources, references


def _by_length_plot_path(output: Path | None, run_dir: Path, set_name: str) -> Path:
    if output is not None:
        return output.with_name(f"{output.stem}.bleu_by_length.png")
    stem = set_name.replace(" split", "").replace(" ", "_")
    return run_dir / f"bleu_by_length.{stem}.png"


def evaluate_command(*, model: Path | None, split: str, src: Path | None, ref: Path | None,
                     beam: int | None, batch_tokens: int | None, max_repeats: int | None,
                     length_penalty: float | None = None, length_penalty_kind: str | None = None, json_output: bool,
                     by_length: bool, output: Path | None, expect: Path | None = None, device: str | None = None,
                     precision: str | None = None, protect_entities: bool | None = None,
                     no_repeat_ngram: int | None = None, max_piece_run: int | None = None,
                     split_sentences: bool | None = None) -> None:
    """`s2s eval`: translate a test set, score it, print (or print JSON), keep what was asked."""
    from seq2seq.allocator import keep_large_tensors_on_the_heap
    from seq2seq.loading import open_translator

    translator = open_translator(resolve_model(model), beam=beam, batch_tokens=batch_tokens, max_repeats=max_repeats,
                                 length_penalty=length_penalty, length_penalty_kind=length_penalty_kind,
                                 device=device, precision=precision, protect_entities=protect_entities,
                                 no_repeat_ngram=no_repeat_ngram,
                                 max_piece_run=max_piece_run, split=split_sentences)
    keep_large_tensors_on_the_heap()
    src_path, ref_path, set_name = eval_files(translator.config, split, src, ref)
    sources, references = read_test_set(src_path, ref_path)
    expected = read_expect(expect, src_path, len(sources)) if expect is not None else None  # --expect
    # Outputs are checked before the (long) translation, so no work is lost to a bad path.
    inputs = [src_path, ref_path, translator.path] + ([expect] if expect is not None else [])
    if output is not None:
        check_output(output, inputs, "hypotheses file")
    plot_path = _by_length_plot_path(output, translator.path.parent, set_name) if by_length else None
    if plot_path is not None:
        check_output(plot_path, inputs, "BLEU-by-length plot", others=[output] if output else ())

    start = time.perf_counter()
    translator.show_progress = sys.stderr.isatty()  # a bar on a terminal, nothing extra when piped
    hypotheses = translator.translate(sources)
    seconds = time.perf_counter() - start
    if output is not None:
        write_lines(output, hypotheses)

    beam_size = translator.settings.beam_size
    scores = full_scores(hypotheses, references)
    report: dict[str, Any] = {
        "model": str(translator.path),
        "test_set": split if src is None else str(src_path),
        "source": str(src_path),
        "reference": str(ref_path),
        "beam": beam_size,
        "bleu": scores["bleu"]["score"],
        "brevity_penalty": scores["bleu"]["brevity_penalty"],
        "length_ratio": scores["bleu"]["length_ratio"],
        "chrf": scores["chrf"]["score"],
        "ter": scores["ter"]["score"],
        "signature": {k: scores[k]["signature"] for k in ("bleu", "chrf", "ter")},
        "sentences": len(sources),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(sources) / max(seconds, 1e-9), 2),
        "seconds_per_sentence": round(seconds / len(sources), 5),
    }
    if expected is not None:
        report["copy_rate"] = (copy := copy_rate(hypotheses, expected))["copy_rate"]
        report["copy"] = {"expect": str(expect), **{k: v for k, v in copy.items() if k != "copy_rate"}}
    if output is not None:
        report["output"] = str(output)
    if plot_path is not None:
        run_name = translator.path.parent.name
        report["by_length"] = bleu_by_length(sources, hypotheses, references)
        report["by_length_plot"] = str(plot_path)
        from seq2seq.plots import plot_bleu_by_length

        plot_bleu_by_length({run_name: report["by_length"]}, plot_path,
                            title=f"BLEU by source length: {run_name}, {set_name}, beam {beam_size}")
    if json_output:
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print_report(report, scores, set_name)


def _print_report(report: dict[str, Any], scores: dict[str, Any], set_name: str) -> None:
    print(f"model {report['model']} on {set_name} ({report['sentences']} sentences, beam {report['beam']}): "
          f"{report['seconds']:.1f} s, {report['sentences_per_second']:.1f} sentences/s")
    for key in ("bleu", "chrf", "ter"):
        print(f"{scores[key]['text']}\n    signature: {scores[key]['signature']}")
    if "copy" in report:
        copy, rate = report["copy"], report["copy_rate"]
        print(f"copy rate: {'-' if rate is None else f'{rate:.1f}%'} ({copy['copied']} of {copy['sentences']} "
              f"sentences with expected tokens; {copy['tokens_copied']} of {copy['tokens']} tokens) from {copy['expect']}")
    if "by_length" in report:
        print("BLEU by source length (words):")
        for row in report["by_length"]:
            bleu = "-" if row["bleu"] is None else f"{row['bleu']:.2f}"
            print(f"  {row['bucket']:>6}  {row['sentences']:>6} sentences  BLEU {bleu}")
        print(f"plot: {report['by_length_plot']}")
    if "output" in report:
        print(f"hypotheses: {report['output']}")


def read_expect(path: Path, src_path: Path, n_sources: int) -> list[list[str]]:
    """--expect FILE: per source line, the space-separated tokens its output must contain verbatim."""
    lines = read_lines(path, "expect file")
    if len(lines) != n_sources:
        raise UserError(f"{path} has {len(lines)} lines but {src_path} has {n_sources}; the --expect file "
                        "needs one line per source sentence (an empty line: nothing expected)")
    return [line.split() for line in lines]
