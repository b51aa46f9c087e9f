"""What the entities (and the sentence splitter) need to know of one language: its table (seq2seq/entities/lang/<code>.py).

A language pair is two tables: the protector and the augmentations look up the rules of each
side by its code (`rules`), so a new language adds one file under lang/ and nothing else. A
language without a table has no month or weekday names, number words, places or elision, and
no rule for names (a capitalised word may be a noun): only its digit strings are entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

DateMeaning = tuple[str, int]  # ("month", 1..12) or ("weekday", 1..7, Monday first)
_ELISION = re.compile("['’] ?")


def unchanged(text: str) -> str:
    return text


@dataclass(frozen=True, eq=False)
class Language:
    """One language's words and rules; every field but `code` may be left empty."""

    code: str  # as in data.src_lang / data.tgt_lang
    months: tuple[str, ...] = ()  # January first, lower case
    weekdays: tuple[str, ...] = ()  # Monday first, lower case
    # whether running text capitalises month and weekday names (English); then a lower-case one
    # is another word ("may" a verb, "march" a noun); else a capitalised one is ("Mars" the planet)
    dates_capitalised: bool = False
    # month or weekday names that, capitalised as a sentence's first word, are as often another
    # word ("May I come in?", "Mars est rouge."): there, that word stays text throughout the sentence
    ambiguous_openers: frozenset[str] = frozenset()
    # whether a capitalised word that is not sentence-initial is a name: so in French and English,
    # not where nouns are capitalised too (German "Verträge"); only then are names entities
    names_by_capitals: bool = False
    # words that name one number only (not "un"/"one", also an article or a pronoun), lower case
    number_words: Mapping[str, int] = field(default_factory=dict)
    # words elided before a vowel, as a name's substitution must keep them right: "de" -> "d'"
    elidable: frozenset[str] = frozenset()
    # {place key (its English name, without an article): its forms, the one written in output first}
    places: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    place_article: str = ""  # lower case, with its space: "the " of "the United States"
    # after renaming months and weekdays: the grammar around them ("de avril" -> "d'avril")
    mend_dates: Callable[[str], str] = unchanged
    # an output whose symbols were put back as words of this language: the grammar around them
    mend_output: Callable[[str], str] = unchanged
    # words written with a final period that does not end a sentence ("M. Dupont", "Dr. Smith"),
    # lower case, without the period: seq2seq/sentences.py does not split a line after them
    abbreviations: frozenset[str] = frozenset()
    # what stands between the translations of a line's sentences (none in Chinese or Japanese)
    sentence_joiner: str = " "

    @cached_property
    def date_words(self) -> dict[str, DateMeaning]:
        """{month or weekday name: what it names}."""
        return {**{word: ("month", n) for n, word in enumerate(self.months, start=1)},
                **{word: ("weekday", n) for n, word in enumerate(self.weekdays, start=1)}}

    def date_written(self, word: str) -> bool:
        """Whether `word` (a month or weekday name) is written as this language writes a date."""
        return word[0].isupper() if self.dates_capitalised else word.islower()

    def date_word(self, meaning: DateMeaning, like: str) -> str:
        """The word for `meaning`, capitalised as `like` is (always, where dates are capitalised)."""
        word = next(w for w, m in self.date_words.items() if m == meaning)
        return word.capitalize() if like[0].isupper() or self.dates_capitalised else word

    def without_article(self, form: str) -> str:
        """A place's form without its article: "the United States" -> "United States"."""
        article = self.place_article
        return form[len(article):] if article and form[:len(article)].lower() == article else form

    def place_lookup(self, words: str) -> str:
        """How a place's words are looked up: without the article, an elision written "'" and unsplit."""
        return _ELISION.sub("'", self.without_article(words))

    @cached_property
    def place_keys(self) -> dict[str, str]:
        """{place_lookup(form): the place's key} for every form of every place."""
        return {self.place_lookup(form): key for key, forms in self.places.items() for form in forms}

    @cached_property
    def place_pattern(self) -> re.Pattern[str]:
        """Every form as whole words (after an elided article too: "l'Afrique"), longest first, one
        with an article also without it or capitalised ("The United States" opens a sentence), an
        elision inside one split or not ("Côte d' Ivoire": data.split_elision)."""
        forms = sorted({form for forms in self.places.values() for form in forms}, key=len, reverse=True)
        article = self.place_article
        optional = f"(?:[{article[:1].upper()}{article[:1]}]{article[1:]})?" if article else ""
        alternatives = "|".join((f"{optional}{re.escape(self.without_article(form))}"
                                 if article and form.startswith(article) else re.escape(form))
                                .replace("'", "['’] ?") for form in forms)
        return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")
