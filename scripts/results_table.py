"""Write docs/results.md from the result records in docs/results/*.json.

    python scripts/results_table.py            # write docs/results.md
    python scripts/results_table.py --check    # exit 1 if docs/results.md is not what the records give

Nothing on that page is typed in by hand: each table row is one record (scripts/record_run.py
writes them; scripts/reproduce_results.sh runs it), a series' mean and range are computed here.
A record that lacks a required field stops it, naming the file and the field.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "docs" / "results"
PAGE = REPO / "docs" / "results.md"
REQUIRED = ("format", "format_version", "config", "series", "description", "minutes", "seed", "run", "commit",
            "config_sha256", "config_hashed", "cpu", "command", "updates", "test_beam")
CONFIG_ORDER = ("tatoeba-transformer", "tatoeba-rnn", "tatoeba-rnn-noattn", "multi30k-transformer")
NAME = re.compile(r"(?P<config>[a-z0-9-]+)\.(?P<series>[a-z0-9][a-z0-9.-]*)\.(?P<minutes>\d+)min\.seed(?P<seed>\d+)\.json")

Record = dict[str, Any]


def check_record(name: str, record: Record) -> list[str]:
    """What is wrong with one record: missing fields, a name that does not match its fields."""
    problems = [f"{name}: no '{field}'" for field in REQUIRED if field not in record]
    for field in ("bleu", "chrf"):
        if field not in record.get("test_beam", {}):
            problems.append(f"{name}: no 'test_beam.{field}'")
    if not re.fullmatch(r"[0-9a-f]{40}", str(record.get("commit", ""))):
        problems.append(f"{name}: 'commit' is not a 40-digit git hash")
    if not re.fullmatch(r"[0-9a-f]{64}", str(record.get("config_sha256", ""))):
        problems.append(f"{name}: 'config_sha256' is not a sha256")
    expected = (f"{Path(str(record.get('config', ''))).stem}.{record.get('series')}."
                f"{record.get('minutes')}min.seed{record.get('seed')}.json")
    if name != expected or not NAME.fullmatch(name):
        problems.append(f"{name}: its fields name it {expected}")
    backfilled = record.get("backfilled", {}).get("fields", [])
    problems += [f"{name}: backfilled field '{field}' is missing" for field in backfilled if field not in record]
    return problems


def load_records(folder: Path = RECORDS) -> dict[str, Record]:
    records = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}
    problems = [problem for name, record in records.items() for problem in check_record(name, record)]
    if problems:
        raise ValueError("; ".join(problems))
    return records


def _group_key(record: Record) -> tuple[str, str, int]:
    return Path(record["config"]).stem, record["series"], record["minutes"]


def groups(records: dict[str, Record]) -> list[list[tuple[str, Record]]]:
    """Records of one config, series and budget together; configs in a fixed order, newest series first."""
    grouped: dict[tuple[str, str, int], list[tuple[str, Record]]] = {}
    for name, record in records.items():
        grouped.setdefault(_group_key(record), []).append((name, record))
    for members in grouped.values():
        members.sort(key=lambda item: item[1]["seed"])
        descriptions = {record["description"] for _, record in members}
        if len(descriptions) > 1:
            raise ValueError(f"series {_group_key(members[0][1])}: its records describe it differently")

    def newest(key: tuple[str, str, int]) -> tuple[str, str, int]:
        return max(record.get("finished", "") for _, record in grouped[key]), key[1], -key[2]

    def rank(key: tuple[str, str, int]) -> int:
        return CONFIG_ORDER.index(key[0]) if key[0] in CONFIG_ORDER else len(CONFIG_ORDER)
    keys = sorted(sorted(grouped, key=newest, reverse=True), key=rank)  # stable: newest first within a config
    return [grouped[key] for key in keys]


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _count(rate: float | None, total: int) -> str:
    return "n/a" if rate is None else f"{round(rate * total / 100)}"


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:g} %"


def _mean_range(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} (one run)"
    return f"{statistics.mean(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _cpu_short(cpu: str) -> str:
    return cpu.split(";")[0]


def _anchor(members: list[tuple[str, Record]]) -> str:
    """The id GitHub gives the group's heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 -]", "", _title(members).lower()).replace(" ", "-")


