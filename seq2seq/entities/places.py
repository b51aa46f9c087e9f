"""Places: those named on both sides of a pair, their symbols ⦅L1⦆..⦅L3⦆, and their name in the
other language (the `places` of the language tables, keyed alike in every language).

A 10-minute model on Tatoeba reads "Jane visite l'Afrique en septembre." as "Jane visit him in
September.": "Afrique" / "Africa" stand in 24 training pairs, against thousands where "l'" is a
pronoun, and the ~1,100 updates of a 10-minute run on 2 cores do not learn it ("Rome", in 23
pairs, came out "the way"). A place is translated the same way in every sentence, though, so
translation takes places out of the model's hands as it does months: every place of the table
in the source becomes a symbol, the model moves the symbol where the target language wants it
("visite l' ⦅L1⦆" -> "visits ⦅L1⦆"), and the symbol comes back as the place's name in the target
language ("Africa"). In training, every place named once on each side of a pair becomes a
symbol on both sides, so the ~2,000 Tatoeba pairs with a place ("Boston", "Japon" / "Japan",
...) teach where every place goes.

Places are capitalised, so only a text with a capital letter is searched. A name that takes an
article in running text includes it ("the United States"): the symbol stands for the whole, and
"aux États-Unis" / "in the United States" teaches "aux ⦅L1⦆" -> "in ⦅L1⦆".
"""

from __future__ import annotations

from typing import ClassVar

from seq2seq.entities.lang import rules
from seq2seq.entities.symbols import PLACE_SLOTS, PLACE_SYMBOLS
from seq2seq.entities.words import replace_words, word_pairs


def place_words(text: str, lang: str) -> dict[str, list[str]]:
    """{place key: the words of `text` that name it} ("the United States" with its article)."""
    found: dict[str, list[str]] = {}
    table = rules(lang)
    if table.places and any(c.isupper() for c in text):
        for match in table.place_pattern.finditer(text):
            found.setdefault(table.place_keys[table.place_lookup(match.group())], []).append(match.group())
    return found


def shared_places(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """(source words, target words) of each place named exactly once on each side, in source order."""
    src_words = place_words(src, src_lang)
    return word_pairs(src_words, place_words(tgt, tgt_lang)) if src_words else []


def translated_place(words: str, src_lang: str, tgt_lang: str) -> str:
    """The `tgt_lang` name of the place `words` names ("Afrique" -> "Africa"); `words` itself if none."""
    source, target = rules(src_lang), rules(tgt_lang)
    key = source.place_keys.get(source.place_lookup(words)) if source.places and target.places else None
    forms = target.places.get(key) if key is not None else None
    return forms[0] if forms else words


class Places:
    """The places kind: every place of the source language's table, put back in the target language."""

    symbols: ClassVar[tuple[str, ...]] = PLACE_SYMBOLS

    def __init__(self, src_lang: str, tgt_lang: str) -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def shared(self, src: str, tgt: str) -> list[tuple[str, str]]:
        return shared_places(src, tgt, self.src_lang, self.tgt_lang)

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with a symbol for each place, in order of appearance; {symbol: its words})."""
        words = list(dict.fromkeys(w for ws in place_words(text, self.src_lang).values() for w in ws))
        mapping = dict(zip(words[:PLACE_SLOTS], self.symbols))
        for word, symbol in mapping.items():
            text = replace_words(text, word, symbol)
        return text, {symbol: word for word, symbol in mapping.items()}

    def restore(self, words: str) -> str:
        return translated_place(words, self.src_lang, self.tgt_lang)
