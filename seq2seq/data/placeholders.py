"""Placeholders: names the model has not learned, and numbers, carried through verbatim.

A subword model cannot spell a name it has rarely seen: Tatoeba's names are nearly all "Tom"
and "Mary", and a model trained on it turns "Jane" into "Afa" or drops her. Placeholders take
such words out of the model's hands, as production systems do with untranslatable entities:

- data.placeholders adds the symbols ⦅N1⦆..⦅N6⦆ (names), ⦅D1⦆..⦅D6⦆ (numbers), ⦅T1⦆..⦅T3⦆
  (months and weekdays) and ⦅L1⦆..⦅L3⦆ (places) to the SentencePiece vocabulary, each one piece;
- in training (train.placeholders = p), each name that stands the same on both sides of a pair
  (the rule of names.py) is replaced, with probability p, by a symbol on both sides, and so is
  every number alike on both sides, as digits or as words: "Tom a huit ans." / "Tom is eight."
  -> "⦅N3⦆ a ⦅D5⦆ ans." / "⦅N3⦆ is ⦅D5⦆.", and every month or weekday named once on each
  side, "en septembre" / "in September" -> "en ⦅T2⦆" / "in ⦅T2⦆", and every place named once on
  each side, "au Japon" / "in Japan" -> "au ⦅L1⦆" / "in ⦅L1⦆" (`PlaceholderAugmentation`, a fixed
  function of (seed, epoch));
- in translation (`Protector`), every name candidate of the source that is not a known word
  (its lower-cased parts each seen at least KNOWN_MIN_COUNT times in the training source) and
  every digit string (numbers.NUMBER: whole words, and the digits of "2h30", "5pm", "1er", "13th")
  become symbols, in source order, and so does every month and weekday (dates.py: French and
  English) and every place of the table of places.py; the model moves the symbols where the
  target language wants them, and the output's symbols are replaced by the words they stand for
  (an ordinal's suffix made to fit: "⦅D1⦆th" -> "2nd"), a month, weekday or place by its name in the target language
  ("septembre" -> "September": a 10-minute model sees "September" in 12 training pairs and
  writes "Sa.", a symbol it only has to place). A
  known name ("Tom") or a capitalised ordinary word ("Visite", "Afrique") stays text and is
  translated as usual (a known place, "Afrique", is a place symbol all the same).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from seq2seq.data.dates import (PROTECTED_CASE, mend_french_elision, protectable_dates, replace_whole_words,
                                 shared_protectable_dates, translated_date)
from seq2seq.data.names import candidates, shared_names, substitute
from seq2seq.data.numbers import NUMBER, mend_ordinals, shared_number_words, shared_numbers, substitute_numbers, \
    substitute_word
from seq2seq.data.places import LANGUAGES as PLACE_LANGUAGES
from seq2seq.data.places import (mend_english_article, mend_french_place_elision, place_words, shared_places,
                                  translated_place)
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.special_tokens import UNK_ID

SLOTS = 6  # symbols of each kind; a sentence's further names or numbers stay text
DATE_SLOTS = 3  # "du lundi au vendredi" has two
PLACE_SLOTS = 3  # "de Paris à Londres" has two
NAME_SYMBOLS = tuple(f"⦅N{k}⦆" for k in range(1, SLOTS + 1))
NUMBER_SYMBOLS = tuple(f"⦅D{k}⦆" for k in range(1, SLOTS + 1))
DATE_SYMBOLS = tuple(f"⦅T{k}⦆" for k in range(1, DATE_SLOTS + 1))
PLACE_SYMBOLS = tuple(f"⦅L{k}⦆" for k in range(1, PLACE_SLOTS + 1))
FIRST_SYMBOLS = NAME_SYMBOLS + NUMBER_SYMBOLS  # what vocabularies prepared before the date symbols have
SYMBOLS = FIRST_SYMBOLS + DATE_SYMBOLS + PLACE_SYMBOLS
SYMBOL = re.compile("⦅[NDTL][0-9]+⦆")
KNOWN_MIN_COUNT = 2  # a word seen once (or never) in training is one the model cannot translate
_ELIDED_ARTICLE = re.compile("^[cjlmnst]['’]")  # l'Afrique -> afrique
_SPACES = re.compile(" {2,}")


def word_parts(core: str) -> list[str]:
    """A word's lower-cased parts, as known words are counted: "Jean-Luc" -> ["jean", "luc"],
    "l'Afrique" -> ["afrique"], "Contrôle-toi" -> ["contrôle", "toi"]."""
    return _ELIDED_ARTICLE.sub("", core.lower()).split("-")


def known_words(lines: Iterable[str], min_count: int = KNOWN_MIN_COUNT) -> frozenset[str]:
    """The lower-cased word parts that occur at least `min_count` times in `lines`."""
    counts: Counter[str] = Counter()
    for line in lines:
        for token in line.split(" "):
            counts.update(word_parts(token.strip("\"'’“”«»‘‚„‹›()[]{}.,;:!?…*_")))
    return frozenset(word for word, count in counts.items() if count >= min_count and word)


Languages = tuple[str, str]  # (source, target) of a protector that puts symbols in place of dates (and places)


def put_back(symbol: str, originals: dict[str, str], dates: Languages | None) -> str:
    """The words of the target that `symbol` stands for: a month, weekday or place in the target language."""
    word = originals.get(symbol, "")
    if not dates or not word:
        return word
    if symbol in DATE_SYMBOLS:
        return translated_date(word, *dates)
    return translated_place(word, *dates) if symbol in PLACE_SYMBOLS else word


def restore(text: str, originals: dict[str, str], dates: Languages | None = None) -> str:
    """`text` with each symbol replaced by the words it stands for; a symbol the source did not
    have (a model's slip) is dropped. `dates`: the protector's languages, which translate a date
    or a place."""
    if "⦅" not in text:
        return text
    opening = SYMBOL.match(text.lstrip())
    text = _SPACES.sub(" ", SYMBOL.sub(lambda m: put_back(m.group(), originals, dates), text)).strip()
    text = mend_ordinals(text)  # "the ⦅D1⦆th" -> "the 2th" -> "the 2nd"
    if opening and opening.group() in DATE_SYMBOLS + PLACE_SYMBOLS:  # "octobre est fini." -> "Octobre est fini."
        text = text[:1].upper() + text[1:]  # "the United States ..." -> "The United States ..."
    if dates and dates[1] == "fr":
        return mend_french_place_elision(mend_french_elision(text))
    return mend_english_article(text) if dates and dates[1] == "en" else text


def shown_pieces(pieces: list[str], originals: dict[str, str], dates: Languages | None = None) -> list[str]:
    """Pieces for an attention plot: each symbol shown as the words it stands for (`dates`: on the target side)."""
    return [put_back(piece, originals, dates) if piece in originals else piece for piece in pieces] \
        if originals else pieces


@dataclass(frozen=True)
class Protector:
    """Replaces the unknown names and the numbers of source sentences by symbols, and back."""

    known: frozenset[str]
    french: bool = False  # the source is French (keeps elision right: "d'Alice" -> "de ⦅N1⦆")
    dates: Languages | None = None  # months and weekdays become symbols too (a vocabulary with ⦅T1⦆..)
    places: bool = False  # and places (a vocabulary with ⦅L1⦆.., and `dates` set)

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with symbols, {symbol: the words it stands for})."""
        date_mapping: dict[str, str] = {}
        if self.dates:  # first: an English month is capitalised, and no name
            dates = protectable_dates(text, self.dates[0])
            words = list(dict.fromkeys(word for words in dates.values() for word in words))[:DATE_SLOTS]
            date_mapping = dict(zip(words, DATE_SYMBOLS))
            for word, symbol in date_mapping.items():
                text = replace_whole_words(text, word, symbol)
        place_mapping: dict[str, str] = {}
        if self.places and self.dates:  # before names: "Rome" and "Boston" are places, not names
            words = list(dict.fromkeys(w for ws in place_words(text, self.dates[0]).values() for w in ws))
            place_mapping = dict(zip(words[:PLACE_SLOTS], PLACE_SYMBOLS))
            for word, symbol in place_mapping.items():
                text = replace_whole_words(text, word, symbol)
        names: list[str] = []
        for found in candidates(text.split(" ")):
            if found is not None and found.core not in names \
                    and not all(part in self.known for part in word_parts(found.core)):
                names.append(found.core)
        mapping = dict(zip(names, NAME_SYMBOLS))
        if mapping:
            text = substitute(text, mapping, self.french)
        numbers = list(dict.fromkeys(NUMBER.findall(text)))
        number_mapping = dict(zip(numbers, NUMBER_SYMBOLS))
        if number_mapping:
            text = substitute_numbers(text, number_mapping)
        originals = {symbol: word for word, symbol in (*mapping.items(), *number_mapping.items(),
                                                       *date_mapping.items(), *place_mapping.items())}
        return text, originals

    def to_state(self) -> dict[str, object]:
        """What a checkpoint stores (the known words sorted, so the bytes are reproducible)."""
        return {"known_words": sorted(self.known), "french": self.french, "min_count": KNOWN_MIN_COUNT,
                "dates": list(self.dates) if self.dates else None, "places": self.places}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> Protector:
        dates = state.get("dates")  # a model saved before date symbols has no such key
        return cls(frozenset(state["known_words"]), bool(state["french"]),  # type: ignore[arg-type]
                   (str(dates[0]), str(dates[1])) if dates else None,  # type: ignore[index]
                   bool(state.get("places", False)))  # nor places before place symbols


def protect_all(texts: list[str], protector: Protector | None) -> tuple[list[str], list[dict[str, str]]]:
    """Each text with its symbols, and what each text's symbols stand for (nothing without a protector)."""
    if protector is None:
        return texts, [{} for _ in texts]
    protected = [protector.protect(text) for text in texts]
    return [text for text, _ in protected], [originals for _, originals in protected]


def has_symbols(tokenizer: Tokenizer, symbols: Sequence[str] = FIRST_SYMBOLS) -> bool:
    """Whether a tokenizer spells each of `symbols` as one piece of its own (data.placeholders was on)."""
    return all(tokenizer.pieces(tokenizer.encode(symbol))[-1:] == [symbol] for symbol in symbols)


def date_languages(src_tok: Tokenizer, tgt_tok: Tokenizer, src_lang: str, tgt_lang: str) -> Languages | None:
    """(src_lang, tgt_lang) if months and weekdays can be symbols: both vocabularies have ⦅T1⦆..
    (prepared by this release) and both languages have date words (dates.py)."""
    usable = src_lang in PROTECTED_CASE and tgt_lang in PROTECTED_CASE \
        and has_symbols(src_tok, DATE_SYMBOLS) and has_symbols(tgt_tok, DATE_SYMBOLS)
    return (src_lang, tgt_lang) if usable else None


def places_usable(src_tok: Tokenizer, tgt_tok: Tokenizer, src_lang: str, tgt_lang: str) -> bool:
    """Whether places can be symbols: months can (date_languages), both vocabularies have ⦅L1⦆..
    and both languages have place names (places.py)."""
    return date_languages(src_tok, tgt_tok, src_lang, tgt_lang) is not None and src_lang in PLACE_LANGUAGES \
        and tgt_lang in PLACE_LANGUAGES and has_symbols(src_tok, PLACE_SYMBOLS) and has_symbols(tgt_tok, PLACE_SYMBOLS)


def symbol_ids(src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer) -> tuple[tuple[int, int], ...]:
    """(source id, target id) of every symbol both vocabularies have, for the search that places
    each one (search.py)."""
    ids = ((src_tokenizer.piece_id(symbol), tgt_tokenizer.piece_id(symbol)) for symbol in SYMBOLS)
    return tuple((src, tgt) for src, tgt in ids if src != UNK_ID and tgt != UNK_ID)


class PlaceholderAugmentation:
    """Puts symbols in place of shared names (each with a probability), numbers, dates and places, per epoch.

    Every shared number (and, with `dates`, every month and weekday named once on each side,
    written as translation protects them, and with `places` every place named once on each
    side) becomes a symbol, since translation protects every one of them; shared names only
    with the probability, since a known name ("Tom") stays text in translation. Numbers
    are digit strings alike on both sides and number words of the same value ("huit" / "eight",
    numbers.py). With order="source" each kind's symbols are numbered in source order, as
    protect() numbers them, so that ⦅N1⦆, the symbol translation gives nearly every name, is the
    one training teaches most (drawn at random it had a sixth of the names, and the 10-minute
    Transformer wrote "Jane visit Africa" where it wrote "Tom visits Africa"). With "random" each
    pair draws its symbols from those of its kind: the decoder cannot guess which one to write,
    so copying it needs the attention to find it, which helps an RNN's attention take off
    (README, "Training for a budget" and "The RNN with attention").
    """

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str], src_lang: str, tgt_lang: str,
                 dates: bool = False, places: bool = False, order: Literal["source", "random"] = "source") -> None:
        self.src_lines, self.tgt_lines = src_lines, tgt_lines
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.dates = dates  # months and weekdays too (the protector's `dates`)
        self.places = places  # places too (the protector's `places`)
        self.order = order  # "source" or "random": how each kind's symbols are numbered
        self.eligible = [i for i, (src, tgt) in enumerate(zip(src_lines, tgt_lines))
                         if shared_numbers(src, tgt) or shared_names(src, tgt)
                         or shared_number_words(src, tgt, src_lang, tgt_lang)
                         or (dates and shared_protectable_dates(src, tgt, src_lang, tgt_lang))
                         or (places and shared_places(src, tgt, src_lang, tgt_lang))]

    def changed_pairs(self, probability: float, seed: int, epoch: int,
                      changed: dict[int, tuple[str, str]] | None = None) -> dict[int, tuple[str, str]]:
        """`changed` (what the other augmentations made of this epoch's pairs) plus the pairs
        given symbols this epoch, each on top of what `changed` made of it."""
        rng = random.Random(f"placeholders:{seed}:{epoch}")  # its own generator: the others draw as before
        place_rng = random.Random(f"place-placeholders:{seed}:{epoch}")  # so that without places `rng` draws as before

        def numbered(symbols: tuple[str, ...], k: int, generator: random.Random = rng) -> Sequence[str]:
            return symbols[:k] if self.order == "source" else generator.sample(symbols, k)
        result = dict(changed or {})
        for i in self.eligible:
            src, tgt = result.get(i, (self.src_lines[i], self.tgt_lines[i]))
            # first, as translation protects places before names: "Boston" is a place symbol
            places = shared_places(src, tgt, self.src_lang, self.tgt_lang)[:PLACE_SLOTS] if self.places else []
            for (src_words, tgt_words), symbol in zip(places, numbered(PLACE_SYMBOLS, len(places), place_rng)):
                src, tgt = replace_whole_words(src, src_words, symbol), replace_whole_words(tgt, tgt_words, symbol)
            names = [name for name in shared_names(src, tgt) if rng.random() < probability][:SLOTS]
            words = shared_number_words(src, tgt, self.src_lang, self.tgt_lang)
            numbers = shared_numbers(src, tgt)[:SLOTS]
            words = words[:SLOTS - len(numbers)]
            dates = shared_protectable_dates(src, tgt, self.src_lang, self.tgt_lang) if self.dates else []
            dates = dates[:DATE_SLOTS]
            if not names and not numbers and not words and not dates:
                if places:
                    result[i] = (src, tgt)
                continue
            if names:
                mapping = dict(zip(names, numbered(NAME_SYMBOLS, len(names))))
                src = substitute(src, mapping, self.src_lang == "fr")
                tgt = substitute(tgt, mapping, self.tgt_lang == "fr")
            symbols = numbered(NUMBER_SYMBOLS, len(numbers) + len(words))  # digits first: translation protects no words
            if numbers:
                mapping = dict(zip(numbers, symbols))
                src, tgt = substitute_numbers(src, mapping), substitute_numbers(tgt, mapping)
            for (src_word, tgt_word), symbol in zip(words, symbols[len(numbers):]):
                src, tgt = substitute_word(src, src_word, symbol), substitute_word(tgt, tgt_word, symbol)
            # every one, as translation protects every month and weekday; only now drawn, so that
            # without dates the generator draws as it did before them
            for (src_word, tgt_word), symbol in zip(dates, numbered(DATE_SYMBOLS, len(dates)) if dates else ()):
                src, tgt = replace_whole_words(src, src_word, symbol), replace_whole_words(tgt, tgt_word, symbol)
            result[i] = (src, tgt)
        return result
