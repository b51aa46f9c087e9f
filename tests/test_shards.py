"""Training shards (seq2seq.data.shards): round trip, the .npy files, chunked writes, damage -> one line."""

from __future__ import annotations

import gc
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from seq2seq.data.batching import TokenArrays
from seq2seq.data.shards import (CORPUS, FLAGS, INDEX_COLUMNS, SAMPLE_ROWS, SRC_LEN, SRC_START, SRC_TEXT, TGT_LEN,
                                 TGT_START, TGT_TEXT, Shard, ShardInfo, ShardWriter, id_dtype, shard_files, shard_name)
from seq2seq.errors import UserError
from seq2seq.special_tokens import PAD_ID

NAME = "train.00000"


def make_rows(n: int, vocab_size: int = 8000, seed: int = 0) -> dict[str, list]:
    """n random rows: ids (empty ones included), text with non-ASCII and U+2028, flags, corpus."""
    rng = random.Random(seed)
    words = ["chat", "été", "Ünïcode", "a\u2028b", "日本", "x\ty", "\r", ""]
    return {
        "src_ids": [[rng.randrange(vocab_size) for _ in range(rng.randrange(0, 12))] for _ in range(n)],
        "tgt_ids": [[rng.randrange(vocab_size) for _ in range(rng.randrange(0, 12))] for _ in range(n)],
        "src_text": [" ".join(rng.choices(words, k=rng.randrange(0, 5))) for _ in range(n)],
        "tgt_text": [" ".join(rng.choices(words, k=rng.randrange(0, 5))) for _ in range(n)],
        "flags": [rng.randrange(16) for _ in range(n)],
        "corpus": [rng.randrange(3) for _ in range(n)],
    }


def write(directory: Path, rows: dict[str, list], vocab_size: int = 8000, chunk: int | None = None,
          name: str = NAME) -> ShardInfo:
    directory.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(directory, name, id_dtype(vocab_size))
    n = len(rows["flags"])
    step = chunk or max(n, 1)
    for at in range(0, n, step):
        writer.add(*(rows[k][at:at + step] for k in ("src_ids", "tgt_ids", "src_text", "tgt_text", "flags", "corpus")))
    return writer.close()


def one_line_error(directory: Path, vocab_size: int | None = 8000, full: bool = False) -> str:
    with pytest.raises(UserError) as info:
        shard = Shard.open(directory, NAME, vocab_size)
        if full:
            shard.verify()
    message = str(info.value)
    assert "\n" not in message and "s2s data prepare --config" in message and "--force" in message
    return message


def test_names_and_dtypes():
    assert shard_name("train", 3) == "train.00003"
    assert shard_files("train.00003") == ("train.00003.src.npy", "train.00003.tgt.npy", "train.00003.index.npy",
                                          "train.00003.src", "train.00003.tgt")
    assert id_dtype(8000) == np.uint16 and id_dtype(65536) == np.uint16 and id_dtype(65537) == np.uint32
    assert len(INDEX_COLUMNS) == 8 and INDEX_COLUMNS[FLAGS] == "flags" and INDEX_COLUMNS[CORPUS] == "corpus"


@pytest.mark.parametrize("vocab_size", [8000, 100_000])
def test_round_trip(tmp_path: Path, vocab_size: int):
    rows = make_rows(300, vocab_size)
    info = write(tmp_path, rows, vocab_size, chunk=70)
    src_lengths = [len(s) for s in rows["src_ids"]]
    tgt_lengths = [len(t) for t in rows["tgt_ids"]]
    assert info == ShardInfo(NAME, 300, sum(src_lengths), sum(tgt_lengths), max(src_lengths), max(tgt_lengths))
    assert info.to_dict()["pairs"] == 300
    shard = Shard.open(tmp_path, NAME, vocab_size)
    shard.verify()
    assert len(shard) == 300 and shard.src.dtype == id_dtype(vocab_size) == shard.tgt.dtype
    everything = np.arange(300)
    assert [list(x) for x in shard.ids("src", everything)] == rows["src_ids"]
    assert [list(x) for x in shard.ids("tgt", everything)] == rows["tgt_ids"]
    assert [shard.text(i) for i in range(300)] == list(zip(rows["src_text"], rows["tgt_text"]))
    assert shard.index[:, FLAGS].tolist() == rows["flags"] and shard.index[:, CORPUS].tolist() == rows["corpus"]
    assert shard.src_sizes.tolist() == [n + 1 for n in src_lengths]
    assert shard.tgt_sizes.tolist() == [n + 1 for n in tgt_lengths]
    assert shard.src_sizes.dtype == torch.int64
    shard.close()


