"""Translation quality with sacrebleu: BLEU, chrF and TER with their signatures, BLEU by length.

Used by `s2s eval` and by validation during training, so both score the same way.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from seq2seq.entities import NUMBER
from seq2seq.errors import UserError

# Source-length buckets in whitespace words: (label, shortest, longest).
LENGTH_BUCKETS: list[tuple[str, int, float]] = [
    ("1-5", 0, 5), ("6-10", 6, 10), ("11-15", 11, 15), ("16-20", 16, 20), ("21-30", 21, 30),
    ("31+", 31, float("inf")),
]
# For long input (issue 32's joined tests): up to 100 words.
LONG_BUCKETS: list[tuple[str, int, float]] = [
    ("1-10", 0, 10), ("11-20", 11, 20), ("21-30", 21, 30), ("31-40", 31, 40), ("41-50", 41, 50), ("51-70", 51, 70),
    ("71-100", 71, 100), ("101+", 101, float("inf")),
]


def _check_same_length(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise UserError(f"{len(hypotheses)} hypotheses but {len(references)} references")


def score_translations(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu defaults) of hypotheses against one reference each."""
    from sacrebleu.metrics import BLEU, CHRF

    _check_same_length(hypotheses, references)
    return {"bleu": float(BLEU().corpus_score(hypotheses, [references]).score),
            "chrf": float(CHRF().corpus_score(hypotheses, [references]).score)}


def full_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """BLEU, chrF and TER with their scores, printable lines and sacrebleu signatures."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    _check_same_length(hypotheses, references)
    scores: dict[str, Any] = {}
    for key, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        result = metric.corpus_score(hypotheses, [references])
        scores[key] = {"score": round(float(result.score), 4), "text": str(result),
                       "signature": str(metric.get_signature())}
        if key == "bleu":  # beam output that is too short shows here first (issue 11)
            scores[key]["brevity_penalty"] = round(float(result.bp), 4)
            scores[key]["length_ratio"] = round(float(result.sys_len) / max(float(result.ref_len), 1.0), 4)
    return scores


def bleu_by_length(sources: list[str], hypotheses: list[str], references: list[str],
                   buckets: Sequence[tuple[str, int, float]] = tuple(LENGTH_BUCKETS)) -> list[dict[str, Any]]:
    """Corpus BLEU per source-length bucket (whitespace words; LENGTH_BUCKETS unless `buckets`).

    Returns [{"bucket": "1-5", "sentences": n, "bleu": float or None (empty bucket)}].
    """
    from sacrebleu.metrics import BLEU

    rows = []
    for label, low, high in buckets:
        members = [i for i, s in enumerate(sources) if low <= len(s.split()) <= high]
        bleu = None
        if members:
            bleu = round(float(BLEU().corpus_score([hypotheses[i] for i in members],
                                                   [[references[i] for i in members]]).score), 4)
        rows.append({"bucket": label, "sentences": len(members), "bleu": bleu})
    return rows


def contains_word(text: str, token: str) -> bool:
    """Whether `token` occurs in `text` verbatim as a whole word: not inside a longer word or
    number ("Ann" is not in "Annual", "25" not in "1925"); punctuation around it is fine. A
    number also counts as the digits of an ordinal or a time ("2" in "2nd", "5" in "5pm"), as
    NUMBER finds them."""
    if token.isdigit():
        return token in NUMBER.findall(text)
    return re.search(rf"(?<!\w){re.escape(token)}(?!\w)", text) is not None


def copy_rate(hypotheses: Sequence[str], expected: Sequence[Sequence[str]]) -> dict[str, Any]:
    """How many outputs hold every token expected of them (names, numbers) verbatim.

    expected[i]: the tokens sentence i's output must contain (none: the sentence is not counted).
    Returns {"copy_rate": percent of the counted sentences or None, "copied": k, "sentences": n,
    "tokens_copied", "tokens", "missed": 1-based line numbers of the first 20 misses}.
    """
    _check_same_length(hypotheses, expected)
    counted = copied = tokens = tokens_copied = 0
    missed: list[int] = []
    for line, (hypothesis, wanted) in enumerate(zip(hypotheses, expected), 1):
        if not wanted:
            continue
        found = sum(contains_word(hypothesis, token) for token in wanted)
        counted, tokens, tokens_copied = counted + 1, tokens + len(wanted), tokens_copied + found
        if found == len(wanted):
            copied += 1
        elif len(missed) < 20:
            missed.append(line)
    rate = round(100 * copied / counted, 2) if counted else None
    return {"copy_rate": rate, "copied": copied, "sentences": counted, "tokens_copied": tokens_copied,
            "tokens": tokens, "missed": missed}
