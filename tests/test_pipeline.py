"""The one text pipeline (seq2seq.pipeline) and the one way prepared splits are read.

Both engines, s2s's search and an exported CTranslate2 model, run the same steps around their
search: the cut to the model's positions warns once, every input line gets one output line, and
the same ids become the same text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seq2seq.data.batching import encode_split, fitting, read_split, read_split_chunks
from seq2seq.config_corpora import CorpusSpec
from seq2seq.data.corpus import iter_pairs
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.errors import UserError
from seq2seq.files import read_lines, split_lines
from seq2seq.pipeline import batches_by_length, cut_to_fit, output_bounds
from seq2seq.config import DecodeConfig
from seq2seq.search import Hypothesis
from seq2seq.training.validation import load_dev_set
from seq2seq.translator import Translator
from test_translator import sharp_transformer

LONG = " ".join(["Il fait très beau aujourd'hui, allons nous promener."] * 30)  # far over 64 pieces
LINES = ["Jane visite l'Afrique en septembre.", LONG, "", "Il a 25 ans.", LONG + " Fin.", "Où est la gare ?"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    """A tiny random Transformer that takes 64 positions, with large weights (no near-ties)."""
    return sharp_transformer(tmp_path_factory.mktemp("runs") / "short", decoder_layers=1, max_positions=64)


@pytest.fixture(scope="module")
def short_export(short_run, tmp_path_factory) -> Path:
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import export_ctranslate2

    return export_ctranslate2(short_run, tmp_path_factory.mktemp("export") / "ct2", "float32", force=False)


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


# ---------------------------------------------------------------------------------------------
# The steps


def test_cut_to_fit_cuts_to_the_positions_with_one_warning(capsys):
    cut = cut_to_fit([[5] * 70, [6] * 3, [7] * 64, [8] * 63], 64)
    assert [len(ids) for ids in cut] == [63, 3, 63, 63]  # room for the EOS
    assert warnings_in(capsys.readouterr().err) == [
        "warning: 2 sentence(s) longer than 63 subwords truncated to that length (the longest source the "
        "model takes)"]
    cut_to_fit([[5] * 10], 64)
    assert capsys.readouterr().err == ""


def test_output_bounds_follow_the_settings_and_stay_within_the_positions():
    settings = DecodeConfig(max_len_ratio=1.5, max_len_offset=10)
    assert output_bounds([[1] * 4, [1] * 50], settings, None, 64) == [16, 63]
    assert output_bounds([[1] * 4, [1] * 50], settings, 7, 64) == [7, 7]


def test_batches_by_length_respect_the_budget():
    lengths = [5, 1, 9, 3, 9, 2]
    batches = batches_by_length(lengths, 20)
    assert sorted(i for batch in batches for i in batch) == list(range(6))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 20
        assert [lengths[i] for i in batch] == sorted((lengths[i] for i in batch), reverse=True)
    assert batches_by_length([50], 10) == [[0]]


# ---------------------------------------------------------------------------------------------
# Both engines


def engines(run: Path, export: Path | None, **options) -> list:
    # CTranslate2 has no repetition stop and no limit on a piece's run
    found = [Translator.load(run, max_repeats=0, max_piece_run=0, **options)]
    if export is not None:
        from seq2seq.loading import open_translator

        found.append(open_translator(export, **options))
    return found


def test_the_cut_warns_once_and_every_line_is_answered(short_run, short_export, capsys):
    for translator in engines(short_run, short_export, beam=2):
        capsys.readouterr()
        results = translator.translate_batch(LINES, n_best=2, split=False)  # LONG as one sequence
        assert [result.source for result in results] == LINES
        assert results[2].text == "" and len(results[2].hypotheses) == 1
        assert all(len(result.hypotheses) == 2 for i, result in enumerate(results) if i != 2)
        assert all(len(hyp.tokens) <= 63 and "\n" not in hyp.text for r in results for hyp in r.hypotheses)
        assert warnings_in(capsys.readouterr().err) == [
            "warning: 2 sentence(s) longer than 63 subwords truncated to that length (the longest source "
            "the model takes)"], type(translator).__name__


def test_the_engines_agree_and_batching_decides_nothing(short_run, short_export, capsys):
    s2s, ct2 = engines(short_run, short_export, beam=1)
    alone = [s2s.translate(line) for line in LINES]
    assert s2s.translate(LINES) == alone
    assert ct2.translate(LINES) == alone  # greedy search: the same output, sentence for sentence
    assert [ct2.translate_batch([line], batch_tokens=1)[0].text for line in LINES] == alone


def test_the_same_ids_give_the_same_text_in_both_engines(short_run, short_export, monkeypatch):
    """Decoding and restoring are the pipeline's: whatever ids an engine finds, the text is the same."""
    s2s, ct2 = engines(short_run, short_export)
    piece_ids = s2s.tgt_tokenizer.encode("The cat is black , and the dog is white .")
    for translator in (s2s, ct2):
        monkeypatch.setattr(translator, "_search", lambda sources, max_lengths, options: [
            [Hypothesis(piece_ids[:len(ids)], -1.0)] for ids in sources])
    texts = [result.text for result in s2s.translate_batch(LINES)]
    assert texts == [result.text for result in ct2.translate_batch(LINES)]
    assert texts[0] and texts[2] == ""


