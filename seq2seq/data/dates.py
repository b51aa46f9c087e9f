"""Month and weekday names that stand for the same day or month on both sides of a pair, and
their consistent substitution (`train.date_augmentation`).

A small corpus names each month a handful of times: Tatoeba's training split has "septembre" /
"September" in 12 pairs, "novembre" / "November" in 1, so a model trained on it for minutes
spells them "Stetetember". Each month is translated the same way in every sentence, though: in
a pair where a month (or weekday) name stands on both sides, once each and with the same
meaning ("Il est né en septembre." / "He was born in September."), it is replaced on both sides
by another month (weekday) drawn at random, "en mai" / "in May", so every pair with a month
teaches every month. Case is kept ("Septembre" -> "Mai"). French and English only; a language
without a table has no date names, and the augmentation leaves its pairs alone.

Renaming was not enough for a 10-minute model ("... en septembre." -> "... in Sa."), so with
placeholders (placeholders.py) translation takes months and weekdays out of the model's hands:
`protectable_dates` finds those written as the language writes dates (French in lower case,
English capitalised, either as a sentence's first word), and `translated_date` gives their word
in the target language.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from seq2seq.data.numbers import once_on_each_side, table_words, word_pairs

# (kind, number): the month 1-12 or the weekday 1-7 (Monday first) that a word names.
DATE_WORDS: dict[str, dict[str, tuple[str, int]]] = {
    "fr": {**{word: ("month", n) for n, word in enumerate(
        ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
         "novembre", "décembre"), start=1)},
        **{word: ("weekday", n) for n, word in enumerate(
            ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"), start=1)}},
    "en": {**{word: ("month", n) for n, word in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
         "november", "december"), start=1)},
        **{word: ("weekday", n) for n, word in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), start=1)}},
}
SIZES = {"month": 12, "weekday": 7}
# English date names are capitalised; lower-case "may" and "march" are a verb and a noun.
CAPITALISED = {"en"}
_WORD = re.compile(r"(?<![\w-])[^\W\d_]+(?![\w-])")  # "d'avril", "Monday's": the date word counts
_VOWEL_FIRST = "avril|août|octobre"
_CONSONANT_FIRST = "|".join(w for w in DATE_WORDS["fr"] if w not in _VOWEL_FIRST.split("|"))
_FRENCH_D_CONSONANT = re.compile(rf"(?<![\w'’-])(d)['’] ?(?=(?:{_CONSONANT_FIRST})\b)", re.IGNORECASE)
_FRENCH_DE_VOWEL = re.compile(rf"(?<![\w'’-])(d)e (?=(?:{_VOWEL_FIRST})\b)", re.IGNORECASE)


# Which date words translation puts symbols in place of (placeholders.py): French writes months
# and weekdays in lower case (a capitalised "Mars" is the planet), English capitalises them
# (lower-case "may" is a verb); either may open a sentence capitalised ("Octobre est fini.").
PROTECTED_CASE: dict[str, Callable[[str], bool]] = {"fr": str.islower, "en": lambda word: word[0].isupper()}
# Capitalised first words that are as often no date: "May I come in?", "March!", "Mars est rouge."
AMBIGUOUS_FIRST = {"en": frozenset({"may", "march"}), "fr": frozenset({"mars"})}


def date_words(text: str, lang: str) -> dict[tuple[str, int], list[str]]:
    """{(kind, number): the words of `text` that name it} for language `lang`."""
    keep = (lambda word: word[0].isupper()) if lang in CAPITALISED else (lambda word: True)
    return table_words(text, DATE_WORDS.get(lang), _WORD, keep)


def shared_dates(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, int]]:
    """The months and weekdays named exactly once on each side of a pair, in source order."""
    src_words = date_words(src, src_lang)
    return once_on_each_side(src_words, date_words(tgt, tgt_lang)) if src_words else []


def protectable_dates(text: str, lang: str) -> dict[tuple[str, int], list[str]]:
    """{(kind, number): its words in `text`}, of the date words written as translation protects them."""
    keep = PROTECTED_CASE.get(lang)
    if keep is None:
        return {}
    first = _WORD.search(text)
    opening = first.group() if first and not any(c.isalnum() for c in text[:first.start()]) else ""
    if opening.lower() in AMBIGUOUS_FIRST.get(lang, ()):  # that word stays text throughout the sentence
        return table_words(text, DATE_WORDS[lang], _WORD, lambda word: word != opening and keep(word))
    return table_words(text, DATE_WORDS[lang], _WORD, lambda word: word == opening or keep(word))


def shared_protectable_dates(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """(source word, target word) of each protectable month or weekday named once on each side."""
    src_words = protectable_dates(src, src_lang)
    return word_pairs(src_words, protectable_dates(tgt, tgt_lang)) if src_words else []


def replace_whole_words(text: str, word: str, new: str) -> str:
    """`text` with the whole word(s) `word` replaced by `new`, after an elided article too ("d'avril",
    "l'Afrique"): a month or weekday, or a place (places.py)."""
    return re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", new, text)


def translated_date(word: str, src_lang: str, tgt_lang: str) -> str:
    """The `tgt_lang` word for the month or weekday `word` of `src_lang` names ("septembre" -> "September");
    `word` itself if it is none."""
    meaning = DATE_WORDS.get(src_lang, {}).get(word.lower())
    if meaning is None or tgt_lang not in DATE_WORDS:
        return word
    return spelled(meaning, tgt_lang, "a")  # lower case but where the language capitalises them


def mend_french_elision(text: str) -> str:
    """ "d'mai" -> "de mai", "de avril" -> "d'avril": French elision before a month or weekday."""
    return _FRENCH_DE_VOWEL.sub(r"\1'", _FRENCH_D_CONSONANT.sub(r"\1e ", text))


def spelled(meaning: tuple[str, int], lang: str, like: str) -> str:
    """The word of `lang` for `meaning`, capitalised as `like` is (always, in English)."""
    word = next(w for w, m in DATE_WORDS[lang].items() if m == meaning)
    return word.capitalize() if like[0].isupper() or lang in CAPITALISED else word


def substitute_dates(text: str, lang: str, mapping: dict[tuple[str, int], tuple[str, int]]) -> str:
    """`text` with each date word of `lang` whose meaning is a key of `mapping` renamed (in
    French with the elision made right: "d'avril" -> "de mai", "de mai" -> "d'avril")."""
    table = DATE_WORDS[lang]

    def rename(match: re.Match[str]) -> str:
        word = match.group()
        meaning = table.get(word.lower())
        if meaning not in mapping or (lang in CAPITALISED and not word[0].isupper()):
            return word
        return spelled(mapping[meaning], lang, word)
    text = _WORD.sub(rename, text)
    return mend_french_elision(text) if lang == "fr" else text


class DateAugmentation:
    """Renames the shared months and weekdays of a corpus's pairs, a fixed function of (seed, epoch)."""

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str], src_lang: str, tgt_lang: str) -> None:
        self.src_lines, self.tgt_lines = src_lines, tgt_lines
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.eligible: list[tuple[int, list[tuple[str, int]]]] = []
        if src_lang in DATE_WORDS and tgt_lang in DATE_WORDS:
            for i, (src, tgt) in enumerate(zip(src_lines, tgt_lines)):
                dates = shared_dates(src, tgt, src_lang, tgt_lang)
                if dates:
                    self.eligible.append((i, dates))

    def changed_pairs(self, probability: float, seed: int, epoch: int,
                      changed: dict[int, tuple[str, str]] | None = None) -> dict[int, tuple[str, str]]:
        """`changed` plus the pairs whose dates this epoch renames, each on top of what `changed` made of it."""
        rng = random.Random(f"date-augmentation:{seed}:{epoch}")
        result = dict(changed or {})
        for i, dates in self.eligible:
            if rng.random() >= probability:
                continue
            mapping: dict[tuple[str, int], tuple[str, int]] = {}
            taken = set(dates)
            for kind, number in dates:
                free = [(kind, n) for n in range(1, SIZES[kind] + 1) if (kind, n) not in taken]
                if free:  # none when a sentence lists every weekday: it stays as it is
                    mapping[(kind, number)] = new = rng.choice(free)
                    taken.add(new)
            if not mapping:
                continue
            src, tgt = result.get(i, (self.src_lines[i], self.tgt_lines[i]))
            result[i] = (substitute_dates(src, self.src_lang, mapping), substitute_dates(tgt, self.tgt_lang, mapping))
        return result
