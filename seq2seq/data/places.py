"""Place names in sentences: found, translated by the table of place_names.py, put back.

A 10-minute model on Tatoeba reads "Jane visite l'Afrique en septembre." as "Jane visit him in
September.": "Afrique" / "Africa" stand in 24 training pairs, against thousands where "l'" is a
pronoun, and the ~1,100 updates of a 10-minute run on 2 cores do not learn it ("Rome", in 23
pairs, came out "the way"). A place is translated the same way in every sentence, though, so
with placeholders (placeholders.py) translation takes places out of the model's hands as it
does months: every place of the table in the source becomes a symbol ⦅L1⦆.., the model moves
the symbol where the target language wants it ("visite l' ⦅L1⦆" -> "visits ⦅L1⦆"), and the
symbol comes back as the place's name in the target language ("Africa"). In training, every
place named once on each side of a pair becomes a symbol on both sides, so the ~2,000 Tatoeba
pairs with a place ("Boston", "Japon" / "Japan", ...) teach where every place goes.

Places are capitalised in both languages, so only capitalised words are matched. An English
name that takes an article includes it ("the United States"): the symbol stands for the whole,
and "aux États-Unis" / "in the United States" teaches "aux ⦅L1⦆" -> "in ⦅L1⦆". French and
English only; other languages have no places.
"""

from __future__ import annotations

import re
from functools import cache

from seq2seq.data.numbers import word_pairs
from seq2seq.data.place_names import PLACES

LANGUAGES = ("fr", "en")  # the table's two sides, in order
_ARTICLE = "the "  # of an English name in the table; "The United States" may open a sentence
_VOWELS = "AEIOUÉÈÊÂÎÔÛ"
_ELISION = re.compile("['’] ?")
_DOUBLED_ARTICLE = re.compile(r"\b([Tt]he) the\b")  # "the ⦅L1⦆" put back as "the the United States"


@cache
def _table(lang: str) -> dict[str, int]:
    """{_key(form): the place's index in PLACES} for language `lang`."""
    side = LANGUAGES.index(lang)
    return {_key(form): index for index, entry in enumerate(PLACES) for form in entry[side]}


@cache
def _pattern(lang: str) -> re.Pattern[str]:
    """Every form of `lang` as whole words (after an elided article too: "l'Afrique"), longest
    first, an English one with its article if the table gives it one, an elision inside one
    split or not ("Côte d' Ivoire": data.split_elision)."""
    side = LANGUAGES.index(lang)
    forms = sorted({form for entry in PLACES for form in entry[side]}, key=len, reverse=True)
    alternatives = "|".join((f"(?:[Tt]he )?{re.escape(_bare(form))}" if form.startswith(_ARTICLE)
                             else re.escape(form)).replace("'", "['’] ?") for form in forms)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


@cache
def _french_de_vowel() -> re.Pattern[str]:
    """ "de Afrique" -> "d'Afrique": French elision before a place that begins with a vowel."""
    forms = sorted({form for entry in PLACES for form in entry[0] if form[0] in _VOWELS}, key=len, reverse=True)
    return re.compile(rf"(?<![\w'’-])([Dd])e (?=(?:{'|'.join(map(re.escape, forms))})(?![\w-]))")


def _bare(form: str) -> str:
    """A form without its English article: "the United States" -> "United States"."""
    return form[len(_ARTICLE):] if form[:len(_ARTICLE)].lower() == _ARTICLE else form


def _key(words: str) -> str:
    """How a form is looked up: without its article, its elision written "'" and unsplit."""
    return _ELISION.sub("'", _bare(words))


def place_words(text: str, lang: str) -> dict[int, list[str]]:
    """{place index: the words of `text` that name it} ("the United States" with its article)."""
    found: dict[int, list[str]] = {}
    if lang in LANGUAGES and any(c.isupper() for c in text):
        table = _table(lang)
        for match in _pattern(lang).finditer(text):
            found.setdefault(table[_key(match.group())], []).append(match.group())
    return found


def shared_places(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """(source words, target words) of each place named exactly once on each side, in source order."""
    src_words = place_words(src, src_lang)
    return word_pairs(src_words, place_words(tgt, tgt_lang)) if src_words else []


def translated_place(words: str, src_lang: str, tgt_lang: str) -> str:
    """The `tgt_lang` name of the place `words` names ("Afrique" -> "Africa"); `words` itself if none."""
    index = _table(src_lang).get(_key(words)) if src_lang in LANGUAGES and tgt_lang in LANGUAGES else None
    return words if index is None else PLACES[index][LANGUAGES.index(tgt_lang)][0]


def mend_french_place_elision(text: str) -> str:
    """ "de Afrique" -> "d'Afrique" (a French output, after its symbols are put back)."""
    return _french_de_vowel().sub(r"\1'", text)


def mend_english_article(text: str) -> str:
    """ "in the the United States" -> "in the United States" (an English output, after its symbols
    are put back: the symbol stood for the article too, but a model may write one before it)."""
    return _DOUBLED_ARTICLE.sub(r"\1", text)