def _title(members: list[tuple[str, Record]]) -> str:
    config, series, minutes = _group_key(members[0][1])
    return f"{config}, {series}, {minutes} minutes"


SEED_HEADER = ("| seed | updates | best dev BLEU (step) | test BLEU beam (BP) | test BLEU greedy (BP) | beam - greedy "
               "| test chrF beam | names copied | digit sentences (20) | dates (11) | places | peak MB | the card's sentence |")


def seed_row(record: Record) -> str:
    beam, greedy = record["test_beam"], record.get("test_greedy")
    dev = record.get("best_dev_bleu")
    dev_cell = "n/a" if dev is None else f"{dev:.2f} ({record.get('best_dev_step', 'n/a'):,})"
    greedy_cell = "n/a" if greedy is None else f"{greedy['bleu']:.2f} ({greedy['brevity_penalty']:.3f})" \
        if "brevity_penalty" in greedy else f"{greedy['bleu']:.2f}"
    beam_cell = f"{beam['bleu']:.2f}" + (f" ({beam['brevity_penalty']:.3f})" if "brevity_penalty" in beam else "")
    gain = "n/a" if greedy is None else f"{beam['bleu'] - greedy['bleu']:+.2f}"
    return (f"| {record['seed']} | {record['updates']:,} | {dev_cell} | {beam_cell} | {greedy_cell} | {gain} | "
            f"{beam['chrf']:.2f} | {_percent(record.get('names_copy_rate'))} | "
            f"{_count(record.get('digits_copy_rate'), 20)} | {_count(record.get('dates_copy_rate'), 11)} | "
            f"{_percent(record.get('places_copy_rate'))} | {_num(record.get('peak_memory_mb'), '{:,}')} | "
            f"{record.get('card', 'n/a')} |")


def mean_row(records: list[Record]) -> str:
    beam = [r["test_beam"]["bleu"] for r in records]
    greedy = [r["test_greedy"]["bleu"] for r in records if "test_greedy" in r]
    chrf = statistics.mean(r["test_beam"]["chrf"] for r in records)
    gain = (f"{statistics.mean(b - g for b, g in zip(beam, greedy)):+.2f}" if len(greedy) == len(beam) else "")
    updates = statistics.mean(r["updates"] for r in records)
    return (f"| **mean (range)** | {updates:,.0f} | | **{_mean_range(beam)}** | "
            f"{_mean_range(greedy) if len(greedy) == len(beam) else ''} | {gain} | {chrf:.2f} | | | | | | |")


def _backfilled(record: Record) -> str:
    backfilled = record.get("backfilled")
    return "none" if not backfilled else ", ".join(backfilled["fields"]) + f" (from {backfilled['from']})"


PROVENANCE = (("commit", "Commit", lambda r: f"`{r['commit']}`"), ("cpu", "CPU", lambda r: r["cpu"]),
              ("command", "Command", lambda r: f"`{r['command']}`"),
              ("config_sha256", "Config sha256", lambda r: f"`{r['config_sha256']}` of {r['config_hashed']}"),
              ("backfilled", "Backfilled fields", _backfilled))


def provenance(members: list[tuple[str, Record]]) -> list[str]:
    """Where the group's figures come from: what all its records share once, the rest per record."""
    lines, differing = [], []
    for _field, label, show in PROVENANCE:
        values = {show(record) for _, record in members}
        if len(values) == 1:
            lines.append(f"- {label}: {values.pop()}")
        else:
            differing.append((label, show))
    header = "| record | train command |" + "".join(f" {label} |" for label, _ in differing)
    lines += ["", header, "|" + " --- |" * header.count(" |")]
    for name, record in members:
        lines.append(f"| [{name}](results/{name}) | `{record.get('train_command', 'n/a')}` |"
                     + "".join(f" {show(record)} |" for _, show in differing))
    notes = {name: record["backfilled"]["note"] for name, record in members if record.get("backfilled", {}).get("note")}
    if len(notes) == len(members) and len(set(notes.values())) == 1:
        lines += ["", f"Note: {next(iter(notes.values()))}"]
    elif notes:
        lines += ["", "Notes:", "", *(f"- {name}: {note}" for name, note in notes.items())]
    return lines


