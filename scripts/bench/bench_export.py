"""CTranslate2 export: agreement with s2s and translation speed, float32 and int8; prints JSON.

    python scripts/bench/bench_export.py --model runs/tatoeba-transformer --src data/tatoeba-fr-en/dev.src

Exports the run to float32 and int8 CTranslate2 models (in a temporary directory), then on the
first --sentences lines of --src:
  * agreement: the share of sentences whose export output equals s2s's, greedy and beam 5, with
    the run's length penalty and without one (s2s's repetition stop off: CTranslate2 has none);
  * speed: sentences/s of s2s, CTranslate2 float32 and int8, greedy and beam 5, the whole list in
    one call (batched by tokens), median of --repeats runs, --threads threads each.
Check `uptime` first: the figures only compare on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from seq2seq.export.ct2 import CTranslate2Translator, export_ctranslate2  # noqa: E402
from seq2seq.translator import Translator  # noqa: E402


def speed(translator, sentences: list[str], beam: int, repeats: int) -> dict:
    translator.translate(sentences[:50], beam=beam)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        translator.translate(sentences, beam=beam)
        times.append(time.perf_counter() - started)
    return {"sentences_per_s": round(len(sentences) / statistics.median(times), 1),
            "seconds_all": [round(t, 3) for t in times]}


def agreement(a: list[str], b: list[str]) -> float:
    return round(sum(x == y for x, y in zip(a, b)) / len(a), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an s2s Transformer run or checkpoint")
    parser.add_argument("--src", required=True)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = Path(args.src).read_text(encoding="utf-8").split("\n")[:args.sentences]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="s2s-export-") as tmp:
        exports = {q: export_ctranslate2(Path(args.model), Path(tmp) / q, q, force=False) for q in ("float32", "int8")}
        s2s = Translator.load(args.model, max_repeats=0, max_piece_run=0)  # rules CTranslate2 has not
        alpha = s2s.settings.length_penalty
        ct2 = {q: CTranslate2Translator(path, threads=args.threads) for q, path in exports.items()}
        report: dict = {"model": args.model, "sentences": len(sentences), "threads": args.threads,
                        "length_penalty": alpha, "agreement_float32": {}, "speed": {}}
        for beam in (1, 5):
            for lp in ({alpha, 0.0} if beam > 1 else {alpha}):
                ours = Translator.load(args.model, max_repeats=0, max_piece_run=0,
                                       length_penalty=lp).translate(sentences, beam=beam)
                theirs = CTranslate2Translator(exports["float32"], length_penalty=lp).translate(sentences, beam=beam)
                report["agreement_float32"][f"beam{beam}_alpha{lp:g}"] = agreement(ours, theirs)
        for beam in (1, 5):
            report["speed"][f"s2s_beam{beam}"] = speed(s2s, sentences, beam, args.repeats)
            for q, translator in ct2.items():
                report["speed"][f"ct2_{q}_beam{beam}"] = speed(translator, sentences, beam, args.repeats)
            print(json.dumps(report["speed"]), file=sys.stderr)
    report["load_average"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
