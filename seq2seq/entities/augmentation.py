"""The entity augmentations of a training pair, chained: what they make of a pair is a pure
function of (seed, epoch, example) (`augmentation_rng`), so any process makes any pair of any
epoch alike, and a resumed run re-makes exactly the epoch it stopped in.

In this order, each on top of what the ones before made of the pair, and each only where the
pair's entity flags (flags.py, found when the data was prepared) say it has something to change:
with shared names (names.py), with probability `names`, every shared name is replaced
consistently on both sides by one drawn from the pool; with shared digit strings (numbers.py),
with probability `numbers`, every shared number by a random one of as many digits; naming the
same month or weekday on both sides (dates.py), with probability `dates`, each by another one;
then, with a protector, shared entities by symbols (symbol_augmentation.py), the new names and
numbers where the steps before changed them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from seq2seq.entities.dates import DateAugmentation
from seq2seq.entities.flags import FLAG_DATES, FLAG_NAMES, FLAG_NUMBERS, FLAG_SYMBOLS
from seq2seq.entities.lang import TABLES, names_marked, rules
from seq2seq.entities.names import NameAugmentation
from seq2seq.entities.numbers import NumberAugmentation
from seq2seq.entities.protector import Protector
from seq2seq.entities.symbol_augmentation import SymbolAugmentation, SymbolOrder


class Step(Protocol):
    """One augmentation of a pair: the new pair, or None when it leaves the pair as it is."""

    def augment(self, src: str, tgt: str, rng: random.Random) -> tuple[str, str] | None: ...


def augmentation_rng(seed: int, epoch: int, example: str) -> random.Random:
    """The generator of one example's augmentation in one epoch (`example`: "<shard name>:<row>").
    Seeded by a string (hashed by SHA-512, not by hash()), so it draws alike in every process and run."""
    return random.Random(f"entities:{seed}:{epoch}:{example}")


class EntityAugmentation:
    """The chain; each probability 0 (and no protector) leaves its step out."""

    def __init__(self, src_lang: str, tgt_lang: str, *, names: float = 0.0, name_pool: Sequence[str] = (),
                 numbers: float = 0.0, dates: float = 0.0, protector: Protector | None = None,
                 name_symbol_probability: float = 0.0, symbol_order: SymbolOrder = "source") -> None:
        self.names_p, self.numbers_p, self.dates_p = names, numbers, dates
        self.name_symbol_p, self.symbol_order, self.pool_size = name_symbol_probability, symbol_order, len(name_pool)
        # names are entities only where both languages mark them by capitals (German nouns are capitalised too)
        self.languages, self.names_marked = (src_lang, tgt_lang), names_marked(src_lang, tgt_lang)
        self.names = NameAugmentation(name_pool, names, src_lang, tgt_lang) if names and self.names_marked else None
        self.numbers = NumberAugmentation(numbers) if numbers else None
        self.dates = DateAugmentation(dates, src_lang, tgt_lang) if dates else None
        self.protector = protector
        self.symbols = SymbolAugmentation(src_lang, tgt_lang, protector.dates, protector.places, symbol_order,
                                          protector.names, name_symbol_probability) if protector is not None else None
        steps: tuple[tuple[int, Step | None], ...] = (
            (FLAG_NAMES, self.names), (FLAG_NUMBERS, self.numbers), (FLAG_DATES, self.dates),
            (FLAG_SYMBOLS, self.symbols))
        self.steps = tuple((flag, step) for flag, step in steps if step is not None)
        # the FLAG_* bits of the steps it runs: a pair whose flags have none of them stays as it is
        self.flags = sum(flag for flag, _ in self.steps)

    def augment(self, src: str, tgt: str, flags: int, rng: random.Random) -> tuple[str, str] | None:
        """The pair as the steps its `flags` name make it, each on what the one before made;
        None when it stays as it is. A pure function of its arguments (and `rng`'s state)."""
        new = (src, tgt)
        for flag, step in self.steps:
            if flags & flag:
                changed = step.augment(new[0], new[1], rng)
                if changed is not None:
                    new = changed
        return None if new == (src, tgt) else new

    def description(self, eligible: dict[str, int]) -> list[str]:
        """One phrase per step, for the training log; `eligible`: how many training pairs have
        each flag (the prepared manifest's "entities": names, numbers, dates, symbols)."""
        parts = [self.without_names()] if not self.names_marked and (self.protector or self.names_p) else []
        if self.names is not None:
            parts.append(f"names substituted in {100 * self.names_p:g}% of the {eligible.get('names', 0):,} "
                         f"pairs with a name on both sides (from {self.pool_size:,} names)")
        if self.numbers is not None:
            parts.append(f"numbers substituted in {100 * self.numbers_p:g}% of the {eligible.get('numbers', 0):,} "
                         "pairs with a number on both sides")
        if self.dates is not None:
            parts.append(f"months and weekdays renamed in {100 * self.dates_p:g}% of the {eligible.get('dates', 0):,} "
                         "pairs that name one on both sides")
        if self.symbols is not None and self.protector is not None:
            what = ("number, month, weekday and place" if self.protector.places else "number, month and weekday") \
                if self.protector.dates else "number"
            names = f"each shared name with probability {self.name_symbol_p:g} and of " if self.protector.names else ""
            rules = (" and ".join(dict.fromkeys(self.languages)) if all(code in TABLES for code in self.languages)
                     else "none for this pair")
            parts.append(f"entity symbols put in place of {names}every shared {what} "
                         f"(in {eligible.get('symbols', 0):,} pairs; symbols numbered in {self.symbol_order} order; "
                         f"language rules: {rules})")
        return parts

    def without_names(self) -> str:
        """Why names are no entities of this pair, for the log."""
        unmarked = [code for code in self.languages if not rules(code).names_by_capitals]
        return (f"no names as entities: s2s has entity rules for {', '.join(TABLES)} (names by capitals, "
                f"numbers, months, weekdays, places) but not for {' and '.join(dict.fromkeys(unmarked))}, where a "
                "capitalised word may be a noun; only digit strings are entities"
                + (" and train.name_augmentation is off" if self.names_p else ""))
