"""Training with entity symbols (`train.protect_entities`): the entities that stand on both sides of a
pair become the same symbol on both sides, as translation will protect them.

"Tom a huit ans." / "Tom is eight." -> "⦅N3⦆ a ⦅D5⦆ ans." / "⦅N3⦆ is ⦅D5⦆.";
"en septembre" / "in September" -> "en ⦅T2⦆" / "in ⦅T2⦆"; "au Japon" / "in Japan" -> "au ⦅L1⦆" /
"in ⦅L1⦆". Every shared number (digits alike on both sides, or number words of the same value:
"huit" / "eight"), every month, weekday and place named once on each side becomes a symbol, since
translation protects every one of them; a shared name only with a probability, since a known name
("Tom") stays text in translation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from seq2seq.entities.dates import Dates
from seq2seq.entities.names import Names, substitute_names
from seq2seq.entities.numbers import Numbers, replace_number_word, substitute_numbers
from seq2seq.entities.places import Places
from seq2seq.entities.symbols import DATE_SLOTS, PLACE_SLOTS, SLOTS
from seq2seq.entities.words import replace_words

SymbolOrder = Literal["source", "random"]


class SymbolAugmentation:
    """Puts symbols in place of a pair's shared names (each with probability `probability`),
    numbers, dates and places.

    With order="source" each kind's symbols are numbered in source order, as protect() numbers
    them, so that ⦅N1⦆, the symbol translation gives nearly every name, is the one training
    teaches most (drawn at random it had a sixth of the names, and the 10-minute Transformer wrote
    "Jane visit Africa" where it wrote "Tom visits Africa"). With "random" each pair draws its
    symbols from those of its kind: the decoder cannot guess which one to write, so copying it
    needs the attention to find it, which helps an RNN's attention take off.
    """

    def __init__(self, src_lang: str, tgt_lang: str, dates: bool = False, places: bool = False,
                 order: SymbolOrder = "source", names: bool = True, probability: float = 0.0) -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.names = Names(frozenset(), src_lang) if names else None  # as the protector's `names`
        self.numbers = Numbers(src_lang, tgt_lang)
        self.dates = Dates(src_lang, tgt_lang) if dates else None  # as the protector's `dates`
        self.places = Places(src_lang, tgt_lang) if places else None  # as the protector's `places`
        self.order = order  # how each kind's symbols are numbered
        self.probability = probability  # each shared name's chance of its symbol

    def augment(self, src: str, tgt: str, rng: random.Random) -> tuple[str, str] | None:
        """The pair with symbols in place of its shared entities, or None when it has none."""
        def numbered(symbols: tuple[str, ...], k: int) -> Sequence[str]:
            return symbols[:k] if self.order == "source" else rng.sample(symbols, k)
        # first, as translation protects places before names: "Boston" is a place symbol
        places = self.places.shared(src, tgt)[:PLACE_SLOTS] if self.places else []
        for (src_words, tgt_words), symbol in zip(places, numbered(Places.symbols, len(places))):
            src, tgt = replace_words(src, src_words, symbol), replace_words(tgt, tgt_words, symbol)
        shared_names = self.names.shared(src, tgt) if self.names and self.probability else []
        names = [name for name in shared_names if rng.random() < self.probability][:SLOTS]
        words = self.numbers.shared_words(src, tgt)
        numbers = self.numbers.shared(src, tgt)[:SLOTS]
        words = words[:SLOTS - len(numbers)]
        dates = self.dates.shared(src, tgt)[:DATE_SLOTS] if self.dates else []
        if not names and not numbers and not words and not dates:
            return (src, tgt) if places else None
        if names:
            mapping = dict(zip(names, numbered(Names.symbols, len(names))))
            src, tgt = substitute_names(src, mapping, self.src_lang), substitute_names(tgt, mapping, self.tgt_lang)
        symbols = numbered(Numbers.symbols, len(numbers) + len(words))  # digits first: translation protects no words
        if numbers:
            mapping = dict(zip(numbers, symbols))
            src, tgt = substitute_numbers(src, mapping), substitute_numbers(tgt, mapping)
        for (src_word, tgt_word), symbol in zip(words, symbols[len(numbers):]):
            src, tgt = replace_number_word(src, src_word, symbol), replace_number_word(tgt, tgt_word, symbol)
        # every one, as translation protects every month and weekday
        for (src_word, tgt_word), symbol in zip(dates, numbered(Dates.symbols, len(dates))):
            src, tgt = replace_words(src, src_word, symbol), replace_words(tgt, tgt_word, symbol)
        return src, tgt
