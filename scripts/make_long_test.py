"""Make long-input tests from a prepared data directory's test split: every K consecutive test
pairs joined into one line, on both sides, for each K of --join (issue 32's joined-3 and joined-5;
joined-8 for BLEU by length up to 100 words).

    python scripts/make_long_test.py --data-dir data/tatoeba-fr-en --out-dir data/tatoeba-fr-en/long-test
    s2s eval --model runs/tatoeba-transformer --src data/tatoeba-fr-en/long-test/joined3.src \
        --ref data/tatoeba-fr-en/long-test/joined3.tgt --by-length

long.{src,tgt}: every pair of the test and dev splits whose source has --long-words words or more
(20: Tatoeba's longest sentences that training never saw; the dev pairs are held out from training
too), in file order, test first.

joinedK.{src,tgt}: line i is test pairs K*i .. K*i + K - 1 joined with a space (the last pairs, fewer
than K, are left out: their count is printed). The same sentences one per line are the first
K * lines pairs of the split, so a joined test's BLEU compares with the single-sentence BLEU of
those (`--split test` when nothing is left out). The split's consecutive pairs are unrelated
sentences (the split is drawn by a hash of the source), as a user's paragraph is not: the test
asks whether a line with several sentences comes back with all of them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        sys.exit(f"error: {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})")


def joined(lines: list[str], k: int) -> list[str]:
    """Every `k` consecutive lines as one (the last len(lines) % k left out)."""
    return [" ".join(lines[i:i + k]) for i in range(0, len(lines) - k + 1, k)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a prepared data directory")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("test", "dev"))
    parser.add_argument("--join", type=int, nargs="+", default=[3, 5, 8], help="how many pairs a line joins (8: the "
                        "by-length plot's lines of 60 to 100 words)")
    parser.add_argument("--long-words", type=int, default=20, help="long.src/.tgt: test and dev pairs of this many "
                        "source words or more")
    args = parser.parse_args(argv)
    if any(k < 2 for k in args.join):
        sys.exit(f"error: --join {' '.join(map(str, args.join))}: join 2 or more pairs a line")
    src = read_lines(args.data_dir / f"{args.split}.src")
    tgt = read_lines(args.data_dir / f"{args.split}.tgt")
    if len(src) != len(tgt):
        sys.exit(f"error: {args.data_dir}: {args.split}.src has {len(src):,} lines, {args.split}.tgt {len(tgt):,}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for k in args.join:
        for side, lines in (("src", src), ("tgt", tgt)):
            out = args.out_dir / f"joined{k}.{side}"
            out.write_text("".join(line + "\n" for line in joined(lines, k)), encoding="utf-8")
        made = len(src) // k
        words = sorted(len(line.split()) for line in joined(src, k))
        print(f"{args.out_dir}/joined{k}.src/.tgt: {made:,} lines of {k} {args.split} pairs "
              f"({len(src) - made * k} pair(s) left out); source words per line: median "
              f"{words[len(words) // 2] if words else 0}, longest {words[-1] if words else 0}")
    long_pairs = []
    for split in ("test", "dev"):
        paths = [args.data_dir / f"{split}.{side}" for side in ("src", "tgt")]
        if all(path.is_file() for path in paths):
            pairs = list(zip(read_lines(paths[0]), read_lines(paths[1])))
            long_pairs += [pair for pair in pairs if len(pair[0].split()) >= args.long_words]
    for side in (0, 1):
        out = args.out_dir / f"long.{('src', 'tgt')[side]}"
        out.write_text("".join(pair[side] + "\n" for pair in long_pairs), encoding="utf-8")
    print(f"{args.out_dir}/long.src/.tgt: {len(long_pairs):,} test and dev pairs of {args.long_words} source words or more")


if __name__ == "__main__":
    main()
