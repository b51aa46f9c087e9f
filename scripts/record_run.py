"""Score one finished training run and write its result record to docs/results/.

    python scripts/record_run.py --run runs/tatoeba-transformer-at-a040bc5-10min-seed1 \
        --config configs/tatoeba-transformer.yaml --minutes 10 --seed 1 --series at-a040bc5 \
        --description "..." --command "bash scripts/reproduce_results.sh ..." --train-command "s2s train ..."

scripts/reproduce_results.sh calls it after each run. It scores the run with `s2s eval --json`:
the test split with beam search (BLEU by source length included) and greedy, the names, digits,
dates and places tests of scripts/make_names_test.py that `--tests DIR` holds (an empty one is
left out), Multi30k val
when `--multi30k DIR` is given, the card's sentence, and with `--long DIR` the long-input tests of
scripts/make_long_test.py (scripts/long_input.py: split and --no-split, BLEU by length); then writes
docs/results/<config>.<series>.<minutes>min.seed<seed>.json with what made it: the commit
(`git rev-parse HEAD`, and whether tracked files differed from it), the sha256 of the resolved
config the run saved (RUN/config.yaml), the CPU (/proc/cpuinfo, else lscpu), torch's version and
the exact commands. docs/results.md describes the format; scripts/results_table.py renders it.
$S2S_DECODE (e.g. "--length-penalty 1.3") is passed to every s2s eval and translate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CARD = "Jane visite l'Afrique en septembre."
TESTS = ("names", "digits", "dates", "places")


def git_commit() -> tuple[str, bool]:
    """The checked-out commit, and whether tracked files differ from it (then the record says so)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return head.stdout.strip(), bool(status.stdout.strip())


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if shutil.which("lscpu") else ""
    info: dict[str, str] = {}
    for line in text.splitlines():  # the first processor's block is enough: one socket type
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() not in info:
            info[key.strip().lower()] = value.strip()
    return info


