"""The language tables, one file per language: a new language adds its file here and one line below."""

from __future__ import annotations

from seq2seq.entities.lang.en import ENGLISH
from seq2seq.entities.lang.fr import FRENCH
from seq2seq.entities.language import Language

TABLES: dict[str, Language] = {table.code: table for table in (FRENCH, ENGLISH)}


def rules(code: str) -> Language:
    """The table of language `code`; an empty one (no dates, number words, places, elision or names) if it has none."""
    return TABLES.get(code) or Language(code)


def names_marked(src_lang: str, tgt_lang: str) -> bool:
    """Whether both languages mark names by capitals (so names can be entities of this pair)."""
    return rules(src_lang).names_by_capitals and rules(tgt_lang).names_by_capitals