def test_an_export_refuses_attention(short_export):
    from seq2seq.loading import open_translator

    with pytest.raises(UserError, match="no attention weights"):
        open_translator(short_export).translate_batch(["Bonjour."], attention=True)


# ---------------------------------------------------------------------------------------------
# Prepared splits: one reader, one line rule


INSIDE_A_LINE = ["avant\u2028après", "nel\x85ici", "page\x0csuivante", "sep\x1cfile", "para\u2029graphe", "cr\rseul"]


def test_prepared_splits_are_read_as_the_corpus_is(tmp_path):
    """U+2028, U+0085, a form feed or a lone CR inside a line stay in it, as corpus.py reads files;
    a CR before the LF is dropped."""
    src = [f"{text} {i}" for i, text in enumerate(INSIDE_A_LINE)] + ["windows"]
    tgt = [f"line {i}" for i in range(len(src))]
    (tmp_path / "dev.src").write_bytes(("\n".join(src[:-1]) + "\nwindows\r\n").encode("utf-8"))
    (tmp_path / "dev.tgt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    assert read_split(tmp_path, "dev") == (src, tgt)
    chunks = list(iter_pairs(CorpusSpec("corpus", "parallel", src_path=str(tmp_path / "dev.src"),
                                        tgt_path=str(tmp_path / "dev.tgt")), chunk_size=2))
    assert (sum((s for s, _ in chunks), []), sum((t for _, t in chunks), [])) == (src, tgt)
    assert read_lines(tmp_path / "dev.src", "source file") == src  # what `s2s eval --split` reads
    assert split_lines((tmp_path / "dev.src").read_bytes().decode("utf-8")) == src
    chunks = list(read_split_chunks(tmp_path, "dev", chunk_size=3))
    assert [len(s) for s, _ in chunks] == [3, 3, 1] and sum((s for s, _ in chunks), []) == src


def test_a_split_of_two_lengths_is_one_line(tmp_path):
    (tmp_path / "train.src").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "train.tgt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(UserError, match="train.src has 3 lines but .*train.tgt has 2"):
        read_split(tmp_path, "train")
    with pytest.raises(UserError, match="has 3 lines but"):
        list(read_split_chunks(tmp_path, "train", chunk_size=1))
    with pytest.raises(UserError, match="prepared data not found"):
        read_split(tmp_path, "test")


def test_encoding_a_split_reads_the_lines_read_split_reads(tmp_path, short_run):
    tokenizer: Tokenizer = Translator.load(short_run).src_tokenizer
    lines = [f"{text} {i}" for i, text in enumerate(INSIDE_A_LINE)]
    for side in ("src", "tgt"):
        (tmp_path / f"train.{side}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = encode_split(tmp_path, "train", tokenizer, tokenizer, chunk_size=4)
    assert len(corpus) == len(lines)
    assert [corpus.src[i] for i in range(len(lines))] == tokenizer.encode_batch(read_split(tmp_path, "train")[0])


def test_the_dev_loss_leaves_out_what_the_positions_cannot_take(tmp_path, short_run):
    tokenizer: Tokenizer = Translator.load(short_run).src_tokenizer
    src = ["court", LONG, "aussi court"]
    (tmp_path / "dev.src").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "dev.tgt").write_text("short\nshort\nshort too\n", encoding="utf-8")
    dev = load_dev_set(tmp_path, tokenizer, tokenizer, 1000, 64)
    assert dev.src_lines == src and len(dev) == 3  # all scored by BLEU
    assert len(dev.corpus) == 2 and sorted(torch.cat(dev.batches).tolist()) == [0, 1]
    kept, dropped = fitting(load_dev_set(tmp_path, tokenizer, tokenizer, 1000, None).corpus, 64)
    assert (len(kept), dropped) == (2, 1)