def test_npy_files_load_with_plain_numpy(tmp_path: Path):
    rows = make_rows(50)
    write(tmp_path, rows, chunk=7)
    src = np.load(tmp_path / f"{NAME}.src.npy")
    index = np.load(tmp_path / f"{NAME}.index.npy", mmap_mode="r")
    assert src.dtype == np.uint16 and src.tolist() == sum(rows["src_ids"], [])
    assert index.shape == (50, 8) and index.dtype == np.int64
    assert index[:, SRC_LEN].tolist() == [len(s) for s in rows["src_ids"]]
    assert index[:, TGT_LEN].tolist() == [len(t) for t in rows["tgt_ids"]]
    assert np.load(tmp_path / f"{NAME}.tgt.npy").tolist() == sum(rows["tgt_ids"], [])
    for name in shard_files(NAME)[:3]:
        assert (tmp_path / name).read_bytes()[8:10] == (118).to_bytes(2, "little")  # 128-byte header
    text = (tmp_path / f"{NAME}.src").read_bytes()
    assert text == "".join(f"{line}\n" for line in rows["src_text"]).encode("utf-8")
    assert [text[o:].split(b"\n", 1)[0].decode() for o in index[:, SRC_TEXT]] == rows["src_text"]


def test_chunked_writes_equal_one_write_byte_for_byte(tmp_path: Path):
    rows = make_rows(200)
    write(tmp_path / "one", rows)
    for chunk in (1, 3, 64):
        write(tmp_path / f"c{chunk}", rows, chunk=chunk)
        for name in shard_files(NAME):
            assert (tmp_path / f"c{chunk}" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_numpy_ids_and_a_refused_chunk(tmp_path: Path):
    """Ids as numpy arrays (what prepare passes) write the same bytes as lists; a chunk refused
    (a line with '\\n', an id too large for uint16) leaves the files as they were."""
    rows = make_rows(60)
    write(tmp_path / "lists", rows)
    (tmp_path / "arrays").mkdir()
    writer = ShardWriter(tmp_path / "arrays", NAME, id_dtype(8000))
    half = {k: v[:30] for k, v in rows.items()}
    writer.add([np.array(s, dtype=np.int32) for s in half["src_ids"]], [np.array(t) for t in half["tgt_ids"]],
               half["src_text"], half["tgt_text"], np.array(half["flags"]), np.array(half["corpus"]))
    with pytest.raises(ValueError, match="contains"):
        writer.add([[1]], [[2]], ["two\nlines"], ["x"], [0], [0])
    with pytest.raises(ValueError, match="outside the range"):
        writer.add([[1]], [[70_000]], ["a"], ["b"], [0], [0])
    writer.add(*(rows[k][30:] for k in ("src_ids", "tgt_ids", "src_text", "tgt_text", "flags", "corpus")))
    writer.close()
    for name in shard_files(NAME):
        assert (tmp_path / "arrays" / name).read_bytes() == (tmp_path / "lists" / name).read_bytes(), name


def test_abort_deletes_the_files(tmp_path: Path):
    writer = ShardWriter(tmp_path, NAME, id_dtype(8000))
    writer.add([[1]], [[2]], ["a"], ["b"], [0], [0])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_empty_shard(tmp_path: Path):
    info = write(tmp_path, make_rows(0))
    assert info == ShardInfo(NAME, 0, 0, 0, 0, 0)
    assert np.load(tmp_path / f"{NAME}.index.npy").shape == (0, 8)
    shard = Shard.open(tmp_path, NAME, 8000)
    shard.verify()
    assert len(shard) == 0 and shard.src_sizes.tolist() == [] and shard.ids("src", np.arange(0)) == []
    assert shard.padded("tgt", torch.zeros(0, dtype=torch.int64), 5).shape == (0, 5)
    shard.close()


@pytest.mark.parametrize("vocab_size", [8000, 100_000])
def test_padded_is_token_arrays_padded(tmp_path: Path, vocab_size: int):
    rows = make_rows(120, vocab_size)
    write(tmp_path, rows, vocab_size, chunk=50)
    shard = Shard.open(tmp_path, NAME, vocab_size)
    picks = torch.tensor([5, 0, 119, 5, 64, 33])
    for side in ("src", "tgt"):
        reference = TokenArrays.from_lists(rows[f"{side}_ids"])
        for width in (1, 4, 12, 20):
            got = shard.padded(side, picks, width)
            assert got.dtype == torch.int64 and torch.equal(got, reference.padded(picks, width))
    empty_row = next(i for i, s in enumerate(rows["src_ids"]) if not s)
    assert shard.padded("src", torch.tensor([empty_row]), 3).tolist() == [[PAD_ID] * 3]


def test_a_pickled_shard_is_opened_again(tmp_path: Path):
    write(tmp_path, make_rows(20))
    shard = Shard.open(tmp_path, NAME, 8000)
    copy = pickle.loads(pickle.dumps(shard))
    assert isinstance(copy.src, np.memmap) and copy.text(7) == shard.text(7)


def mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/self/maps (Linux)")
def test_close_drops_the_maps(tmp_path: Path):
    write(tmp_path, make_rows(100))
    shard = Shard.open(tmp_path, NAME, 8000)
    sizes = shard.src_sizes  # computed from the map but a copy: stays valid
    files = [tmp_path / name for name in shard_files(NAME)]
    assert all(mapped(path) for path in files)
    shard.close()
    gc.collect()
    assert not any(mapped(path) for path in files)
    assert sizes.sum() > 0
    with pytest.raises(ValueError, match="closed"):
        shard.padded("src", torch.tensor([0]), 3)


def resident_kb(path: Path) -> int:
    """This process's resident kB of the mappings of `path` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps (Linux)")
def test_release_pages_drops_the_resident_pages_and_reads_on(tmp_path: Path):
    rows = make_rows(20_000)
    write(tmp_path, rows)
    shard = Shard.open(tmp_path, NAME, 8000)
    files = [tmp_path / name for name in shard_files(NAME)]
    shard.verify()  # touches every page
    before = [shard.ids("src", np.array([5, 19_999])), shard.text(7), shard.src_sizes.clone()]
    assert all(resident_kb(path) > 0 for path in files)
    shard.release_pages()
    assert all(resident_kb(path) == 0 for path in files) and not shard._sizes
    after = [shard.ids("src", np.array([5, 19_999])), shard.text(7), shard.src_sizes]
    assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0])) and before[1] == after[1]
    assert torch.equal(before[2], after[2])
    shard.close()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/self/maps (Linux)")
def test_close_after_a_failed_verify_drops_the_maps(tmp_path: Path):
    write(tmp_path, make_rows(100))
    with open(tmp_path / f"{NAME}.tgt", "ab") as handle:
        handle.write(b"extra\n")
    shard = Shard.open(tmp_path, NAME, 8000)
    with pytest.raises(UserError, match="lines for 100 rows"):
        shard.verify()
    shard.close()
    gc.collect()
    assert not any(mapped(tmp_path / name) for name in shard_files(NAME))


# ---------------------------------------------------------------------------------------------
# Damage: each case one line naming the file and saying to prepare again


@pytest.fixture
def good(tmp_path: Path) -> Path:
    write(tmp_path, make_rows(100))
    return tmp_path


def test_truncated_ids_file(good: Path):
    path = good / f"{NAME}.tgt.npy"
    path.write_bytes(path.read_bytes()[:-3])
    message = one_line_error(good)
    assert str(path) in message and "damaged training shard" in message and "truncated" in message


def test_missing_file(good: Path):
    for name in shard_files(NAME):
        data = (good / name).read_bytes()
        (good / name).unlink()
        message = one_line_error(good)
        assert str(good / name) in message and "missing" in message
        (good / name).write_bytes(data)
    Shard.open(good, NAME, 8000).close()


def test_garbage_header(good: Path):
    path = good / f"{NAME}.index.npy"
    path.write_bytes(b"this is no numpy file at all" + path.read_bytes()[28:])
    assert str(path) in one_line_error(good)
    path.write_bytes(b"\x93NUMPY\x01\x00\x76\x00{'descr': <<<garbage" + b" " * 100)
    assert str(path) in one_line_error(good)
    path.write_bytes(b"")
    assert str(path) in one_line_error(good)


def rewrite_index(directory: Path, change) -> None:
    path = directory / f"{NAME}.index.npy"
    index = np.load(path)
    change(index)
    np.save(path, index)


def test_index_pointing_past_the_end(good: Path):
    rewrite_index(good, lambda index: index.__setitem__((99, SRC_LEN), index[99, SRC_LEN] + 5))
    assert "src ids" in one_line_error(good)


def test_rows_not_back_to_back(good: Path):
    rewrite_index(good, lambda index: index.__setitem__((50, TGT_START), index[50, TGT_START] + 1))
    assert "back to back" in one_line_error(good, full=True)


def test_text_offset_not_at_a_line_start(good: Path):
    rewrite_index(good, lambda index: index.__setitem__((40, TGT_TEXT), index[40, TGT_TEXT] + 1))
    message = one_line_error(good, full=True)
    assert str(good / f"{NAME}.tgt") in message


def test_text_file_with_a_line_too_many(good: Path):
    with open(good / f"{NAME}.src", "ab") as handle:
        handle.write(b"extra\n")
    assert str(good / f"{NAME}.src") in one_line_error(good, full=True)


def unsampled_row(n: int) -> int:
    """A row that neither open()'s sample nor the row after a sampled one is."""
    sampled = set(np.linspace(0, n - 1, num=min(n, SAMPLE_ROWS)).astype(np.int64).tolist())
    return next(r for r in range(n // 2, n) if r not in sampled and r - 1 not in sampled)


def test_id_outside_the_vocabulary(tmp_path: Path):
    n = 3 * SAMPLE_ROWS
    write(tmp_path, {"src_ids": [[4, 5]] * n, "tgt_ids": [[6]] * n, "src_text": ["a"] * n, "tgt_text": ["b"] * n,
                     "flags": [0] * n, "corpus": [0] * n})
    path = tmp_path / f"{NAME}.src.npy"
    ids = np.load(path)
    ids[-1] = 8000  # the last row is in open()'s sample
    np.save(path, ids)
    assert "vocabulary" in one_line_error(tmp_path) and str(path) in one_line_error(tmp_path)
    ids[-1], ids[2 * unsampled_row(n)] = 1, 9999  # only the full check sees every id
    np.save(path, ids)
    Shard.open(tmp_path, NAME, 8000).close()
    assert "vocabulary" in one_line_error(tmp_path, full=True)


def test_wrong_dtype(good: Path):
    path = good / f"{NAME}.src.npy"
    np.save(path, np.load(path).astype(np.float32))
    assert "float32" in one_line_error(good)
    np.save(path, np.load(path).astype(np.uint32))
    assert "uint32" in one_line_error(good)  # not the other side's, nor the vocabulary's dtype
    index = good / f"{NAME}.index.npy"
    np.save(index, np.load(index).astype(np.int32))
    assert str(index) in one_line_error(good)


def rss_file_kb() -> int:
    """Pages of mapped files this process holds (what a map adds to the RSS)."""
    return int(re.search(r"RssFile:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc/self/status (Linux)")
def test_open_pages_nothing_in_and_close_gives_it_back(tmp_path: Path):
    """open() checks a sample with pread (a map's faults would page in most of the files); what
    training touches leaves the RSS at close()."""
    n = 200_000  # a 12.8 MB index, 2 x 2.4 MB ids
    writer = ShardWriter(tmp_path, NAME, id_dtype(8000))
    ids = [[4, 5, 6, 7, 8, 9]] * n
    writer.add(ids, ids, ["x"] * n, ["y"] * n, [0] * n, [0] * n)
    writer.close()
    gc.collect()
    before = rss_file_kb()
    shard = Shard.open(tmp_path, NAME, 8000)
    assert rss_file_kb() - before < 1024
    everything = torch.arange(n)
    assert shard.padded("src", everything, 6).sum() == 39 * n and shard.tgt_sizes.sum() == 7 * n
    assert rss_file_kb() - before > 10_000
    shard.close()
    gc.collect()
    assert rss_file_kb() - before < 1024


def test_open_checks_a_sample_verify_every_row(tmp_path: Path):
    n = 200_000
    writer = ShardWriter(tmp_path, NAME, id_dtype(8000))
    ids = [[4, 5, 6]] * n
    writer.add(ids, ids, ["x"] * n, ["y"] * n, [0] * n, [0] * n)
    writer.close()
    rewrite_index(tmp_path, lambda index: index.__setitem__((unsampled_row(n), SRC_START), 0))
    shard = Shard.open(tmp_path, NAME, 8000)
    assert shard.src_sizes.sum() == 4 * n
    with pytest.raises(UserError, match="back to back"):
        shard.verify()
