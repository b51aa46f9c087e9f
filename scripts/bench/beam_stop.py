"""When beam search ends a sentence (decode.stop_lookahead): decoder work, time and BLEU of each
lookahead against the exact bound, on one split, in batches as a server makes them.

    python scripts/bench/beam_stop.py --model runs/tatoeba-transformer --data-dir data/tatoeba-fr-en \
        --split dev --lookaheads exact 0 1 2 3 4 --batch 24 --repeats 2

One process, the model loaded once. For each setting: the decoder rows computed (the sum over
steps of the hypotheses decoded, a count no machine changes), sentences/s (the best of --repeats
passes over the split in batches of --batch sentences, as `s2s serve` gets them from 32 clients;
take it on an idle machine: `uptime`), BLEU, the length ratio, and how many outputs differ from the
exact bound's. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import sacrebleu  # noqa: E402

from seq2seq.files import read_lines  # noqa: E402
from seq2seq.translator import Translator  # noqa: E402


class RowCounter:
    """Wraps a model's decode_step to count the rows (hypotheses) it decodes."""

    def __init__(self, translator: Translator) -> None:
        self.rows = 0
        step = translator.model.decode_step

        def counted(memory, state, prev_tokens, need_attention=False):  # type: ignore[no-untyped-def]
            self.rows += prev_tokens.size(0)
            return step(memory, state, prev_tokens, need_attention)

        translator.model.decode_step = counted  # type: ignore[method-assign]


def decode(translator: Translator, sources: list[str], batch: int) -> list[str]:
    out: list[str] = []
    for start in range(0, len(sources), batch):
        out += translator.translate(sources[start:start + batch])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--lookaheads", nargs="+", default=["exact", "0", "1", "2", "3", "4"])
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precision", default=None)
    args = parser.parse_args()

    translator = Translator.load(args.model, precision=args.precision)
    counter = RowCounter(translator)
    sources = read_lines(args.data_dir / f"{args.split}.src", "source")
    references = read_lines(args.data_dir / f"{args.split}.tgt", "reference")
    decode(translator, sources[:args.batch], args.batch)  # warm-up: first calls pay for allocations
    base = translator.settings
    results, exact_out = [], None
    for name in args.lookaheads:
        lookahead = None if name == "exact" else int(name)
        translator.settings = dataclasses.replace(base, stop_lookahead=lookahead)
        times = []
        for _ in range(args.repeats):
            counter.rows = 0
            start = time.perf_counter()
            out = decode(translator, sources, args.batch)
            times.append(time.perf_counter() - start)
        exact_out = out if lookahead is None else exact_out
        bleu = sacrebleu.corpus_bleu(out, [references])
        results.append({"lookahead": name, "decoder_rows": counter.rows,
                        "sentences_per_s": round(len(sources) / min(times), 1), "bleu": round(bleu.score, 2),
                        "length_ratio": round(bleu.sys_len / bleu.ref_len, 4),
                        "differ_from_exact": None if exact_out is None else sum(a != b for a, b in zip(out, exact_out))})
        print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"model": str(args.model), "split": args.split, "sentences": len(sources),
                      "batch": args.batch, "precision": translator.settings.precision,
                      "load_average": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
