"""Words of a sentence found by a table, paired across the two sides, and replaced whole.

The helpers every kind of entity shares: number words, months, weekdays and places are all found
by looking words up in a language's table (`table_words`), paired when each names the same value
once on each side (`word_pairs`), and replaced as whole words (`replace_words`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import TypeVar

K = TypeVar("K")

# A word and the hyphenated or elided words joined to it: "vingt-deux" is one word, not "deux".
COMPOUND_WORD = re.compile(r"(?<![\w'’-])[^\W\d_]+(?:[-'’][^\W\d_]+)*")
COMPOUND_JOINERS = "'’-"  # what joins such words (replace_words)
# A run of letters between non-word characters other than "-": in "d'avril" and "Monday's" the
# month or weekday counts.
LETTER_WORD = re.compile(r"(?<![\w-])[^\W\d_]+(?![\w-])")
LETTER_JOINERS = "-"


def table_words(text: str, table: Mapping[str, K] | None, pattern: re.Pattern[str] = COMPOUND_WORD,
                keep: Callable[[str], bool] = lambda word: True) -> dict[K, list[str]]:
    """{value: the words of `text` (as `pattern` finds them, `keep` accepts) whose lower case `table` maps to it}."""
    found: dict[K, list[str]] = {}
    if table:
        for word in pattern.findall(text):
            value = table.get(word.lower())
            if value is not None and keep(word):
                found.setdefault(value, []).append(word)
    return found


def once_on_each_side(src_words: dict[K, list[str]], tgt_words: dict[K, list[str]]) -> list[K]:
    """The values named by exactly one word on each side, in source order."""
    return [value for value, words in src_words.items() if len(words) == 1 and len(tgt_words.get(value, ())) == 1]


def word_pairs(src_words: dict[K, list[str]], tgt_words: dict[K, list[str]]) -> list[tuple[str, str]]:
    """(source word, target word) of each value named by exactly one word on each side, in source order."""
    return [(src_words[value][0], tgt_words[value][0]) for value in once_on_each_side(src_words, tgt_words)]


def replace_words(text: str, words: str, new: str, joiners: str = LETTER_JOINERS) -> str:
    """`text` with every whole occurrence of `words` replaced by `new`: not where a letter, a digit
    or one of `joiners` stands next to it (with LETTER_JOINERS, the "avril" of "d'avril" is
    replaced; with COMPOUND_JOINERS, no "deux" of "vingt-deux" is)."""
    edge = f"[\\w{re.escape(joiners)}]"
    return re.sub(f"(?<!{edge}){re.escape(words)}(?!{edge})", new, text)


def starts_with_vowel(word: str) -> bool:
    """Elision happens before a vowel ("d'Alice", "d'Élodie"); h and y are left alone."""
    return unicodedata.normalize("NFD", word[:1])[:1].lower() in ("a", "e", "i", "o", "u")
