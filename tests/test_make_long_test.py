"""scripts/make_long_test.py: joined-K tests from a prepared split, both sides aligned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "make_long_test.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_every_k_consecutive_pairs_become_one_line_on_both_sides(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    src = [f"Phrase {i} ." for i in range(7)]
    tgt = [f"Sentence {i} ." for i in range(7)]
    (data / "test.src").write_text("".join(s + "\n" for s in src), encoding="utf-8")
    (data / "test.tgt").write_text("".join(t + "\n" for t in tgt), encoding="utf-8")
    done = run("--data-dir", str(data), "--out-dir", str(tmp_path / "long"), "--join", "3", "2")
    assert done.returncode == 0, done.stderr
    three = (tmp_path / "long" / "joined3.src").read_text(encoding="utf-8").splitlines()
    assert three == ["Phrase 0 . Phrase 1 . Phrase 2 .", "Phrase 3 . Phrase 4 . Phrase 5 ."]
    assert (tmp_path / "long" / "joined3.tgt").read_text(encoding="utf-8").splitlines() == \
        ["Sentence 0 . Sentence 1 . Sentence 2 .", "Sentence 3 . Sentence 4 . Sentence 5 ."]
    assert len((tmp_path / "long" / "joined2.tgt").read_text(encoding="utf-8").splitlines()) == 3
    assert "2 lines of 3 test pairs (1 pair(s) left out)" in done.stdout


def test_the_long_set_holds_the_test_and_dev_pairs_of_many_words(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for split, words in (("test", [3, 25, 19, 20]), ("dev", [30, 2])):
        (data / f"{split}.src").write_text("".join(" ".join(["mot"] * n) + f" {split}{i}\n"
                                                   for i, n in enumerate(words)), encoding="utf-8")
        (data / f"{split}.tgt").write_text("".join(f"{split} {i}\n" for i in range(len(words))), encoding="utf-8")
    done = run("--data-dir", str(data), "--out-dir", str(tmp_path / "long"), "--long-words", "21")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "long" / "long.tgt").read_text(encoding="utf-8").splitlines() == ["test 1", "test 3", "dev 0"]
    assert [len(line.split()) for line in (tmp_path / "long" / "long.src").read_text().splitlines()] == [26, 21, 31]
    assert "3 test and dev pairs of 21 source words or more" in done.stdout


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "test.src").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "test.tgt").write_text("a\n", encoding="utf-8")
    done = run("--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "o"))
    assert done.returncode != 0 and done.stderr.strip().count("\n") == 0 and "test.src has 2 lines" in done.stderr
    done = run("--data-dir", str(tmp_path / "missing"), "--out-dir", str(tmp_path / "o"))
    assert done.returncode != 0 and "test.src: cannot read it" in done.stderr
    assert "join 2 or more" in run("--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "o"), "--join", "1").stderr
