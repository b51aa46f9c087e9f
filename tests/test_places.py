"""Places as entity symbols (issue 12): found by the language tables (seq2seq/entities/lang/), protected
in the source, placed by the model, put back in the target language ("l'Afrique" -> "Africa")."""

from __future__ import annotations

import random
import re

import pytest
from test_entity_augmentation import changed_pairs
from test_names import named_pairs

from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.entities import Protector, restore
from seq2seq.entities.compat import FIRST_SYMBOLS, usable_kinds
from seq2seq.entities.lang import TABLES
from seq2seq.entities.places import place_words, shared_places, translated_place
from seq2seq.entities.symbol_augmentation import SymbolAugmentation
from seq2seq.entities.symbols import DATE_SYMBOLS, NAME_SYMBOLS, PLACE_SYMBOLS, SYMBOLS

N1, N2 = NAME_SYMBOLS[0], NAME_SYMBOLS[1]
T1 = DATE_SYMBOLS[0]
L1, L2 = PLACE_SYMBOLS[0], PLACE_SYMBOLS[1]
KNOWN = frozenset({"visite", "afrique", "rome", "en", "nous", "avons", "rencontré", "et", "à", "il", "vit", "aux",
                   "de", "paris", "londres", "sont", "grands", "les", "tom", "va", "boston"})
FR_EN = Protector(KNOWN, "fr", "en", dates=True, places=True)
EN_FR = Protector(frozenset({"he", "comes", "from", "is", "big", "the", "in", "lives"}), "en", "fr", dates=True,
                  places=True)
FRENCH, ENGLISH = TABLES["fr"].places, TABLES["en"].places


def key_of(french: str) -> str:
    return next(key for key, forms in FRENCH.items() if french in forms)


def test_the_tables_are_one_to_one_within_each_language_and_name_the_same_places() -> None:
    for table in TABLES.values():
        forms = [form.removeprefix(table.place_article) for forms in table.places.values() for form in forms]
        assert len(forms) == len(set(forms)), [f for f in forms if forms.count(f) > 1]
        assert all(forms and all(form[0].isupper() or form.startswith(table.place_article) and table.place_article
                                 for form in forms) for forms in table.places.values())
    assert list(FRENCH) == list(ENGLISH) and len(FRENCH) > 500  # keyed alike: a new language adds one table


@pytest.mark.parametrize("key", list(FRENCH), ids=lambda key: FRENCH[key][0])
def test_every_form_is_found_as_itself_and_translated_both_ways(key: str) -> None:
    for lang, other in (("fr", "en"), ("en", "fr")):
        for form in TABLES[lang].places[key]:
            assert place_words(f"Ils aiment {form}.", lang) == {key: [form]}
            if "'" in form:  # as data.split_elision writes it
                split = form.replace("'", "' ")
                assert place_words(f"Ils aiment {split}.", lang) == {key: [split]}
            assert translated_place(form, lang, other) == TABLES[other].places[key][0]


@pytest.mark.parametrize("text, lang, found", [
    ("Jane visite l'Afrique en septembre.", "fr", {"Afrique": ["Afrique"]}),
    ("Jane visite l' Afrique.", "fr", {"Afrique": ["Afrique"]}),  # data.split_elision
    ("Il vit aux États-Unis depuis qu'il a quitté la France.", "fr",
     {"États-Unis": ["États-Unis"], "France": ["France"]}),
    ("He lives in the United States.", "en", {"États-Unis": ["the United States"]}),
    ("The United States is big.", "en", {"États-Unis": ["The United States"]}),
    ("De Paris à Londres, puis à Paris.", "fr", {"Paris": ["Paris", "Paris"], "Londres": ["Londres"]}),
    ("He bought fine china.", "en", {}),  # lower case: not a place
    ("The Chinese and the Africans.", "en", {}),  # a longer word is no place
    ("Ils parlent de l'Afrique-du-Nord-Est imaginaire.", "fr", {}),  # nor a hyphenated one
    ("Il vit en Côte d' Ivoire.", "fr", {"Côte d'Ivoire": ["Côte d' Ivoire"]}),  # data.split_elision
    ("Afrique", "de", {}),  # a language without places
])
def test_places_are_found_as_whole_capitalised_words(text: str, lang: str, found: dict) -> None:
    assert place_words(text, lang) == {key_of(place): words for place, words in found.items()}


