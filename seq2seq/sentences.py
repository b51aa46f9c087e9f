"""Sentence splitting: a line a user pastes (a paragraph, three sentences) into its sentences.

A model trained on one sentence per line translates a line of several sentences worse than each
sentence alone (it drops some, or loops). The pipeline (seq2seq/pipeline.py, decode.split_sentences)
splits each input line here, translates the sentences in one batch with every other line's, and
joins their translations with the target language's joiner: one output line still answers one
input line.

The rule: a sentence ends at ".", "!", "?" or "…" (or several: "?!", "..."), with any closing
quotes or brackets after them ("Non. »", 'he said "no."'), where whitespace and then a capital
letter or a digit follow (after any opening quote, bracket or dash: "« Oui ! » ..."); not after
an abbreviation of the source language's table (seq2seq/entities/lang/<code>.py: "M. Dupont",
"Dr. Smith"), a single letter ("J. K. Rowling") or a word with inner periods ("U.S.", "e.g."),
where a capital often follows without a new sentence. A lower-case word after a period ("etc.
et ...") never starts one.

Why not a library: sentencex 1.0.32 (Wikimedia) splits "M. Dupont est là." after "M."; pysbd
0.3.4 gets French titles right but was last released in 2021 and is pure-Python regular
expressions (slow on a server). The rule above is one screen, uses each language's table, and
its cases are in tests/test_sentences.py.
"""

from __future__ import annotations

import re

from seq2seq.entities import language_rules

# a run of sentence-final marks, the closing quotes and brackets after it, then the whitespace
_BOUNDARY = re.compile(r"""[.!?…]+(?:\s?[»"”’')\]])*(?=\s)""")
_OPENERS = "«\"“‘'([¿¡—–-"


def _next_starts_a_sentence(text: str, position: int) -> bool:
    """Whether the text after `position` (whitespace, then openers) begins with a capital or a digit."""
    rest = text[position:].lstrip()
    rest = rest.lstrip(_OPENERS).lstrip()
    return bool(rest) and (rest[0].isupper() or rest[0].isdigit())


def _word_before(text: str, position: int) -> str:
    """The word that ends at `position` (a period's position), openers stripped."""
    start = position
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:position].lstrip(_OPENERS)


def _abbreviation(word: str, abbreviations: frozenset[str]) -> bool:
    """A word after which a period does not end a sentence."""
    if not word:
        return False
    letters = word.replace(".", "")
    return (word.lower() in abbreviations or (len(word) == 1 and word.isalpha())
            or ("." in word and letters.isalpha() and len(letters) <= 4))


def split_sentences(line: str, language: str | None) -> list[str]:
    """The sentences of `line` (stripped, none empty); the line itself when it holds one or none."""
    abbreviations = language_rules(language).abbreviations if language else frozenset()
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(line):
        end = match.end()
        if not _next_starts_a_sentence(line, end):
            continue
        if match.group().startswith(".") and not match.group().startswith(".."):
            if _abbreviation(_word_before(line, match.start()), abbreviations):
                continue
        sentence = line[start:end].strip()
        if sentence:
            sentences.append(sentence)
            start = end
    last = line[start:].strip()
    if last:
        sentences.append(last)
    return sentences if len(sentences) > 1 else [line]


def join_sentences(translations: list[str], language: str | None) -> str:
    """The translations of one line's sentences as one line, joined as `language` joins sentences."""
    joiner = language_rules(language).sentence_joiner if language else " "
    return joiner.join(text for text in translations if text)
