"""Print the README's results tables (Markdown) from what scripts/reproduce_results.sh measured.

    python scripts/results_table.py            # reads docs/results/*.json and runs/<config>-30min/

Nothing here is typed in by hand: BLEU/chrF come from `s2s eval --json` outputs, dev BLEU,
updates, tokens/s and peak memory from the runs' metrics.csv and train.log, translation speed
from `scripts/bench_decode.py` outputs. A missing file leaves its cells as "n/a".
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODELS = [("tatoeba-rnn-noattn", "RNN, no attention"), ("tatoeba-rnn", "RNN + dot attention"),
          ("tatoeba-transformer", "Transformer")]


def load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def run_facts(run: Path) -> dict[str, Any]:
    """Dev BLEU and updates at the 10-minute snapshot and at the end, tokens/s, peak memory."""
    facts: dict[str, Any] = {}
    log = (run / "train.log").read_text(encoding="utf-8") if (run / "train.log").is_file() else ""
    snapshot = re.search(r"copied best.pt \(dev BLEU ([\d.]+) at step (\d+)\)", log)
    if snapshot:
        facts["dev10"], facts["steps10"] = float(snapshot.group(1)), int(snapshot.group(2))
    # the first stop is the training run's; a later --resume of it logs its own line
    end = re.search(r"stopped after step (\d+) .*best dev BLEU ([\d.]+) at step \d+.*", log)
    if end:
        facts["steps30"], facts["dev30"] = int(end.group(1)), float(end.group(2))
        peak = re.search(r"peak memory ([\d,]+) MB", end.group(0))
        if peak:
            facts["peak_mb"] = int(peak.group(1).replace(",", ""))
    if (run / "metrics.csv").is_file():
        with open(run / "metrics.csv", newline="", encoding="utf-8") as handle:
            speeds = [float(r["tokens_per_s"]) for r in csv.DictReader(handle) if r["tokens_per_s"]]
        if speeds:
            facts["tok_s"] = statistics.median(speeds)
    return facts


def cell(value: Any, fmt: str = "{:.1f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def main() -> None:
    results = REPO / "docs" / "results"
    rows, speed_rows, signature = [], [], None
    for name, label in MODELS:
        facts = run_facts(REPO / "runs" / f"{name}-30min")
        scores = {}
        for minutes in (10, 30):
            for test_set in ("test", "multi30k"):
                report = load_json(results / f"{name}.{minutes}.{test_set}.json")
                scores[minutes, test_set] = report
                if report and test_set == "test":
                    signature = report["signature"]["bleu"]

        def bleu_chrf(minutes: int, test_set: str) -> str:
            report = scores[minutes, test_set]
            return "n/a" if report is None else f"{report['bleu']:.1f} / {report['chrf']:.1f}"

        rows.append(f"| {label} | {cell(facts.get('dev10'))} | {bleu_chrf(10, 'test')} | "
                    f"{cell(facts.get('dev30'))} | {bleu_chrf(30, 'test')} | {bleu_chrf(10, 'multi30k')} | "
                    f"{bleu_chrf(30, 'multi30k')} | {cell(facts.get('steps10'), '{:,}')} / "
                    f"{cell(facts.get('steps30'), '{:,}')} | {cell(facts.get('tok_s'), '{:,.0f}')} | "
                    f"{cell(facts.get('peak_mb'), '{:,}')} |")
        decode = load_json(results / f"{name}.decode.json")
        if decode:
            parts = []
            for mode in ("greedy_batched", "beam5_batched", "greedy_one_at_a_time", "beam5_one_at_a_time"):
                m = decode.get(mode)
                parts.append("n/a" if m is None else f"{m['sentences_per_s']:,.0f} ({m['target_tokens_per_s']:,.0f})")
            speed_rows.append(f"| {label} | " + " | ".join(parts) + " |")

    print("| model | dev BLEU 10 min | test BLEU / chrF 10 min | dev BLEU 30 min | test BLEU / chrF 30 min "
          "| Multi30k val 10 min | Multi30k val 30 min | updates 10 / 30 min | training tokens/s | peak MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if signature:
        print(f"\nBLEU signature: `{signature}`")
    if speed_rows:
        print("\n| model | greedy, batched | beam 5, batched | greedy, one at a time | beam 5, one at a time |")
        print("| --- | --- | --- | --- | --- |")
        print("\n".join(speed_rows))
    if not rows:
        sys.exit("nothing measured yet: run scripts/reproduce_results.sh")


if __name__ == "__main__":
    main()
