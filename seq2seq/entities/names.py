"""Names: words that stand on both sides of a sentence pair, their symbols ⦅N1⦆..⦅N6⦆, and
their consistent substitution (`train.name_augmentation`; scripts/make_names_test.py finds names
by the same rule).

A whitespace token is a name candidate when what is left of it after stripping (its core)

- surrounding punctuation: quotes, brackets, . , ; : ! ? ... (a name after a quote counts),
- in front, an elision d' / qu' / jusqu' / lorsqu' / puisqu' ("d'Alice" -> "Alice"),
- behind, an English possessive 's ("Tom's" -> "Tom"),

starts with a capital letter, is at least 2 characters long, is letters with at most inner
hyphens or apostrophes ("Jean-Luc", "O'Brien"), is not an all-capitals abbreviation of 3 letters
or fewer ("OK", "TV", "USA"), and has no other elided word in front: "l'Afrique" (an article)
and "J'ai" are not names. These rules hold in every language. A candidate is *shared* when the
same core occurs the same number of times on both sides ("Tom" in "C'est le chien de Tom." and
"It's Tom's dog."). Only shared names are ever substituted; a capitalised word on one side only
("Jean" / "John", "Tom" / "He") leaves the pair as it is. A capitalised word that starts both
sentences alike ("Internet", "Super !") is shared too: copying it is what the augmentation
teaches anyway.

In a language that elides (its table's `elidable` words: French) the substitution keeps the
elision right: "de Tom" -> "d'Alice", "d'Alice" -> "de Tom" (also que/qu', jusque, lorsque, puisque).

A subword model cannot spell a name it has rarely seen: Tatoeba's names are nearly all "Tom" and
"Mary", and a model trained on it turns "Jane" into "Afa". So translation puts a symbol in place
of each name the model does not know (`Names.protect`), and training teaches it to carry them.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple

from seq2seq.entities.lang import rules
from seq2seq.entities.symbols import NAME_SYMBOLS, Tokenizer
from seq2seq.entities.words import starts_with_vowel
from seq2seq.special_tokens import UNK_ID

_LEAD = "[\"'’“”«»‘‚„‹›(\\[{¡¿*_]*"
_ELISION = "(?:(?:jusqu|lorsqu|puisqu|qu|d)['’])?"
_LETTER = r"[^\W\d_]"
_CORE = f"{_LETTER}(?:{_LETTER}|[-'’](?={_LETTER}))*?"  # lazy: a possessive 's goes to the trail
_TRAIL = "(?:['’]s)?[\"'’“”«»‘›)\\]}.,;:!?…*_]*"
_CANDIDATE = re.compile(f"({_LEAD})({_ELISION})({_CORE})({_TRAIL})", re.IGNORECASE)
_ELIDED_WORD = re.compile("^[cjlmnst]['’]", re.IGNORECASE)  # l'Afrique, J'ai, C'est: not names
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


def substitute_names(text: str, mapping: dict[str, str], lang: str = "") -> str:
    """`text` with every candidate whose core is a key of `mapping` replaced by its value, in a
    language that elides (French) with the elision kept right: "de Tom" -> "d'Alice" and
    "d'Alice" (or "d' Alice") -> "de Tom".
    """
    elidable = rules(lang).elidable
    tokens: list[str | None] = list(text.split(" "))
    for i, found in enumerate(candidates(text.split(" "))):
        if found is None or found.core not in mapping:
            continue
        new = mapping[found.core]
        lead, elision, trail = found.lead, found.elision, found.trail
        previous = tokens[i - 1] if i > 0 else None
        if elidable and elision and not starts_with_vowel(new):
            tokens[i] = f"{lead}{elision[:-1]}e {new}{trail}"  # d'Alice -> de Tom
        elif elidable and not lead and previous and previous[-1:] in "'’" \
                and previous[:-1].lower() + "e" in elidable and not starts_with_vowel(new):
            tokens[i - 1], tokens[i] = f"{previous[:-1]}e", f"{new}{trail}"  # d' Alice -> de Tom
        elif elidable and not elision and not lead and starts_with_vowel(new) and previous \
                and previous.lower() in elidable:
            tokens[i - 1], tokens[i] = None, f"{previous[:-1]}'{new}{trail}"  # de Tom -> d'Alice
        else:
            tokens[i] = f"{lead}{elision}{new}{trail}"
    return " ".join(t for t in tokens if t is not None)


KNOWN_MIN_COUNT = 2  # a word seen once (or never) in training is one the model cannot translate
_ELIDED_ARTICLE = re.compile("^[cjlmnst]['’]")  # l'Afrique -> afrique


def word_parts(core: str) -> list[str]:
    """A word's lower-cased parts, as known words are counted: "Jean-Luc" -> ["jean", "luc"],
    "l'Afrique" -> ["afrique"], "Contrôle-toi" -> ["contrôle", "toi"]."""
    return _ELIDED_ARTICLE.sub("", core.lower()).split("-")


_STRIPPED = "\"'’“”«»‘‚„‹›()[]{}.,;:!?…*_"  # around a token: not part of its word
_ARTICLE_AT_TOKEN = re.compile("(?<![^ ])[cjlmnst]['’]")  # _ELIDED_ARTICLE, at each token of a line
_BATCH = 10_000  # lines counted per pass (bounded memory for a stream of lines)
_DIGIT = re.compile(r"\d")


def word_counts(lines: Iterable[str]) -> Counter[str]:
    """How often each lower-cased word part (`word_parts` of each space-separated token, stripped
    of punctuation) occurs in `lines`, but for parts with a digit, which no name is made of (a
    corpus's numbers would be most of the counter); counts of chunks add up (`Counter.update`),
    so prepare counts in worker processes and merges. One pass of C-level string operations per
    batch of lines: lower-casing a line or a token gives the same letters (what is stripped has no case)."""
    counts: Counter[str] = Counter()
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _BATCH:
            _count_parts(batch, counts)
            batch = []
    _count_parts(batch, counts)
    counts.pop("", None)  # a token that was all punctuation, or a part between two hyphens
    return counts


def _count_parts(lines: list[str], counts: Counter[str]) -> None:
    tokens = " ".join(lines).lower().split(" ")
    text = _ARTICLE_AT_TOKEN.sub("", " ".join([token.strip(_STRIPPED) for token in tokens]))
    parts = Counter(text.replace("-", " ").split(" "))
    for part in [part for part in parts if not part.isalpha() and _DIGIT.search(part)]:
        del parts[part]
    counts.update(parts)


def known_from_counts(counts: Counter[str], min_count: int = KNOWN_MIN_COUNT) -> frozenset[str]:
    """The word parts of `counts` (word_counts) seen at least `min_count` times."""
    return frozenset(word for word, count in counts.items() if count >= min_count and word)


def known_words(lines: Iterable[str], min_count: int = KNOWN_MIN_COUNT) -> frozenset[str]:
    """The lower-cased word parts (without a digit) that occur at least `min_count` times in `lines`."""
    return known_from_counts(word_counts(lines), min_count)


class Names:
    """The names kind: a name candidate whose parts the model does not know (a known name, "Tom",
    or a capitalised ordinary word, "Visite", stays text and is translated as usual)."""

    symbols: ClassVar[tuple[str, ...]] = NAME_SYMBOLS

    def __init__(self, known: frozenset[str], lang: str = "") -> None:
        self.known, self.lang = known, lang  # the words of the training source; its language

    def shared(self, src: str, tgt: str) -> list[str]:
        return shared_names(src, tgt)

    def protect(self, text: str) -> tuple[str, dict[str, str]]:
        """(text with a symbol for each unknown name, in order of appearance; {symbol: name})."""
        names: list[str] = []
        for found in candidates(text.split(" ")):
            if found is not None and found.core not in names \
                    and not all(part in self.known for part in word_parts(found.core)):
                names.append(found.core)
        mapping = dict(zip(names, self.symbols))
        if mapping:
            text = substitute_names(text, mapping, self.lang)
        return text, {symbol: name for name, symbol in mapping.items()}

    def restore(self, words: str) -> str:
        return words


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
    """Substitutes the shared names of a pair (`train.name_augmentation`): with probability
    `probability`, every shared name consistently on both sides, each by one drawn from `pool`."""

    def __init__(self, pool: Sequence[str], probability: float, src_lang: str = "", tgt_lang: str = "") -> None:
        if len(pool) < 10:
            raise ValueError(f"only {len(pool)} names to draw from")
        self.pool, self.probability = list(pool), probability
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def augment(self, src: str, tgt: str, rng: random.Random) -> tuple[str, str] | None:
        """The pair with new names, or None when it keeps its own (none shared, or not drawn)."""
        names = shared_names(src, tgt)
        if not names or rng.random() >= self.probability:
            return None
        mapping = draw_names(names, self.pool, rng)
        return substitute_names(src, mapping, self.src_lang), substitute_names(tgt, mapping, self.tgt_lang)
