"""Score a run on long input (issue 32): the single-sentence test, the joined-3, -5 and -8 tests
and the long sentences of scripts/make_long_test.py, each split into sentences (the default) and
with --no-split; BLEU, length ratio, stutter, sentences/s, and BLEU by source length up to 100 words.

    python scripts/make_long_test.py --data-dir data/tatoeba-fr-en --out-dir data/tatoeba-fr-en/long-test
    python scripts/long_input.py --run runs/tatoeba-transformer --long data/tatoeba-fr-en/long-test \
        --data-dir data/tatoeba-fr-en > long.json

scripts/record_run.py calls `long_scores` for its records (`--long DIR`). Stutter: an output with one
subword three or more times in a row where its reference has no such run (counted on the run's
SentencePiece pieces). Sentences/s: `s2s eval`'s, the lines of the set over the seconds of
translating it (take it on an idle machine). $S2S_DECODE is passed to every s2s eval, as
record_run.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETS = ("single", "joined3", "joined5", "joined8", "long")
MODES = {"split": (), "no_split": ("--no-split",)}


def eval_set(run: Path, src: Path, ref: Path, options: tuple[str, ...], output: Path) -> dict[str, Any]:
    decode = shlex.split(os.environ.get("S2S_DECODE", ""))
    command = [sys.executable, "-m", "seq2seq", "eval", "--model", str(run), "--src", str(src), "--ref", str(ref),
               "--json", "--output", str(output), *options, *decode]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}: {(done.stderr.strip().splitlines() or [str(done.returncode)])[-1]}")
    return json.loads(done.stdout)


def has_run(ids: list[int], times: int = 3) -> bool:
    """One id `times` or more times in a row."""
    run = 1
    for previous, current in zip(ids, ids[1:]):
        run = run + 1 if current == previous else 1
        if run >= times:
            return True
    return False


def stutters(tokenizer: Any, hypotheses: list[str], references: list[str]) -> list[int]:
    """Lines whose output has a subword 3+ times in a row that its reference does not have."""
    return [i for i, (hyp, ref) in enumerate(zip(hypotheses, references))
            if has_run(tokenizer.encode(hyp)) and not has_run(tokenizer.encode(ref))]


def set_files(long_dir: Path, data_dir: Path) -> dict[str, tuple[Path, Path]]:
    files = {"single": (data_dir / "test.src", data_dir / "test.tgt")}
    files.update({name: (long_dir / f"{name}.src", long_dir / f"{name}.tgt") for name in SETS[1:]})
    for src, ref in files.values():
        for path in (src, ref):
            if not path.is_file():
                sys.exit(f"error: {path}: not found (python scripts/make_long_test.py --data-dir {data_dir} "
                         f"--out-dir {long_dir})")
    return files


def long_scores(run: Path, long_dir: Path, data_dir: Path) -> dict[str, Any]:
    """{mode: {set: scores}, "by_length": {mode: rows}} of `run` (see the module docstring)."""
    sys.path.insert(0, str(REPO))
    from seq2seq.data.tokenizer import Tokenizer
    from seq2seq.files import read_lines
    from seq2seq.metrics import LONG_BUCKETS, bleu_by_length

    tokenizer = Tokenizer.from_file(run / "spm.model") if (run / "spm.model").is_file() else None
    files = set_files(long_dir, data_dir)
    found: dict[str, Any] = {"by_length": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, options in MODES.items():
            found[mode], everything = {}, ([], [], [])
            for name, (src, ref) in files.items():
                output = Path(tmp) / f"{mode}.{name}.hyp"
                report = eval_set(run, src, ref, options, output)
                sources, references = read_lines(src, "source"), read_lines(ref, "reference")
                hypotheses = read_lines(output, "hypotheses")
                scores = {key: report[key] for key in ("bleu", "brevity_penalty", "length_ratio", "chrf", "sentences",
                                                       "seconds", "sentences_per_second")}
                if tokenizer is not None:
                    stuttering = stutters(tokenizer, hypotheses, references)
                    scores["stutter"] = len(stuttering)
                    scores["stutter_examples"] = [hypotheses[i] for i in stuttering[:3]]
                if name == "long":
                    scores["outputs"] = hypotheses
                scores["command"] = (f"s2s eval --model {run} --src {src} --ref {ref} --json"
                                     + "".join(f" {o}" for o in options))
                found[mode][name] = scores
                for bag, lines in zip(everything, (sources, hypotheses, references)):
                    bag.extend(lines)
            found["by_length"][mode] = bleu_by_length(*everything, buckets=LONG_BUCKETS)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--long", type=Path, required=True, help="the folder make_long_test.py wrote")
    parser.add_argument("--data-dir", type=Path, required=True, help="the prepared data (its test split)")
    args = parser.parse_args()
    print(json.dumps(long_scores(args.run, args.long, args.data_dir), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
