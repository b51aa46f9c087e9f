"""Choose decode.no_repeat_ngram, max_piece_run and max_len_ratio on the dev split (issue 32): for each
setting, BLEU, length ratio and stutter on the dev sentences one per line (split into sentences,
the default) and on the joined dev lines translated whole (--no-split, where loops and lost
sentences show), and how many single-sentence outputs the setting changes.

    python scripts/make_long_test.py --data-dir data/tatoeba-fr-en --out-dir data/tatoeba-fr-en/long-dev --split dev
    python scripts/tune_long_decoding.py --run runs/tatoeba-transformer --data-dir data/tatoeba-fr-en \
        --long-dev data/tatoeba-fr-en/long-dev --ngram 0 3 4 --piece-run 0 2 --ratio 1.5

Prints a Markdown table (one row per setting; the first setting is the reference for "changed").
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from long_input import stutters  # noqa: E402

from seq2seq.files import read_lines  # noqa: E402
from seq2seq.metrics import full_scores  # noqa: E402
from seq2seq.translator import Translator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="the prepared data (its dev split)")
    parser.add_argument("--long-dev", type=Path, required=True, help="make_long_test.py --split dev's folder")
    parser.add_argument("--ngram", type=int, nargs="+", default=[0, 3, 4])
    parser.add_argument("--ratio", type=float, nargs="+", default=[1.5])
    parser.add_argument("--piece-run", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    sets = {"dev": (args.data_dir / "dev.src", args.data_dir / "dev.tgt", True)}
    sets.update({f"dev {name}, no split": (args.long_dev / f"{name}.src", args.long_dev / f"{name}.tgt", False)
                 for name in ("joined3", "joined5")})
    texts = {name: (read_lines(src, "source"), read_lines(ref, "reference"), split)
             for name, (src, ref, split) in sets.items()}
    translator = Translator.load(args.run)
    base = translator.settings
    print(f"{args.run}, beam {base.beam_size}; BLEU / length ratio / stutter (lines), per set\n")
    print("| no_repeat_ngram | max_piece_run | max_len_ratio | " + " | ".join(texts) + " | dev lines changed | seconds |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in texts) + " | --- | --- |")
    reference = None
    for ngram, run, ratio in itertools.product(args.ngram, args.piece_run, args.ratio):
        translator.settings = dataclasses.replace(base, no_repeat_ngram=ngram, max_piece_run=run, max_len_ratio=ratio)
        cells, start = [], time.perf_counter()
        for name, (sources, references, split) in texts.items():
            hypotheses = translator.translate_batch(sources, split=split)
            outputs = [r.text for r in hypotheses]
            bleu = full_scores(outputs, references)["bleu"]
            stutter = len(stutters(translator.tgt_tokenizer, outputs, references))
            cells.append(f"{bleu['score']:.2f} / {bleu['length_ratio']:.3f} / {stutter}")
            if name == "dev":
                changed = "-" if reference is None else f"{sum(a != b for a, b in zip(reference, outputs))}"
                reference = reference or outputs
        print(f"| {ngram} | {run} | {ratio:g} | " + " | ".join(cells) + f" | {changed} | {time.perf_counter() - start:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
