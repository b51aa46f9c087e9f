"""Put the BLEU-by-length results of several `s2s eval --by-length --json` runs in one plot.

    s2s eval --model runs/tatoeba-rnn-30min --split test --by-length --json > rnn.json
    s2s eval --model runs/tatoeba-rnn-noattn-30min --split test --by-length --json > noattn.json
    python scripts/plot_by_length.py "with attention=rnn.json" "without attention=noattn.json" \
        --output docs/bleu-by-length.png --title "RNN, Tatoeba test"

Each argument is LABEL=FILE. The bars of one bucket sit side by side, so what happens to each
model as sentences grow longer (the RNN bottleneck) can be read off directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seq2seq.plots import plot_bleu_by_length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("series", nargs="+", help="LABEL=FILE, FILE the output of s2s eval --by-length --json")
    parser.add_argument("--output", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="BLEU by source length (words)")
    args = parser.parse_args()

    series = {}
    for item in args.series:
        label, sep, file = item.partition("=")
        if not sep:
            sys.exit(f"error: {item!r}: expected LABEL=FILE")
        try:
            report = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            sys.exit(f"error: {file}: {err}; give the output of `s2s eval --by-length --json`")
        if "by_length" not in report:
            sys.exit(f"error: {file}: no by_length results; run s2s eval with --by-length")
        series[label] = report["by_length"]
    path = plot_bleu_by_length(series, args.output, title=args.title)
    print(path)


if __name__ == "__main__":
    main()