def group_section(members: list[tuple[str, Record]]) -> list[str]:
    records = [record for _, record in members]
    lines = [f"## {_title(members)}", "", records[0]["description"], "", SEED_HEADER,
             "|" + " --- |" * SEED_HEADER.count(" | ") + " --- |"]
    lines += [seed_row(record) for record in records]
    if len(records) > 1:
        lines.append(mean_row(records))
    lines += ["", *provenance(members), ""]
    return lines


def summary(all_groups: list[list[tuple[str, Record]]]) -> list[str]:
    lines = ["| config | series | budget | runs | test BLEU, beam: mean (range) | test chrF, beam: mean | updates: mean "
             "| CPU |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for members in all_groups:
        records = [record for _, record in members]
        config, series, minutes = _group_key(records[0])
        bleu = _mean_range([r["test_beam"]["bleu"] for r in records])
        chrf = statistics.mean(r["test_beam"]["chrf"] for r in records)
        updates = statistics.mean(r["updates"] for r in records)
        lines.append(f"| {config} | [{series}](#{_anchor(members)}) | {minutes} min | {len(records)} | {bleu} | "
                     f"{chrf:.2f} | {updates:,.0f} | {_cpu_short(records[0]['cpu'])} |")
    return lines


def by_length_section(records: dict[str, Record]) -> list[str]:
    """BLEU per source-length bucket of every record that has it, one table per test set."""
    with_buckets = [(name, record) for name, record in records.items() if record.get("by_length")]
    lines: list[str] = []
    for test_set, label in (("test", "Tatoeba test (3,000 pairs)"), ("multi30k_val", "Multi30k val (1,014 pairs)")):
        columns = [(name, record["by_length"][test_set]) for name, record in with_buckets
                   if test_set in record["by_length"]]
        if not columns:
            continue
        buckets = [row["bucket"] for row in columns[0][1]["by_length"]]
        lines += [f"### {label}", "", "| source words | " + " | ".join(
            f"{Path(r['config']).stem}, {r['series']}, seed {r['seed']}" for r in
            (records[name] for name, _ in columns)) + " |", "| --- |" + " --- |" * len(columns)]
        for index, bucket in enumerate(buckets):
            cells = []
            for _, part in columns:
                row = part["by_length"][index]
                cells.append("n/a" if row["bleu"] is None else f"{row['bleu']:.2f} ({row['sentences']:,})")
            lines.append(f"| {bucket} | " + " | ".join(cells) + " |")
        lines.append("| all | " + " | ".join(f"{part['bleu']:.2f} ({part['sentences']:,})" for _, part in columns) + " |")
        lines += ["", "Commands: " + "; ".join(f"`{part['command']}`" for _, part in columns) + ".", ""]
    return lines


def long_input_section(all_groups: list[list[tuple[str, Record]]]) -> list[str]:
    """The long-input scores (scripts/long_input.py) of every group whose records have them: mean (range)."""
    rows = []
    for members in all_groups:
        records = [record["long_input"] for _, record in members if "long_input" in record]
        if len(records) != len(members):
            continue
        def cell(mode: str, name: str, key: str = "bleu", share: bool = False) -> str:
            values = [r[mode][name][key] for r in records]
            text = _mean_range(values) if key == "bleu" else f"{statistics.mean(values):.3f}"
            if share:
                single = statistics.mean(r["split"]["single"]["bleu"] for r in records)
                text += f", {100 * statistics.mean(values) / single:.0f} %"
            return text
        stutter = sum(r[mode][name]["stutter"] for r in records for mode in ("split", "no_split")
                      for name in ("joined3", "joined5", "long"))
        speed = " / ".join(f"{statistics.mean(r[mode][name]['sentences_per_second'] for r in records):.1f}"
                           for mode, name in (("split", "single"), ("split", "joined3"), ("no_split", "joined3")))
        rows.append(f"| [{_title(members)}](#{_anchor(members)}) | {cell('split', 'single')} | "
                    f"{cell('no_split', 'single')} | {cell('split', 'joined3', share=True)} | "
                    f"{cell('no_split', 'joined3', share=True)} | {cell('split', 'joined5', share=True)} | "
                    f"{cell('no_split', 'joined5', share=True)} | {cell('split', 'joined3', 'length_ratio')} / "
                    f"{cell('split', 'joined5', 'length_ratio')} / {cell('split', 'long', 'length_ratio')} | "
                    f"{cell('split', 'long')} | {stutter} | {speed} |")
    if not rows:
        return []
    return ["## Long input", "", "`scripts/long_input.py` (issue 32; [docs/long-input.md](long-input.md)): the test split "
            "one sentence per line, every 3 and 5 consecutive test pairs joined into one line, and the 15 test and dev "
            "sentences of 20 words or more; translated split into sentences (the default) and whole (`--no-split`). "
            "BLEU mean (range) over the group's seeds, with its share of the single-sentence BLEU; length ratio "
            "output/reference; stutter: outputs (all sets and modes) with a subword 3+ times in a row that the "
            "reference lacks; lines/s of the single test, joined-3 split and joined-3 whole.", "",
            "| group | single | single, no split | joined-3 | joined-3, no split | joined-5 | joined-5, no split "
            "| length ratio joined-3 / -5 / long | long sentences | stutter | lines/s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows, ""]


INTRO = """# Results

<!-- Generated by `python scripts/results_table.py` from docs/results/*.json: edit the records or
the script, not this page (tests/test_docs.py checks that they agree). -->

Every figure on this page is read from one JSON record in [results/](results/); the guides and the
README cite the records by name. Test BLEU and chrF are sacrebleu's (signature
`nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`) on all held-out test pairs of the
config's prepared data (Tatoeba: 3,000); dev BLEU is greedy on the first 500 dev pairs, as
validated during training. A 10-minute run moves by a BLEU or two from seed to seed and more from
machine to machine: compare series on one CPU, and at equal updates where it matters.

## Record names

`<config>.<series>.<minutes>min.seed<seed>.json`: `<config>` is the config file
`configs/<config>.yaml` the run trained with, `<series>` names one set of runs of it (a code
state or a change tried; the table below says what each is), `<minutes>` the training budget
(`train.max_minutes`), `<seed>` its `train.seed`. One record is one training run, scored once.
New records come from `bash scripts/reproduce_results.sh` (series `at-<commit>` unless
`S2S_SERIES` names it).

## Record format

| field | what |
| --- | --- |
| `format`, `format_version` | `"s2s-result"`, `1` |
| `config`, `series`, `description`, `minutes`, `seed` | what the name says, and what the series is |
| `run` | the run directory it trained into (not in git) |
| `commit` | the git commit of the code that trained it (`uncommitted_changes`: tracked files differed) |
| `config_sha256`, `config_hashed` | sha256 of the config, and of which file: the resolved `RUN/config.yaml` |
| `cpu`, `torch` | the machine and torch version it ran on |
| `command`, `train_command`, `decode_overrides` | the exact command that made it, the `s2s train` command it ran, `S2S_DECODE` |
| `updates`, `minutes_trained`, `best_dev_bleu`, `best_dev_step`, `peak_memory_mb`, `finished`, `log_line` | from the run's closing line in `train.log` |
| `test_beam`, `test_greedy` | `s2s eval --split test --json` with the run's beam and with `--beam 1`: `bleu`, `brevity_penalty`, `chrf`, `ter` |
| `names_copy_rate`, `digits_copy_rate`, `dates_copy_rate`, `places_copy_rate`, `places_bleu` | `s2s eval --expect` on the tests of `scripts/make_names_test.py` (% of outputs with every expected token) |
| `card` | `s2s translate "Jane visite l'Afrique en septembre."` |
| `by_length` | `s2s eval --by-length --json` on the Tatoeba test split (`test`) and Multi30k val (`multi30k_val`) |
| `backfilled` | only in records written before this format: which fields were filled in afterwards, from what, and how |

Records older than the format were converted from their JSON of then; the fields named in their
`backfilled` entry come from git history (the commit that added the record, the config file in it)
and from what the README said of the run (its CPU and command). Their commands name
`scripts/seed_runs.sh`, since folded into `scripts/reproduce_results.sh` (`git show
COMMIT:scripts/seed_runs.sh` shows it as it ran); `S2S_TAG` was what `S2S_SERIES` is now.

## Series
"""


SCALE = RECORDS / "scale"
SCALE_REQUIRED = ("format", "what", "command", "seconds", "peak_rss_mb", "peak_tree_rss_mb", "corpus", "commit",
                  "config", "config_sha256", "cpu", "load_before")


def load_scale_records(folder: Path = SCALE) -> dict[str, Record]:
    """docs/results/scale/*.json: the data pipeline measured at scale (scripts/bench/data_scale.py)."""
    records = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}
    problems = [f"scale/{name}: no '{field}'" for name, record in records.items()
                for field in SCALE_REQUIRED if field not in record]
    if problems:
        raise ValueError("; ".join(problems))
    return records


def scale_section(records: dict[str, Record]) -> list[str]:
    """One row per measured stage, then where each figure comes from."""
    if not records:
        return []
    lines = ["## Data at scale", "", "`s2s data prepare` and the start of `s2s train` on large corpora, measured by "
             "`scripts/bench/data_scale.py` (one run each): wall time, the peak resident memory of the largest "
             "process (`/usr/bin/time -v`) and of all the command's processes together (workers included, sampled "
             "every 0.2 s); for training also the time from the command's start to the first update, the longest "
             "gap between two updates and the median target tokens/s.", "",
             "| record | stage | pairs | seconds | peak MB, largest process | peak MB, all processes "
             "| first update s | longest gap s | target tok/s |", "| --- |" + " --- |" * 8]
    for name, r in records.items():
        pairs = r.get("pairs_read", r.get("train_pairs"))
        lines.append(f"| [{name.removesuffix('.json')}](results/scale/{name}) | {r['what']} | "
                     f"{_num(pairs, '{:,}')} | {r['seconds']:,.1f} | {r['peak_rss_mb']:,} | {r['peak_tree_rss_mb']:,} | "
                     f"{_num(r.get('first_update_s'), '{:.1f}')} | {_num(r.get('longest_gap_s'), '{:.2f}')} | "
                     f"{_num(r.get('target_tokens_per_s'), '{:,}')} |")
    lines += [""] + [f"- {name.removesuffix('.json')}: {r['corpus']}; `{r['command']}`; commit `{r['commit']}`; "
                     f"{r['config']} sha256 `{r['config_sha256']}`; {r['cpu']}; load before {r['load_before']}"
                     + (f". {r['note']}" if r.get("note") else "") for name, r in records.items()]
    return lines + [""]


def render(records: dict[str, Record], scale: dict[str, Record] | None = None) -> str:
    all_groups = groups(records)
    lines = INTRO.splitlines() + [""] + summary(all_groups) + [""]
    for members in all_groups:
        lines += group_section(members)
    lines += ["## BLEU by source length", "", "BLEU (sentences) per bucket of source words, beam search "
              "([the plots](bleu-by-length-tatoeba.png), [Multi30k](bleu-by-length-multi30k.png)).", ""]
    lines += by_length_section(records)
    lines += long_input_section(all_groups)
    lines += scale_section(load_scale_records() if scale is None else scale)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is out of date")
    args = parser.parse_args()
    try:
        page = render(load_records())
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.check:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != page:
            sys.exit("docs/results.md is out of date: run python scripts/results_table.py")
        return
    PAGE.write_text(page, encoding="utf-8")
    print(PAGE)


if __name__ == "__main__":
    main()
