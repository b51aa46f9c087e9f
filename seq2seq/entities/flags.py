"""Entity flags: which augmentation steps can change a training pair, found once when data is
prepared (`entity_flags`), so training looks only at the pairs that have something to change.

    FLAG_NAMES    a name shared by both sides (names.shared_names), where both languages mark
                  names by capitals
    FLAG_NUMBERS  a shared digit string (numbers.shared_numbers)
    FLAG_DATES    a month or weekday named once on each side (dates.shared_dates), where both
                  languages have date words
    FLAG_SYMBOLS  anything the symbol augmentation with every kind on would replace: a shared
                  number, number word, name, protectable month or weekday, or place

A pair's flags are exactly the steps whose entities it has, so a step whose bit is 0 would leave
it unchanged (EntityAugmentation.augment skips it). Most pairs have none, and finding out costs
a few microseconds: a cheap look at the source first (`_Finder`): its digits, its capitalised
words (which every name and place starts with) and its month, weekday and number words, one
regular expression each; the full rules run only for what that look finds.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache

from seq2seq.entities.dates import shared_dates, shared_protectable_dates
from seq2seq.entities.lang import names_marked, rules
from seq2seq.entities.language import Language
from seq2seq.entities.names import shared_names
from seq2seq.entities.numbers import shared_number_words, shared_numbers
from seq2seq.entities.places import shared_places

FLAG_NAMES, FLAG_NUMBERS, FLAG_DATES, FLAG_SYMBOLS = 1, 2, 4, 8
FLAG_KEYS = {FLAG_NAMES: "names", FLAG_NUMBERS: "numbers", FLAG_DATES: "dates", FLAG_SYMBOLS: "symbols"}

_DIGIT = re.compile("[0-9]")  # what numbers.NUMBER is made of
_LETTERS = r"[^\W\d_]"


@cache
def _capital_run() -> re.Pattern[str]:
    """A capital (str.isupper) and the letters after it: every name's core and every place
    starts with one, after a non-letter. Made on first use. Any character beyond the BMP counts
    as a capital (a superset): a class of ranges there would make the search several times slower."""
    ranges: list[str] = []
    start = None
    for code in range(0x10001):
        upper = code < 0x10000 and chr(code).isupper()
        if upper and start is None:
            start = code
        elif not upper and start is not None:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(code - 1)) if code - 1 > start else ""))
            start = None
    # no look-behind for the non-letter: it doubles the time, and a run found inside a word
    # ("Phone" of "iPhone") only makes the full rules run
    return re.compile(f"[{''.join(ranges)}\U00010000-\U0010FFFF]{_LETTERS}*")


def _trie(words: list[str]) -> str:
    """A regular expression of sorted `words` with shared prefixes factored out ("d(?:eux|ix)"):
    a third faster to search than their plain alternation."""
    groups: dict[str, list[str]] = {}
    for word in words:
        if word:
            groups.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(first) + _trie(rest) for first, rest in groups.items()]
    if not branches:
        return ""
    optional = "" in words  # a word that is a prefix of others: "cinq", "cinquante"
    if len(branches) == 1 and not optional:
        return branches[0]
    return f"(?:{'|'.join(branches)})" + ("?" if optional else "")


def _word_pattern(words: Collection[str]) -> re.Pattern[str] | None:
    """The whole letter runs of lower-case `words`, searched for in lower-cased text (faster than
    IGNORECASE); None for no words."""
    if not words:
        return None
    return re.compile(f"(?<!{_LETTERS}){_trie(sorted(words))}(?!{_LETTERS})")


def _place_starts(table: Language) -> frozenset[str] | None:
    """The capitalised run each place form of `table` starts with, as the text shows it (after
    its article, if any); None when a form starts otherwise, so that every text is searched."""
    starts = set()
    for forms in table.places.values():
        for form in forms:
            for shown in {form, table.without_article(form)}:
                match = _capital_run().match(shown)
                if match is None:
                    return None
                starts.add(match.group())
    return frozenset(starts)


def _may_share_a_name(capitals: list[str], tgt: str) -> bool:
    """Whether a name could be shared: a name's core is in the target, so its first run is."""
    for run in capitals:
        if len(run) > 1:
            if run in tgt:
                return True
        elif f"{run}'" in tgt or f"{run}’" in tgt or f"{run}-" in tgt:  # "O'Brien", "A-ha"
            return True
    return False


class _Finder:
    """entity_flags for one language pair, its patterns made once."""

    def __init__(self, src_lang: str, tgt_lang: str) -> None:
        source, target = rules(src_lang), rules(tgt_lang)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.names = names_marked(src_lang, tgt_lang)
        self.dates = bool(source.date_words and target.date_words)
        self.date_words, self.number_words = frozenset(source.date_words), frozenset(source.number_words)
        self.words = _word_pattern(self.date_words | self.number_words)
        self.places = bool(source.places and target.places)
        self.place_starts = _place_starts(source) if self.places else frozenset()

    def __call__(self, src: str, tgt: str) -> int:
        flags = FLAG_NUMBERS if _DIGIT.search(src) and _DIGIT.search(tgt) and shared_numbers(src, tgt) else 0
        capitals = _capital_run().findall(src)
        if self.names and capitals and _may_share_a_name(capitals, tgt) and shared_names(src, tgt):
            flags |= FLAG_NAMES
        found = set(self.words.findall(src.lower())) if self.words is not None else set()
        dated = not self.date_words.isdisjoint(found)
        if dated and self.dates and shared_dates(src, tgt, self.src_lang, self.tgt_lang):
            flags |= FLAG_DATES
        if flags & (FLAG_NAMES | FLAG_NUMBERS) or self._symbols(src, tgt, capitals, found, dated):
            flags |= FLAG_SYMBOLS
        return flags

    def _symbols(self, src: str, tgt: str, capitals: list[str], found: set[str], dated: bool) -> bool:
        """Whether a shared place, number word or protectable date would become a symbol."""
        if self.places and capitals and (self.place_starts is None or not self.place_starts.isdisjoint(capitals)) \
                and shared_places(src, tgt, self.src_lang, self.tgt_lang):
            return True
        if not self.number_words.isdisjoint(found) and shared_number_words(src, tgt, self.src_lang, self.tgt_lang):
            return True
        return dated and bool(shared_protectable_dates(src, tgt, self.src_lang, self.tgt_lang))


@cache
def _finder(src_lang: str, tgt_lang: str) -> _Finder:
    return _Finder(src_lang, tgt_lang)


def entity_flags(src: str, tgt: str, src_lang: str, tgt_lang: str) -> int:
    """The FLAG_* bits of a normalised training pair (see the module docstring)."""
    return _finder(src_lang, tgt_lang)(src, tgt)