def test_shared_places_are_named_once_on_each_side() -> None:
    assert shared_places("Tom va au Japon.", "Tom is going to Japan.", "fr", "en") == [("Japon", "Japan")]
    assert shared_places("Il vit aux États-Unis.", "He lives in the United States.", "fr", "en") \
        == [("États-Unis", "the United States")]
    assert shared_places("Il vit en France.", "He lives in Japan.", "fr", "en") == []  # not the same place
    assert shared_places("Paris, oui, Paris.", "Paris, yes.", "fr", "en") == []  # not once on each side
    assert shared_places("Il vit en France.", "Er wohnt in Frankreich.", "fr", "de") == []


def test_translated_place() -> None:
    assert translated_place("Afrique", "fr", "en") == "Africa"
    assert translated_place("Londres", "fr", "en") == "London"
    assert translated_place("The United States", "en", "fr") == "États-Unis"
    assert translated_place("États-Unis", "fr", "en") == "the United States"
    assert translated_place("Atlantide", "fr", "en") == "Atlantide"  # not in the table: itself
    assert translated_place("Afrique", "fr", "de") == "Afrique"


@pytest.mark.parametrize("protector, text, protected, originals, output, restored", [
    (FR_EN, "Jane visite l' Afrique en septembre.", f"{N1} visite l' {L1} en {T1}.",
     {N1: "Jane", L1: "Afrique", T1: "septembre"}, f"{N1} visits {L1} in {T1}.", "Jane visits Africa in September."),
    # a place known as a word is a place all the same: the 10-minute model wrote "at the way" for "à Rome"
    (FR_EN, "Nous avons rencontré Giulia et Mateo à Rome.", f"Nous avons rencontré {N1} et {N2} à {L1}.",
     {N1: "Giulia", N2: "Mateo", L1: "Rome"}, f"We met {N1} and {N2} in {L1}.", "We met Giulia and Mateo in Rome."),
    # places before names: "Boston" is a place symbol, not a name's
    (FR_EN, "Tom va à Boston.", f"Tom va à {L1}.", {L1: "Boston"}, f"Tom is going to {L1}.",
     "Tom is going to Boston."),
    (FR_EN, "De Paris à Londres, puis à Paris.", f"De {L1} à {L2}, puis à {L1}.", {L1: "Paris", L2: "Londres"},
     f"From {L1} to {L2}, then to {L1}.", "From Paris to London, then to Paris."),
    # an English name with its article; a sentence that opens with it is capitalised
    (FR_EN, "Les États-Unis sont grands.", f"Les {L1} sont grands.", {L1: "États-Unis"}, f"{L1} is big.",
     "The United States is big."),
    (EN_FR, "He lives in the United States.", f"He lives in {L1}.", {L1: "the United States"},
     f"Il vit aux {L1}.", "Il vit aux États-Unis."),
    (FR_EN, "Il vit aux Pays-Bas.", f"Il vit aux {L1}.", {L1: "Pays-Bas"}, f"He lives in the {L1}.",
     "He lives in the Netherlands."),  # an article the symbol stood for, written again by the model
    (EN_FR, "He comes from Africa.", f"He comes from {L1}.", {L1: "Africa"}, f"Il vient de {L1}.",
     "Il vient d'Afrique."),  # French elision mended
])
def test_places_become_symbols_and_come_back_in_the_target_language(
        protector: Protector, text: str, protected: str, originals: dict, output: str, restored: str) -> None:
    assert protector.protect(text) == (protected, originals)
    assert restore(output, originals, protector) == restored


