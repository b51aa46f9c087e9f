"""`s2s data prepare` at scale (issue 31): v1's output kept, worker processes, training shards,
several corpora, progress, old directories, interruption, bounded memory.

"v1" below is a copy of the previous in-memory preparation (kept here as the reference): its
filters, dedup, split and SentencePiece sample, on Python lists. The streaming prepare must give
the same dev/test/train text and the same spm.model bytes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq.data import prepare_passes, progress_bar
from seq2seq.data.manifest import check_prepared, read_manifest
from seq2seq.data.normalize import elision_language, normalize_text, split_elisions
from seq2seq.data.prepare import prepare_corpus
from seq2seq.data.prepare_passes import pair_hash
from seq2seq.data.shards import Shard, shard_name
from seq2seq.data.tokenizer import load_tokenizers, train_sentencepiece
from seq2seq.entities import SYMBOLS, entity_flags, known_words
from seq2seq.errors import UserError
from test_prepare import (digests, error_line, leftovers, make_config, outputs, run_cli, synthetic_pairs, write_config,
                          write_tsv)

REPO = Path(__file__).resolve().parents[1]


def v1_prepare(pairs: list[tuple[str, str]], data) -> tuple[dict[str, list[tuple[str, str]]], bytes]:
    """v1's clean_pairs + split_pairs + SentencePiece (joint) on raw (src, tgt) pairs."""
    norm = [(normalize_text(s, data.normalization, data.lowercase), normalize_text(t, data.normalization, data.lowercase))
            for s, t in pairs]
    norm = [(s, t) for s, t in norm if s and t]
    norm = [(s, t) for s, t in norm if max(len(s.split()), len(t.split())) <= data.max_words]
    norm = [(s, t) for s, t in norm
            if max(len(s.split()), len(t.split())) <= data.max_length_ratio * min(len(s.split()), len(t.split()))]
    if data.dedup:
        norm = list(dict.fromkeys(norm))
    elision = elision_language(data.split_elision, data.src_lang)
    if elision:
        norm = [(split_elisions(s, elision), t) for s, t in norm]
    groups: dict[str, list[int]] = {}
    for index, (src, _) in enumerate(norm):
        groups.setdefault(src.casefold(), []).append(index)
    order = list(groups.values())
    rng = random.Random(data.seed)
    rng.shuffle(order)
    chosen: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    for group in order:
        if len(chosen["test"]) + len(group) <= data.test_size:
            chosen["test"].extend(group)
        elif len(chosen["dev"]) + len(group) <= data.dev_size:
            chosen["dev"].extend(group)
        else:
            chosen["train"].extend(group)
    chosen["train"].sort()
    rng.shuffle(chosen["test"])
    rng.shuffle(chosen["dev"])
    splits = {name: [norm[i] for i in rows] for name, rows in chosen.items()}
    sentences = [s for s, _ in splits["train"]] + [t for _, t in splits["train"]]
    model = train_sentencepiece(sentences, vocab_size=data.vocab_size, model_type=data.vocab_type,
                                character_coverage=data.character_coverage, max_sentences=data.spm_max_sentences,
                                seed=data.seed, symbols=SYMBOLS if data.entity_symbols else ())
    return splits, model


def prepared_splits(out: Path) -> dict[str, list[tuple[str, str]]]:
    def pairs(name: str) -> list[tuple[str, str]]:
        src = (out / f"{name}.src").read_text(encoding="utf-8").splitlines()
        return list(zip(src, (out / f"{name}.tgt").read_text(encoding="utf-8").splitlines()))
    return {"train": pairs("train.00000"), "dev": pairs("dev"), "test": pairs("test")}


def assert_like_v1(raw: list[tuple[str, str]], config) -> None:
    out = prepare_corpus(config)
    splits, model = v1_prepare(raw, config.data)
    assert prepared_splits(out) == splits
    assert (out / "spm.model").read_bytes() == model


