"""Make a large test corpus: N distinct sentence pairs built from Tatoeba's training split.

    python scripts/make_big_corpus.py 20000000 --data data/tatoeba-transformer --out /tmp/big.tsv

Each output pair joins 1 to 3 training pairs of a prepared Tatoeba directory (source with source,
target with target, in the same order), so lengths vary like real text: every training pair once on
its own, the rest two or three sentences joined (half each). Only the training split is
used, so the prepared directory's dev and test sets stay unseen: a model trained on the big corpus
is evaluated on Tatoeba's own test set. Pairs are distinct (combinations drawn with a seeded numpy
generator, duplicates dropped by np.unique on their packed indices); the output is a TSV file in
Tatoeba's column order (target<TAB>source, like fra.txt; text as prepared: normalised, and with
data.split_elision the source's elisions split), so a Tatoeba config reads it with only
data.path changed. Memory: the training split's text plus 8 bytes a pair; 20 M pairs take ~3 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

BITS = 21  # indices up to 2 M training pairs; three of them pack into one int64 key


def training_pairs(data_dir: Path) -> tuple[list[str], list[str]]:
    """The training split of a prepared directory: shard text files (train.NNNNN.src), or v1 train.src."""
    sources = sorted(data_dir.glob("train.[0-9]*.src")) or [data_dir / "train.src"]
    src: list[str] = []
    tgt: list[str] = []
    for path in sources:
        if not path.is_file():
            sys.exit(f"{path}: not found; prepare Tatoeba first: s2s data prepare --config configs/tatoeba-transformer.yaml")
        src += path.read_text(encoding="utf-8").splitlines()
        tgt += path.with_suffix(".tgt").read_text(encoding="utf-8").splitlines()
    if len(src) != len(tgt) or not src:
        sys.exit(f"{data_dir}: source and target training files differ in length (or are empty)")
    if len(src) >= 1 << BITS:
        sys.exit(f"{data_dir}: {len(src):,} training pairs; this script takes at most {1 << BITS:,}")
    return src, tgt


def combinations(n_pairs: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct keys, each packing 1 to 3 pair indices (+1, 0 = none), every single pair first."""
    rng = np.random.default_rng(seed)
    keys = [np.arange(1, min(n_pairs, count) + 1, dtype=np.int64)]  # every pair alone, once
    have = len(keys[0])
    while have < count:
        draw = max(1024, int((count - have) * 1.05))
        parts = rng.integers(1, n_pairs + 1, size=(draw, 3), dtype=np.int64)
        parts[:, 2] *= rng.integers(0, 2, size=draw)  # two or three sentences, half each
        new = parts[:, 0] | parts[:, 1] << BITS | parts[:, 2] << (2 * BITS)
        merged = np.concatenate([*keys, new])
        _, first = np.unique(merged, return_index=True)
        keys = [merged[np.sort(first)]]  # distinct, in draw order
        have = len(keys[0])
    return keys[0][:count]


def write(keys: np.ndarray, src: list[str], tgt: list[str], out: Path) -> None:
    started, mask = time.monotonic(), (1 << BITS) - 1
    with open(out, "w", encoding="utf-8") as handle:
        for start in range(0, len(keys), 100_000):
            lines = []
            for key in keys[start:start + 100_000].tolist():
                parts = [(key >> shift & mask) - 1 for shift in (0, BITS, 2 * BITS) if key >> shift & mask]
                lines.append(" ".join(tgt[i] for i in parts) + "\t" + " ".join(src[i] for i in parts) + "\n")
            handle.writelines(lines)
            done = min(start + 100_000, len(keys))
            print(f"\r{done:,} / {len(keys):,} pairs ({done / max(time.monotonic() - started, 1e-9):,.0f}/s)",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=int, help="how many distinct pairs to write")
    parser.add_argument("--data", type=Path, default=Path("data/tatoeba-transformer"),
                        help="a prepared Tatoeba directory (its training split is used)")
    parser.add_argument("--out", type=Path, required=True, help="the TSV file to write (target<TAB>source)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.pairs < 1:
        sys.exit("pairs must be >= 1")
    if args.out.exists():
        sys.exit(f"{args.out}: exists; remove it or choose another --out")
    src, tgt = training_pairs(args.data)
    keys = combinations(len(src), args.pairs, args.seed)
    write(keys, src, tgt, args.out)
    print(f"{args.out}: {len(keys):,} distinct pairs from {len(src):,} training pairs of {args.data}")


if __name__ == "__main__":
    main()
