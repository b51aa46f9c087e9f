"""Months and weekdays as entity symbols (issue 12): protected in the source, placed by the
model, put back in the target language."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import run_cli
from test_entity_augmentation import changed_pairs
from test_names import named_pairs
from test_prepare import synthetic_pairs, write_config, write_tsv
from test_train import run_training, toy_config, write_shards

from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.entities import Protector, restore, shown_pieces, symbol_ids
from seq2seq.entities.compat import FIRST_SYMBOLS, usable_kinds
from seq2seq.entities.dates import shared_protectable_dates
from seq2seq.entities.symbol_augmentation import SymbolAugmentation
from seq2seq.entities.symbols import DATE_SYMBOLS, NAME_SYMBOLS, SYMBOL, SYMBOLS
from seq2seq.translator import Translator

N1 = NAME_SYMBOLS[0]
T1, T2 = DATE_SYMBOLS[0], DATE_SYMBOLS[1]
KNOWN = frozenset({"visite", "afrique", "en", "mars", "septembre", "du", "au", "travaille", "planète", "est",
                   "la", "mon", "mois", "préféré", "il", "né"})
FR_EN = Protector(KNOWN, "fr", "en", dates=True)
EN_FR = Protector(frozenset({"i", "was", "born", "in", "may", "not", "on", "a", "you", "go", "march"}), "en", "fr",
                  dates=True)


@pytest.mark.parametrize("protector, text, protected, originals, output, restored", [
    (FR_EN, "Jane visite l' Afrique en septembre.", f"{N1} visite l' Afrique en {T1}.", {N1: "Jane", T1: "septembre"},
     f"{N1} visits Africa in {T1}.", "Jane visits Africa in September."),
    (FR_EN, "Il travaille du lundi au vendredi.", f"Il travaille du {T1} au {T2}.", {T1: "lundi", T2: "vendredi"},
     f"He works from {T1} to {T2}.", "He works from Monday to Friday."),
    # French writes months in lower case: "Mars" is the planet, a capitalised first word stays text
    (FR_EN, "Mars est la planète de mars.", f"Mars est la planète de {T1}.", {T1: "mars"},
     f"Mars is the planet of {T1}.", "Mars is the planet of March."),
    (FR_EN, "Septembre est mon mois préféré.", f"{T1} est mon mois préféré.", {T1: "Septembre"},
     f"{T1} is my favourite month.", "September is my favourite month."),  # capitalised first: a month
    (FR_EN, "Mars est rouge en mars.", f"Mars est rouge en {T1}.", {T1: "mars"}, f"Mars is red in {T1}.",
     "Mars is red in March."),  # but "Mars" first is the planet as often: it stays text
    (FR_EN, "Il est né le 3 mai, mai !", f"Il est né le ⦅D1⦆ {T1}, {T1} !", {T1: "mai", "⦅D1⦆": "3"},
     f"He was born on {T1} ⦅D1⦆.", "He was born on May 3."),
    # English capitalises them: "may" is a verb; a capitalised month is a month, not a name
    (EN_FR, "I was born in April, not in May.", f"I was born in {T1}, not in {T2}.", {T1: "April", T2: "May"},
     f"Je suis né de {T1}, pas en {T2}.", "Je suis né d'avril, pas en mai."),  # French elision mended
    (EN_FR, "You may go.", "You may go.", {}, "Tu peux partir.", "Tu peux partir."),
    (EN_FR, "October is over.", f"{T1} is over.", {T1: "October"}, f"{T1} est fini.", "Octobre est fini."),
    (EN_FR, "May I go in May?", "May I go in May?", {}, "Puis-je partir en mai ?", "Puis-je partir en mai ?"),
    (EN_FR, "\"March on Monday!\"", f"\"March on {T1}!\"", {T1: "Monday"}, f"\"Marche {T1} !\"", "\"Marche lundi !\""),
])
def test_dates_become_symbols_and_come_back_in_the_target_language(
        protector: Protector, text: str, protected: str, originals: dict, output: str, restored: str) -> None:
    assert protector.protect(text) == (protected, originals)
    assert restore(output, originals, protector) == restored
    assert restore(f"{T2} !", {T1: "mai"}, protector) == "!"  # a symbol the source lacked is dropped


def test_a_protector_without_dates_leaves_them_alone_as_before() -> None:
    old = Protector(KNOWN, "fr", "en")
    assert old.protect("Jane visite l' Afrique en septembre.") == (f"{N1} visite l' Afrique en septembre.",
                                                                   {N1: "Jane"})
    # a model saved before date symbols: its French source is all that mattered
    assert Protector.from_state({"known_words": sorted(KNOWN), "french": True, "min_count": 2}) == \
        Protector(KNOWN, "fr", "und")
    assert Protector.from_state(FR_EN.to_state()) == FR_EN and FR_EN.to_state()["languages"] == ["fr", "en"]
    # a model saved by the release before this one, its languages under "dates"
    assert Protector.from_state({"known_words": sorted(KNOWN), "french": True, "min_count": 2,
                                 "dates": ["fr", "en"], "places": False}) == FR_EN


def test_attention_pieces_show_the_source_word_and_the_target_word() -> None:
    originals = {T1: "septembre"}
    assert shown_pieces(["▁en", T1], originals) == ["▁en", "septembre"]
    assert shown_pieces(["▁in", T1], originals, FR_EN) == ["▁in", "September"]


@pytest.mark.parametrize("src, tgt, dates", [
    ("Il est né en septembre.", "He was born in September.", [("septembre", "September")]),
    ("Il vient lundi ou mardi.", "He comes on Monday or Tuesday.", [("lundi", "Monday"), ("mardi", "Tuesday")]),
    ("Septembre est là.", "September is here.", [("Septembre", "September")]),  # first word: a month
    ("Il part en Septembre.", "He leaves in September.", []),  # not written as translation protects it
    ("Il est né en mai.", "He may be born.", []),  # "may" is no month
    ("En mai, fais ce qu'il te plaît, mai !", "In May, do as you please!", []),  # twice on one side
    ("Il est né en avril.", "He was born in March.", []),  # different months
])
def test_shared_protectable_dates(src: str, tgt: str, dates: list) -> None:
    assert shared_protectable_dates(src, tgt, "fr", "en") == dates


def test_augmentation_puts_a_symbol_in_place_of_every_shared_date() -> None:
    src = ["Il est né en septembre.", "Il a 3 ans en mai.", "Il part en Septembre.", "Il vient lundi."]
    tgt = ["He was born in September.", "He is 3 in May.", "He leaves in September.", "He comes."]
    src, tgt = src * 20, tgt * 20
    with_dates = SymbolAugmentation("fr", "en", dates=True, probability=0.5)
    without = SymbolAugmentation("fr", "en", probability=0.5)
    changed = changed_pairs(with_dates, src, tgt)
    assert changed == changed_pairs(with_dates, src, tgt) and {i % 4 for i in changed} == {0, 1}
    assert {i % 4 for i in changed_pairs(without, src, tgt)} == {1}
    for new_src, new_tgt in changed.values():
        assert sorted(SYMBOL.findall(new_src)) == sorted(SYMBOL.findall(new_tgt))  # the same on both sides
        assert "septembre" not in new_src and "mai" not in new_src and "May" not in new_tgt  # every one, always
    # numbered in source order, as translation numbers them: a sentence's one month is always ⦅T1⦆
    assert {changed[i][0] for i in changed if i % 4 == 0} == {"Il est né en ⦅T1⦆."}
    assert {changed[i] for i in changed if i % 4 == 1} == {("Il a ⦅D1⦆ ans en ⦅T1⦆.", "He is ⦅D1⦆ in ⦅T1⦆.")}
    two = SymbolAugmentation("fr", "en", dates=True, probability=0.5)
    assert two.augment("Ouvert du lundi au vendredi.", "Open from Monday to Friday.", random.Random(3)) == \
        ("Ouvert du ⦅T1⦆ au ⦅T2⦆.", "Open from ⦅T1⦆ to ⦅T2⦆.")
    assert not any(symbol in pair[0] for pair in changed_pairs(without, src, tgt).values() for symbol in DATE_SYMBOLS)


def test_vocabularies_without_date_symbols_keep_dates_as_words(tmp_path: Path) -> None:
    sentences = [side for pair in named_pairs(200, 1) for side in pair]
    old = Tokenizer(train_sentencepiece(sentences, vocab_size=120, model_type="bpe", character_coverage=1.0,
                                        symbols=FIRST_SYMBOLS))
    new = Tokenizer(train_sentencepiece(sentences, vocab_size=120, model_type="bpe", character_coverage=1.0,
                                        symbols=SYMBOLS))
    assert not usable_kinds(old, old, "fr", "en")[0] and usable_kinds(new, new, "fr", "en")[0]
    assert not usable_kinds(new, new, "de", "en")[0]  # no date words for German
    assert Protector.for_vocabularies(KNOWN, old, old, "fr", "en") == Protector(KNOWN, "fr", "en")
    assert len(symbol_ids(old, old)) == len(FIRST_SYMBOLS) and len(symbol_ids(new, new)) == len(SYMBOLS)


def test_prepare_says_when_a_directory_predates_the_date_symbols(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write_tsv(tmp_path / "corpus.tsv", synthetic_pairs())
    config = write_config(tmp_path / "c.yaml", {"entity_symbols": True, "vocab_size": 120})
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    code, out, _ = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0 and "already prepared" in out and "predates" not in out
    # a vocabulary made before ⦅L1⦆.. existed: as if the symbols it lacks were the place symbols
    monkeypatch.setattr("seq2seq.entities.compat.PLACE_SYMBOLS", ("⦅X2⦆",))
    code, out, _ = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0 and "its vocabulary predates the place symbols" in out and "--force" in out
    # and one made before ⦅T1⦆.. too
    monkeypatch.setattr("seq2seq.entities.compat.DATE_SYMBOLS", ("⦅X1⦆",))
    code, out, _ = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0 and "predates the month, weekday and place symbols" in out and "--force" in out


# ---------------------------------------------------------------------------------------------
# A small model that never saw September places its symbol, and it comes out as "September"

MONTHS = {"janvier": "January", "février": "February", "mars": "March", "avril": "April", "mai": "May",
          "juin": "June"}  # the months of the training pairs; September and October are never seen


def month_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = named_pairs(n, seed)
    for i in range(0, n, 3):  # a third of the pairs gain a month on both sides
        month = rng.choice(list(MONTHS))
        src, tgt = pairs[i]
        pairs[i] = (f"{src.rstrip(' .')} en {month} .", f"{tgt.rstrip('.')} in {MONTHS[month]}.")
    return pairs


@pytest.fixture(scope="module")
def month_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("months") / "data"
    directory.mkdir(parents=True)
    for split, count, seed in (("train", 400, 1), ("dev", 40, 2), ("test", 40, 3)):
        pairs = month_pairs(count, seed)
        (directory / f"{split}.src").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (directory / f"{split}.tgt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    sentences = [side for pair in month_pairs(400, 1) for side in pair] + ["abcdefghijklmnopqrstuvwxyzéû"] * 3
    (directory / "spm.model").write_bytes(train_sentencepiece(
        sentences, vocab_size=150, model_type="bpe", character_coverage=1.0, symbols=SYMBOLS))
    write_shards(directory)
    run_dir = directory.parent / "run"
    run_training(toy_config(directory, max_steps=300, validate_every=300, protect_entities=True, lr=0.005,
                            model={"dropout": 0.0}, batch_tokens=400), run_dir)
    return run_dir


def test_a_small_model_translates_a_month_it_never_saw(month_run: Path) -> None:
    translator = Translator.load(month_run)
    assert translator.protector is not None and translator.protector.dates
    assert (translator.protector.src_lang, translator.protector.tgt_lang) == ("fr", "en")
    outputs = translator.translate(["le chat mange en septembre .", "le chien boit en octobre ."])
    # the month last, where the toy pairs put it, in English (the toy model is too small for the rest)
    assert outputs[0].endswith(" September.") and outputs[1].endswith(" October."), outputs
    result = translator.translate_batch(["le chat mange en septembre ."], attention=True)[0]
    assert "septembre" in result.source_pieces and "September" in result.best.pieces
    without = Translator.load(month_run, protect_entities=False).translate("le chat mange en septembre .")
    assert "September" not in without  # what the symbols do: the model alone has never seen the word


def test_a_ctranslate2_export_puts_the_month_back_as_s2s_does(month_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import export_ctranslate2
    from seq2seq.loading import open_translator

    exported = export_ctranslate2(month_run, tmp_path / "ct2", "float32", force=False)
    sentences = ["le chat mange en septembre .", "Zoé voit le chien en octobre ."]
    outputs = open_translator(exported, beam=1).translate(sentences)
    # (not compared with s2s's: CTranslate2's search has no placement rule, and the toy model needs it)
    assert outputs[0].endswith(" September.") and outputs[1].endswith(" October."), outputs
