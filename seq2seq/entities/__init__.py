"""Entities: names, numbers, months and weekdays, and places, which a small model cannot learn to
translate from a few examples, kept intact through training and translation.

Each kind is a transform (names.py, numbers.py, dates.py, places.py): its symbols, `shared(src,
tgt)` (the entities both sides of a training pair share), `protect(text)` and `restore(words)`.
The `Protector` chains them at translation and puts the words back; the augmentations
(`EntityAugmentation`, one training pair at a time, where its `entity_flags` found when the data
was prepared say there is something to change) teach a model to carry them; `SymbolCounts` makes
the search place each symbol of a source exactly once. Each language's words and rules are one table,
seq2seq/entities/lang/<code>.py; compat.py reads what earlier releases wrote.

Code outside this package imports from here only, and this package imports nothing of seq2seq
but `seq2seq.special_tokens` (tests/test_structure.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seq2seq.entities.augmentation import EntityAugmentation, augmentation_rng
from seq2seq.entities.compat import has_entity_symbols, kinds_left_as_words, missing_symbols
from seq2seq.entities.dates import Dates, date_words, shared_dates
from seq2seq.entities.lang import rules as language_rules
from seq2seq.entities.flags import FLAG_DATES, FLAG_KEYS, FLAG_NAMES, FLAG_NUMBERS, FLAG_SYMBOLS, entity_flags
from seq2seq.entities.name_lists import augmentation_names, invented_names
from seq2seq.entities.names import (KNOWN_MIN_COUNT, Names, draw_names, known_from_counts, known_words, shared_names,
                                    substitute_names, usable_names, word_counts)
from seq2seq.entities.numbers import NUMBER, Numbers
from seq2seq.entities.places import Places, shared_places
from seq2seq.entities.protector import Protector, protect_all, restore, shown_pieces
from seq2seq.entities.symbol_augmentation import SymbolOrder
from seq2seq.entities.symbols import SYMBOLS, symbol_ids

if TYPE_CHECKING:
    from seq2seq.entities.placement import SymbolCounts

__all__ = [
    # translation
    "Protector", "protect_all", "restore", "shown_pieces", "symbol_ids", "SymbolCounts",
    # the kinds
    "Names", "Numbers", "Dates", "Places", "NUMBER",
    # vocabularies
    "SYMBOLS", "has_entity_symbols", "missing_symbols",
    # training
    "EntityAugmentation", "augmentation_rng", "SymbolOrder", "known_words", "augmentation_names", "usable_names",
    "kinds_left_as_words", "language_rules",
    # preparing data: what training's augmentations and protector need, found once
    "entity_flags", "FLAG_NAMES", "FLAG_NUMBERS", "FLAG_DATES", "FLAG_SYMBOLS", "FLAG_KEYS", "word_counts",
    "known_from_counts", "KNOWN_MIN_COUNT",
    # test sets (scripts/make_names_test.py)
    "shared_names", "substitute_names", "draw_names", "invented_names", "date_words", "shared_dates",
    "shared_places",
]


def __getattr__(name: str) -> Any:
    """SymbolCounts on first use: it needs torch, which preparing data and scoring do not."""
    if name == "SymbolCounts":
        from seq2seq.entities.placement import SymbolCounts
        return SymbolCounts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