def cpu_description() -> str:
    """e.g. 'AMD EPYC, family 25, model 17; 2 cores with AVX2, AVX-512, AVX512-BF16, no AMX; 24 GiB; no GPU'."""
    info = _cpuinfo()
    name = info.get("model name", "unknown CPU")
    family, model = info.get("cpu family"), info.get("model")
    flags = set(info.get("flags", "").split())
    units = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"))
             if flag in flags]
    units.append("AMX" if "amx_bf16" in flags else "no AMX")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [name + (f", family {family}, model {model}" if family and model else ""),
             f"{cores} cores with {', '.join(units)}"]
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))  # type: ignore[union-attr]
        parts.append(f"{kib / 2 ** 20:.0f} GiB")
    import torch
    parts.append(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
    return "; ".join(parts)


def s2s(*arguments: str) -> str:
    """What `s2s ARGUMENTS` prints; its own one-line error if it fails."""
    done = subprocess.run([sys.executable, "-m", "seq2seq", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"s2s {' '.join(arguments)}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return done.stdout


def s2s_eval(run: Path, *options: str) -> dict[str, Any]:
    decode = shlex.split(os.environ.get("S2S_DECODE", ""))
    return json.loads(s2s("eval", "--model", str(run), "--json", *options, *decode))


def closing_line(run: Path) -> str:
    lines = [line for line in (run / "train.log").read_text(encoding="utf-8").splitlines()
             if " stopped after step " in line]
    if not lines:
        sys.exit(f"error: {run}/train.log has no 'stopped after step' line: the run did not finish")
    return lines[-1]


def closing_facts(line: str) -> dict[str, Any]:
    """Updates, minutes, best dev BLEU and its step, peak memory from a run's closing log line."""
    facts: dict[str, Any] = {"updates": int(re.search(r"stopped after step (\d+)", line).group(1)),  # type: ignore[union-attr]
                             "finished": line[:19]}
    minutes = re.search(r"; ([\d.]+) min;", line)
    if minutes:
        facts["minutes_trained"] = float(minutes.group(1))
    dev = re.search(r"best dev BLEU ([\d.]+) at step (\d+)", line)
    if dev:
        facts["best_dev_bleu"], facts["best_dev_step"] = float(dev.group(1)), int(dev.group(2))
    peak = re.search(r"peak memory ([\d,]+) MB", line)
    if peak:
        facts["peak_memory_mb"] = int(peak.group(1).replace(",", ""))
    return facts


def by_length_part(report: dict[str, Any], command: str) -> dict[str, Any]:
    keep = ("source", "reference", "beam", "bleu", "brevity_penalty", "length_ratio", "chrf", "ter", "sentences",
            "by_length")
    return {**{key: report[key] for key in keep if key in report}, "command": command}


def scores(run: Path, tests: Path | None, multi30k: Path | None) -> dict[str, Any]:
    beam = s2s_eval(run, "--split", "test", "--by-length")
    greedy = s2s_eval(run, "--split", "test", "--beam", "1")
    found: dict[str, Any] = {
        "test_beam": {key: beam[key] for key in ("beam", "bleu", "brevity_penalty", "chrf", "ter")},
        "test_greedy": {key: greedy[key] for key in ("bleu", "brevity_penalty", "chrf", "ter")}}
    for name in TESTS:
        if tests is not None and (tests / f"{name}.expect").is_file() and (tests / f"{name}.src").stat().st_size:
            report = s2s_eval(run, "--src", str(tests / f"{name}.src"), "--ref", str(tests / f"{name}.tgt"),
                              "--expect", str(tests / f"{name}.expect"))
            found[f"{name}_copy_rate"] = report["copy_rate"]
            if name == "places":
                found["places_bleu"] = report["bleu"]
    decode = shlex.split(os.environ.get("S2S_DECODE", ""))
    found["card"] = s2s("translate", "--model", str(run), *decode, CARD).strip()
    found["by_length"] = {"test": by_length_part(beam, f"s2s eval --model {run} --split test --by-length --json")}
    if multi30k is not None and (multi30k / "val.fr").is_file():
        src, ref = multi30k / "val.fr", multi30k / "val.en"
        report = s2s_eval(run, "--src", str(src), "--ref", str(ref), "--by-length")
        found["by_length"]["multi30k_val"] = by_length_part(
            report, f"s2s eval --model {run} --src {src} --ref {ref} --by-length --json")
    return found


def record(args: argparse.Namespace) -> dict[str, Any]:
    if args.long is not None:  # before the (minutes of) scoring: a missing file fails now
        from long_input import set_files
        set_files(args.long, args.long.parent)
    import torch
    commit, dirty = git_commit()
    resolved = args.run / "config.yaml"
    line = closing_line(args.run)
    result: dict[str, Any] = {
        "format": "s2s-result", "format_version": 1, "config": args.config, "series": args.series,
        "description": args.description, "minutes": args.minutes, "seed": args.seed, "run": str(args.run),
        "commit": commit, "uncommitted_changes": dirty,
        "config_sha256": hashlib.sha256(resolved.read_bytes()).hexdigest(),
        "config_hashed": f"{resolved} (the resolved config the run saved)",
        "cpu": cpu_description(), "torch": torch.__version__, "command": args.command,
        "train_command": args.train_command, "decode_overrides": os.environ.get("S2S_DECODE", ""),
        **closing_facts(line)}
    result.update(scores(args.run, args.tests, args.multi30k))
    if args.long is not None:
        from long_input import long_scores
        result["long_input"] = long_scores(args.run, args.long, args.long.parent)
    result["log_line"] = line
    return result


def record_name(config: str, series: str, minutes: int, seed: int) -> str:
    return f"{Path(config).stem}.{series}.{minutes}min.seed{seed}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="the finished run directory")
    parser.add_argument("--config", required=True, help="the config file it trained with, configs/<name>.yaml")
    parser.add_argument("--minutes", type=int, required=True, help="its training budget")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--series", required=True, help="the record name's label for this set of runs")
    parser.add_argument("--description", required=True, help="what this series is (one sentence)")
    parser.add_argument("--command", required=True, help="the exact command that made the run")
    parser.add_argument("--train-command", required=True, help="the exact s2s train command")
    parser.add_argument("--tests", type=Path, help="the names/digits/dates/places tests (make_names_test.py)")
    parser.add_argument("--multi30k", type=Path, help="a folder with Multi30k val.fr and val.en")
    parser.add_argument("--long", type=Path, help="the long-input tests (make_long_test.py), in the prepared data dir")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs" / "results")
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", args.series):
        sys.exit(f"error: --series {args.series!r}: lower-case letters, digits, '.' and '-' only")
    result = record(args)
    path = args.out_dir / record_name(args.config, args.series, args.minutes, args.seed)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{path}: test BLEU {result['test_beam']['bleu']:.2f} beam {result['test_beam']['beam']}, "
          f"greedy {result['test_greedy']['bleu']:.2f}, {result['updates']:,} updates; card: {result['card']}")


if __name__ == "__main__":
    main()
