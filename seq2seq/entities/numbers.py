"""Numbers: digit strings and number words that stand on both sides of a pair; their symbols
⦅D1⦆..⦅D6⦆; their substitution by other numbers (`train.number_augmentation`).

A model trained on Tatoeba, which mostly spells numbers out, drops the few digits it sees ("Il a
25 ans" -> "He is years old"). A digit string is a whole word of ASCII digits: "25", "2019", the
"50" and "000" of "50,000"; or the digits of a time or an ordinal written as one word (French and
English forms): the "2" and "30" of "2h30", the "5" of "5pm", the "1" of "1er" and "1st", the
"13" of "13e" and "13th" (so that "à 2h30" / "at 2:30" shares 2 and 30). Not the digits of other
words ("B52", "3D", "mp3"). Number words ("huit" / "eight", from the language tables) name a
number as well, and teach where it goes as well as digits do.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import ClassVar

from seq2seq.entities.lang import rules
from seq2seq.entities.symbols import NUMBER_SYMBOLS
from seq2seq.entities.words import COMPOUND_JOINERS, replace_words, table_words, word_pairs

NUMBER = re.compile(
    r"\b[0-9]+\b"
    r"|\b[0-9]{1,2}(?=h(?:[0-5][0-9])?\b)|(?<=\b[0-9]h)[0-5][0-9]\b|(?<=\b[0-9]{2}h)[0-5][0-9]\b"  # 2h30, 17h
    r"|\b[0-9]{1,2}(?=[ap]m\b)"  # 5pm
    r"|\b[0-9]+(?=(?:er|re|e|ème|st|nd|rd|th)\b)")  # 1er, 2e, 21ème; 1st, 2nd, 3rd, 13th
_ORDINAL = re.compile(r"\b([0-9]+)(st|nd|rd|th|er|re)\b")
_DIGIT = re.compile("[0-9]")  # what every NUMBER has


def number_words(text: str, lang: str) -> dict[int, list[str]]:
    """{number: the words of `text` that name it} for the number words of language `lang`."""
    return table_words(text, rules(lang).number_words)


def shared_number_words(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """(source word, target word) of each number named by exactly one word on each side (a word
    that means something else too, "neuf": nine or new, only counts when the other side has it)."""
    src_words = number_words(src, src_lang)
    return word_pairs(src_words, number_words(tgt, tgt_lang)) if src_words else []


def replace_number_word(text: str, word: str, new: str) -> str:
    """`text` with the whole word `word` (as `number_words` finds words) replaced by `new`."""
    return replace_words(text, word, new, COMPOUND_JOINERS)


def shared_numbers(src: str, tgt: str) -> list[str]:
    """Digit strings occurring equally often (at least once) on both sides, in source order."""
    if not _DIGIT.search(src):  # (a cheap test first)
        return []
    src_counts = Counter(NUMBER.findall(src))
    tgt_counts = Counter(NUMBER.findall(tgt))
    return [number for number, count in src_counts.items() if tgt_counts.get(number) == count]


def random_number(length: int, rng: random.Random) -> str:
    """A random digit string of `length` digits, without a leading zero (unless it is one digit)."""
    if length == 1:
        return str(rng.randrange(10))
    return str(rng.randrange(10 ** (length - 1), 10 ** length))


def draw_numbers(numbers: list[str], rng: random.Random) -> dict[str, str]:
    """A different new number of the same length for each of `numbers`, none of them one of `numbers`."""
    mapping: dict[str, str] = {}
    taken = set(numbers)
    for number in numbers:
        if len(number) == 1 and len(taken) >= 10:  # every one-digit number is taken
            continue
        new = random_number(len(number), rng)
        while new in taken:
            new = random_number(len(number), rng)
        mapping[number] = new
        taken.add(new)
    return mapping


def english_ordinal(number: str) -> str:
    """The English ordinal suffix of a number: "1" -> "st", "12" -> "th", "22" -> "nd"."""
    if number[-2:-1] == "1":
        return "th"
    return {"1": "st", "2": "nd", "3": "rd"}.get(number[-1], "th")


def fitting_suffix(number: str, suffix: str) -> str:
    """The ordinal suffix `number` takes in the language of `suffix`: English "st" "nd" "rd" "th",
    French "er"/"re" only after 1 ("1er", "2e")."""
    if suffix in ("er", "re"):
        return suffix if number == "1" else "e"
    return english_ordinal(number)


def mend_ordinals(text: str) -> str:
    """Each ordinal "<digits><suffix>" of `text` with the suffix its number takes: a number put in
    place of another ("13th" -> "22th", "1er" -> "5er", a symbol's "⦅D1⦆th" -> "2th") keeps the old one."""
    return _ORDINAL.sub(lambda m: m.group(1) + fitting_suffix(m.group(1), m.group(2)), text)


def substitute_numbers(text: str, mapping: dict[str, str]) -> str:
    """`text` with every digit string (as NUMBER finds them) that is a key of `mapping` replaced by
    its value, an ordinal's suffix made to fit the new number."""
    new = NUMBER.sub(lambda match: mapping.get(match.group(), match.group()), text)
    return mend_ordinals(new) if new != text else new


class Numbers:
    """The numbers kind: every digit string of a text is one (translation protects no number words)."""

    symbols: ClassVar[tuple[str, ...]] = NUMBER_SYMBOLS

    def __init__(self, src_lang: str = "", tgt_lang: str = "") -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def shared(self, src: str, tgt: str) -> list[str]:
        """The digit strings alike on both sides (`shared_words`: the number words)."""
        return shared_numbers(src, tgt)

    def shared_words(self, src: str, tgt: str) -> list[tuple[str, str]]:
        return shared_number_words(src, tgt, self.src_lang, self.tgt_lang)

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with a symbol for each digit string, in order of appearance; {symbol: digits})."""
        mapping = dict(zip(dict.fromkeys(NUMBER.findall(text)), self.symbols))
        if mapping:
            text = substitute_numbers(text, mapping)
        return text, {symbol: number for number, symbol in mapping.items()}

    def restore(self, words: str) -> str:
        return words


class NumberAugmentation:
    """Substitutes the shared numbers of a pair (`train.number_augmentation`): with probability
    `probability`, every shared digit string by a random one of as many digits."""

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def augment(self, src: str, tgt: str, rng: random.Random) -> tuple[str, str] | None:
        """The pair with new numbers, or None when it keeps its own."""
        numbers = shared_numbers(src, tgt)
        if not numbers or rng.random() >= self.probability:
            return None
        mapping = draw_numbers(numbers, rng)
        if not mapping:  # ten one-digit numbers, every one taken
            return None
        return substitute_numbers(src, mapping), substitute_numbers(tgt, mapping)
