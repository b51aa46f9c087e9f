"""Measure the data pipeline at scale: `s2s data prepare` and the start of `s2s train` on a corpus.

    python scripts/bench/data_scale.py prepare --config configs/tatoeba-transformer.yaml \
        --corpus /tmp/big20m.tsv --dir /tmp/big20m-data
    python scripts/bench/data_scale.py train --config configs/tatoeba-transformer.yaml \
        --dir /tmp/big20m-data --run /tmp/big20m-run --steps 200 [--set train.threads=2 ...]

Each prints one JSON object (and writes it as docs/results/scale/<--record>.json when given, the
record scripts/results_table.py puts in docs/results.md): the command, the commit, the config's
sha256, the CPU and load
average, wall seconds, the peak RSS /usr/bin/time reports (the largest single process, workers
included) and the peak of the whole process tree's summed RSS sampled every 0.2 s (what the
machine really had to hold: the trainer plus its DataLoader or prepare workers). `train` also
reports the seconds from the start of the command to the first update, the longest gap between
two updates (epoch and shard boundaries included) and the median target tokens/s of the progress
lines after the first 10 % of the steps. Take figures on an idle machine (uptime first).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STEP = re.compile(r"^\S+ \S+ step\s+(\d+) \|.*\| ([\d,]+) tok/s \|")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores"
    return platform.processor()


def tree_rss_kib(root: int) -> int:
    """Summed VmRSS of `root` and all its descendants (KiB)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_measured(command: list[str], on_tick: Any = None) -> dict[str, Any]:
    """Run `command` under /usr/bin/time -v; sample the tree's RSS; call on_tick(seconds) every 0.2 s."""
    timed = ["/usr/bin/time", "-v", *command]
    started = time.monotonic()
    process = subprocess.Popen(timed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_tree = 0
    output: dict[str, str] = {}
    readers = [threading.Thread(target=lambda name=name, stream=stream: output.__setitem__(name, stream.read()))
               for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))]
    for reader in readers:
        reader.start()
    while process.poll() is None:
        peak_tree = max(peak_tree, tree_rss_kib(process.pid))
        if on_tick is not None:
            on_tick(time.monotonic() - started)
        time.sleep(0.2)
    for reader in readers:
        reader.join()
    if on_tick is not None:
        on_tick(time.monotonic() - started)
    seconds = time.monotonic() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", output["stderr"])
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{output['stderr'][-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
            "peak_tree_rss_mb": round(peak_tree / 1024), "stdout_tail": output["stdout"][-600:]}


def measure_prepare(args: argparse.Namespace) -> dict[str, Any]:
    command = [*args.s2s.split(), "data", "prepare", "--config", str(args.config), "--set", f"data.path={args.corpus}",
               "--set", f"data.dir={args.dir}", *sum((["--set", s] for s in args.set), [])]
    if args.force:
        command.append("--force")
    result = run_measured(command)
    manifest = json.loads((Path(args.dir) / "manifest.json").read_text())
    result.update(pairs_read=manifest["counts"]["read"], train_pairs=manifest["counts"]["train"],
                  shards=len(manifest.get("shards", [])))
    result["pairs_per_s"] = round(result["pairs_read"] / result["seconds"])
    return {"what": "data prepare", "command": " ".join(command), **result}


def measure_train(args: argparse.Namespace) -> dict[str, Any]:
    run = Path(args.run)
    if run.exists():
        shutil.rmtree(run)  # a bench run folder of this script's own
    log = run / "train.log"
    command = [*args.s2s.split(), "train", "--config", str(args.config), "--set", f"data.dir={args.dir}",
               "--set", f"train.max_steps={args.steps}", "--set", "train.log_every=1",
               "--set", f"train.validate_every={10 * args.steps}", "--set", "train.max_minutes=null",
               "--run-dir", str(run), *sum((["--set", s] for s in args.set), [])]
    seen: dict[int, float] = {}  # step -> seconds since start when its line appeared
    rates: dict[int, float] = {}
    position = [0]

    def on_tick(seconds: float) -> None:
        if not log.is_file():
            return
        with open(log, encoding="utf-8") as handle:
            handle.seek(position[0])
            text = handle.read()
        complete = text[:text.rfind("\n") + 1]
        position[0] += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            match = STEP.match(line)
            if match:
                step = int(match.group(1))
                seen.setdefault(step, seconds)
                rates[step] = float(match.group(2).replace(",", ""))

    result = run_measured(command, on_tick)
    steps = sorted(seen)
    if not steps:
        sys.exit(f"no progress lines in {log}")
    gaps = [seen[b] - seen[a] for a, b in zip(steps, steps[1:])]
    later = [rates[s] for s in steps if s > args.steps // 10]
    result.update(first_update_s=round(seen[steps[0]], 1), updates=len(steps),
                  longest_gap_s=round(max(gaps), 2) if gaps else None,
                  median_gap_s=round(statistics.median(gaps), 3) if gaps else None,
                  target_tokens_per_s=round(statistics.median(later)) if later else None)
    result["note"] = "update times are when each progress line reached train.log (polled every 0.2 s)"
    return {"what": "train", "command": " ".join(command), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("prepare", "train"))
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--corpus", help="prepare: the TSV corpus")
    parser.add_argument("--dir", required=True, help="the prepared data directory")
    parser.add_argument("--run", help="train: the run directory (replaced)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--force", action="store_true", help="prepare: --force")
    parser.add_argument("--s2s", default="s2s", help="the command that runs s2s, e.g. 'python -m seq2seq' with "
                        "PYTHONPATH set to another checkout (to measure an earlier release)")
    parser.add_argument("--set", action="append", default=[], help="config overrides, as s2s --set")
    parser.add_argument("--record", help="write the record as docs/results/scale/<RECORD>.json")
    parser.add_argument("--corpus-note", default="", help="what the corpus is (for the record)")
    args = parser.parse_args()
    load = os.getloadavg()
    record = measure_prepare(args) if args.stage == "prepare" else measure_train(args)
    repo = Path(__file__).resolve().parents[2]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "seq2seq"], cwd=repo, capture_output=True, text=True).stdout
    record = {"format": "s2s-scale-result", "format_version": 1, **record, "corpus": args.corpus_note,
              "commit": commit + (" (with uncommitted changes)" if dirty.strip() else ""),
              "config": str(args.config), "config_sha256": hashlib.sha256(args.config.read_bytes()).hexdigest(),
              "cpu": cpu_name(), "load_before": [round(x, 2) for x in load], "date": time.strftime("%Y-%m-%d %H:%M")}
    record.pop("stdout_tail", None)
    print(json.dumps(record, indent=2))
    if args.record:
        path = repo / "docs" / "results" / "scale" / f"{args.record}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
