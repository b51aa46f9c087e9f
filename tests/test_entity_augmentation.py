"""The entity augmentations one pair at a time (issue 31): a pure function of (seed, epoch,
example), run where the pair's entity flags (found once, when the data is prepared) say there is
something to change; and the known words, counted chunk by chunk."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable

import pytest
from conftest import shared_data_dir

from seq2seq.data.normalize import normalize_text, split_elisions
from seq2seq.entities import (FLAG_DATES, FLAG_KEYS, FLAG_NAMES, FLAG_NUMBERS, FLAG_SYMBOLS, EntityAugmentation,
                              Protector, augmentation_names, augmentation_rng, entity_flags, known_from_counts,
                              known_words, word_counts)
from seq2seq.entities.dates import DateAugmentation, shared_dates, shared_protectable_dates
from seq2seq.entities.names import NameAugmentation, shared_names
from seq2seq.entities.numbers import NumberAugmentation, shared_number_words, shared_numbers
from seq2seq.entities.places import shared_places
from seq2seq.entities.symbol_augmentation import SymbolAugmentation
from seq2seq.entities.symbols import NUMBER_SYMBOLS, SYMBOL

EVERY = FLAG_NAMES | FLAG_NUMBERS | FLAG_DATES | FLAG_SYMBOLS
PAIRS = [("Tom a 25 ans.", "Tom is 25."), ("Il est né en septembre.", "He was born in September."),
         ("Le chat dort.", "The cat sleeps."), ("Jane visite le Japon.", "Jane visits Japan."),
         ("Il a huit ans.", "He is eight.")]


def changed_pairs(step, src: list[str], tgt: list[str], seed: int = 1, epoch: int = 0,
                  langs: tuple[str, str] = ("fr", "en")) -> dict[int, tuple[str, str]]:
    """{i: new pair} of the pairs `step` (an EntityAugmentation, with each pair's flags, or one
    step) changes in epoch `epoch`, each pair drawing from its own generator ("train.00000:<i>")."""
    changed = {}
    for i, (s, t) in enumerate(zip(src, tgt)):
        rng = augmentation_rng(seed, epoch, f"train.00000:{i}")
        new = step.augment(s, t, entity_flags(s, t, *langs), rng) if isinstance(step, EntityAugmentation) \
            else step.augment(s, t, rng)
        if new is not None:
            changed[i] = new
    return changed


def everything(**kwargs) -> EntityAugmentation:
    """Every step on, every kind of symbol (French-English)."""
    options = dict(names=1.0, name_pool=augmentation_names(), numbers=1.0, dates=1.0,
                   protector=Protector(frozenset(), "fr", "en", dates=True, places=True), name_symbol_probability=0.5)
    return EntityAugmentation("fr", "en", **{**options, **kwargs})


# ---------------------------------------------------------------------------------------------
# The chain, one pair at a time


def test_augment_is_a_pure_function_of_its_arguments() -> None:
    augmentation = everything()
    src, tgt = "Tom a 25 ans en mai.", "Tom is 25 in May."
    flags = entity_flags(src, tgt, "fr", "en")
    assert flags == EVERY
    first = augmentation.augment(src, tgt, flags, augmentation_rng(3, 1, "train.00002:17"))
    assert first == augmentation.augment(src, tgt, flags, augmentation_rng(3, 1, "train.00002:17"))
    assert first is not None and "Tom" not in first[0] + first[1] and "25" not in first[0]
    draws = {augmentation.augment(src, tgt, flags, augmentation_rng(3, 1, f"train.00002:{row}")) for row in range(40)}
    assert len(draws) > 5  # each example draws its own names and symbols
    epochs = {augmentation.augment(src, tgt, flags, augmentation_rng(3, epoch, "train.00002:17")) for epoch in range(20)}
    assert len(epochs) > 5  # and anew each epoch


def test_the_generator_is_the_same_in_every_process() -> None:
    code = "from seq2seq.entities import augmentation_rng; print(augmentation_rng(7, 2, 'train.00001:5').random())"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert outputs == {f"{augmentation_rng(7, 2, 'train.00001:5').random()}\n"}
    assert augmentation_rng(7, 2, "train.00001:5").random() != augmentation_rng(7, 2, "train.00001:6").random()


def test_flags_0_or_no_step_leave_a_pair_alone() -> None:
    src, tgt = PAIRS[0]
    assert everything().augment(src, tgt, 0, augmentation_rng(1, 0, "x")) is None
    off = EntityAugmentation("fr", "en")
    assert off.steps == () and off.flags == 0 and off.augment(src, tgt, EVERY, random.Random(1)) is None
    # each step only where its flag is
    numbers = EntityAugmentation("fr", "en", numbers=1.0)
    assert numbers.flags == FLAG_NUMBERS
    assert numbers.augment(src, tgt, EVERY & ~FLAG_NUMBERS, random.Random(1)) is None
    assert numbers.augment(src, tgt, FLAG_NUMBERS, random.Random(1)) is not None


def test_probability_0_never_1_always_for_the_pairs_each_step_can_change() -> None:
    src, tgt = [s for s, _ in PAIRS] * 20, [t for _, t in PAIRS] * 20
    pool = augmentation_names()
    for step, can_change in ((NameAugmentation(pool, 1.0, "fr", "en"), lambda s, t: shared_names(s, t)),
                             (NumberAugmentation(1.0), shared_numbers),
                             (DateAugmentation(1.0, "fr", "en"), lambda s, t: shared_dates(s, t, "fr", "en"))):
        eligible = {i for i in range(len(src)) if can_change(src[i], tgt[i])}
        assert eligible and set(changed_pairs(step, src, tgt)) == eligible
        step.probability = 0.0
        assert changed_pairs(step, src, tgt) == {}
    half = changed_pairs(NameAugmentation(pool, 0.5, "fr", "en"), src, tgt)
    assert 5 < len(half) < 35  # of 40 pairs with a name
    # the chain: with everything on, every pair with an entity changes
    assert set(changed_pairs(everything(), src, tgt)) == {i for i in range(len(src)) if i % 5 != 2}


def test_the_chain_replaces_a_name_and_then_makes_it_a_symbol() -> None:
    # names first: "Tom" becomes "Paris" (a place, the pool's only name), which the symbols then take as a place
    chain = everything(name_pool=["Paris"] * 10, numbers=0.0, name_symbol_probability=1.0)
    src, tgt = "Tom a 25 ans.", "Tom is 25."
    assert chain.augment(src, tgt, entity_flags(src, tgt, "fr", "en"), random.Random(1)) == \
        ("⦅L1⦆ a ⦅D1⦆ ans.", "⦅L1⦆ is ⦅D1⦆.")
    # names, then numbers, then dates, each on what the one before made
    chain = EntityAugmentation("fr", "en", names=1.0, name_pool=["Zoé"] * 10, numbers=1.0, dates=1.0)
    new_src, new_tgt = chain.augment("Tom a 25 ans en mai.", "Tom is 25 in May.", EVERY, random.Random(2))
    assert re.fullmatch(r"Zoé a (\d\d) ans en (\w+)\.", new_src) and new_src.split()[2] in new_tgt
    assert "25" not in new_src and "mai" not in new_src and "May" not in new_tgt


def test_symbols_are_numbered_in_source_order_or_drawn() -> None:
    src, tgt = ["Il a huit ans."] * 60, ["He is eight."] * 60
    in_order = changed_pairs(SymbolAugmentation("fr", "en"), src, tgt)
    assert set(in_order.values()) == {("Il a ⦅D1⦆ ans.", "He is ⦅D1⦆.")}
    drawn = changed_pairs(SymbolAugmentation("fr", "en", order="random"), src, tgt)
    assert len(drawn) == 60 and {SYMBOL.findall(s)[0] for s, _ in drawn.values()} == set(NUMBER_SYMBOLS)
    assert all(SYMBOL.findall(s) == SYMBOL.findall(t) for s, t in drawn.values())


def test_description_counts_come_from_the_manifest() -> None:
    parts = everything().description({"names": 12, "numbers": 3, "dates": 4, "symbols": 1234})
    assert parts[0].startswith("names substituted in 100% of the 12 pairs with a name on both sides (from ")
    assert parts[1] == "numbers substituted in 100% of the 3 pairs with a number on both sides"
    assert parts[2] == "months and weekdays renamed in 100% of the 4 pairs that name one on both sides"
    assert "(in 1,234 pairs; symbols numbered in source order; language rules: fr and en)" in parts[3]
    assert "of the 0 pairs" in EntityAugmentation("fr", "en", numbers=0.5).description({})[0]


# ---------------------------------------------------------------------------------------------
# Entity flags


def naive_flags(src: str, tgt: str, src_lang: str, tgt_lang: str) -> int:
    """What each step looks at, rule by rule (what entity_flags finds faster)."""
    names = shared_names(src, tgt) if src_lang in ("fr", "en") and tgt_lang in ("fr", "en") else []
    numbers, dates = shared_numbers(src, tgt), shared_dates(src, tgt, src_lang, tgt_lang)
    symbols = names or numbers or shared_number_words(src, tgt, src_lang, tgt_lang) \
        or shared_protectable_dates(src, tgt, src_lang, tgt_lang) or shared_places(src, tgt, src_lang, tgt_lang)
    return FLAG_NAMES * bool(names) | FLAG_NUMBERS * bool(numbers) | FLAG_DATES * bool(dates) \
        | FLAG_SYMBOLS * bool(symbols)


@pytest.mark.parametrize("src, tgt, flags", [
    ("Tom a 25 ans.", "Tom is 25.", FLAG_NAMES | FLAG_NUMBERS | FLAG_SYMBOLS),
    ("Il est né en septembre.", "He was born in September.", FLAG_DATES | FLAG_SYMBOLS),
    ("Il part Mars prochain.", "He leaves next March.", FLAG_DATES),  # a capitalised French month stays text
    ("Il a huit ans.", "He is eight.", FLAG_SYMBOLS),
    ("Il vit aux États-Unis.", "He lives in the United States.", FLAG_SYMBOLS),
    ("Le chat dort.", "The cat sleeps.", 0),
    ("Le B52 vole.", "The B52 flies.", 0),
    ("C'est O'Brien.", "It's O'Brien.", FLAG_NAMES | FLAG_SYMBOLS),  # a name whose first run is one letter
    ("Je suis venu de Londres en 1999.", "I came from London in 1990.", FLAG_SYMBOLS),
    ("", "", 0),
])
def test_entity_flags(src: str, tgt: str, flags: int) -> None:
    assert entity_flags(src, tgt, "fr", "en") == flags == naive_flags(src, tgt, "fr", "en")


def test_entity_flags_of_a_pair_without_rules() -> None:
    assert entity_flags("Anna hat 25 Bücher.", "Anna has 25 books.", "de", "en") == FLAG_NUMBERS | FLAG_SYMBOLS
    assert entity_flags("Anna kommt im Mai.", "Anna comes in May.", "de", "en") == 0  # no names, no German dates
    assert FLAG_KEYS == {FLAG_NAMES: "names", FLAG_NUMBERS: "numbers", FLAG_DATES: "dates", FLAG_SYMBOLS: "symbols"}


@pytest.fixture(scope="module")
def tatoeba() -> list[tuple[str, str]]:
    """(French, English) of the Tatoeba file, normalised as prepare normalises them."""
    folder = shared_data_dir()
    path = folder / "tatoeba-fra-eng" / "fra.txt" if folder is not None else None
    if path is None or not path.is_file():
        pytest.skip("the Tatoeba corpus is not available: set S2S_SHARED_DATA to the shared/data folder")
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        english, french = line.split("\t")[:2]
        pairs.append((normalize_text(french, "nfkc", False), normalize_text(english, "nfkc", False)))
    return pairs


def test_flags_are_exactly_what_the_steps_look_at_on_tatoeba(tatoeba: list[tuple[str, str]]) -> None:
    split = [(split_elisions(fr, "fr"), en) for fr, en in tatoeba[::2]]  # as configs/tatoeba-*.yaml prepare it
    for (src, tgt), langs in [*((pair, ("fr", "en")) for pair in split),
                              *((pair, ("fr", "en")) for pair in tatoeba[::16]),
                              *(((en, fr), ("en", "fr")) for fr, en in tatoeba[::16])]:
        assert entity_flags(src, tgt, *langs) == naive_flags(src, tgt, *langs), (src, tgt, langs)
    assert 0.05 < sum(1 for s, t in split if entity_flags(s, t, "fr", "en")) / len(split) < 0.3


def test_a_step_skipped_by_its_flag_would_not_change_the_pair_on_tatoeba(tatoeba: list[tuple[str, str]]) -> None:
    steps = {FLAG_NAMES: NameAugmentation(augmentation_names(), 1.0, "fr", "en"), FLAG_NUMBERS: NumberAugmentation(1.0),
             FLAG_DATES: DateAugmentation(1.0, "fr", "en"),
             FLAG_SYMBOLS: SymbolAugmentation("fr", "en", dates=True, places=True, probability=1.0)}
    skipped = Counter()
    for i, (src, tgt) in enumerate(tatoeba[::8]):
        flags = entity_flags(src, tgt, "fr", "en")
        for flag, step in steps.items():
            if not flags & flag:
                skipped[flag] += 1
                assert step.augment(src, tgt, random.Random(i)) is None, (src, tgt, flag)
    assert all(count > 10_000 for count in skipped.values())


# ---------------------------------------------------------------------------------------------
# Known words, counted in chunks


def counts_as_before(lines: Iterable[str]) -> Counter[str]:
    """The word parts as known_words counted them token by token (before word_counts), but for
    those with a decimal digit: no name is made of them."""
    counts: Counter[str] = Counter()
    for line in lines:
        for token in line.split(" "):
            core = token.strip("\"'’“”«»‘‚„‹›()[]{}.,;:!?…*_").lower()
            counts.update(part for part in re.sub("^[cjlmnst]['’]", "", core).split("-")
                          if not re.search(r"\d", part))
    return counts


def known_as_before(counts: Counter[str], min_count: int = 2) -> frozenset[str]:
    return frozenset(word for word, count in counts.items() if count >= min_count and word)


TRICKY = ["L'Afrique, c'est l'Afrique !", "« Jean-Luc » et jean-luc --", "", "  deux  espaces ", "ΟΔΟΣ. οδος",
          "İstanbul istanbul", "l'l'x l'l'x", "qu'est-ce qu'est-ce", "-a- -a-", "(Tom's) tom's", "25 ans, 25-B52 ٣ m² m²"]


def test_known_words_are_the_merged_counts_of_chunks(tatoeba: list[tuple[str, str]]) -> None:
    lines = [fr for fr, _ in tatoeba] + TRICKY * 2
    lines += [split_elisions(line, "fr") for line in lines[:1000]]
    before = counts_as_before(lines)
    merged = word_counts(lines[:70_000]) + word_counts(lines[70_000:])
    assert known_from_counts(merged) == known_as_before(before) and len(known_as_before(before)) > 10_000
    assert known_from_counts(merged, 5) == known_as_before(before, 5)
    assert merged == word_counts(lines) == Counter({word: n for word, n in before.items() if word})


def test_word_counts_of_tricky_lines() -> None:
    counts = word_counts(TRICKY)
    assert counts["afrique"] == 2 and counts["jean"] == 2 and counts["ans"] == 1 and "" not in counts
    assert not {"25", "b52", "٣"} & set(counts)  # no name has a digit: the counter does not keep numbers
    assert counts["m²"] == 2  # "²" is no decimal digit, and a name's core may have it
    assert known_words(TRICKY, min_count=1) == known_as_before(counts_as_before(TRICKY), 1)
    assert known_words(TRICKY) == known_from_counts(counts) == known_as_before(counts_as_before(TRICKY))
    assert word_counts(iter(["a b"] * 25_000)) == Counter({"a": 25_000, "b": 25_000})  # past a batch
