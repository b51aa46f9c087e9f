"""`s2s data prepare`: reading, cleaning, splitting, SentencePiece, the output directory, errors.

Most tests use a small synthetic corpus written to tmp_path (a few hundred pairs, SentencePiece
trains in well under a second); two use slices of the real Tatoeba and Multi30k files.
Errors are checked through the real entry point (`seq2seq.cli.run`): one `error: ...` line on
stderr, exit code 1, no traceback, nothing written.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seq2seq.config import config_from_dict
from seq2seq.data.normalize import normalize_text
from seq2seq.data.prepare import prepare_corpus, split_key
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.errors import UserError
from conftest import run_cli

FR = ["le", "chat", "chien", "mange", "une", "pomme", "maison", "grande", "petite", "rouge",
      "voit", "la", "souris", "dans", "jardin", "avec", "ami", "bleu", "court", "vite"]
EN = ["the", "cat", "dog", "eats", "an", "apple", "house", "big", "small", "red",
      "sees", "mouse", "in", "garden", "with", "friend", "blue", "runs", "fast", "a"]


def synthetic_pairs(n: int = 400, seed: int = 0) -> list[tuple[str, str]]:
    """(French, English) pairs of 2-9 words; every 7th French sentence gets a 2nd translation."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        length = rng.randint(2, 9)
        fr = " ".join(rng.choice(FR) for _ in range(length)) + f" {i} !"
        en = " ".join(rng.choice(EN) for _ in range(length)) + f" {i}!"
        pairs.append((fr, en))
        if i % 7 == 0:
            pairs.append((fr, en.replace("!", ".")))
    return pairs


def write_tsv(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """English<TAB>French, like Tatoeba's fra.txt."""
    path.write_text("".join(f"{en}\t{fr}\n" for fr, en in pairs), encoding="utf-8")
    return path


def write_config(path: Path, data: dict, name: str = "tiny") -> Path:
    base = {"format": "tsv", "path": "corpus.tsv", "src_column": 2, "tgt_column": 1,
            "dev_size": 30, "test_size": 40, "vocab_size": 80, "dir": "data/tiny"}
    base.update(data)
    path.write_text(yaml.safe_dump({"name": name, "data": base}), encoding="utf-8")
    return path


def make_config(**data):
    base = {"format": "tsv", "path": "corpus.tsv", "src_column": 2, "tgt_column": 1,
            "dev_size": 30, "test_size": 40, "vocab_size": 80, "dir": "data/tiny"}
    base.update(data)
    return config_from_dict({"name": "tiny", "data": base})




def split_path(out: Path, split: str, side: str) -> Path:
    """A split's text file: dev.src, test.tgt ...; the training text is that of shard 00000."""
    return out / (f"train.00000.{side}" if split == "train" else f"{split}.{side}")


def error_line(code: int, err: str) -> str:
    """The one `error:` line of a failed command (and checks it is the only trace of failure)."""
    assert code == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "\n" not in errors[0]
    return errors[0]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if not p.name.startswith(".s2s")}  # the marker says when it was made, the lock who holds it


