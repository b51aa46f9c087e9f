"""The streaming corpus reader (seq2seq.data.corpus): chunks, line rules, one-line errors, hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seq2seq.config_corpora import CorpusSpec
from seq2seq.data import corpus
from seq2seq.data.corpus import BLOCK, hash_input, iter_pairs
from seq2seq.errors import UserError
from seq2seq.files import split_lines

ODD_LINES = ["Hello.\tBonjour.", "", "a\u2028b\tc\u0085d", "form\x0cfeed\tx", "tab\tat\tthe end\t",
             "Été.\tSummer.", "日本\t語", "\tempty source"]


def tsv(path: Path, lines: list[str], end: str = "\n", bom: bool = False) -> CorpusSpec:
    path.write_bytes(("\ufeff" if bom else "").encode() + "".join(f"{line}{end}" for line in lines).encode("utf-8"))
    return CorpusSpec("corpus", "tsv", str(path), 2, 1)


def aligned(tmp_path: Path, src: str, tgt: str) -> CorpusSpec:
    (tmp_path / "a.fr").write_text(src, encoding="utf-8", newline="")
    (tmp_path / "a.en").write_text(tgt, encoding="utf-8", newline="")
    return CorpusSpec("corpus", "parallel", src_path=str(tmp_path / "a.fr"), tgt_path=str(tmp_path / "a.en"))


def pairs(spec: CorpusSpec, chunk_size: int = 20_000) -> list[tuple[str, str]]:
    return [pair for src, tgt in iter_pairs(spec, chunk_size) for pair in zip(src, tgt, strict=True)]


def expected_tsv(text: str) -> list[tuple[str, str]]:
    """What the whole-file reader (split_lines, columns 2 -> 1) gives."""
    lines = split_lines(text.removeprefix("\ufeff"))
    return [(c[1], c[0]) if line else ("", "") for line in lines for c in [line.split("\t")]]


def error(spec: CorpusSpec, chunk_size: int = 20_000) -> str:
    with pytest.raises(UserError) as info:
        pairs(spec, chunk_size)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 20_000])
def test_chunks_do_not_change_the_pairs(tmp_path: Path, chunk_size: int):
    lines = ODD_LINES * 5
    spec = tsv(tmp_path / "c.tsv", lines)
    got = list(iter_pairs(spec, chunk_size))
    assert all(len(src) == chunk_size for src, _ in got[:-1]) and 0 < len(got[-1][0]) <= chunk_size
    assert pairs(spec, chunk_size) == expected_tsv((tmp_path / "c.tsv").read_text(encoding="utf-8"))
    assert ("", "") in pairs(spec) and ("c\u0085d", "a\u2028b") in pairs(spec)  # only LF ends a line


def test_crlf_bom_and_no_final_newline(tmp_path: Path):
    spec = tsv(tmp_path / "c.tsv", ["One.\tUn.", "Two.\tDeux."], end="\r\n", bom=True)
    assert pairs(spec, 1) == [("Un.", "One."), ("Deux.", "Two.")]
    (tmp_path / "c.tsv").write_bytes(b"One.\tUn.\r\nTwo.\tDeux.\r")
    assert pairs(spec) == [("Un.", "One."), ("Deux.", "Two.")]
    (tmp_path / "c.tsv").write_bytes("\ufeff".encode())
    assert pairs(spec) == []
    (tmp_path / "c.tsv").write_bytes(b"")
    assert pairs(spec) == []


def test_a_byte_order_mark_later_in_the_file_is_text(tmp_path: Path):
    spec = aligned(tmp_path, "\ufeffa\n\ufeffb\n", "x\ny\n")
    assert pairs(spec) == [("a", "x"), ("\ufeffb", "y")]


@pytest.mark.parametrize("block", [5, 64, BLOCK])
@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_errors_name_the_right_line_in_later_chunks(tmp_path: Path, monkeypatch, chunk_size: int, block: int):
    monkeypatch.setattr(corpus, "BLOCK", block)
    lines = ODD_LINES + ["only one column"] + ODD_LINES
    message = error(tsv(tmp_path / "c.tsv", lines), chunk_size)
    assert message.startswith(f"{tmp_path / 'c.tsv'}:{len(ODD_LINES) + 1}: expected at least 2 tab-separated columns")
    assert "data.src_column=2, data.tgt_column=1" in message and "found 1" in message
    (tmp_path / "c.tsv").write_bytes("".join(f"{x}\n" for x in ODD_LINES).encode() + b"ok\tCaf\xe9\n")
    message = error(CorpusSpec("corpus", "tsv", str(tmp_path / "c.tsv"), 2, 1), chunk_size)
    assert f"c.tsv:{len(ODD_LINES) + 1}: not valid UTF-8 (byte 0xe9 at byte 7 of the line)" in message


def test_utf8_errors_count_the_byte_order_mark_as_today(tmp_path: Path):
    (tmp_path / "c.tsv").write_bytes("\ufeff".encode() + b"\xff\tx\n")
    assert "c.tsv:1: not valid UTF-8 (byte 0xff at byte 4 of the line)" in error(
        CorpusSpec("corpus", "tsv", str(tmp_path / "c.tsv"), 2, 1))


@pytest.mark.parametrize("char", ["é", "€", "𝄞"])
def test_a_character_cut_at_the_block_boundary(tmp_path: Path, char: str):
    encoded = char.encode()
    for cut in range(1, len(encoded)):  # the block ends inside the character
        head = "x" * (BLOCK - cut - 3) + "\tb\n"  # one line of BLOCK - cut bytes
        line = f"{char}a\t{char}"
        spec = tsv(tmp_path / "c.tsv", [head.rstrip("\n"), line, line])
        assert (tmp_path / "c.tsv").read_bytes()[BLOCK - cut:BLOCK + len(encoded) - cut] == encoded
        assert pairs(spec)[1:] == [(char, f"{char}a")] * 2
    long_line = "y" * (BLOCK - 1) + char  # no line end in the first block at all
    assert pairs(tsv(tmp_path / "c.tsv", [f"{long_line}\t{char}", "a\tb"])) == [(char, long_line), ("b", "a")]


def test_invalid_utf8_right_after_the_block_boundary(tmp_path: Path):
    head = b"x\ty\n" * (BLOCK // 4)  # exactly one block of 262,144 lines
    (tmp_path / "c.tsv").write_bytes(head + b"ok\tok\nab\tc\x80d\n")
    message = error(CorpusSpec("corpus", "tsv", str(tmp_path / "c.tsv"), 2, 1), 1000)
    assert f"c.tsv:{BLOCK // 4 + 2}: not valid UTF-8 (byte 0x80 at byte 5 of the line)" in message


def test_tiny_blocks_give_what_the_whole_file_reader_gives(tmp_path: Path, monkeypatch):
    text = "\ufeff" + "\n".join(ODD_LINES) + "\r\nÉté\tx\r\n\n\nlast\tno newline"
    (tmp_path / "c.tsv").write_text(text, encoding="utf-8", newline="")
    spec = CorpusSpec("corpus", "tsv", str(tmp_path / "c.tsv"), 2, 1)
    reference = expected_tsv(text)
    for block in (1, 2, 3, 5, 64):
        monkeypatch.setattr(corpus, "BLOCK", block)
        for chunk_size in (1, 4, 1000):
            assert pairs(spec, chunk_size) == reference, (block, chunk_size)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
@pytest.mark.parametrize(("n_src", "n_tgt"), [(5, 3), (4, 6), (2, 0), (0, 1)])
def test_aligned_files_of_different_lengths(tmp_path: Path, chunk_size: int, n_src: int, n_tgt: int):
    spec = aligned(tmp_path, "".join(f"s{i}\n" for i in range(n_src)), "".join(f"t{i}\r\n" for i in range(n_tgt)))
    message = error(spec, chunk_size)
    assert message.startswith(f"{tmp_path / 'a.fr'} has {n_src} lines but {tmp_path / 'a.en'} has {n_tgt};")
    assert "line-aligned" in message


def test_aligned_files(tmp_path: Path):
    spec = aligned(tmp_path, "\ufeffun\r\n\ndeux\u2028trois\nquatre", "one\n\ntwo\u2028three\nfour\n")
    expected = [("un", "one"), ("", ""), ("deux\u2028trois", "two\u2028three"), ("quatre", "four")]
    for chunk_size in (1, 3, 10):
        assert pairs(spec, chunk_size) == expected
    assert [hash_input(tmp_path / name, role, "k").lines for name, role in (("a.fr", "src"), ("a.en", "tgt"))] == [4, 4]


def test_missing_file_and_directory_name_the_key(tmp_path: Path):
    missing = CorpusSpec("general", "tsv", str(tmp_path / "nowhere.tsv"), index=1)
    message = error(missing)
    assert "nowhere.tsv: corpus file not found (data.corpora[1].path;" in message
    folder = CorpusSpec("corpus", "parallel", src_path=str(tmp_path), tgt_path=str(tmp_path))
    assert f"{tmp_path}: is a directory, not a file (data.src_path;" in error(folder)
    with pytest.raises(UserError, match="data.tgt_path"):
        hash_input(tmp_path / "nothing.en", "tgt", "data.tgt_path")


def test_columns_of_a_corpus_in_data_corpora(tmp_path: Path):
    (tmp_path / "c.tsv").write_text("a\tb\tc\nx\ty\n", encoding="utf-8")
    spec = CorpusSpec("mine", "tsv", str(tmp_path / "c.tsv"), src_column=1, tgt_column=3, index=2)
    assert "c.tsv:2: expected at least 3" in (message := error(spec))
    assert "data.corpora[2].src_column=1, data.corpora[2].tgt_column=3" in message and "found 2" in message


@pytest.mark.parametrize("content", [b"", "\ufeff".encode(), b"a", b"a\n", b"a\r\nb", b"\n\n", b"x\xff\n" * 5,
                                     b"\xef\xbb", b"line\n" * (BLOCK // 5 + 7) + b"no end"],
                         ids=["empty", "bom", "a", "a-lf", "crlf-unterminated", "blank-lines", "not-utf8",
                              "half-bom", "two-blocks"])
def test_hash_input_matches_hashlib_and_counts_lines_as_read(tmp_path: Path, content: bytes):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    info = hash_input(path, "src", "data.src_path")
    assert (info.role, info.path, info.bytes) == ("src", str(path), len(content))
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("utf-8", errors="replace")
    assert info.lines == len(split_lines(text.removeprefix("\ufeff")))
