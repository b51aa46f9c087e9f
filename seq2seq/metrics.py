"""Translation quality with sacrebleu: BLEU, chrF and TER with their signatures, BLEU by length.

Used by `s2s eval` and by validation during training, so both score the same way.
"""

from __future__ import annotations

from typing import Any, Sequence

from seq2seq.errors import UserError

# Source-length buckets in whitespace words: (label, shortest, longest).
LENGTH_BUCKETS: list[tuple[str, int, float]] = [
    ("1-5", 0, 5), ("6-10", 6, 10), ("11-15", 11, 15), ("16-20", 16, 20), ("21-30", 21, 30),
    ("31+", 31, float("inf")),
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
    return scores


def bleu_by_length(sources: list[str], hypotheses: list[str],
                   references: list[str]) -> list[dict[str, Any]]:
    """Corpus BLEU per source-length bucket (whitespace words; see LENGTH_BUCKETS).

    Returns [{"bucket": "1-5", "sentences": n, "bleu": float or None (empty bucket)}].
    """
    from sacrebleu.metrics import BLEU

    rows = []
    for label, low, high in LENGTH_BUCKETS:
        members = [i for i, s in enumerate(sources) if low <= len(s.split()) <= high]
        bleu = None
        if members:
            bleu = round(float(BLEU().corpus_score([hypotheses[i] for i in members],
                                                   [[references[i] for i in members]]).score), 4)
        rows.append({"bucket": label, "sentences": len(members), "bleu": bleu})
    return rows
