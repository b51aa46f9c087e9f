"""What earlier releases wrote, and how this one reads it exactly as they did.

- Vocabularies. A corpus prepared before month and weekday symbols has ⦅N1⦆.. and ⦅D1⦆.. only
  (FIRST_SYMBOLS); one prepared before place symbols has no ⦅L1⦆... A model trained on it
  protects the kinds its vocabularies have symbols for (`usable_kinds`): the others stay words.
  `prepare` names what an old vocabulary lacks (`missing_symbols`).
- Protector states, in checkpoints and exports. Until this release a state was
  {"known_words", "min_count", "french": the source is French, "dates": [source, target] or null,
  "places"}: the language pair was known only where dates were protected, and "french" stood for
  the source's elision rules. Without "dates" only the source's elision mattered (nothing was put
  back in a target language), so such a state reads as the French source or an undetermined one
  (`old_state`), which protects and restores the same words.
"""

from __future__ import annotations

from typing import Any, Protocol

from seq2seq.entities.lang import rules
from seq2seq.entities.symbols import DATE_SYMBOLS, NAME_SYMBOLS, NUMBER_SYMBOLS, PLACE_SYMBOLS, Tokenizer, has_symbols

FIRST_SYMBOLS = NAME_SYMBOLS + NUMBER_SYMBOLS  # what vocabularies prepared before the date symbols have
UNDETERMINED = "und"  # ISO 639-2: an old state's language that nothing depended on


def has_entity_symbols(tokenizer: Tokenizer) -> bool:
    """Whether a vocabulary has entity symbols (data.entity_symbols), of names and numbers at least."""
    return has_symbols(tokenizer, FIRST_SYMBOLS)


def usable_kinds(src_tok: Tokenizer, tgt_tok: Tokenizer, src_lang: str, tgt_lang: str) -> tuple[bool, bool]:
    """(dates, places): whether months and weekdays can be symbols (both vocabularies have ⦅T1⦆..
    and both languages have date words), and places (dates can, both vocabularies have ⦅L1⦆..,
    both languages have places)."""
    source, target = rules(src_lang), rules(tgt_lang)
    dates = bool(source.date_words and target.date_words) \
        and has_symbols(src_tok, DATE_SYMBOLS) and has_symbols(tgt_tok, DATE_SYMBOLS)
    places = dates and bool(source.places and target.places) \
        and has_symbols(src_tok, PLACE_SYMBOLS) and has_symbols(tgt_tok, PLACE_SYMBOLS)
    return dates, places


def missing_symbols(tokenizer: Tokenizer) -> str | None:
    """The symbols a vocabulary with FIRST_SYMBOLS lacks, in words; None if it has them all."""
    if has_symbols(tokenizer, PLACE_SYMBOLS):
        return None
    return "place symbols (⦅L1⦆..)" if has_symbols(tokenizer, DATE_SYMBOLS) \
        else "month, weekday and place symbols (⦅T1⦆.., ⦅L1⦆..)"


def old_state(state: dict[str, Any]) -> tuple[str, str, bool, bool]:
    """(source, target, dates, places) of a protector state written before this release."""
    dates = state.get("dates")  # a model saved before date symbols has no such key
    if dates:
        return str(dates[0]), str(dates[1]), True, bool(state.get("places", False))  # nor places before place symbols
    return ("fr" if state["french"] else UNDETERMINED), UNDETERMINED, False, False


class ProtectedKinds(Protocol):
    """What kinds_left_as_words reads of a Protector (a Protocol, so this module does not import it)."""

    src_lang: str
    tgt_lang: str
    dates: bool
    places: bool


def kinds_left_as_words(protector: ProtectedKinds) -> str | None:
    """The kinds both languages have words for but a protector's old vocabularies no symbols:
    "months and weekdays", "places", or None."""
    source, target = rules(protector.src_lang), rules(protector.tgt_lang)
    if not protector.dates and source.date_words and target.date_words:
        return "months and weekdays"
    if protector.dates and not protector.places and source.places and target.places:
        return "places"
    return None
