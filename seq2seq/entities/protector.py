"""The protector: what translation takes out of the model's hands, and puts back.

A model trained with entity symbols (`train.protect_entities`) carries them from source to
output. At translation the protector chains the kinds, each one's `protect(text)`: months and
weekdays first (an English month is capitalised, and no name), then places (before names:
"Rome" and "Boston" are places), then names the model does not know, then every digit string;
each becomes a symbol, numbered in source order. After the search, `restore` puts each symbol
of the output back as the words it stands for (an ordinal's suffix made to fit: "⦅D1⦆th" ->
"2nd"), a month, weekday or place as its name in the target language ("septembre" ->
"September": a 10-minute model sees "September" in 12 training pairs and writes "Sa.", a symbol
it only has to place), and mends the target language's grammar around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from seq2seq.entities import compat
from seq2seq.entities.dates import Dates
from seq2seq.entities.lang import names_marked, rules
from seq2seq.entities.names import KNOWN_MIN_COUNT, Names
from seq2seq.entities.numbers import Numbers, mend_ordinals
from seq2seq.entities.places import Places
from seq2seq.entities.symbols import DATE_SYMBOLS, NAME_SYMBOLS, NUMBER_SYMBOLS, PLACE_SYMBOLS, SYMBOL, Tokenizer

_SPACES = re.compile(" {2,}")
_OPENERS = DATE_SYMBOLS + PLACE_SYMBOLS  # words that open a sentence capitalised ("Octobre est fini.")


@dataclass(frozen=True)
class Protector:
    """Replaces the entities of source sentences by symbols, and the symbols of outputs by words."""

    known: frozenset[str]  # the training source's known word parts: a name made of them stays text
    src_lang: str
    tgt_lang: str
    dates: bool = False  # months and weekdays too (both vocabularies have ⦅T1⦆.., both tables date words)
    places: bool = False  # places too (both vocabularies have ⦅L1⦆.., both tables places)
    names: bool = True  # names too (both languages mark them by capitals: lang.names_marked)

    @classmethod
    def for_vocabularies(cls, known: frozenset[str], src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer,
                         src_lang: str, tgt_lang: str) -> Protector:
        """The protector of a model with these vocabularies: the kinds both have symbols for."""
        dates, places = compat.usable_kinds(src_tokenizer, tgt_tokenizer, src_lang, tgt_lang)
        return cls(known, src_lang, tgt_lang, dates, places, names_marked(src_lang, tgt_lang))

    @cached_property
    def _kinds(self) -> tuple[Dates | Places | Names | Numbers, ...]:
        """The kinds this protector protects, in the order they protect a text."""
        kinds = (Dates(self.src_lang, self.tgt_lang) if self.dates else None,
                 Places(self.src_lang, self.tgt_lang) if self.places else None,
                 Names(self.known, self.src_lang) if self.names else None, Numbers())
        return tuple(kind for kind in kinds if kind is not None)

    @cached_property
    def _translating(self) -> dict[str, Dates | Places]:
        """{symbol: its kind} for the symbols whose words come back in the target language."""
        return {symbol: kind for kind in self._kinds if isinstance(kind, (Dates, Places)) for symbol in kind.symbols}

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with symbols, {symbol: the words it stands for}). Symbols the text itself holds
        (a user typed "⦅N1⦆") are escaped first, so that no kind numbers its own the same, and
        then carried as names (numbers without names) that stand for themselves (`_typed_as_entities`)."""
        text, mark, typed = _escape(text)
        found: dict[type, dict[str, str]] = {}
        for kind in self._kinds:
            text, found[type(kind)] = kind.protect(text)
        originals = {symbol: words for kind in (Names, Numbers, Dates, Places) for symbol, words in
                     found.get(kind, {}).items()}
        if not typed:
            return text, originals
        return _typed_as_entities(text, mark, typed, originals, NAME_SYMBOLS if self.names else NUMBER_SYMBOLS)

    def put_back(self, symbol: str, originals: dict[str, str]) -> str:
        """The words of the output that `symbol` stands for: a month, weekday or place in the target language."""
        words = originals.get(symbol, "")
        kind = self._translating.get(symbol)
        return kind.restore(words) if kind is not None and words else words

    def mend(self, text: str) -> str:
        """An output with its symbols put back, the target language's grammar around them mended."""
        return rules(self.tgt_lang).mend_output(text) if self._translating else text

    def restore(self, output: str, originals: dict[str, str]) -> str:
        return restore(output, originals, self)

    def to_state(self) -> dict[str, object]:
        """What a checkpoint stores (the known words sorted, so the bytes are reproducible)."""
        return {"known_words": sorted(self.known), "min_count": KNOWN_MIN_COUNT,
                "languages": [self.src_lang, self.tgt_lang], "dates": self.dates, "places": self.places,
                "names": self.names}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Protector:
        """The protector of a state that to_state wrote, or an earlier release (compat.old_state)."""
        known = frozenset(state["known_words"])
        if "languages" not in state:
            return cls(known, *compat.old_state(state))
        src_lang, tgt_lang = state["languages"]
        # no "names": written when every language's names were protected
        return cls(known, str(src_lang), str(tgt_lang), bool(state["dates"]), bool(state["places"]),
                   bool(state.get("names", True)))