@pytest.fixture
def here(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def duplicated_pairs(n: int = 600) -> list[tuple[str, str]]:
    """synthetic_pairs with exact duplicates, duplicates after normalising, and French elisions."""
    pairs = [(f"l'ami{i % 50} {fr}", en) for i, (fr, en) in enumerate(synthetic_pairs(n))]
    return pairs + pairs[::9] + [(fr.replace(" !", "\u202f!"), en) for fr, en in pairs[::13]]


# ---------------------------------------------------------------------------------------------
# v1's output, byte for byte


@pytest.mark.parametrize("settings", [dict(), dict(split_elision=True, spm_max_sentences=500, seed=4),
                                      dict(entity_symbols=True, dedup=False, vocab_size=120)])
def test_same_splits_and_vocabulary_as_v1(here: Path, settings: dict):
    raw = duplicated_pairs()
    write_tsv(here / "corpus.tsv", raw)
    assert_like_v1(raw, make_config(dev_size=40, test_size=50, **settings))


def test_same_splits_and_vocabulary_as_v1_on_tatoeba(tatoeba_file: Path, here: Path, monkeypatch):
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 3000)  # worker processes, as on the whole corpus
    lines = tatoeba_file.read_text(encoding="utf-8").splitlines()[::8]  # 20k pairs, all lengths
    (here / "fra.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    raw = [(line.split("\t")[1], line.split("\t")[0]) for line in lines]
    assert_like_v1(raw, make_config(path="fra.txt", dev_size=500, test_size=700, vocab_size=2000,
                                    split_elision=True, entity_symbols=True, max_length_ratio=9.0))


# ---------------------------------------------------------------------------------------------
# Worker processes and shards


def test_any_number_of_workers_gives_the_same_bytes(here: Path, monkeypatch):
    def made(out: Path) -> dict:
        found = outputs(out)
        del found["manifest"]["config"]["workers"]  # the config as given; the rest of the manifest is the same
        return found

    write_tsv(here / "corpus.tsv", duplicated_pairs(900))
    first = made(prepare_corpus(make_config(dir="in-process")))
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 64)  # ~15 chunks: worker processes
    for workers in (0, 1, 2):
        assert made(prepare_corpus(make_config(dir=f"w{workers}", workers=workers))) == first
    assert multiprocessing.active_children() == []


