"""Scoring with sacrebleu: BLEU, chrF and TER with their signatures, and BLEU by length.

`score_translations` is what validation uses; `evaluate_command` is `s2s eval`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from seq2seq.errors import UserError

# Source-length buckets in whitespace words: (label, shortest, longest).
LENGTH_BUCKETS: list[tuple[str, int, float]] = [
    ("1-5", 0, 5), ("6-10", 6, 10), ("11-15", 11, 15), ("16-20", 16, 20), ("21-30", 21, 30),
    ("31+", 31, float("inf")),
]


def _check_same_length(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise UserError(f"{len(hypotheses)} hypotheses but {len(references)} references")


def score_translations(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu defaults) of hypotheses against one reference each."""
    from sacrebleu.metrics import BLEU, CHRF

    _check_same_length(hypotheses, references)
    return {"bleu": float(BLEU().corpus_score(hypotheses, [references]).score),
            "chrf": float(CHRF().corpus_score(hypotheses, [references]).score)}


def full_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """BLEU, chrF and TER with their scores, printable lines and sacrebleu signatures."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    _check_same_length(hypotheses, references)
    scores: dict[str, Any] = {}
    for key, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        result = metric.corpus_score(hypotheses, [references])
        scores[key] = {"score": round(float(result.score), 4), "text": str(result),
                       "signature": str(metric.get_signature())}
    return scores


def bleu_by_length(sources: list[str], hypotheses: list[str],
                   references: list[str]) -> list[dict[str, Any]]:
    """Corpus BLEU per source-length bucket (whitespace words; see LENGTH_BUCKETS).

    Returns [{"bucket": "1-5", "sentences": n, "bleu": float or None (empty bucket)}].
    """
    from sacrebleu.metrics import BLEU

    rows = []
    for label, low, high in LENGTH_BUCKETS:
        members = [i for i, s in enumerate(sources) if low <= len(s.split()) <= high]
        bleu = None
        if members:
            bleu = round(float(BLEU().corpus_score([hypotheses[i] for i in members],
                                                   [[references[i] for i in members]]).score), 4)
        rows.append({"bucket": label, "sentences": len(members), "bleu": bleu})
    return rows


def read_lines(path: Path, what: str) -> list[str]:
    """A text file's lines, split on '\\n' only (a '\\r' or form feed inside stays in its line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: {what} is a directory, expected a text file") from None
    text = data.decode("utf-8", errors="replace")
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_lines(path: Path, lines: list[str]) -> None:
    """Write lines atomically (temporary file, then rename)."""
    from seq2seq.checkpoint import atomic_write

    atomic_write(Path(path), lambda tmp: tmp.write_text("".join(f"{line}\n" for line in lines),
                                                        encoding="utf-8"))


def resolve_model(model: Path | None) -> Path:
    """--model, or the most recent run (announced on stderr)."""
    if model is not None:
        return model
    from seq2seq.checkpoint import latest_run

    run = latest_run()
    print(f"using the most recent run: {run} (choose another with --model)", file=sys.stderr)
    return run


def _eval_files(config: Any, split: str, src: Path | None, ref: Path | None) -> tuple[Path, Path, str]:
    """(source file, reference file, name of the test set) for `s2s eval`."""
    if (src is None) != (ref is None):
        raise UserError("--src and --ref go together: give both files, or neither to use --split")
    if src is not None and ref is not None:
        return src, ref, src.name
    if split not in ("test", "dev"):
        raise UserError(f"--split must be test or dev; got {split!r}")
    data_dir = config.data.resolved_dir(config.name)
    src_path, ref_path = data_dir / f"{split}.src", data_dir / f"{split}.tgt"
    for path in (src_path, ref_path):
        if not path.is_file():
            raise UserError(f"{path}: prepared {split} split not found (looked relative to "
                            f"{Path.cwd()}); run `s2s data prepare --config ...` there first, "
                            "or give --src FILE --ref FILE")
    return src_path, ref_path, f"{split} split"


