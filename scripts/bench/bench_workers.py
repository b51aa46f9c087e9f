"""The engine of `s2s serve --workers`: batches translated one after another by one worker using
every core, against several workers side by side, each with its share of the cores.

    python scripts/bench/bench_workers.py --model runs/tatoeba-transformer --src data/tatoeba-fr-en/dev.src \
        --sentences 960 --batch 24 --layouts 1x2 2x1 --repeats 2 [--precision bf16]

Each layout WxT runs W threads that take the next batch of --batch sentences (shuffled with a
fixed seed, as requests from many clients arrive) until --sentences are translated, with T torch
threads each; the model is loaded once per layout in a fresh process, so the thread setting holds
from the start. Prints sentences/s per layout (the best of --repeats) as JSON. Take it on an idle
machine (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def one_layout(args: argparse.Namespace, workers: int, threads: int) -> float:
    """Sentences/s of `workers` threads x `threads` torch threads (run in this process)."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(REPO))
    from seq2seq.files import read_lines
    from seq2seq.translator import Translator

    translator = Translator.load(args.model, precision=args.precision)
    lines = read_lines(Path(args.src), "source")[:args.sentences]
    random.Random(0).shuffle(lines)
    translator.translate_batch(lines[:args.batch])  # warm-up
    best = 0.0
    for _ in range(args.repeats):
        batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not batches:
                        return
                    batch = batches.pop()
                translator.translate_batch(batch)

        started = time.perf_counter()
        pool = [threading.Thread(target=work) for _ in range(workers)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        best = max(best, len(lines) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--sentences", type=int, default=960)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--layouts", nargs="+", default=["1x2", "2x1"], help="WORKERSxTHREADS")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one layout in this process
    args = parser.parse_args()
    if args.one:
        workers, threads = map(int, args.one.split("x"))
        print(one_layout(args, workers, threads))
        return
    results = {}
    for layout in args.layouts:
        command = [sys.executable, __file__, *sys.argv[1:], "--one", layout]
        results[layout] = round(float(subprocess.run(command, check=True, capture_output=True,
                                                     text=True).stdout.split()[-1]), 1)
        print(f"{layout}: {results[layout]} sentences/s", file=sys.stderr)
    print(json.dumps({"model": args.model, "batch": args.batch, "sentences": args.sentences,
                      "precision": args.precision or "the run's", "sentences_per_s": results,
                      "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
