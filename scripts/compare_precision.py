"""Decoding in bf16 against fp32 on the same sentences and the same device (the CPU); prints JSON.

    python scripts/compare_precision.py --model runs/tatoeba-transformer --split test --limit 500 --beam 5
    python scripts/compare_precision.py --model RUN --src my.fr --ref my.en

Why: `--precision bf16` (decode.precision) is only worth using where it is faster and its
translations are (nearly) the same. This decodes the first --limit sentences of a prepared split
(data/<name>/{test,dev}.src relative to the working directory, as `s2s eval --split` reads them)
or of --src/--ref, once with the model in float32 and once cast to bfloat16, and reports: the
share of identical outputs, BLEU of each against the references (sacrebleu, as `s2s eval`),
sentences per second of each (one warm-up pass of a few sentences first, then one timed pass;
check the machine is idle: `uptime`), the CPU's name and its bfloat16 matrix units (AMX,
AVX512-BF16: without them bf16 is emulated and usually slower than fp32).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seq2seq.allocator import keep_large_tensors_on_the_heap  # noqa: E402
from seq2seq.devices import cpu_bf16_units  # noqa: E402
from seq2seq.errors import UserError  # noqa: E402
from seq2seq.evaluate import eval_files, read_test_set  # noqa: E402
from seq2seq.translator import Translator  # noqa: E402

PRECISIONS = ("fp32", "bf16")
WARM_UP = 8  # sentences decoded before timing (first calls allocate and pick kernels)


def cpu_name() -> str:
    """The CPU's model name as lscpu shows it (Linux /proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def decode(translator: Translator, sources: list[str]) -> tuple[list[str], float]:
    """(translations, seconds of the timed pass after a short warm-up)."""
    translator.translate(sources[:WARM_UP])
    start = time.perf_counter()
    hypotheses = translator.translate(sources)
    return hypotheses, time.perf_counter() - start


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON report: see the module docstring."""
    from sacrebleu.metrics import BLEU

    translators = {p: Translator.load(args.model, device="cpu", precision=p, beam=args.beam) for p in PRECISIONS}
    config = translators["fp32"].config
    src_path, ref_path, set_name = eval_files(config, args.split, args.src, args.ref)
    sources, references = read_test_set(src_path, ref_path)
    if args.limit:
        sources, references = sources[:args.limit], references[:args.limit]
    keep_large_tensors_on_the_heap()
    report: dict[str, Any] = {"model": str(args.model), "test_set": set_name, "source": str(src_path),
                              "sentences": len(sources), "beam": args.beam or config.decode.beam_size}
    outputs = {}
    for precision in PRECISIONS:
        hypotheses, seconds = decode(translators[precision], sources)
        outputs[precision] = hypotheses
        report[precision] = {"bleu": round(BLEU().corpus_score(hypotheses, [references]).score, 2),
                             "seconds": round(seconds, 3),
                             "sentences_per_second": round(len(sources) / max(seconds, 1e-9), 2)}
    pairs = list(zip(sources, outputs["fp32"], outputs["bf16"]))
    same = sum(a == b for _, a, b in pairs)
    report["identical"] = same
    report["identical_share"] = round(same / max(len(pairs), 1), 4)
    report["bf16_speedup"] = round(report["bf16"]["sentences_per_second"]
                                   / max(report["fp32"]["sentences_per_second"], 1e-9), 3)
    report["first_differences"] = [{"source": s, "fp32": a, "bf16": b} for s, a, b in pairs if a != b][:3]
    report["cpu"] = cpu_name()
    report["bf16_units"] = cpu_bf16_units()
    report["threads"] = torch.get_num_threads()
    report["torch"] = torch.__version__
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="run directory or checkpoint")
    parser.add_argument("--split", default="test", choices=("test", "dev"), help="prepared split (default test)")
    parser.add_argument("--src", type=Path, help="source file instead of a split (with --ref)")
    parser.add_argument("--ref", type=Path, help="reference file for --src")
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the run's decode.beam_size)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = compare(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
