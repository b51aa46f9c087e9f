"""Month and weekday renaming in training (train.date_augmentation, seq2seq/entities/dates.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_entity_augmentation import changed_pairs
from test_names import made_batch, made_texts
from test_train import toy_config, write_shards

from seq2seq.data.tokenizer import train_sentencepiece
from seq2seq.entities import FLAG_DATES, date_words, entity_flags, shared_dates
from seq2seq.entities.dates import DateAugmentation, substitute_dates

SEPTEMBER, MAY, MONDAY = ("month", 9), ("month", 5), ("weekday", 1)


@pytest.mark.parametrize("src, tgt, dates", [
    ("Il est né en septembre.", "He was born in September.", [SEPTEMBER]),
    ("Il se peut qu'il vienne en mai.", "He may come in May.", [MAY]),  # "may" the verb is no month
    ("Septembre ou lundi ?", "September or Monday's?", [SEPTEMBER, MONDAY]),  # case, a possessive
    ("Il est né en septembre.", "He was born in spring.", []),  # on one side only
    ("Lundi et lundi.", "Monday and Monday.", []),  # twice: which is which is not known
    ("Il marche.", "He will march in March.", []),
])
def test_shared_dates(src: str, tgt: str, dates: list) -> None:
    assert shared_dates(src, tgt, "fr", "en") == dates


def test_substitution_keeps_case_and_french_elision() -> None:
    assert substitute_dates("Septembre, en septembre, d' avril, de mai.", "fr",
                            {SEPTEMBER: MAY, ("month", 4): MAY, MAY: ("month", 8)}) == \
        "Mai, en mai, de mai, d'août."
    assert substitute_dates("In May I may march in March.", "en", {MAY: SEPTEMBER, ("month", 3): MONDAY}) == \
        "In September I may march in Monday."
    assert date_words("Il est né en Mai.", "de") == {}  # a language without a table has no date names


def pairs() -> tuple[list[str], list[str]]:
    src = ["Il est né en septembre.", "Je viens lundi.", "Le chat dort.", "Nous sommes en mai, pas en juin.",
           "Lundi, mardi, mercredi, jeudi, vendredi, samedi, dimanche.", "Il viendra en mai."]
    tgt = ["He was born in September.", "I'm coming on Monday.", "The cat sleeps.", "It's May, not June.",
           "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.", "He will come in spring."]
    return src, tgt


def test_augmentation_is_seeded_consistent_and_leaves_other_pairs_alone() -> None:
    src, tgt = pairs()
    augmentation = DateAugmentation(1.0, "fr", "en")
    assert [i for i in range(len(src)) if entity_flags(src[i], tgt[i], "fr", "en") & FLAG_DATES] == [0, 1, 3, 4]
    first = changed_pairs(augmentation, src, tgt, seed=1, epoch=0)
    assert first == changed_pairs(augmentation, src, tgt, seed=1, epoch=0)
    assert sorted(first) == [0, 1, 3]  # pair 4 names every weekday: nothing left to draw; 2 and 5 have none
    for i, (new_src, new_tgt) in first.items():
        old = shared_dates(src[i], tgt[i], "fr", "en")
        new = shared_dates(new_src, new_tgt, "fr", "en")
        assert len(new) == len(old) and set(new).isdisjoint(old)  # renamed, the same on both sides
    epochs = [changed_pairs(augmentation, src, tgt, seed=1, epoch=e) for e in range(1, 6)]
    assert any(e != first for e in epochs)  # a new draw each epoch
    assert changed_pairs(DateAugmentation(0.0, "fr", "en"), src, tgt) == {}
    assert changed_pairs(DateAugmentation(1.0, "fr", "de"), src, tgt) == {}
    assert not any(entity_flags(s, t, "fr", "de") & FLAG_DATES for s, t in zip(src, tgt))


def test_training_renames_dates_each_epoch(tmp_path: Path) -> None:
    src, tgt = pairs()
    src, tgt = src * 20, tgt * 20
    for split in ("train", "dev"):
        (tmp_path / f"{split}.src").write_text("".join(s + "\n" for s in src), encoding="utf-8")
        (tmp_path / f"{split}.tgt").write_text("".join(t + "\n" for t in tgt), encoding="utf-8")
    (tmp_path / "spm.model").write_bytes(train_sentencepiece(
        src + tgt + ["abcdefghijklmnopqrstuvwxyzéû"] * 3, vocab_size=150, model_type="bpe", character_coverage=1.0))
    write_shards(tmp_path)
    config = toy_config(tmp_path, date_augmentation=1.0)
    assert "months and weekdays renamed in 100% of the 80 pairs" in made_batch(tmp_path, config, 0)[1].description

    zero = made_texts(tmp_path, config, 0)
    assert zero == made_texts(tmp_path, config, 0) != made_texts(tmp_path, config, 1)  # a function of the epoch
    assert {s for s, _ in zero[:6]} != set(src[:6]) and zero[2] == (src[2], tgt[2])
