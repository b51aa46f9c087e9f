"""Numbers that stand on both sides of a sentence pair, and their consistent substitution.

`train.number_augmentation` teaches a model to carry digits across: Tatoeba mostly spells
numbers out, so a model trained on it drops the few it sees ("Il a 25 ans" -> "He is years
old"). In a pair where a digit string occurs the same number of times on both sides ("J'ai 25
ans." / "I'm 25 years old."), each such number is replaced, on both sides alike, by a random one
of the same number of digits. A digit string is a whole word of ASCII digits: "25", "2019", the
"50" and "000" of "50,000"; not the "2" of "2h30" or the "1" of "1er", which are parts of words.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

NUMBER = re.compile(r"\b[0-9]+\b")


def shared_numbers(src: str, tgt: str) -> list[str]:
    """Digit strings occurring equally often (at least once) on both sides, in source order."""
    if not any(c.isdigit() for c in src):
        return []
    src_counts = Counter(NUMBER.findall(src))
    tgt_counts = Counter(NUMBER.findall(tgt))
    return [number for number, count in src_counts.items() if tgt_counts.get(number) == count]


def random_number(length: int, rng: random.Random) -> str:
    """A random digit string of `length` digits, without a leading zero (unless it is one digit)."""
    if length == 1:
        return str(rng.randrange(10))
    return str(rng.randrange(10 ** (length - 1), 10 ** length))


def draw_numbers(numbers: list[str], rng: random.Random) -> dict[str, str]:
    """A different new number of the same length for each of `numbers`, none of them one of `numbers`."""
    mapping: dict[str, str] = {}
    taken = set(numbers)
    for number in numbers:
        if len(number) == 1 and len(taken) >= 10:  # every one-digit number is taken
            continue
        new = random_number(len(number), rng)
        while new in taken:
            new = random_number(len(number), rng)
        mapping[number] = new
        taken.add(new)
    return mapping


def substitute_numbers(text: str, mapping: dict[str, str]) -> str:
    """`text` with every whole-word digit string that is a key of `mapping` replaced by its value."""
    return NUMBER.sub(lambda match: mapping.get(match.group(), match.group()), text)


class NumberAugmentation:
    """Substitutes the shared numbers of a corpus's pairs, a fixed function of (seed, epoch)."""

    def __init__(self, src_lines: Sequence[str], tgt_lines: Sequence[str]) -> None:
        self.src_lines, self.tgt_lines = src_lines, tgt_lines
        self.eligible: list[tuple[int, list[str]]] = []
        for i, (src, tgt) in enumerate(zip(src_lines, tgt_lines)):
            numbers = shared_numbers(src, tgt)
            if numbers:
                self.eligible.append((i, numbers))

    def changed_pairs(self, probability: float, seed: int, epoch: int,
                      changed: dict[int, tuple[str, str]] | None = None) -> dict[int, tuple[str, str]]:
        """`changed` (pairs another augmentation changed this epoch) plus the pairs whose numbers
        this epoch changes, each on top of what `changed` made of it."""
        rng = random.Random(f"number-augmentation:{seed}:{epoch}")
        result = dict(changed or {})
        for i, numbers in self.eligible:
            if rng.random() >= probability:
                continue
            src, tgt = result.get(i, (self.src_lines[i], self.tgt_lines[i]))
            mapping = draw_numbers(numbers, rng)
            result[i] = (substitute_numbers(src, mapping), substitute_numbers(tgt, mapping))
        return result
