"""Measure the longest wait for the next update's batches across shard and epoch boundaries.

    python scripts/bench/epoch_boundary.py [--shards 3] [--rows 1000000] [--workers 1] \
        [--update-ms 100] [--json out.json]

Writes a synthetic training corpus of `--shards` shards of `--rows` pairs each (random piece ids,
lengths like real sentences: log-normal, 2 .. 120 pieces) into a temporary directory, then drives
`seq2seq.data.loader.TrainLoader` as the trainer does: each update waits for its batches
(`next_update`), then computes for about `--update-ms` (matrix products on the trainer's thread,
as a model would; the workers make batches meanwhile). The loader is started (as --resume starts
it) a few updates before the end of the first shard, and again before the end of the epoch, so
both boundaries are crossed without training whole shards. Prints one JSON object: the longest
wait at each boundary, the median wait elsewhere, and the time a shard's plan takes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from seq2seq.data.augment import Augmentation, BatchMaker  # noqa: E402
from seq2seq.data.loader import LoaderSettings, TrainLoader  # noqa: E402
from seq2seq.data.plan import PlanSettings, plan_shard  # noqa: E402
from seq2seq.data.shards import Shard, ShardWriter, id_dtype, shard_name  # noqa: E402

VOCAB = 8000
CHUNK = 100_000


def write_corpus(directory: Path, shards: int, rows: int, seed: int = 0) -> list[dict[str, Any]]:
    """`shards` shards of `rows` random pairs; their manifest records."""
    rng = np.random.default_rng(seed)
    infos = []
    for number in range(shards):
        writer = ShardWriter(directory, shard_name("train", number), id_dtype(VOCAB))
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            src_len = np.clip(rng.lognormal(2.3, 0.55, n).astype(np.int64), 2, 120)
            tgt_len = np.clip(src_len + rng.integers(-3, 4, n), 2, 120)
            sides = []
            for lengths in (src_len, tgt_len):
                flat = rng.integers(4, VOCAB, int(lengths.sum()))
                sides.append(np.split(flat, np.cumsum(lengths)[:-1]))
            writer.add(sides[0], sides[1], ["x"] * n, ["y"] * n, [0] * n, [0] * n)
        infos.append(writer.close().to_dict())
    return infos


def busy(milliseconds: float) -> None:
    """About `milliseconds` of the trainer's own compute (a model's matrix products)."""
    a = torch.randn(256, 256)
    deadline = time.perf_counter() + milliseconds / 1000
    while time.perf_counter() < deadline:
        a = torch.tanh(a @ a)


def crossing(loader: TrainLoader, epoch: int, batch_in_epoch: int, updates: int, update_ms: float) -> list[float]:
    """Waits (s) for `updates` updates from a position."""
    loader.start(epoch, batch_in_epoch)
    waits = []
    for _ in range(updates):
        started = time.perf_counter()
        loader.next_update()
        waits.append(time.perf_counter() - started)
        busy(update_ms)
    loader.close()
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-tokens", type=int, default=4000)
    parser.add_argument("--accumulate", type=int, default=1)
    parser.add_argument("--update-ms", type=float, default=100.0)
    parser.add_argument("--before", type=int, default=8, help="updates before each boundary")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="s2s-epoch-boundary-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        infos = write_corpus(directory, args.shards, args.rows)
        written_s = time.perf_counter() - started
        plan = PlanSettings(1, args.batch_tokens, 100, args.accumulate, None)
        settings = LoaderSettings(0, 1, args.workers, False, [i["name"] for i in infos],
                                  [(i["longest_src"], i["longest_tgt"]) for i in infos], [i["pairs"] for i in infos],
                                  VOCAB)
        maker = BatchMaker(None, None, None, 1, Augmentation())  # type: ignore[arg-type]  # no text is encoded
        loader = TrainLoader(directory, plan, settings, maker)
        loader.start(0, 0)
        first = loader.current
        assert first is not None
        shard_batches = len(first.plan)
        loader.close()
        plan_s, epoch_batches = [], 0
        for number in range(args.shards):  # what planning one shard costs; the epoch's batches
            shard = Shard.open(directory, shard_name("train", number))
            started = time.perf_counter()
            epoch_batches += len(plan_shard(shard, (120, 120), plan, 0, number, number))
            plan_s.append(time.perf_counter() - started)
            shard.close()
        group, before = args.accumulate, args.before
        shard_waits = crossing(loader, 0, shard_batches - before * group, 2 * before, args.update_ms)
        epoch_waits = crossing(loader, 0, epoch_batches - before * group, 2 * before, args.update_ms)
    steady = shard_waits[1:before - 1] + epoch_waits[1:before - 1]
    result = {
        "shards": args.shards, "rows_per_shard": args.rows, "workers": args.workers,
        "batch_tokens": args.batch_tokens, "update_ms": args.update_ms, "batches_per_shard": shard_batches,
        "corpus_written_s": round(written_s, 1),
        "plan_one_shard_s": round(statistics.median(plan_s), 3),
        "longest_wait_at_shard_boundary_s": round(max(shard_waits[before - 2:before + 2]), 3),
        "longest_wait_at_epoch_boundary_s": round(max(epoch_waits[before - 2:before + 2]), 3),
        "longest_wait_s": round(max(shard_waits + epoch_waits), 3),
        "median_wait_elsewhere_s": round(statistics.median(steady), 4),
        "waits_around_shard_boundary_s": [round(w, 3) for w in shard_waits],
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
