"""The entity augmentations of a training corpus, chained: each epoch's changed pairs are a pure
function of (seed, epoch), so a resumed run re-makes exactly the epoch it stopped in.

In this order, each on top of what the ones before made of a pair: in each pair with shared
names (names.py), with probability `names`, every shared name is replaced consistently on both
sides by one drawn from the pool; in each pair with shared digit strings (numbers.py), with
probability `numbers`, every shared number by a random one of as many digits; in each pair
naming the same month or weekday on both sides (dates.py), with probability `dates`, each by
another one; then, with a protector, shared entities by symbols (symbol_augmentation.py), the
new names and numbers where the steps before changed them.
"""

from __future__ import annotations

from collections.abc import Sequence

from seq2seq.entities.dates import DateAugmentation
from seq2seq.entities.lang import TABLES, names_marked, rules
from seq2seq.entities.names import NameAugmentation
from seq2seq.entities.numbers import NumberAugmentation
from seq2seq.entities.protector import Protector
from seq2seq.entities.symbol_augmentation import SymbolAugmentation, SymbolOrder

Pairs = dict[int, tuple[str, str]]


class EntityAugmentation:
    """The chain; each probability 0 (and no protector) leaves its step out."""

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str], src_lang: str, tgt_lang: str, *,
                 names: float = 0.0, name_pool: Sequence[str] = (), numbers: float = 0.0, dates: float = 0.0,
                 protector: Protector | None = None, name_symbol_probability: float = 0.0,
                 symbol_order: SymbolOrder = "source") -> None:
        self.names_p, self.numbers_p, self.dates_p = names, numbers, dates
        self.name_symbol_p, self.symbol_order, self.pool_size = name_symbol_probability, symbol_order, len(name_pool)
        # names are entities only where both languages mark them by capitals (German nouns are capitalised too)
        self.languages, self.names_marked = (src_lang, tgt_lang), names_marked(src_lang, tgt_lang)
        self.names = NameAugmentation(src_lines, tgt_lines, name_pool, src_lang, tgt_lang) \
            if names and self.names_marked else None
        self.numbers = NumberAugmentation(src_lines, tgt_lines) if numbers else None
        self.dates = DateAugmentation(src_lines, tgt_lines, src_lang, tgt_lang) if dates else None
        self.protector = protector
        self.symbols = SymbolAugmentation(src_lines, tgt_lines, src_lang, tgt_lang, protector.dates, protector.places,
                                          symbol_order, protector.names) if protector is not None else None

    def changed_pairs(self, seed: int, epoch: int) -> Pairs:
        """{pair index: (new source, new target)} of the pairs epoch `epoch` changes."""
        changed = self.names.changed_pairs(self.names_p, seed, epoch) if self.names is not None else {}
        if self.numbers is not None:
            changed = self.numbers.changed_pairs(self.numbers_p, seed, epoch, changed)
        if self.dates is not None:
            changed = self.dates.changed_pairs(self.dates_p, seed, epoch, changed)
        if self.symbols is not None:
            changed = self.symbols.changed_pairs(self.name_symbol_p, seed, epoch, changed)
        return changed

    def description(self) -> list[str]:
        """One phrase per step, for the training log."""
        parts = [self.without_names()] if not self.names_marked and (self.protector or self.names_p) else []
        if self.names is not None:
            parts.append(f"names substituted in {100 * self.names_p:g}% of the {len(self.names.eligible):,} "
                         f"pairs with a name on both sides (from {self.pool_size:,} names)")
        if self.numbers is not None:
            parts.append(f"numbers substituted in {100 * self.numbers_p:g}% of the {len(self.numbers.eligible):,} "
                         "pairs with a number on both sides")
        if self.dates is not None:
            parts.append(f"months and weekdays renamed in {100 * self.dates_p:g}% of the {len(self.dates.eligible):,} "
                         "pairs that name one on both sides")
        if self.symbols is not None and self.protector is not None:
            what = ("number, month, weekday and place" if self.protector.places else "number, month and weekday") \
                if self.protector.dates else "number"
            names = f"each shared name with probability {self.name_symbol_p:g} and of " if self.protector.names else ""
            rules = (" and ".join(dict.fromkeys(self.languages)) if all(code in TABLES for code in self.languages)
                     else "none for this pair")
            parts.append(f"entity symbols put in place of {names}every shared {what} "
                         f"(in {len(self.symbols.eligible):,} pairs; symbols numbered in {self.symbol_order} order; "
                         f"language rules: {rules})")
        return parts

    def without_names(self) -> str:
        """Why names are no entities of this pair, for the log."""
        unmarked = [code for code in self.languages if not rules(code).names_by_capitals]
        return (f"no names as entities: s2s has entity rules for {', '.join(TABLES)} (names by capitals, "
                f"numbers, months, weekdays, places) but not for {' and '.join(dict.fromkeys(unmarked))}, where a "
                "capitalised word may be a noun; only digit strings are entities"
                + (" and train.name_augmentation is off" if self.names_p else ""))
