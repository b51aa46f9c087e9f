"""Print the README's table of one config's seed runs (Markdown) from what scripts/seed_runs.sh wrote.

    python scripts/seed_table.py tatoeba-transformer-tship 10 1 2 3

reads docs/results/<name>.<minutes>min.seed<k>.json for each seed: updates, best dev BLEU and
peak memory from the run's closing line, test BLEU and chrF of beam search and greedy, the copy
rates of the names, digits, dates and places tests, the card's sentence; then the mean and range.
Nothing is typed in by hand.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HEADER = ("| seed | updates | best dev BLEU (500 pairs, greedy) | test BLEU beam 5 (BP) | test BLEU greedy (BP) "
          "| beam - greedy | test chrF beam 5 | unseen names copied | digit sentences kept (20) | dates test (11) "
          "| places test | peak MB | the card's sentence |")


def closing_facts(stopped: str) -> tuple[int, str, str]:
    """(updates, best dev BLEU, peak MB) from a run's "stopped after step ..." line."""
    updates = int(re.search(r"stopped after step (\d+)", stopped).group(1))  # type: ignore[union-attr]
    dev = re.search(r"best dev BLEU ([\d.]+)", stopped)
    peak = re.search(r"peak memory (\d+)", stopped)
    return updates, dev.group(1) if dev else "n/a", peak.group(1) if peak else "n/a"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g} %"


def count(rate: float | None, total: int) -> str:
    return "n/a" if rate is None else f"{round(rate * total / 100)}"


def row(seed: str, result: dict[str, Any]) -> str:
    updates, dev, peak = closing_facts(result["stopped"])
    beam, greedy = result["test_beam"], result["test_greedy"]
    return (f"| {seed} | {updates:,} | {dev} | {beam['bleu']:.2f} ({beam['brevity_penalty']:.3f}) | "
            f"{greedy['bleu']:.2f} ({greedy['brevity_penalty']:.3f}) | {beam['bleu'] - greedy['bleu']:+.2f} | "
            f"{beam['chrf']:.2f} | {percent(result.get('names_copy_rate'))} | "
            f"{count(result.get('digits_copy_rate'), 20)} | {count(result.get('dates_copy_rate'), 11)} | "
            f"{percent(result.get('places_copy_rate'))} | {peak} | {result['card']} |")


def summary(results: list[dict[str, Any]]) -> str:
    def mean_range(values: list[float]) -> str:
        return f"{statistics.mean(values):.2f} ({min(values):.2f}-{max(values):.2f})"
    beam = [r["test_beam"]["bleu"] for r in results]
    greedy = [r["test_greedy"]["bleu"] for r in results]
    updates = [closing_facts(r["stopped"])[0] for r in results]
    gain = statistics.mean(b - g for b, g in zip(beam, greedy))
    chrf = statistics.mean(r["test_beam"]["chrf"] for r in results)
    return (f"| **mean (range)** | {statistics.mean(updates):,.0f} | | **{mean_range(beam)}** | {mean_range(greedy)} "
            f"| {gain:+.2f} | {chrf:.2f} | | | | | | |")


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit("usage: python scripts/seed_table.py NAME MINUTES SEED [SEED ...]")
    name, minutes, seeds = argv[0], argv[1], argv[2:]
    results = []
    for seed in seeds:
        path = REPO / "docs" / "results" / f"{name}.{minutes}min.seed{seed}.json"
        if not path.is_file():
            sys.exit(f"{path}: no such result; run scripts/seed_runs.sh first")
        results.append(json.loads(path.read_text(encoding="utf-8")))
    print(HEADER)
    print("|" + " --- |" * HEADER.count(" | ") + " --- |")
    for seed, result in zip(seeds, results):
        print(row(seed, result))
    print(summary(results))


if __name__ == "__main__":
    main(sys.argv[1:])
