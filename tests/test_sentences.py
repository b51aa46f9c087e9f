"""Sentence splitting (seq2seq/sentences.py, decode.split_sentences): a line of several sentences
is translated as its sentences and answered on one line; --no-split translates it whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_translate_eval import run_cli
from test_translator import sharp_transformer

from seq2seq.sentences import join_sentences, split_sentences
from seq2seq.translator import Translator

FRENCH = [
    ("Jane visite l'Afrique en septembre. M. Dupont est là ! Tu viens ? Oui.",
     ["Jane visite l'Afrique en septembre.", "M. Dupont est là !", "Tu viens ?", "Oui."]),
    ("« Non. » dit-il. Il partit.", ["« Non. » dit-il.", "Il partit."]),
    ("« Viens ! » Il vint.", ["« Viens ! »", "Il vint."]),
    ("Il a 3,5 km à faire. 25 personnes sont venues.", ["Il a 3,5 km à faire.", "25 personnes sont venues."]),
    ("Mme Curie et Mlle. Dupont, cf. Marc, p. 12.", ["Mme Curie et Mlle. Dupont, cf. Marc, p. 12."]),
    ("Attends... Quoi ?! Non.", ["Attends...", "Quoi ?!", "Non."]),
    ("Des pommes, des poires, etc. et des prunes.", ["Des pommes, des poires, etc. et des prunes."]),
    ("Une seule phrase.", ["Une seule phrase."]),
    ("sans point final", ["sans point final"]),
    ("", [""]),
    ("   ", ["   "]),
]
ENGLISH = [
    ("Mr. Smith went to Washington. He said \"Hi.\" Then he left... OK?",
     ["Mr. Smith went to Washington.", "He said \"Hi.\"", "Then he left...", "OK?"]),
    ("J. K. Rowling wrote it. The U.S. Army came. Dr. Who, e.g. Tom.",
     ["J. K. Rowling wrote it.", "The U.S. Army came.", "Dr. Who, e.g. Tom."]),
    ("It costs 3.5 dollars. Fine.", ["It costs 3.5 dollars.", "Fine."]),
]


@pytest.mark.parametrize("line, sentences", FRENCH)
def test_french_lines_split_into_their_sentences(line: str, sentences: list[str]) -> None:
    assert split_sentences(line, "fr") == sentences


@pytest.mark.parametrize("line, sentences", ENGLISH)
def test_english_lines_split_into_their_sentences(line: str, sentences: list[str]) -> None:
    assert split_sentences(line, "en") == sentences


def test_a_language_without_a_table_splits_on_the_marks_alone_and_joins_with_a_space() -> None:
    assert split_sentences("Eins. Zwei! Drei?", "de") == ["Eins.", "Zwei!", "Drei?"]
    assert split_sentences("M. Dupont.", "de") == ["M. Dupont."]  # a single letter is an initial anywhere
    assert join_sentences(["One.", "", "Two."], "de") == join_sentences(["One.", "Two."], None) == "One. Two."


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Translator:
    run = sharp_transformer(tmp_path_factory.mktemp("runs") / "tiny", decoder_layers=2, max_positions=128)
    return Translator.load(run, device="cpu")


LINES = ["Jane visite l'Afrique. Il pleut ! M. Dupont arrive.", "", "Une phrase.", "Oui. Non."]


def test_one_line_in_one_line_out_the_sentences_translated_as_a_batch(translator: Translator) -> None:
    """A split line's translation is its sentences' translations (made in one batch) joined."""
    sentences = [s for line in LINES for s in split_sentences(line, "fr")]
    assert len(sentences) == 7
    each = translator.translate_batch(sentences, split=False)
    lines = translator.translate_batch(LINES)
    assert [r.source for r in lines] == LINES
    assert [r.text for r in lines] == [" ".join(r.text for r in each[0:3]), "", each[4].text,
                                       " ".join(r.text for r in each[5:7])]
    assert lines[0].best.score == pytest.approx(sum(r.best.score for r in each[0:3]))
    assert lines[0].best.tokens == [t for r in each[0:3] for t in r.best.tokens]
    assert translator.translate(LINES) == [r.text for r in lines]
    assert all("\n" not in r.text for r in lines)


def test_a_line_of_one_sentence_is_translated_as_before(translator: Translator) -> None:
    lines = ["Une phrase.", "M. Dupont arrive.", "sans point", "Il dit : « Viens. »"]
    assert all(len(split_sentences(line, "fr")) == 1 for line in lines)
    split, whole = translator.translate_batch(lines, n_best=2), translator.translate_batch(lines, split=False, n_best=2)
    assert [[(h.tokens, h.score) for h in r.hypotheses] for r in split] == \
        [[(h.tokens, h.score) for h in r.hypotheses] for r in whole]


def test_no_split_translates_the_line_as_one_sequence(translator: Translator) -> None:
    whole = translator.translate_batch(LINES, split=False)
    assert whole[0].text != translator.translate_batch(LINES)[0].text
    assert Translator.load(translator.path, split=False, device="cpu").translate(LINES) == [r.text for r in whole]


def test_a_split_lines_n_best_and_attention_join_its_sentences(translator: Translator) -> None:
    parts = translator.translate_batch(split_sentences(LINES[3], "fr"), split=False, n_best=3, attention=True)
    [line] = translator.translate_batch([LINES[3]], n_best=3, attention=True)
    assert len(line.hypotheses) == 3
    for k, hyp in enumerate(line.hypotheses):
        first, second = (part.hypotheses[min(k, len(part.hypotheses) - 1)] for part in parts)
        assert hyp.text == f"{first.text} {second.text}" and hyp.pieces == first.pieces + second.pieces
        rows, cols = first.attention.shape[0], first.attention.shape[-1]
        assert hyp.attention.shape == (rows + second.attention.shape[0], *first.attention.shape[1:-1],
                                       cols + second.attention.shape[-1])
        assert torch.equal(hyp.attention[:rows, ..., :cols], first.attention)
        assert torch.equal(hyp.attention[rows:, ..., cols:], second.attention)
        assert not hyp.attention[:rows, ..., cols:].any() and not hyp.attention[rows:, ..., :cols].any()
        assert torch.allclose(hyp.attention.sum(-1), torch.ones(hyp.attention.shape[:-1]))  # each row still sums to 1
    assert line.source_pieces == parts[0].source_pieces + parts[1].source_pieces


def test_the_command_line_splits_unless_told_not_to(translator: Translator, monkeypatch, capsys,
                                                    tmp_path: Path) -> None:
    source = tmp_path / "in.fr"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    split = translator.translate(LINES)
    whole = [r.text for r in translator.translate_batch(LINES, split=False)]
    for flags, expected in (([], split), (["--no-split"], whole)):
        code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", str(translator.path.parent),
                                 "--input", str(source), *flags)
        assert code == 0, err
        assert out.split("\n")[:-1] == expected