def test_shards_partition_train_by_pair_hash(here: Path, monkeypatch):
    write_tsv(here / "corpus.tsv", synthetic_pairs(1200))
    whole = prepare_corpus(make_config(dir="one"))
    train = prepared_splits(whole)["train"]
    out = prepare_corpus(make_config(dir="many", shard_pairs=150))
    manifest = json.loads((out / "manifest.json").read_text())
    n_shards = -(-len(train) // 150)
    assert [s["name"] for s in manifest["shards"]] == [shard_name("train", n) for n in range(n_shards)]
    assert sum(s["pairs"] for s in manifest["shards"]) == len(train) == manifest["counts"]["train"]
    position = {pair: i for i, pair in enumerate(train)}
    seen = []
    for number, record in enumerate(manifest["shards"]):
        rows = list(zip(*(((out / f"{record['name']}.{side}").read_text(encoding="utf-8").splitlines())
                          for side in ("src", "tgt"))))
        assert len(rows) == record["pairs"]
        assert all(int.from_bytes(pair_hash(s, t), "little") % n_shards == number for s, t in rows)
        assert [position[row] for row in rows] == sorted(position[row] for row in rows)  # corpus order
        seen += rows
    assert sorted(seen) == sorted(train)
    for name in ("dev.src", "test.tgt", "spm.model"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()
    monkeypatch.setattr(prepare_passes, "MAX_OPEN_SHARDS", 3)  # 3 shards a pass over the spool: the same shards
    assert outputs(prepare_corpus(make_config(dir="few-open", shard_pairs=150))) == outputs(out)


def test_shard_rows_hold_ids_flags_and_known_words(here: Path):
    write_tsv(here / "corpus.tsv", [("Marie a vu 3 chats le lundi .", "Marie saw 3 cats on Monday.")] +
              synthetic_pairs(300))
    out = prepare_corpus(make_config(entity_symbols=True, vocab_size=150))
    manifest = json.loads((out / "manifest.json").read_text())
    tokenizer, _ = load_tokenizers(out, joint=True)
    shard = Shard.open(out, "train.00000", tokenizer.vocab_size)
    shard.verify()
    texts = [shard.text(row) for row in range(len(shard))]
    src_ids = shard.ids("src", range(len(shard)))
    assert [list(ids) for ids in src_ids] == [tokenizer.encode(s) for s, _ in texts]
    flags = [entity_flags(s, t, "fr", "en") for s, t in texts]
    assert shard.index[:, 6].tolist() == flags and shard.index[:, 7].tolist() == [0] * len(shard)
    bits = {"names": 1, "numbers": 2, "dates": 4, "symbols": 8}
    assert manifest["entities"] == {name: sum(bool(f & bit) for f in flags) for name, bit in bits.items()}
    assert manifest["entities"]["numbers"] > 0
    known = (out / "train.known-words.txt").read_text(encoding="utf-8").splitlines()
    assert known == sorted(known_words(s for s, _ in texts))
    shard.close()


# ---------------------------------------------------------------------------------------------
# Several corpora


def test_corpora_dedup_across_and_count_each(here: Path, monkeypatch, capsys):
    general = synthetic_pairs(500, seed=1)
    domain = general[100:160] + synthetic_pairs(200, seed=9) + synthetic_pairs(200, seed=9)[:30]
    write_tsv(here / "general.tsv", general)
    (here / "d.fr").write_text("".join(f"{fr}\n" for fr, _ in domain), encoding="utf-8")
    (here / "d.en").write_text("".join(f"{en}\n" for _, en in domain), encoding="utf-8")
    corpora = [{"name": "general", "path": "general.tsv"},
               {"name": "domain", "format": "parallel", "src_path": "d.fr", "tgt_path": "d.en", "weight": 3}]
    config = write_config(here / "c.yaml", {"path": None, "corpora": corpora, "shard_pairs": 200})
    code, out, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0, err
    assert "corpus general:" in out and "corpus domain:" in out
    folder = here / "data/tiny"
    manifest = json.loads((folder / "manifest.json").read_text())
    general_counts, domain_counts = (c["counts"] for c in manifest["corpora"])
    assert general_counts["read"] == len(general) and domain_counts["read"] == len(domain)
    assert general_counts["after_dedup"] == len(set(general))
    assert domain_counts["after_dedup"] == len(domain) - 60 - 30  # general's pairs and its own repeats go
    for key in ("read", "after_dedup", "train", "dev", "test"):
        assert manifest["counts"][key] == general_counts[key] + domain_counts[key]
    assert [c["weight"] for c in manifest["corpora"]] == [1.0, 3.0]
    assert [[i["role"] for i in c["inputs"]] for c in manifest["corpora"]] == [["corpus"], ["src", "tgt"]]
    corpus_of = {}
    for record in manifest["shards"]:
        shard = Shard.open(folder, record["name"])
        numbers = shard.index[:, 7].tolist()
        assert numbers == sorted(numbers)  # corpus order inside a shard
        corpus_of.update({shard.text(row): numbers[row] for row in range(len(shard))})
        shard.close()
    assert sum(corpus_of.values()) == domain_counts["train"]
    # paths, weights and workers are not the corpus's identity
    (here / "moved").mkdir()
    for name in ("general.tsv", "d.fr", "d.en"):
        os.replace(here / name, here / "moved" / name)
    moved = [{**corpora[0], "path": "moved/general.tsv"},
             {**corpora[1], "src_path": "moved/d.fr", "tgt_path": "moved/d.en", "weight": 0.5}]
    config = write_config(here / "c.yaml", {"path": None, "corpora": moved, "shard_pairs": 200, "workers": 2})
    code, out, _ = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0 and "already prepared" in out


# ---------------------------------------------------------------------------------------------
# Progress


def test_progress_lines_when_not_a_terminal(here: Path, monkeypatch, capsys):
    monkeypatch.setattr(progress_bar, "PLAIN_INTERVAL", 0.0)
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 100)
    n = len(synthetic_pairs(900))
    write_tsv(here / "corpus.tsv", synthetic_pairs(900))
    prepare_corpus(make_config())
    err = capsys.readouterr().err
    assert "\r" not in err
    pass1 = [line for line in err.splitlines() if "pass 1" in line]
    assert len(pass1) >= 5 and all(line.startswith("[prepare ") and "lines" in line and "/s" in line
                                   and "ETA" in line for line in pass1)
    assert f"100% {n:,}/{n:,} lines" in pass1[-1]
    assert any("pass 2: encode into 1 shard" in line and "pairs" in line for line in err.splitlines())


def test_progress_bar_on_a_terminal(monkeypatch):
    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    monkeypatch.setattr(progress_bar, "TTY_INTERVAL", 0.0)
    screen = Terminal()
    with progress_bar.Progress(screen).bar("pass 1", 1000) as bar:
        for _ in range(4):
            bar.update(250)
    assert screen.text.count("\r") == 5 and screen.text.endswith("\n")
    assert "100% 1,000/1,000 lines" in screen.text and "ETA 0s" in screen.text and "█" * 24 in screen.text
    assert progress_bar.format_seconds(754) == "12m34s" and progress_bar.format_seconds(7384) == "2h03m"


# ---------------------------------------------------------------------------------------------
# Directories of the previous layout


def make_v1_directory(out: Path) -> None:
    """Turn a prepared directory into what v1 left: train.src/.tgt, no shards, format_version 1."""
    for side in ("src", "tgt"):
        os.replace(out / f"train.00000.{side}", out / f"train.{side}")
    for name in ("train.00000.src.npy", "train.00000.tgt.npy", "train.00000.index.npy", "train.known-words.txt"):
        (out / name).unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("corpora", "shards", "entities", "known_words"):
        del manifest[key]
    for key in ("corpora", "shard_pairs", "workers"):
        del manifest["config"][key]
    manifest["format_version"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_v1_directory_serves_evaluation_not_training(here: Path, monkeypatch, capsys):
    write_tsv(here / "corpus.tsv", synthetic_pairs())
    config = write_config(here / "c.yaml", {})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    out = here / "data/tiny"
    make_v1_directory(out)
    cfg = make_config()
    with pytest.raises(UserError) as info:
        read_manifest(cfg, shards=True)
    assert str(info.value) == ("data/tiny was prepared by an earlier s2s (no training shards); "
                               "run `s2s data prepare --config ... --force`")
    with pytest.raises(UserError, match="earlier s2s"):
        check_prepared(cfg, shards=True)
    assert read_manifest(cfg)["format_version"] == 1 and check_prepared(cfg) is None
    assert read_manifest(make_config(shard_pairs=7))["format_version"] == 1  # shards do not matter here
    with pytest.raises(UserError, match="data.seed 1 -> 2"):
        read_manifest(make_config(seed=2))
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[::2])
    assert "earlier s2s" in line and "--force" in line
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, "--force")
    assert code == 0, err
    assert read_manifest(cfg, shards=True)["format_version"] == 2 and not (out / "train.src").exists()