def _by_length_plot_path(output: Path | None, run_dir: Path, set_name: str) -> Path:
    if output is not None:
        return output.with_name(f"{output.stem}.bleu_by_length.png")
    stem = set_name.replace(" split", "").replace(" ", "_")
    return run_dir / f"bleu_by_length.{stem}.png"


def evaluate_command(*, model: Path | None, split: str, src: Path | None, ref: Path | None,
                     beam: int | None, batch_tokens: int | None, json_output: bool,
                     by_length: bool, output: Path | None) -> None:
    """`s2s eval`: translate a test set, score it, print (or print JSON), keep what was asked."""
    from seq2seq.checkpoint import load_for_inference
    from seq2seq.allocator import keep_large_tensors_on_the_heap
    from seq2seq.decode import translate_sentences

    loaded = load_for_inference(resolve_model(model))
    keep_large_tensors_on_the_heap()
    config = loaded.config
    src_path, ref_path, set_name = _eval_files(config, split, src, ref)
    sources = read_lines(src_path, "source file")
    references = read_lines(ref_path, "reference file")
    if len(sources) != len(references):
        raise UserError(f"{src_path} has {len(sources)} lines but {ref_path} has "
                        f"{len(references)}; source and reference must be line-aligned")
    if not sources:
        raise UserError(f"{src_path} is empty: nothing to evaluate")
    beam_size = beam or config.decode.beam_size

    start = time.perf_counter()
    results = translate_sentences(loaded.model, loaded.src_tokenizer, loaded.tgt_tokenizer, sources,
                                  config.decode, beam_size=beam_size, batch_tokens=batch_tokens,
                                  normalization=config.data.normalization,
                                  lowercase=config.data.lowercase)
    seconds = time.perf_counter() - start
    hypotheses = [hyps[0].text for hyps in results]
    if output is not None:
        write_lines(output, hypotheses)

    scores = full_scores(hypotheses, references)
    report: dict[str, Any] = {
        "model": str(loaded.path),
        "test_set": split if src is None else str(src_path),
        "source": str(src_path),
        "reference": str(ref_path),
        "beam": beam_size,
        "bleu": scores["bleu"]["score"],
        "chrf": scores["chrf"]["score"],
        "ter": scores["ter"]["score"],
        "signature": {k: scores[k]["signature"] for k in ("bleu", "chrf", "ter")},
        "sentences": len(sources),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(sources) / max(seconds, 1e-9), 2),
    }
    if output is not None:
        report["output"] = str(output)
    if by_length:
        buckets = bleu_by_length(sources, hypotheses, references)
        from seq2seq.plots import plot_bleu_by_length

        plot_path = _by_length_plot_path(output, loaded.path.parent, set_name)
        plot_bleu_by_length({loaded.path.parent.name: buckets}, plot_path,
                            title=f"BLEU by source length: {loaded.path.parent.name}, {set_name}, "
                                  f"beam {beam_size}")
        report["by_length"] = buckets
        report["by_length_plot"] = str(plot_path)

    if json_output:
        print(json.dumps(report, ensure_ascii=False))
        return
    print(f"model {report['model']} on {set_name} ({len(sources)} sentences, beam {beam_size}): "
          f"{seconds:.1f} s, {report['sentences_per_second']:.1f} sentences/s")
    for key in ("bleu", "chrf", "ter"):
        print(f"{scores[key]['text']}\n    signature: {scores[key]['signature']}")
    if by_length:
        print("BLEU by source length (words):")
        for row in report["by_length"]:
            bleu = "-" if row["bleu"] is None else f"{row['bleu']:.2f}"
            print(f"  {row['bucket']:>6}  {row['sentences']:>6} sentences  BLEU {bleu}")
        print(f"plot: {report['by_length_plot']}")
    if output is not None:
        print(f"hypotheses: {output}")