def outputs(folder: Path) -> dict[str, object]:
    """Digests of every file but the manifest, and the manifest without the output dir."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["config"]["dir"]
    return {**{k: v for k, v in digests(folder).items() if k != "manifest.json"}, "manifest": manifest}


def leftovers(folder: Path) -> list[str]:
    """Temporary directories prepare may have left behind (it must not)."""
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name] if folder.exists() else []


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """tmp_path as the current directory, holding corpus.tsv (synthetic, 400+ pairs)."""
    monkeypatch.chdir(tmp_path)
    write_tsv(tmp_path / "corpus.tsv", synthetic_pairs())
    return tmp_path


# ---------------------------------------------------------------------------------------------
# The prepared directory


def test_prepare_writes_splits_vocabulary_and_manifest(workdir: Path, monkeypatch, capsys):
    config = write_config(workdir / "c.yaml", {})
    code, out, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0, err
    out_dir = workdir / "data" / "tiny"
    names = {p.name for p in out_dir.iterdir()}
    shard = {f"train.00000.{suffix}" for suffix in ("src", "tgt", "src.npy", "tgt.npy", "index.npy")}
    assert names == {"dev.src", "dev.tgt", "test.src", "test.tgt", "train.known-words.txt", *shard,
                     "spm.model", "manifest.json", ".s2s-folder.json", ".s2s.lock"}  # marker, lock
    assert leftovers(workdir / "data") == []
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "s2s-prepared-corpus" and manifest["format_version"] == 2
    counts = manifest["counts"]
    assert list(counts) == ["read", "after_empty_filter", "after_max_words", "after_length_ratio",
                            "after_dedup", "train", "dev", "test"]
    assert counts["dev"] == 30 and counts["test"] == 40
    assert counts["train"] + counts["dev"] + counts["test"] == counts["after_dedup"]
    for name, record in manifest["files"].items():
        content = (out_dir / name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == record["sha256"]
        assert len(content) == record["bytes"]
    for split in ("train", "dev", "test"):
        src = split_path(out_dir, split, "src").read_text(encoding="utf-8").split("\n")
        tgt = split_path(out_dir, split, "tgt").read_text(encoding="utf-8").split("\n")
        assert src[-1] == "" and tgt[-1] == ""  # LF-terminated
        assert len(src) - 1 == len(tgt) - 1 == counts[split] == manifest["files"][split_path(out_dir, split, "src").name]["lines"]
    assert set(manifest["files"]) == names - {"manifest.json", ".s2s-folder.json", ".s2s.lock"}
    assert manifest["shards"] == [{"name": "train.00000", "pairs": counts["train"], **{
        key: manifest["shards"][0][key] for key in ("src_tokens", "tgt_tokens", "longest_src", "longest_tgt")}}]
    assert [c["name"] for c in manifest["corpora"]] == ["corpus"] and manifest["corpora"][0]["counts"] == counts
    assert set(manifest["entities"]) == {"names", "numbers", "dates", "symbols"}
    assert manifest["known_words"] == "train.known-words.txt"
    source = manifest["inputs"][0]
    assert source["sha256"] == hashlib.sha256((workdir / "corpus.tsv").read_bytes()).hexdigest()
    assert manifest["config"]["vocab_size"] == 80 and manifest["vocabulary"]["joint"] is True
    src_tok, tgt_tok = load_tokenizers(out_dir, joint=True)
    assert src_tok is tgt_tok and src_tok.vocab_size == 80
    assert "train split" in out and "SentencePiece" in out  # the summary table
    assert "[prepare" in err and "training SentencePiece" in err  # progress lines


def test_filters_are_counted_step_by_step(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = synthetic_pairs(200)
    extra = [("", "empty source"),                                      # empty side
             ("\u200b", "zero-width only"),                              # empty after normalising
             (" ".join(["mot"] * 20), "word"),                           # too long (max_words 12) and skewed
             ("un deux trois quatre cinq six sept", "one"),              # ratio 7 > 3
             (pairs[0][0], pairs[0][1]),                                 # exact duplicate
             (pairs[1][0].replace(" !", "\u202f!"), pairs[1][1])]        # duplicate after normalising
    write_tsv(tmp_path / "corpus.tsv", pairs + extra)
    prepare_corpus(make_config(max_words=12, max_length_ratio=3.0))
    counts = json.loads((tmp_path / "data/tiny/manifest.json").read_text())["counts"]
    n = len(pairs) + len(extra)
    assert counts["read"] == n
    assert counts["after_empty_filter"] == n - 2
    assert counts["after_max_words"] == n - 3
    assert counts["after_length_ratio"] == n - 4
    assert counts["after_dedup"] == n - 6


def test_text_is_normalised_like_at_translate_time(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = synthetic_pairs(150)
    odd = ("«\u00a0Bonjour\u00a0»\u202f! Ça\u2009va\u00a0?  Ｔｅｓｔ", "“Hello!”   How are you?\u200b")
    write_tsv(tmp_path / "corpus.tsv", [odd] + pairs)
    prepare_corpus(make_config(dev_size=0, test_size=1, seed=3))
    out = tmp_path / "data/tiny"
    lines = dict(zip((out / "train.00000.src").read_text().splitlines() + (out / "test.src").read_text().splitlines(),
                     (out / "train.00000.tgt").read_text().splitlines() + (out / "test.tgt").read_text().splitlines()))
    expected_src = normalize_text(odd[0], "nfkc", False)
    assert expected_src == "« Bonjour » ! Ça va ? Test"
    assert lines[expected_src] == "“Hello!” How are you?"
    for name in ("train.00000.src", "train.00000.tgt", "test.src", "test.tgt"):
        assert not any(c in (out / name).read_text() for c in "\u00a0\u202f\u2009\u200b")


def test_line_separators_and_crlf_do_not_break_alignment(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = synthetic_pairs(150)
    pairs[5] = ("une\u2028ligne", "one\u2029line")
    text = "\ufeff" + "".join(f"{en}\t{fr}\r\n" for fr, en in pairs)  # BOM + Windows line ends
    (tmp_path / "corpus.tsv").write_text(text, encoding="utf-8", newline="")
    prepare_corpus(make_config(dev_size=5, test_size=5))
    out = tmp_path / "data/tiny"
    for split in ("train", "dev", "test"):
        src = split_path(out, split, "src").read_text(encoding="utf-8").splitlines()
        tgt = split_path(out, split, "tgt").read_text(encoding="utf-8").splitlines()
        assert len(src) == len(tgt)
        assert not any("\r" in line for line in src + tgt)
    everything = "".join((out / f).read_text() for f in ("train.00000.src", "dev.src", "test.src"))
    assert "une ligne" in everything
    assert "\ufeff" not in everything


# ---------------------------------------------------------------------------------------------
# The split


def test_split_keeps_all_translations_of_a_source_together(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = random.Random(5)
    pairs = []
    for i, (fr, en) in enumerate(synthetic_pairs(300, seed=1)):
        for k in range(rng.choice([1, 1, 1, 2, 3, 5])):  # up to 5 translations per source
            pairs.append((fr if k % 2 else fr.upper() if k == 4 else fr, f"{en} v{k}"))
    write_tsv(tmp_path / "corpus.tsv", pairs)
    prepare_corpus(make_config(dev_size=50, test_size=60, seed=7))
    out = tmp_path / "data/tiny"
    sources = {s: [split_key(line) for line in split_path(out, s, "src").read_text().splitlines()]
               for s in ("train", "dev", "test")}
    assert len(sources["dev"]) == 50 and len(sources["test"]) == 60
    train = set(sources["train"])
    assert not train & set(sources["dev"]) and not train & set(sources["test"])
    assert not set(sources["dev"]) & set(sources["test"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overlap"]["dev"]["sources_in_train"] == 0
    assert manifest["overlap"]["test"]["sources_in_train"] == 0


def test_split_depends_on_the_seed_and_test_not_on_dev_size(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tsv(tmp_path / "corpus.tsv", synthetic_pairs())

    def test_set(**data) -> str:
        out = prepare_corpus(make_config(**data), force=True)
        return (out / "test.src").read_text()

    first = test_set(seed=1, dev_size=30)
    assert test_set(seed=1, dev_size=60) == first
    assert test_set(seed=2, dev_size=30) != first


def test_dev_and_test_are_shuffled_train_keeps_corpus_order(workdir: Path):
    out = prepare_corpus(make_config(dev_size=60, test_size=60))
    order = {normalize_text(fr): i for i, (fr, _) in enumerate(synthetic_pairs())}
    train = [order[line] for line in (out / "train.00000.src").read_text().splitlines()]
    dev = [order[line] for line in (out / "dev.src").read_text().splitlines()]
    assert train == sorted(train)
    assert dev != sorted(dev)


# ---------------------------------------------------------------------------------------------
# Re-running: no-op, byte-identical, refusal, --force


def test_rerun_is_a_noop(workdir: Path, monkeypatch, capsys):
    config = write_config(workdir / "c.yaml", {})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (workdir / "data/tiny").iterdir() if p.name != ".s2s.lock"}
    code, out, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0
    assert "already prepared, nothing to do" in out
    assert before == {p.name: p.stat().st_mtime_ns for p in (workdir / "data/tiny").iterdir() if p.name != ".s2s.lock"}
    # another config (other name, other model) sharing the same data section: also a no-op
    other = yaml.safe_load(config.read_text())
    other.update(name="other", model={"type": "rnn"})
    (workdir / "other.yaml").write_text(yaml.safe_dump(other))
    code, out, _ = run_cli(monkeypatch, capsys, "data", "prepare", "--config", workdir / "other.yaml")
    assert code == 0 and "already prepared" in out


def test_force_and_other_processes_give_byte_identical_output(workdir: Path, monkeypatch, capsys):
    config = write_config(workdir / "c.yaml", {})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    first = digests(workdir / "data/tiny")
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, "--force")[0] == 0
    assert digests(workdir / "data/tiny") == first
    # a fresh process with another hash seed, into another directory
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "seq2seq", "data", "prepare", "--config", str(config),
                    "--set", "data.dir=data/again"], cwd=workdir, env=env, check=True,
                   capture_output=True)
    assert outputs(workdir / "data/again") == outputs(workdir / "data/tiny")


def test_unigram_and_sampled_sentencepiece_are_deterministic(workdir: Path):
    settings = dict(vocab_type="unigram", spm_max_sentences=300, joint_vocab=False, vocab_size=60)
    one = prepare_corpus(make_config(dir="data/one", **settings))
    two = prepare_corpus(make_config(dir="data/two", **settings))
    assert {p.name for p in one.iterdir()} >= {"spm.src.model", "spm.tgt.model"}
    assert "spm.model" not in {p.name for p in one.iterdir()}
    assert outputs(one) == outputs(two)
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["vocabulary"]["trained_on_sentences"] == 300
    src_tok, tgt_tok = load_tokenizers(one, joint=False)
    assert src_tok is not tgt_tok and src_tok.vocab_size == tgt_tok.vocab_size == 60


def test_different_corpus_is_refused_without_force(workdir: Path, monkeypatch, capsys):
    config = write_config(workdir / "c.yaml", {})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    first = digests(workdir / "data/tiny")
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config,
                           "--set", "data.vocab_size=70")
    line = error_line(code, err)
    assert "data/tiny" in line and "--force" in line and "data.dir" in line
    assert "vocab_size" in line
    assert digests(workdir / "data/tiny") == first  # untouched
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config,
                           "--set", "data.vocab_size=70", "--force")
    assert code == 0, err
    assert json.loads((workdir / "data/tiny/manifest.json").read_text())["config"]["vocab_size"] == 70
    assert leftovers(workdir / "data") == []


def test_changed_input_file_is_a_different_corpus(workdir: Path, monkeypatch, capsys):
    config = write_config(workdir / "c.yaml", {})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    with open(workdir / "corpus.tsv", "a", encoding="utf-8") as handle:
        handle.write("One more.\tEncore un.\n")
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[::2])
    assert "different prepared corpus" in line and "sha256" in line


def test_directory_that_is_not_a_prepared_corpus_is_refused(workdir: Path, monkeypatch, capsys):
    (workdir / "data/tiny").mkdir(parents=True)
    (workdir / "data/tiny/notes.txt").write_text("mine")
    config = write_config(workdir / "c.yaml", {})
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[::2])
    assert "not an s2s prepared-data folder" in line and "data.dir" in line
    # --force replaces only an s2s prepared-data folder, never a user's (issue 33)
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, "--force")[::2])
    assert "not an s2s prepared-data folder" in line
    assert (workdir / "data/tiny/notes.txt").read_text() == "mine"


def test_damaged_output_is_prepared_again(workdir: Path):
    out = prepare_corpus(make_config())
    first = digests(out)
    (out / "dev.tgt").write_text("edited\n")
    prepare_corpus(make_config())
    assert digests(out) == first


def test_failure_while_writing_leaves_nothing_half_written(workdir: Path, monkeypatch):
    import seq2seq.files as files_module  # prepare writes through seq2seq.files

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    out = prepare_corpus(make_config())
    first = digests(out)
    monkeypatch.setattr(files_module.os, "fsync", broken_fsync)
    with pytest.raises(UserError, match="No space left"):
        prepare_corpus(make_config(vocab_size=70), force=True)
    assert digests(out) == first  # the old corpus is still there, whole
    assert leftovers(workdir / "data") == []
    with pytest.raises(UserError, match="No space left"):
        prepare_corpus(make_config(dir="data/new"))
    assert not (workdir / "data/new").exists()
    assert leftovers(workdir / "data") == []


# ---------------------------------------------------------------------------------------------
# Bad input: one clear line each, nothing written


def _fails(workdir: Path, monkeypatch, capsys, data: dict, *extra: str) -> str:
    config = write_config(workdir / "c.yaml", data)
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, *extra)[::2])
    assert not (workdir / "data").exists(), "nothing may be written on an error"
    return line


def test_missing_corpus_file(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"path": "nowhere/fra.txt"})
    assert "nowhere/fra.txt" in line and "not found" in line and "data.path" in line


def test_tsv_line_with_too_few_columns(workdir: Path, monkeypatch, capsys):
    with open(workdir / "corpus.tsv", "a", encoding="utf-8") as handle:
        handle.write("only one column here\n")
    line = _fails(workdir, monkeypatch, capsys, {})
    n = len(synthetic_pairs()) + 1
    assert f"corpus.tsv:{n}:" in line and "columns" in line and "found 1" in line


def test_aligned_files_of_different_lengths(workdir: Path, monkeypatch, capsys):
    (workdir / "a.fr").write_text("un\ndeux\ntrois\n", encoding="utf-8")
    (workdir / "a.en").write_text("one\ntwo\n", encoding="utf-8")
    line = _fails(workdir, monkeypatch, capsys, {"format": "parallel", "path": None,
                                                 "src_path": "a.fr", "tgt_path": "a.en"})
    assert "a.fr has 3 lines" in line and "a.en has 2" in line and "aligned" in line


def test_invalid_utf8(workdir: Path, monkeypatch, capsys):
    with open(workdir / "corpus.tsv", "ab") as handle:
        handle.write("Good.\tBien.\n".encode() + b"Caf\xe9.\tCaf\xe9.\n")
    line = _fails(workdir, monkeypatch, capsys, {})
    n = len(synthetic_pairs()) + 2
    assert f"corpus.tsv:{n}:" in line and "UTF-8" in line


def test_empty_corpus_after_filtering(workdir: Path, monkeypatch, capsys):
    write_tsv(workdir / "corpus.tsv", [(" ".join(["mot"] * 20), "word"), ("\u00a0", "space")])
    line = _fails(workdir, monkeypatch, capsys, {"max_words": 10})
    assert "no sentence pairs left after filtering" in line and "data.max_words" in line


def test_empty_corpus_file(workdir: Path, monkeypatch, capsys):
    (workdir / "corpus.tsv").write_text("")
    line = _fails(workdir, monkeypatch, capsys, {})
    assert "corpus.tsv" in line and "empty" in line


def test_dev_and_test_leave_nothing_for_training(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"dev_size": 300, "test_size": 300})
    assert "data.dev_size (300) + data.test_size (300)" in line and "nothing for training" in line


def test_vocab_size_too_large_for_a_tiny_corpus(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"vocab_size": 8000})
    assert "data.vocab_size=8000 is too large" in line and "at most" in line


def test_vocab_size_smaller_than_the_alphabet(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"vocab_size": 16})
    assert "data.vocab_size=16" in line and "characters" in line


def test_unknown_config_key(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"vocab_sise": 100})
    assert "unknown key 'vocab_sise'" in line and "'data'" in line and "did you mean 'vocab_size'" in line


def test_wrong_type(workdir: Path, monkeypatch, capsys):
    line = _fails(workdir, monkeypatch, capsys, {"dev_size": "many"})
    assert "data.dev_size must be an integer" in line and "'many'" in line


def test_yaml_syntax_error(workdir: Path, monkeypatch, capsys):
    (workdir / "c.yaml").write_text("name: x\ndata:\n  path: corpus.tsv\n  dev_size: [1, 2\n  seed: 3\n")
    line = error_line(*run_cli(monkeypatch, capsys, "data", "prepare", "--config", workdir / "c.yaml")[::2])
    assert "c.yaml:5" in line and "YAML syntax error" in line
    assert not (workdir / "data").exists()


# ---------------------------------------------------------------------------------------------
# The real corpora (skipped, with the reason, when ../shared/data is absent)


def test_real_tatoeba_slice(tatoeba_file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tatoeba_file, encoding="utf-8") as handle:
        lines = handle.readlines()
    # Upstream order is by English length: take a slice from the middle as well as the start.
    (tmp_path / "fra.txt").write_text("".join(lines[:2000] + lines[60000:62000]), encoding="utf-8")
    config = make_config(path="fra.txt", dev_size=200, test_size=300, vocab_size=1000)
    out = prepare_corpus(config)
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == 4000
    assert counts["train"] + 500 == counts["after_dedup"] > 3900
    train_src = (out / "train.00000.src").read_text(encoding="utf-8")
    assert "\u202f" not in train_src and "\u00a0" not in train_src
    assert " !" in train_src or " ?" in train_src  # French spacing kept as a plain space
    # French is the source (column 2), English the target (column 1)
    first_fr = next(line.split("\t")[1] for line in lines[:2000] if line.startswith("Go."))
    assert normalize_text(first_fr) in (train_src + (out / "dev.src").read_text() + (out / "test.src").read_text())
    # Tatoeba has many translations per sentence: none of them leaks across splits
    assert manifest["splits"]["train"]["source_sentences"] < manifest["splits"]["train"]["pairs"]
    assert manifest["overlap"]["dev"]["sources_in_train"] == manifest["overlap"]["test"]["sources_in_train"] == 0
    tok, _ = load_tokenizers(out, joint=True)
    assert tok.decode(tok.encode("Je suis là.")) == "Je suis là."


def test_real_multi30k_slice(shared_data: Path, tmp_path: Path, monkeypatch):
    folder = shared_data / "multi30k-fr-en"
    if not (folder / "train.fr").is_file():
        pytest.skip(f"{folder}/train.fr not found")
    monkeypatch.chdir(tmp_path)
    for lang in ("fr", "en"):
        with open(folder / f"train.{lang}", encoding="utf-8") as handle:
            (tmp_path / f"train.{lang}").write_text("".join(handle.readlines()[:2000]), encoding="utf-8")
    config = make_config(format="parallel", path=None, src_path="train.fr", tgt_path="train.en",
                         dev_size=100, test_size=100, vocab_size=1000, vocab_type="unigram")
    out = prepare_corpus(config)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 2000
    assert [i["role"] for i in manifest["inputs"]] == ["src", "tgt"]
    dev_fr = (out / "dev.src").read_text(encoding="utf-8").splitlines()
    dev_en = (out / "dev.tgt").read_text(encoding="utf-8").splitlines()
    assert len(dev_fr) == len(dev_en) == 100
    pairs = set(zip(map(normalize_text, (tmp_path / "train.fr").read_text(encoding="utf-8").splitlines()),
                    map(normalize_text, (tmp_path / "train.en").read_text(encoding="utf-8").splitlines())))
    assert all(pair in pairs for pair in zip(dev_fr, dev_en))  # still aligned


def test_read_manifest_checks_the_config_against_the_prepared_data(workdir: Path):
    from seq2seq.data.manifest import read_manifest
    from seq2seq.errors import UserError

    with pytest.raises(UserError, match="no prepared corpus there"):
        read_manifest(make_config())
    prepare_corpus(make_config())
    assert read_manifest(make_config(path="elsewhere/corpus.tsv"))["counts"]["dev"] == 30
    with pytest.raises(UserError, match=r"other data settings \(data.seed 1 -> 2\)"):
        read_manifest(make_config(seed=2))
