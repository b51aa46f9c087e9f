"""The symbols that stand for entities, and what a vocabulary must have for them.

data.entity_symbols adds ⦅N1⦆..⦅N6⦆ (names), ⦅D1⦆..⦅D6⦆ (numbers), ⦅T1⦆..⦅T3⦆ (months and
weekdays) and ⦅L1⦆..⦅L3⦆ (places) to the SentencePiece vocabulary, each one piece. A sentence's
further entities of a kind stay text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from seq2seq.special_tokens import UNK_ID

SLOTS = 6  # names or numbers of one sentence
DATE_SLOTS = 3  # "du lundi au vendredi" has two
PLACE_SLOTS = 3  # "de Paris à Londres" has two
NAME_SYMBOLS = tuple(f"⦅N{k}⦆" for k in range(1, SLOTS + 1))
NUMBER_SYMBOLS = tuple(f"⦅D{k}⦆" for k in range(1, SLOTS + 1))
DATE_SYMBOLS = tuple(f"⦅T{k}⦆" for k in range(1, DATE_SLOTS + 1))
PLACE_SYMBOLS = tuple(f"⦅L{k}⦆" for k in range(1, PLACE_SLOTS + 1))
SYMBOLS = NAME_SYMBOLS + NUMBER_SYMBOLS + DATE_SYMBOLS + PLACE_SYMBOLS  # in the order vocabularies add them
SYMBOL = re.compile("⦅[NDTL][0-9]+⦆")


class Tokenizer(Protocol):
    """What the entities ask of a SentencePiece model (seq2seq.data.tokenizer.Tokenizer has it)."""

    def encode(self, text: str) -> list[int]: ...

    def pieces(self, ids: list[int]) -> list[str]: ...

    def piece_id(self, piece: str) -> int: ...


def has_symbols(tokenizer: Tokenizer, symbols: Sequence[str]) -> bool:
    """Whether a tokenizer spells each of `symbols` as one piece of its own (data.entity_symbols was on)."""
    return all(tokenizer.pieces(tokenizer.encode(symbol))[-1:] == [symbol] for symbol in symbols)


def symbol_ids(src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer) -> tuple[tuple[int, int], ...]:
    """(source id, target id) of every symbol both vocabularies have, for the search that places
    each one (placement.py)."""
    ids = ((src_tokenizer.piece_id(symbol), tgt_tokenizer.piece_id(symbol)) for symbol in SYMBOLS)
    return tuple((src, tgt) for src, tgt in ids if src != UNK_ID and tgt != UNK_ID)