# ---------------------------------------------------------------------------------------------
# Failures: nothing left behind


def test_an_interrupted_prepare_leaves_nothing(here: Path, monkeypatch):
    write_tsv(here / "corpus.tsv", synthetic_pairs(900))
    before = digests(prepare_corpus(make_config()))
    calls = []

    def interrupt(self, n):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress_bar.Bar, "update", interrupt)
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 64)  # with worker processes
    for config, force in ((make_config(dir="data/new"), False), (make_config(seed=5), True)):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            prepare_corpus(config, force=force)
        assert multiprocessing.active_children() == []
        assert leftovers(here / "data") == []
    assert not (here / "data/new").exists()
    assert digests(here / "data/tiny") == before  # the old corpus, whole


def test_ctrl_c_in_a_real_process_leaves_nothing(here: Path):
    write_tsv(here / "corpus.tsv", synthetic_pairs(30000))
    config = write_config(here / "c.yaml", {"vocab_size": 300})
    process = subprocess.Popen([sys.executable, "-m", "seq2seq", "data", "prepare", "--config", str(config)],
                               cwd=here, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not leftovers(here / "data") and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the temporary directory is there: mid-prepare
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err and "error: interrupted" in err
    assert not (here / "data").exists()


def test_a_killed_prepare_leaves_no_process_and_its_leftovers_go_next_time(here: Path, monkeypatch, capsys):
    write_tsv(here / "corpus.tsv", synthetic_pairs(60000))
    config = write_config(here / "c.yaml", {"vocab_size": 300})
    process = subprocess.Popen([sys.executable, "-m", "seq2seq", "data", "prepare", "--config", str(config)],
                               cwd=here, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while len(children) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until pass 1's workers run
        found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True)
        children = {int(pid) for pid in found.stdout.split()}
    process.kill()  # no clean-up at all: SIGKILL
    process.wait()
    def alive() -> list[int]:
        return [pid for pid in children if Path(f"/proc/{pid}").exists()
                and Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"]

    deadline = time.monotonic() + 20
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # the workers see their pipe close and end
    left = alive()
    for pid in left:  # not to leave them running when this fails
        os.kill(pid, signal.SIGKILL)
    assert children and not left
    assert leftovers(here / "data")  # the killed prepare's temporary directory ...
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0, err
    assert leftovers(here / "data") == []  # ... goes with the next prepare of that folder


def test_bad_input_in_a_later_chunk_is_one_line_with_workers(here: Path, monkeypatch, capsys):
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 64)
    write_tsv(here / "corpus.tsv", synthetic_pairs(600))
    with open(here / "corpus.tsv", "ab") as handle:
        handle.write(b"Caf\xe9.\tCaf\xe9.\n")
    config = write_config(here / "c.yaml", {})
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[::2])
    assert f"corpus.tsv:{len(synthetic_pairs(600)) + 1}:" in line and "UTF-8" in line
    assert not (here / "data").exists() and multiprocessing.active_children() == []