def _escape(text: str) -> tuple[str, str, list[str]]:
    """(text with each symbol it holds replaced by one mark no kind takes for an entity, the mark,
    those symbols in order)."""
    typed = SYMBOL.findall(text)
    if not typed:
        return text, "", []
    mark = next(chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text)  # a private-use character
    return SYMBOL.sub(mark, text), mark, typed


def _typed_as_entities(text: str, mark: str, typed: list[str], originals: dict[str, str],
                       slots: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """Each mark of `_escape` as a symbol of `slots` (a kind's) the sentence leaves free, standing
    for the symbol as typed: the model carries it as that kind, and `restore` writes it back as
    typed. That kind's symbols are then numbered in source order again, as training numbers
    them. Past the free symbols, a typed symbol loses its brackets ("N1")."""
    free = iter(symbol for symbol in slots if symbol not in originals)
    parts = text.split(mark)
    out, originals, taken = [parts[0]], dict(originals), {}
    for symbol, part in zip(typed, parts[1:]):
        if symbol not in taken:  # one typed symbol, one slot, as one name has one symbol
            taken[symbol] = next(free, None)
            if taken[symbol] is not None:
                originals[taken[symbol]] = symbol
        out += [taken[symbol] or symbol[1:-1], part]
    text = "".join(out)
    order = dict.fromkeys(symbol for symbol in SYMBOL.findall(text) if symbol in slots)
    renamed = dict(zip(order, slots))
    return (SYMBOL.sub(lambda m: renamed.get(m.group(), m.group()), text),
            {renamed.get(symbol, symbol): words for symbol, words in originals.items()})


def restore(output: str, originals: dict[str, str], protector: Protector | None = None) -> str:
    """`output` with each symbol replaced by the words it stands for; a symbol the source did not
    have (a model's slip) is dropped. With the `protector`, a month, weekday or place comes back
    in the target language."""
    if "⦅" not in output:
        return output
    opening = SYMBOL.match(output.lstrip())
    put_back = protector.put_back if protector is not None else _as_written
    text = _SPACES.sub(" ", SYMBOL.sub(lambda m: put_back(m.group(), originals), output)).strip()
    text = mend_ordinals(text)  # "the ⦅D1⦆th" -> "the 2th" -> "the 2nd"
    if opening and opening.group() in _OPENERS:  # "octobre est fini." -> "Octobre est fini."
        text = text[:1].upper() + text[1:]  # "the United States ..." -> "The United States ..."
    return protector.mend(text) if protector is not None else text


def _as_written(symbol: str, originals: dict[str, str]) -> str:
    return originals.get(symbol, "")


def shown_pieces(pieces: list[str], originals: dict[str, str], protector: Protector | None = None) -> list[str]:
    """Pieces for an attention plot: each symbol shown as the words it stands for (with the
    `protector`: as the output writes them, in the target language)."""
    put_back = protector.put_back if protector is not None else _as_written
    return [put_back(piece, originals) if piece in originals else piece for piece in pieces] if originals else pieces


def protect_all(texts: list[str], protector: Protector | None) -> tuple[list[str], list[dict[str, str]]]:
    """Each text with its symbols, and what each text's symbols stand for. Without a protector, the
    symbols a text holds as typed stand for themselves: `restore` keeps them where the model
    copies them (and drops others as slips)."""
    if protector is None:
        return texts, [{symbol: symbol for symbol in SYMBOL.findall(text)} for text in texts]
    protected = [protector.protect(text) for text in texts]
    return [text for text, _ in protected], [originals for _, originals in protected]
