"""Names that stand on both sides of a sentence pair, and their consistent substitution.

Used by the training augmentation (`train.name_augmentation`, see `seq2seq/data/augment.py`) and
by `scripts/make_names_test.py`, so both find names by the same rule.

A whitespace token is a name candidate when what is left of it after stripping (its core)

- surrounding punctuation: quotes, brackets, . , ; : ! ? ... (a name after a quote counts),
- in front, a French elision d' / qu' / jusqu' / lorsqu' / puisqu' ("d'Alice" -> "Alice"),
- behind, an English possessive 's ("Tom's" -> "Tom"),

starts with a capital letter, is at least 2 characters long, is letters with at most inner
hyphens or apostrophes ("Jean-Luc", "O'Brien"), is not an all-capitals abbreviation of 3 letters
or fewer ("OK", "TV", "USA"), and has no other elided word in front: "l'Afrique" (an article)
and "J'ai" are not names. A candidate is *shared* when the same core occurs the same number of
times on both sides ("Tom" in "C'est le chien de Tom." and "It's Tom's dog."). Only shared
names are ever substituted; a capitalised word on one side only ("Jean" / "John", "Tom" /
"He") leaves the pair as it is. A capitalised word that starts both sentences alike
("Internet", "Super !") is shared too: copying it is what the augmentation teaches anyway.

On a French side the substitution keeps the elision right: "de Tom" -> "d'Alice",
"d'Alice" -> "de Tom" (also que/qu', jusque, lorsque, puisque).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from seq2seq.data.tokenizer import Tokenizer
from seq2seq.special_tokens import UNK_ID

_LEAD = "[\"'’“”«»‘‚„‹›(\\[{¡¿*_]*"
_ELISION = "(?:(?:jusqu|lorsqu|puisqu|qu|d)['’])?"
_LETTER = r"[^\W\d_]"
_CORE = f"{_LETTER}(?:{_LETTER}|[-'’](?={_LETTER}))*?"  # lazy: a possessive 's goes to the trail
_TRAIL = "(?:['’]s)?[\"'’“”«»‘›)\\]}.,;:!?…*_]*"
_CANDIDATE = re.compile(f"({_LEAD})({_ELISION})({_CORE})({_TRAIL})", re.IGNORECASE)
_ELIDED_WORD = re.compile("^[cjlmnst]['’]", re.IGNORECASE)  # l'Afrique, J'ai, C'est: not names
_ELIDABLE = {"de", "que", "jusque", "lorsque", "puisque"}  # before a vowel: d', qu', jusqu', ...
_ELIDED_ALONE = re.compile("^[cjlmnst]['’]$", re.IGNORECASE)  # "l'" split off its word (data.split_elision)


class Candidate(NamedTuple):
    """One name-candidate token split into its parts: lead + elision + core + trail == token."""

    lead: str
    elision: str
    core: str
    trail: str


def candidate(token: str) -> Candidate | None:
    """The token split around its name core, or None when it is not a name candidate."""
    if len(token) < 2 or token.lower() == token:
        return None  # fast path: most tokens have no capital letter
    match = _CANDIDATE.fullmatch(token)
    if match is None:
        return None
    lead, elision, core, trail = match.groups()
    if len(core) < 2 or not core[0].isupper() or _ELIDED_WORD.match(core) \
            or (core.isupper() and len(core) <= 3):
        return None
    return Candidate(lead, elision, core, trail)


def candidates(tokens: Sequence[str]) -> list[Candidate | None]:
    """candidate() of each token, but None after an elided article or pronoun standing alone:
    "l' Afrique" (data.split_elision) is no more a name than "l'Afrique" is."""
    found: list[Candidate | None] = []
    previous = ""
    for token in tokens:
        one = candidate(token) if token else None
        found.append(None if one is not None and not one.lead and _ELIDED_ALONE.match(previous) else one)
        previous = token
    return found


def name_counts(text: str) -> Counter[str]:
    """How often each name candidate (its core) occurs in `text`."""
    return Counter(c.core for c in candidates(text.split(" ")) if c is not None)


def shared_names(src: str, tgt: str) -> list[str]:
    """Candidates occurring equally often (at least once) on both sides, in source order."""
    src_counts = name_counts(src)
    if not src_counts or not any(name in tgt for name in src_counts):  # (a cheap test first)
        return []
    tgt_counts = name_counts(tgt)
    return [name for name, count in src_counts.items() if tgt_counts.get(name) == count]


def starts_with_vowel(word: str) -> bool:
    """French elides before a vowel ("d'Alice", "d'Élodie"); h and y are left alone."""
    return unicodedata.normalize("NFD", word[:1])[:1].lower() in ("a", "e", "i", "o", "u")


def substitute(text: str, mapping: dict[str, str], french: bool = False) -> str:
    """`text` with every candidate whose core is a key of `mapping` replaced by its value.

    french=True also keeps elision right: "de Tom" -> "d'Alice" and "d'Alice" (or "d' Alice")
    -> "de Tom".
    """
    tokens: list[str | None] = list(text.split(" "))
    for i, found in enumerate(candidates(text.split(" "))):
        if found is None or found.core not in mapping:
            continue
        new = mapping[found.core]
        lead, elision, trail = found.lead, found.elision, found.trail
        previous = tokens[i - 1] if i > 0 else None
        if french and elision and not starts_with_vowel(new):
            tokens[i] = f"{lead}{elision[:-1]}e {new}{trail}"  # d'Alice -> de Tom
        elif french and not lead and previous and previous[-1:] in "'’" \
                and previous[:-1].lower() + "e" in _ELIDABLE and not starts_with_vowel(new):
            tokens[i - 1], tokens[i] = f"{previous[:-1]}e", f"{new}{trail}"  # d' Alice -> de Tom
        elif french and not elision and not lead and starts_with_vowel(new) and previous \
                and previous.lower() in _ELIDABLE:
            tokens[i - 1], tokens[i] = None, f"{previous[:-1]}'{new}{trail}"  # de Tom -> d'Alice
        else:
            tokens[i] = f"{lead}{elision}{new}{trail}"
    return " ".join(t for t in tokens if t is not None)


def usable_names(names: Sequence[str], *tokenizers: Tokenizer) -> list[str]:
    """The names every tokenizer encodes without an unknown piece (characters its vocabulary
    lacks), and that are name candidates themselves; order kept."""
    return [name for name in names if candidate(name) == Candidate("", "", name, "")
            and all(UNK_ID not in tok.encode(name) for tok in tokenizers)]


def draw_names(names: list[str], pool: Sequence[str], rng: random.Random) -> dict[str, str]:
    """A different new name from `pool` for each of `names`, none of them one of `names`."""
    mapping: dict[str, str] = {}
    taken = set(names)
    for name in names:
        new = rng.choice(pool)
        while new in taken:
            new = rng.choice(pool)
        mapping[name] = new
        taken.add(new)
    return mapping


class NameAugmentation:
    """Substitutes the shared names of a corpus's pairs, a fixed function of (seed, epoch).

    The pairs that have shared names are found once; each epoch, each of them is changed with
    probability `probability`, every shared name consistently on both sides.
    """

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str], pool: Sequence[str],
                 src_french: bool = False, tgt_french: bool = False) -> None:
        if len(pool) < 10:
            raise ValueError(f"only {len(pool)} names to draw from")
        self.src_lines, self.tgt_lines, self.pool = src_lines, tgt_lines, list(pool)
        self.src_french, self.tgt_french = src_french, tgt_french
        self.eligible: list[tuple[int, list[str]]] = []
        for i, (src, tgt) in enumerate(zip(src_lines, tgt_lines)):
            names = shared_names(src, tgt)
            if names:
                self.eligible.append((i, names))

    def changed_pairs(self, probability: float, seed: int, epoch: int) -> dict[int, tuple[str, str]]:
        """{pair index: (new source, new target)} of the pairs this epoch changes."""
        rng = random.Random(f"name-augmentation:{seed}:{epoch}")  # str seeds are stable across runs
        changed: dict[int, tuple[str, str]] = {}
        for i, names in self.eligible:
            if rng.random() >= probability:
                continue
            mapping = draw_names(names, self.pool, rng)
            changed[i] = (substitute(self.src_lines[i], mapping, self.src_french),
                          substitute(self.tgt_lines[i], mapping, self.tgt_french))
        return changed
