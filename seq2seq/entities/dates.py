"""Months and weekdays: those that stand for the same on both sides of a pair, their symbols
⦅T1⦆..⦅T3⦆, and their consistent renaming (`train.date_augmentation`).

A small corpus names each month a handful of times: Tatoeba's training split has "septembre" /
"September" in 12 pairs, "novembre" / "November" in 1, so a model trained on it for minutes
spells them "Stetetember". Each month is translated the same way in every sentence, though: in
a pair where a month (or weekday) name stands on both sides, once each and with the same
meaning ("Il est né en septembre." / "He was born in September."), the augmentation renames it
on both sides to another month (weekday) drawn at random, "en mai" / "in May", so every pair
with a month teaches every month. Case is kept ("Septembre" -> "Mai"). A language without month
and weekday names in its table leaves its pairs alone.

Renaming was not enough for a 10-minute model ("... en septembre." -> "... in Sa."), so
translation takes months and weekdays out of the model's hands (`Dates`): those written as the
language writes dates (its table's `date_written`, or as a sentence's first word) become
symbols, and come back as the word of the target language.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from seq2seq.entities.lang import rules
from seq2seq.entities.language import DateMeaning
from seq2seq.entities.symbols import DATE_SLOTS, DATE_SYMBOLS
from seq2seq.entities.words import LETTER_WORD, once_on_each_side, replace_words, table_words, word_pairs

SIZES = {"month": 12, "weekday": 7}


def date_words(text: str, lang: str) -> dict[DateMeaning, list[str]]:
    """{(kind, number): the words of `text` that name it} for language `lang` (capitalised ones
    only where the language capitalises dates)."""
    table = rules(lang)
    keep = (lambda word: word[0].isupper()) if table.dates_capitalised else (lambda word: True)
    return table_words(text, table.date_words, LETTER_WORD, keep)


def shared_dates(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[DateMeaning]:
    """The months and weekdays named exactly once on each side of a pair, in source order."""
    src_words = date_words(src, src_lang)
    return once_on_each_side(src_words, date_words(tgt, tgt_lang)) if src_words else []


def protectable_dates(text: str, lang: str) -> dict[DateMeaning, list[str]]:
    """{(kind, number): its words in `text`}, of the date words written as translation protects them."""
    table = rules(lang)
    if not table.date_words:
        return {}
    first = LETTER_WORD.search(text)
    opening = first.group() if first and not any(c.isalnum() for c in text[:first.start()]) else ""
    if opening.lower() in table.ambiguous_openers:  # that word stays text throughout the sentence
        return table_words(text, table.date_words, LETTER_WORD,
                           lambda word: word != opening and table.date_written(word))
    return table_words(text, table.date_words, LETTER_WORD, lambda word: word == opening or table.date_written(word))


def shared_protectable_dates(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """(source word, target word) of each protectable month or weekday named once on each side."""
    src_words = protectable_dates(src, src_lang)
    return word_pairs(src_words, protectable_dates(tgt, tgt_lang)) if src_words else []


def translated_date(word: str, src_lang: str, tgt_lang: str) -> str:
    """The `tgt_lang` word for the month or weekday `word` of `src_lang` names ("septembre" -> "September");
    `word` itself if it is none."""
    meaning = rules(src_lang).date_words.get(word.lower())
    target = rules(tgt_lang)
    if meaning is None or not target.date_words:
        return word
    return target.date_word(meaning, "a")  # lower case but where the language capitalises them


def substitute_dates(text: str, lang: str, mapping: dict[DateMeaning, DateMeaning]) -> str:
    """`text` with each date word of `lang` whose meaning is a key of `mapping` renamed (with the
    language's grammar around it mended: French "d'avril" -> "de mai", "de mai" -> "d'avril")."""
    table = rules(lang)

    def rename(match: re.Match[str]) -> str:
        word = match.group()
        meaning = table.date_words.get(word.lower())
        if meaning not in mapping or (table.dates_capitalised and not word[0].isupper()):
            return word
        return table.date_word(mapping[meaning], word)  # type: ignore[index]
    return table.mend_dates(LETTER_WORD.sub(rename, text))


class Dates:
    """The dates kind: months and weekdays, put back in the target language."""

    symbols: ClassVar[tuple[str, ...]] = DATE_SYMBOLS

    def __init__(self, src_lang: str, tgt_lang: str) -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def shared(self, src: str, tgt: str) -> list[tuple[str, str]]:
        return shared_protectable_dates(src, tgt, self.src_lang, self.tgt_lang)

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with a symbol for each month or weekday, in order of appearance; {symbol: its word})."""
        dates = protectable_dates(text, self.src_lang)
        words = list(dict.fromkeys(word for words in dates.values() for word in words))[:DATE_SLOTS]
        mapping = dict(zip(words, self.symbols))
        for word, symbol in mapping.items():
            text = replace_words(text, word, symbol)
        return text, {symbol: word for word, symbol in mapping.items()}

    def restore(self, words: str) -> str:
        return translated_date(words, self.src_lang, self.tgt_lang)


class DateAugmentation:
    """Renames the shared months and weekdays of a pair (`train.date_augmentation`): with
    probability `probability`, each to another one of its kind, drawn at random, on both sides."""

    def __init__(self, probability: float, src_lang: str, tgt_lang: str) -> None:
        self.probability, self.src_lang, self.tgt_lang = probability, src_lang, tgt_lang
        self.active = bool(rules(src_lang).date_words and rules(tgt_lang).date_words)  # both have date words

    def augment(self, src: str, tgt: str, rng: random.Random) -> tuple[str, str] | None:
        """The pair with its dates renamed, or None when it keeps them."""
        dates = shared_dates(src, tgt, self.src_lang, self.tgt_lang) if self.active else []
        if not dates or rng.random() >= self.probability:
            return None
        mapping: dict[DateMeaning, DateMeaning] = {}
        taken = set(dates)
        for kind, number in dates:
            free = [(kind, n) for n in range(1, SIZES[kind] + 1) if (kind, n) not in taken]
            if free:  # none when a sentence lists every weekday: it stays as it is
                mapping[(kind, number)] = new = rng.choice(free)
                taken.add(new)
        if not mapping:
            return None
        return substitute_dates(src, self.src_lang, mapping), substitute_dates(tgt, self.tgt_lang, mapping)
