"""Decoding speed on long input (issue 32): the single-sentence test against the joined-3 test,
split into sentences (the default) and whole (--no-split); and with --previous RUN, that model
with the previous release's decoding (whole lines, no n-gram blocking, no piece-run limit, its
own output bound).

    python scripts/bench/bench_long.py --model runs/tatoeba-transformer --data-dir data/tatoeba-fr-en \
        --long data/tatoeba-fr-en/long-test --repeats 3 [--previous runs/OLD]

One process, the model loaded once; each figure is the median of --repeats timings of one
`translate_batch` over the whole set (lines/s; a joined-3 line is 3 test sentences, so 1/3 of the
single test's sentences/s is "as fast as the sentences one per line"). Take it on an idle machine
(`uptime`); it prints the load before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from seq2seq.files import read_lines  # noqa: E402
from seq2seq.translator import Translator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="the prepared data (its test split)")
    parser.add_argument("--long", type=Path, required=True, help="the folder make_long_test.py wrote")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--previous", type=Path, help="a previous release's run, decoded as it was")
    args = parser.parse_args()
    single = read_lines(args.data_dir / "test.src", "test source")
    joined = read_lines(args.long / "joined3.src", "joined-3 source")
    translator = Translator.load(args.model)
    new = translator.settings
    cases = {"single": (translator, single, new), "joined3 split": (translator, joined, new),
             "joined3 no split": (translator, joined, dataclasses.replace(new, split_sentences=False))}
    if args.previous is not None:
        previous = Translator.load(args.previous)
        old = dataclasses.replace(previous.settings, no_repeat_ngram=0, max_piece_run=0, split_sentences=False)
        cases.update({"previous: single": (previous, single, old), "previous: joined3": (previous, joined, old)})
    report = {"model": str(args.model), "previous": str(args.previous), "beam": new.beam_size,
              "threads": __import__("torch").get_num_threads(), "load_before": os.getloadavg()}
    for name, (translator, lines, settings) in cases.items():
        translator.settings = settings
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            translator.translate_batch(lines)
            seconds.append(time.perf_counter() - start)
        report[name] = {"lines": len(lines), "lines_per_second": round(len(lines) / statistics.median(seconds), 2),
                        "seconds": [round(s, 2) for s in seconds]}
        print(f"{name}: {report[name]['lines_per_second']} lines/s ({report[name]['seconds']} s)", file=sys.stderr)
    for name, single_name in (("joined3 split", "single"), ("joined3 no split", "single"),
                              ("previous: joined3", "previous: single")):
        if name in report:
            share = report[name]["lines_per_second"] / report[single_name]["lines_per_second"]
            report[name]["share_of_single_sentences_per_second"] = round(share, 3)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
