"""Entity symbols for unknown names and numbers (issue 12, seq2seq/entities/): what translation
protects and restores, the training augmentation, the vocabulary's symbols, and a small model
that learns to carry a name it never saw."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import run_cli
from test_entity_augmentation import changed_pairs
from test_names import kill_and_resume, made_texts, make_named_data, named_pairs, write_named_text
from test_train import run_training, toy_config, write_shards

from seq2seq.checkpoint import load_checkpoint
from seq2seq.data.augment import make_augmentation
from seq2seq.data.manifest import read_manifest
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.entities import FLAG_SYMBOLS, Protector, entity_flags, has_entity_symbols, known_words, restore
from seq2seq.entities.numbers import shared_number_words
from seq2seq.entities.symbol_augmentation import SymbolAugmentation
from seq2seq.entities.symbols import NAME_SYMBOLS, NUMBER_SYMBOLS, PLACE_SYMBOLS, SLOTS, SYMBOL, SYMBOLS
from seq2seq.errors import UserError
from seq2seq.translator import Translator

KNOWN = known_words(["visite l'Afrique en septembre Tom Tom Contrôle toi de le chien et rentre"] * 2)
N1, N2, D1, D2, D3 = NAME_SYMBOLS[0], NAME_SYMBOLS[1], NUMBER_SYMBOLS[0], NUMBER_SYMBOLS[1], NUMBER_SYMBOLS[2]


# ---------------------------------------------------------------------------------------------
# Protecting and restoring


@pytest.mark.parametrize("text, protected, originals", [
    ("Jane visite l'Afrique en septembre.", f"{N1} visite l'Afrique en septembre.", {N1: "Jane"}),
    ("Tom visite l'Afrique.", "Tom visite l'Afrique.", {}),  # a known name is the model's to translate
    ("Visite l'Afrique, Tom !", "Visite l'Afrique, Tom !", {}),  # capitalised known words too
    ("Contrôle-toi, Jean-Luc !", f"Contrôle-toi, {N1} !", {N1: "Jean-Luc"}),  # every part of it known or not
    ("Le chien d'Alice et de Zoé.", f"Le chien de {N1} et de {N2}.", {N1: "Alice", N2: "Zoé"}),  # elision kept right
    ("Zoé, Zoé !", f"{N1}, {N1} !", {N1: "Zoé"}),  # one name, one symbol
    ("J'ai 25 ans et 3 chats, 25 !", f"J'ai {D1} ans et {D2} chats, {D1} !", {D1: "25", D2: "3"}),
    ("Rentre avant 2h30.", f"Rentre avant {D1}h{D2}.", {D1: "2", D2: "30"}),  # a time's digits
    ("au 3e étage, en 3D.", f"au {D1}e étage, en 3D.", {D1: "3"}),  # an ordinal's, not other words'
    ("Jane a 7 ans.", f"{N1} a {D1} ans.", {N1: "Jane", D1: "7"}),
])
def test_protect_replaces_unknown_names_and_every_number(text: str, protected: str, originals: dict) -> None:
    protector = Protector(KNOWN, "fr", "en")
    assert protector.protect(text) == (protected, originals)
    if "d'" not in text:  # (restore is for the output; an elided source stays "de Alice")
        assert restore(protected, originals) == text


def test_more_names_than_symbols_leave_the_rest_as_text() -> None:
    names = ["Ada", "Bea", "Cyd", "Dot", "Eve", "Fay", "Gus", "Hal"]
    text, originals = Protector(KNOWN, "en", "fr").protect(" ".join(names) + " 1 2 3 4 5 6 7 8")
    assert text == " ".join(NAME_SYMBOLS + ("Gus", "Hal") + NUMBER_SYMBOLS + ("7", "8"))
    assert len(originals) == 2 * SLOTS and restore(text, originals) == " ".join(names) + " 1 2 3 4 5 6 7 8"


def test_restore_puts_words_where_the_model_put_the_symbols_and_drops_strays() -> None:
    originals = {N1: "Jane", D1: "12"}
    assert restore(f"In {D1} days, {N1} visits Africa.", originals) == "In 12 days, Jane visits Africa."
    assert restore(f"{N2} {N1}'s dog {D2}.", originals) == "Jane's dog ."  # symbols the source lacked: dropped
    assert restore("No symbols here.", {}) == "No symbols here."
    assert restore(f"On the {D1}th floor at {D2}:{D3}.", {D1: "3", D2: "2", D3: "30"}) == "On the 3rd floor at 2:30."


def test_known_words_count_lower_cased_parts() -> None:
    known = known_words(["Tom voit l'Afrique.", "tom et Marie-Claire voient l'afrique !", "Marie"])
    assert {"tom", "afrique", "marie"} <= known and "claire" not in known and "voit" not in known
    assert known_words(["Tom"], min_count=1) == {"tom"}


def test_protector_state_round_trips() -> None:
    protector = Protector(KNOWN, "fr", "en", dates=True, places=True)
    state = json.loads(json.dumps(protector.to_state()))
    assert Protector.from_state(state) == protector and state["known_words"] == sorted(KNOWN)


# ---------------------------------------------------------------------------------------------
# The vocabulary and the training augmentation


def symbol_data(directory: Path) -> Path:
    """The named toy data with a SentencePiece model that has the entity symbols."""
    write_named_text(directory)
    sentences = [side for pair in named_pairs(400, 1) for side in pair] + ["abcdefghijklmnopqrstuvwxyzé"] * 3
    (directory / "spm.model").write_bytes(train_sentencepiece(
        sentences, vocab_size=140 + len(PLACE_SYMBOLS), model_type="bpe", character_coverage=1.0,
        symbols=SYMBOLS))  # the merges of a vocabulary before the place symbols: the same toy model
    return write_shards(directory)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return symbol_data(tmp_path_factory.mktemp("placeholders") / "data")


@pytest.mark.parametrize("src, tgt, words", [
    ("J'ai trente ans et deux chats.", "I'm thirty and have two cats.", [("trente", "thirty"), ("deux", "two")]),
    ("Deux, c'est assez.", "Two is enough.", [("Deux", "Two")]),
    ("Un livre neuf.", "A new book.", []),  # "neuf": new here, and the other side has no nine
    ("Il a vingt-deux ans.", "He is twenty-two.", []),  # compounds are left alone
    ("Deux et deux font quatre.", "Two and two make four.", [("quatre", "four")]),  # a number twice: not used
    ("J'ai un chat.", "I have one cat.", []),  # un / one: also an article
])
def test_shared_number_words(src: str, tgt: str, words: list) -> None:
    assert shared_number_words(src, tgt, "fr", "en") == words


def test_symbols_are_one_piece_each_only_when_asked_for(data: Path, tmp_path: Path) -> None:
    with_symbols = Tokenizer.from_file(data / "spm.model")
    assert has_entity_symbols(with_symbols)
    ids = with_symbols.encode(f"{N1} voit {D1} chats.")
    assert with_symbols.pieces(ids).count(N1) == 1 and with_symbols.decode(ids) == f"{N1} voit {D1} chats."
    plain = Tokenizer.from_file(make_named_data(tmp_path / "plain") / "spm.model")
    assert not has_entity_symbols(plain)


def symbols_in(text: str) -> list[str]:
    return SYMBOL.findall(text)


def test_augmentation_is_seeded_consistent_and_leaves_other_pairs_alone() -> None:
    src = ["Tom a 25 ans.", "Jean est là.", "Tom et Mary ont 3 chats.", "Rien ici.", "Tom est là.",
           "Il a huit ans.", "Un livre neuf.", "Il a vingt-deux ans."]
    tgt = ["Tom is 25.", "John is here.", "Tom and Mary have 3 cats.", "Nothing here.", "He is here.",
           "He is eight.", "A new book.", "He is twenty-two."]
    src, tgt = src * 40, tgt * 40
    eligible = {i % 8 for i in range(len(src)) if entity_flags(src[i], tgt[i], "fr", "en") & FLAG_SYMBOLS}
    assert sorted(eligible) == [0, 2, 5]  # names or numbers alike on both sides
    augmentation = SymbolAugmentation("fr", "en", probability=0.5)
    changed = changed_pairs(augmentation, src, tgt, seed=1, epoch=0)
    assert changed == changed_pairs(augmentation, src, tgt, 1, 0) != changed_pairs(augmentation, src, tgt, 1, 1)
    assert {i % 8 for i in changed} == {0, 2, 5} and len(changed) == 120  # every pair has a number
    for i, (new_src, new_tgt) in changed.items():
        assert sorted(symbols_in(new_src)) == sorted(symbols_in(new_tgt))  # the same symbols on both sides
        numbers = [s for s in symbols_in(new_src) if s in NUMBER_SYMBOLS]
        assert len(numbers) == 1 and not any(c.isdigit() for c in SYMBOL.sub("", new_src))  # numbers: always
    names_replaced = [len([s for s in symbols_in(changed[i][0]) if s in NAME_SYMBOLS]) for i in changed if i % 8 == 2]
    assert 10 < sum(names_replaced) < 70  # names: each with probability 0.5 (80 in all)
    # numbered in source order, as translation numbers them (so ⦅N1⦆ and ⦅D1⦆ are the best trained)
    assert {changed[i] for i in changed if i % 8 == 5} == {("Il a ⦅D1⦆ ans.", "He is ⦅D1⦆.")}
    every = changed_pairs(SymbolAugmentation("fr", "en", probability=1.0), src, tgt)[2]
    assert every == ("⦅N1⦆ et ⦅N2⦆ ont ⦅D1⦆ chats.", "⦅N1⦆ and ⦅N2⦆ have ⦅D1⦆ cats.")
    assert Protector(frozenset(), "fr", "en").protect(src[2])[0] == every[0]
    for new_src, _ in changed.values():  # Tom or Mary drawn alone is ⦅N1⦆ too
        names = [s for s in symbols_in(new_src) if s in NAME_SYMBOLS]
        assert names == list(NAME_SYMBOLS[:len(names)]), new_src
    assert 1 in names_replaced and 2 in names_replaced
    drawn = SymbolAugmentation("fr", "en", order="random", probability=0.5)
    at_random = changed_pairs(drawn, src, tgt)
    assert at_random == changed_pairs(drawn, src, tgt) and at_random.keys() == changed.keys()
    assert len({symbols_in(at_random[i][0])[0] for i in at_random if i % 8 == 5}) == SLOTS  # any of the six
    shapes = {SYMBOL.sub("X", pair[0]) for pair in at_random.values()}
    assert shapes == {SYMBOL.sub("X", pair[0]) for pair in changed.values()}
    no_names = changed_pairs(SymbolAugmentation("fr", "en"), src, tgt)
    assert no_names.keys() == changed.keys() and not any(s in NAME_SYMBOLS for text, _ in no_names.values()
                                                         for s in symbols_in(text))
    # what the name augmentation drew becomes the symbol
    drawn = SymbolAugmentation("fr", "en", probability=1.0).augment("Zoé a 25 ans.", "Zoé is 25.", random.Random(1))
    assert SYMBOL.sub("X", drawn[0]) == "X a X ans." and SYMBOL.sub("X", drawn[1]) == "X is X."


def test_training_refuses_a_vocabulary_without_symbols(tmp_path: Path) -> None:
    plain = make_named_data(tmp_path / "plain")
    tokenizer = Tokenizer.from_file(plain / "spm.model")
    config = toy_config(plain, protect_entities=True)
    with pytest.raises(UserError, match="set data.entity_symbols: true and run `s2s data prepare --force`"):
        make_augmentation(config, plain, read_manifest(config, shards=True), tokenizer, tokenizer)


def test_training_puts_symbols_in_and_knows_what_to_protect(data: Path) -> None:
    tokenizer = Tokenizer.from_file(data / "spm.model")
    config = toy_config(data, protect_entities=True)
    protector = make_augmentation(config, data, read_manifest(config, shards=True), tokenizer, tokenizer).protector
    assert protector is not None and "tom" in protector.known and "zoé" not in protector.known
    texts = made_texts(data, config, 0)
    assert sum(bool(SYMBOL.search(src)) for src, _ in texts) > 50 and texts == made_texts(data, config, 0)
    assert all(sorted(SYMBOL.findall(src)) == sorted(SYMBOL.findall(tgt)) for src, tgt in texts)


# ---------------------------------------------------------------------------------------------
# Training with entity symbols, translating with them


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("placeholder-run") / "run"
    config = toy_config(data, max_steps=300, validate_every=300, protect_entities=True, lr=0.005,
                        model={"dropout": 0.0}, batch_tokens=400)
    run_training(config, run_dir)
    return run_dir


def test_a_small_model_carries_names_and_numbers_it_never_saw(trained: Path) -> None:
    assert load_checkpoint(trained / "best.pt")["placeholders"]["known_words"]
    translator = Translator.load(trained)
    assert translator.protector is not None
    # "Zoé" and "Quentin" never occur in the toy corpus; the toy corpus has no digits at all
    outputs = translator.translate(["Zoé voit le chat .", "Quentin mange le poisson ."])  # (toy names lead)
    assert outputs[0].startswith("Zoé ") and outputs[1].startswith("Quentin ")  # the names, where the toy pairs put them
    result = translator.translate_batch(["Zoé voit le chat ."], attention=True)[0]
    assert "Zoé" in result.source_pieces and "Zoé" in result.best.pieces  # the plot shows the name
    # ... marked as the symbol the model read and wrote (the page of `s2s serve` marks it)
    assert [s for s in result.source_symbols if s] == [N1] == [s for s in result.best.symbols if s]
    assert result.source_symbols[result.source_pieces.index("Zoé")] == N1 == result.best.symbols[result.best.pieces.index("Zoé")]
    joined = translator.translate_batch(["Zoé voit le chat. Quentin mange le poisson."], attention=True, split=True)[0]
    assert [s for s in joined.source_symbols if s] == [N1, N1]  # each sentence numbers its own
    assert len(joined.source_symbols) == len(joined.source_pieces) and len(joined.best.symbols) == len(joined.best.pieces)
    without = Translator.load(trained, protect_entities=False).translate("Zoé voit le chat .")
    assert "Zoé" not in without  # what the symbols do: the model alone cannot spell her


def test_the_command_line_translates_with_and_without_entity_symbols(trained: Path, monkeypatch, capsys) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "translate", "--model", trained, "Zoé voit le chat .")
    assert code == 0 and out.strip() == Translator.load(trained).translate("Zoé voit le chat .")
    code, out, _ = run_cli(monkeypatch, capsys, "translate", "--model", trained, "--no-protect-entities",
                           "Zoé voit le chat .")
    assert code == 0 and out.strip() == Translator.load(trained, protect_entities=False).translate("Zoé voit le chat .")


def test_killed_run_with_entity_symbols_resumes_to_the_same_weights(data: Path, tmp_path: Path) -> None:
    config = toy_config(data, max_steps=40, save_every=5, validate_every=20, protect_entities=True,
                        name_augmentation=0.5)
    assert "entity symbols put in place of each shared name with probability 0.5" in kill_and_resume(config, tmp_path)
    other = toy_config(data, max_steps=40, save_every=5, validate_every=20, protect_entities=True,
                       name_symbol_probability=0.25, name_augmentation=0.5)
    with pytest.raises(UserError, match="name_symbol_probability: 0.5 -> 0.25"):
        run_training(other, tmp_path / "run", resume=True)


def test_a_ctranslate2_export_protects_and_restores_as_s2s_does(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import export_ctranslate2
    from seq2seq.loading import open_translator

    exported = export_ctranslate2(trained, tmp_path / "ct2", "float32", force=False)
    sentences = ["Zoé voit le chat .", "Quentin mange le poisson .", "le chien boit"]
    s2s = Translator.load(trained, beam=1, max_repeats=0)  # CTranslate2 has no repetition stop
    assert open_translator(exported, beam=1).translate(sentences) == s2s.translate(sentences)
    assert "Zoé" not in open_translator(exported, beam=1, protect_entities=False).translate(sentences[0])