def test_a_protector_without_places_leaves_them_alone_as_before() -> None:
    before = Protector(KNOWN, "fr", "en", dates=True)
    assert before.protect("Jane visite l' Afrique en septembre.") == (f"{N1} visite l' Afrique en {T1}.",
                                                                       {N1: "Jane", T1: "septembre"})
    state = FR_EN.to_state()
    assert state["places"] is True and Protector.from_state(state) == FR_EN
    old = {"known_words": sorted(KNOWN), "french": True, "min_count": 2, "dates": ["fr", "en"]}  # saved before places
    assert Protector.from_state(old) == before
    assert Protector.from_state({**old, "places": True}) == FR_EN  # saved by the release before this one


def place_pairs(n: int) -> tuple[list[str], list[str]]:
    places = [("Japon", "Japan"), ("États-Unis", "the United States"), ("Londres", "London"), ("Boston", "Boston")]
    src, tgt = [], []
    for i, (fr, en) in enumerate(named_pairs(n, 5)):
        if i % 2 == 0:  # every other pair names a place on both sides
            place = places[i // 2 % len(places)]
            fr, en = f"{fr.rstrip(' .')} à {place[0]} .", f"{en.rstrip('.')} in {place[1]}."
        src.append(fr)
        tgt.append(en)
    return src, tgt


def test_the_augmentation_puts_the_same_place_symbol_on_both_sides_seeded() -> None:
    src, tgt = place_pairs(80)
    augmentation = SymbolAugmentation("fr", "en", dates=True, places=True, probability=0.5)
    changed = changed_pairs(augmentation, src, tgt, seed=3, epoch=1)
    assert changed == changed_pairs(augmentation, src, tgt, seed=3, epoch=1)  # a function of (seed, epoch, example)
    assert changed != changed_pairs(augmentation, src, tgt, seed=3, epoch=2)
    symbols_seen = set()
    for i in range(0, 80, 2):  # every pair with a place, every epoch: translation protects every one
        new_src, new_tgt = changed[i]
        found = [s for s in PLACE_SYMBOLS if s in new_src]
        assert len(found) == 1 and found[0] in new_tgt, (new_src, new_tgt)
        assert not re.search("Japon|Japan|États-Unis|United States|Londres|London|Boston", new_src + new_tgt)
        symbols_seen.add(found[0])
    assert symbols_seen == {PLACE_SYMBOLS[0]}  # numbered in source order, as translation numbers them
    assert augmentation.augment("Il va de Paris à Londres.", "He goes from Paris to London.", random.Random(3)) == \
        ("Il va de ⦅L1⦆ à ⦅L2⦆.", "He goes from ⦅L1⦆ to ⦅L2⦆.")
    assert not any(s in pair[0] for i, pair in changed.items() if i % 2 for s in PLACE_SYMBOLS)
    without = SymbolAugmentation("fr", "en", dates=True, probability=0.5)
    assert not any(s in pair[0] + pair[1] for pair in changed_pairs(without, src, tgt, 3, 1).values() for s in PLACE_SYMBOLS)
    drawn = changed_pairs(SymbolAugmentation("fr", "en", dates=True, places=True, order="random"), src, tgt)
    assert {s for i in range(0, 80, 2) for s in PLACE_SYMBOLS if s in drawn[i][0]} == set(PLACE_SYMBOLS)


def test_places_need_their_symbols_in_both_vocabularies(tmp_path) -> None:
    sentences = [side for pair in named_pairs(200, 1) for side in pair] + ["abcdefghijklmnopqrstuvwxyzéû"] * 3

    def tokenizer(symbols: tuple[str, ...]) -> Tokenizer:
        return Tokenizer(train_sentencepiece(sentences, vocab_size=140, model_type="bpe", character_coverage=1.0,
                                             symbols=symbols))
    with_dates, new = tokenizer(FIRST_SYMBOLS + DATE_SYMBOLS), tokenizer(SYMBOLS)
    assert usable_kinds(new, new, "fr", "en") == (True, True) and usable_kinds(with_dates, with_dates, "fr", "en") \
        == (True, False)
    assert not usable_kinds(new, new, "de", "en")[1]
    assert Protector.for_vocabularies(KNOWN, new, new, "fr", "en") == FR_EN
