"""Placeholders: names the model has not learned, and numbers, carried through verbatim.

A subword model cannot spell a name it has rarely seen: Tatoeba's names are nearly all "Tom"
and "Mary", and a model trained on it turns "Jane" into "Afa" or drops her. Placeholders take
such words out of the model's hands, as production systems do with untranslatable entities:

- data.placeholders adds the symbols ⦅N1⦆..⦅N6⦆ (names) and ⦅D1⦆..⦅D6⦆ (numbers) to the
  SentencePiece vocabulary, each one piece;
- in training (train.placeholders = p), each name that stands the same on both sides of a pair
  (the rule of names.py) is replaced, with probability p, by a symbol on both sides, and so is
  every number alike on both sides, as digits or as words: "Tom a huit ans." / "Tom is eight."
  -> "⦅N3⦆ a ⦅D5⦆ ans." / "⦅N3⦆ is ⦅D5⦆." (`PlaceholderAugmentation`, a fixed function of
  (seed, epoch));
- in translation (`Protector`), every name candidate of the source that is not a known word
  (its lower-cased parts each seen at least KNOWN_MIN_COUNT times in the training source) and
  every whole-word digit string become symbols, in source order; the model moves the symbols
  where the target language wants them, and the output's symbols are replaced by the words
  they stand for. A known name ("Tom") or a capitalised ordinary word ("Visite", "Afrique")
  stays text and is translated as usual.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seq2seq.data.names import candidates, shared_names, substitute
from seq2seq.data.numbers import NUMBER, shared_number_words, shared_numbers, substitute_numbers, substitute_word
from seq2seq.data.tokenizer import Tokenizer

SLOTS = 6  # symbols of each kind; a sentence's further names or numbers stay text
NAME_SYMBOLS = tuple(f"⦅N{k}⦆" for k in range(1, SLOTS + 1))
NUMBER_SYMBOLS = tuple(f"⦅D{k}⦆" for k in range(1, SLOTS + 1))
SYMBOLS = NAME_SYMBOLS + NUMBER_SYMBOLS
SYMBOL = re.compile("⦅[ND][0-9]+⦆")
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


def restore(text: str, originals: dict[str, str]) -> str:
    """`text` with each symbol replaced by the words it stands for; a symbol the source did not
    have (a model's slip) is dropped."""
    if "⦅" not in text:
        return text
    return _SPACES.sub(" ", SYMBOL.sub(lambda m: originals.get(m.group(), ""), text)).strip()


def shown_pieces(pieces: list[str], originals: dict[str, str]) -> list[str]:
    """Pieces for an attention plot: each symbol shown as the words it stands for."""
    return [originals.get(piece, piece) for piece in pieces] if originals else pieces


@dataclass(frozen=True)
class Protector:
    """Replaces the unknown names and the numbers of source sentences by symbols, and back."""

    known: frozenset[str]
    french: bool = False  # the source is French (keeps elision right: "d'Alice" -> "de ⦅N1⦆")

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with symbols, {symbol: the words it stands for})."""
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
        originals = {symbol: word for word, symbol in (*mapping.items(), *number_mapping.items())}
        return text, originals

    def to_state(self) -> dict[str, object]:
        """What a checkpoint stores (the known words sorted, so the bytes are reproducible)."""
        return {"known_words": sorted(self.known), "french": self.french, "min_count": KNOWN_MIN_COUNT}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> Protector:
        return cls(frozenset(state["known_words"]), bool(state["french"]))  # type: ignore[arg-type]


def protect_all(texts: list[str], protector: Protector | None) -> tuple[list[str], list[dict[str, str]]]:
    """Each text with its symbols, and what each text's symbols stand for (nothing without a protector)."""
    if protector is None:
        return texts, [{} for _ in texts]
    protected = [protector.protect(text) for text in texts]
    return [text for text, _ in protected], [originals for _, originals in protected]


def has_symbols(tokenizer: Tokenizer) -> bool:
    """Whether a tokenizer spells every symbol as one piece of its own (data.placeholders was on)."""
    return all(tokenizer.pieces(tokenizer.encode(symbol))[-1:] == [symbol] for symbol in SYMBOLS)


def symbol_ids(src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer) -> tuple[tuple[int, int], ...]:
    """(source id, target id) of every symbol, for the search that places each one (search.py)."""
    return tuple((src_tokenizer.piece_id(symbol), tgt_tokenizer.piece_id(symbol)) for symbol in SYMBOLS)


class PlaceholderAugmentation:
    """Puts symbols in place of shared names (each with a probability) and numbers, per epoch.

    Every shared number becomes a symbol, since translation protects every number; shared names
    only with the probability, since a known name ("Tom") stays text in translation. Numbers
    are digit strings alike on both sides and number words of the same value ("huit" / "eight",
    numbers.py). Each pair's symbols are drawn at random from the six of their kind, so that
    every symbol is learned as itself (protect() numbers them in source order).
    """

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str], src_lang: str, tgt_lang: str) -> None:
        self.src_lines, self.tgt_lines = src_lines, tgt_lines
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.eligible = [i for i, (src, tgt) in enumerate(zip(src_lines, tgt_lines))
                         if shared_numbers(src, tgt) or shared_names(src, tgt)
                         or shared_number_words(src, tgt, src_lang, tgt_lang)]

    def changed_pairs(self, probability: float, seed: int, epoch: int,
                      changed: dict[int, tuple[str, str]] | None = None) -> dict[int, tuple[str, str]]:
        """`changed` (what the other augmentations made of this epoch's pairs) plus the pairs
        given symbols this epoch, each on top of what `changed` made of it."""
        rng = random.Random(f"placeholders:{seed}:{epoch}")  # its own generator: the others draw as before
        result = dict(changed or {})
        for i in self.eligible:
            src, tgt = result.get(i, (self.src_lines[i], self.tgt_lines[i]))
            names = [name for name in shared_names(src, tgt) if rng.random() < probability][:SLOTS]
            words = shared_number_words(src, tgt, self.src_lang, self.tgt_lang)
            numbers = shared_numbers(src, tgt)[:SLOTS]
            words = words[:SLOTS - len(numbers)]
            if not names and not numbers and not words:
                continue
            if names:
                mapping = dict(zip(names, rng.sample(NAME_SYMBOLS, len(names))))
                src = substitute(src, mapping, self.src_lang == "fr")
                tgt = substitute(tgt, mapping, self.tgt_lang == "fr")
            symbols = rng.sample(NUMBER_SYMBOLS, len(numbers) + len(words))
            if numbers:
                mapping = dict(zip(numbers, symbols))
                src, tgt = substitute_numbers(src, mapping), substitute_numbers(tgt, mapping)
            for (src_word, tgt_word), symbol in zip(words, symbols[len(numbers):]):
                src, tgt = substitute_word(src, src_word, symbol), substitute_word(tgt, tgt_word, symbol)
            result[i] = (src, tgt)
        return result
