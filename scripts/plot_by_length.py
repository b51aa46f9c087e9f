"""Put the BLEU-by-length results of several runs in one plot.

    python scripts/plot_by_length.py "with attention=docs/results/tatoeba-rnn.lr3e-3.10min.seed1.json" \
        "without attention=docs/results/tatoeba-rnn-noattn.lr3e-3.10min.seed1.json" \
        --output docs/bleu-by-length-tatoeba.png --title "RNN, Tatoeba test"
    s2s eval --model runs/R --split test --by-length --json > r.json
    python scripts/plot_by_length.py "R=r.json" --output r.png
    python scripts/plot_by_length.py --set long "split=REC.json:split" "whole=REC.json:no_split" --output long.png

Each argument is LABEL=FILE, FILE a result record (docs/results.md; `--set test` or
`--set multi30k_val` picks its test set) or the output of `s2s eval --by-length --json`. The bars
of one bucket sit side by side, so what happens to each model as sentences grow longer (the RNN
bottleneck) can be read off directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seq2seq.plots import plot_bleu_by_length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("series", nargs="+", help="LABEL=FILE, FILE a result record or the output of s2s eval --by-length --json")
    parser.add_argument("--output", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="BLEU by source length (words)")
    parser.add_argument("--set", default="test", help="a record's test set: test or multi30k_val, or long:split "
                        "and long:no_split (the long-input tests, up to 100 words; LABEL=FILE:MODE picks per series)")
    args = parser.parse_args()

    series = {}
    for item in args.series:
        label, sep, file = item.partition("=")
        file, _, series_mode = file.partition(":")
        if not sep:
            sys.exit(f"error: {item!r}: expected LABEL=FILE")
        try:
            report = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            sys.exit(f"error: {file}: {err}; give the output of `s2s eval --by-length --json`")
        by_length = report.get("by_length")
        set_name, _, mode = args.set.partition(":")
        mode = series_mode or mode
        if set_name == "long":  # a record's long-input scores (scripts/long_input.py), split or no_split
            by_length = report.get("long_input", {}).get("by_length", {}).get(mode or "split")
        elif isinstance(by_length, dict):  # a result record: one entry per test set
            by_length = by_length.get(args.set, {}).get("by_length")
        if not by_length:
            sys.exit(f"error: {file}: no by_length results for {args.set}; run s2s eval with --by-length")
        series[label] = by_length
    path = plot_bleu_by_length(series, args.output, title=args.title)
    print(path)


if __name__ == "__main__":
    main()
