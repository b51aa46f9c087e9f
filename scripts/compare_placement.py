"""What the search rule that places every entity symbol once (seq2seq/entities/placement.py) changes:
one model, one test file, translated with and without the rule; copy rate, BLEU, and the outputs
that differ.

    python scripts/compare_placement.py --model runs/tatoeba-transformer-10min-seed1 \
        --test data/tatoeba-fr-en/names-test/names [--beam 5] [--show 10]

--test PREFIX reads PREFIX.src, PREFIX.tgt and PREFIX.expect (scripts/make_names_test.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import sacrebleu

import seq2seq.pipeline as pipeline
from seq2seq.files import read_lines
from seq2seq.metrics import copy_rate
from seq2seq.translator import Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", required=True, help="PREFIX of PREFIX.src / .tgt / .expect")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the model's)")
    parser.add_argument("--show", type=int, default=10, help="print this many outputs that differ")
    args = parser.parse_args()
    sources = read_lines(Path(f"{args.test}.src"), "source")
    references = read_lines(Path(f"{args.test}.tgt"), "reference")
    expected = [line.split() for line in read_lines(Path(f"{args.test}.expect"), "expect file")]
    translator = Translator.load(args.model, beam=args.beam)

    placed = translator.translate(sources)
    rule = pipeline.symbol_ids  # what the text pipeline asks for the symbols the search places
    pipeline.symbol_ids = lambda *tokenizers: ()  # the search without the rule
    try:
        free = translator.translate(sources)
    finally:
        pipeline.symbol_ids = rule

    report = {}
    for name, outputs in (("without the rule", free), ("with the rule", placed)):
        rate = copy_rate(outputs, expected)
        report[name] = {"copy_rate": rate["copy_rate"], "copied": rate["copied"], "sentences": rate["sentences"],
                        "bleu": round(sacrebleu.corpus_bleu(outputs, [references]).score, 2)}
    report["outputs that differ"] = sum(a != b for a, b in zip(free, placed))
    print(json.dumps(report, indent=2))
    shown = 0
    for source, before, after in zip(sources, free, placed):
        if before != after and shown < args.show:
            print(f"\n  source:  {source}\n  without: {before}\n  with:    {after}")
            shown += 1


if __name__ == "__main__":
    main()