def _dying_clean_chunk(task):
    """prepare_passes.clean_chunk of a worker killed at once (as the kernel's OOM killer would)."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_one_line_not_a_hang(here: Path, monkeypatch, capsys):
    monkeypatch.setattr(prepare_passes, "CHUNK_PAIRS", 64)
    monkeypatch.setattr(prepare_passes, "clean_chunk", _dying_clean_chunk)
    write_tsv(here / "corpus.tsv", synthetic_pairs(600))
    config = write_config(here / "c.yaml", {})
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[::2])
    assert "worker process" in line and "data.workers" in line
    assert not (here / "data").exists() and multiprocessing.active_children() == []


def test_a_truncated_shard_is_prepared_again(here: Path):
    write_tsv(here / "corpus.tsv", synthetic_pairs())
    out = prepare_corpus(make_config())
    first = digests(out)
    with open(out / "train.00000.src.npy", "r+b") as handle:
        handle.truncate(200)
    prepare_corpus(make_config())
    assert digests(out) == first


def test_shard_files_belong_to_the_prepared_folder(here: Path, monkeypatch, capsys):
    """--force replaces a prepared folder with shards (they are its own files), and -o never
    writes over one of them."""
    write_tsv(here / "corpus.tsv", synthetic_pairs())
    config = write_config(here / "c.yaml", {})
    for extra in ((), ("--force",)):
        code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, *extra)
        assert code == 0, err
    from seq2seq.ownership import PREPARED, owns
    assert all(owns(PREPARED, p.name) for p in (here / "data/tiny").iterdir())


# ---------------------------------------------------------------------------------------------
# Bounded memory


MEASURE = """
import resource, sys
from seq2seq.config import config_from_dict
from seq2seq.data import prepare_passes
from seq2seq.data.prepare import prepare_corpus
prepare_passes.CHUNK_PAIRS = 2000  # the chunks in flight (a constant) weigh little beside the pairs
prepare_corpus(config_from_dict({"name": "m", "data": {"path": sys.argv[1], "dir": sys.argv[2], "dev_size": 100,
                                 "test_size": 100, "vocab_size": 200, "workers": 2}}))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_corpus(here: Path):
    """The main process's peak for 4x the pairs: at most a few MB more (16 bytes a pair in numpy
    arrays, ~50 while the split sorts them), not the ~90 MB that v1's lists of the 90k more pairs took
    (measured: v1 +148 MB from 50k to 200k pairs of this kind, this prepare +3.5 MB)."""
    rng = random.Random(3)
    words = [f"{a}{b}" for a in "bcdfglmnprst" for b in ("a", "e", "i", "o", "u", "ou", "an")]
    peaks = []
    for n in (30_000, 120_000):
        with open(here / f"c{n}.tsv", "w", encoding="utf-8") as handle:
            for _ in range(n):
                length = rng.randint(6, 16)
                handle.write(" ".join(rng.choices(words, k=length)) + "\t" + " ".join(rng.choices(words, k=length)) + "\n")
        done = subprocess.run([sys.executable, "-c", MEASURE, f"c{n}.tsv", f"d{n}"], cwd=here, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
        peaks.append(int(done.stdout.split()[-1]) / 1024)  # MB
    assert peaks[1] - peaks[0] < 15, peaks
