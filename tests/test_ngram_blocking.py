"""N-gram blocking (decode.no_repeat_ngram): no output repeats an n-gram of pieces, in greedy and
beam search; a wide beam finds the best output that has none; outputs without a repeat do not
change; an exported CTranslate2 model blocks the same n-grams. And decode.max_piece_run: no piece
more than k times in a row."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from test_decode import A, B, C, TRAP, CopyModel, TableModel, brute_force, markov_table, pad
from test_pipeline import LINES, engines, short_export, short_run  # noqa: F401 -- fixtures

from seq2seq.repetition import block_piece_runs_, block_repeated_ngrams_
from seq2seq.search import SearchOptions, beam_search, greedy_decode, search
from seq2seq.special_tokens import BOS_ID, EOS_ID

# A model that loops: after A comes B, after B comes A, and EOS is unlikely everywhere.
LOOP = markov_table(7, {BOS_ID: {A: 0.6, C: 0.3}, A: {B: 0.7, C: 0.2, EOS_ID: 0.04},
                        B: {A: 0.7, C: 0.2, EOS_ID: 0.04}, C: {A: 0.5, B: 0.3, EOS_ID: 0.15}})  # no ties


def repeats_an_ngram(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def test_the_piece_that_would_repeat_an_ngram_is_blocked() -> None:
    history = torch.tensor([[5, 6, 7, 5, 6], [5, 6, 7, 8, 9]])
    for n, blocked in ((1, [{5, 6, 7}, {5, 6, 7, 8, 9}]), (2, [{7}, set()]), (3, [{7}, set()]), (4, [set(), set()]),
                       (6, [set(), set()])):
        log_probs = torch.zeros(2, 12)
        block_repeated_ngrams_(log_probs, history, n)
        assert [set(torch.nonzero(row == float("-inf")).flatten().tolist()) for row in log_probs] == blocked, n


def test_a_piece_may_not_run_longer_than_the_limit() -> None:
    history = torch.tensor([[5, 6, 6], [6, 6, 6], [5, 6, 5]])
    log_probs = torch.zeros(3, 9)
    block_piece_runs_(log_probs, history, 2)
    assert [torch.nonzero(row == float("-inf")).flatten().tolist() for row in log_probs] == [[6], [6], []]
    # a model that stutters: after A, A again is likeliest
    stutter = markov_table(7, {BOS_ID: {A: 0.9}, A: {A: 0.8, B: 0.1, EOS_ID: 0.05}, B: {EOS_ID: 0.8}})
    src, lengths = pad([[A, EOS_ID]])
    assert greedy_decode(TableModel(stutter), src, lengths, 8)[0].tokens == [A] * 8
    for k in (1, 2, 3):
        found = [greedy_decode(TableModel(stutter), src, lengths, 8, max_piece_run=k)[0].tokens]
        found += [h.tokens for h in beam_search(TableModel(stutter), src, lengths, 8, 3, n_best=3, max_piece_run=k)[0]]
        assert all(max(len(list(g)) for _, g in itertools.groupby(tokens)) <= k for tokens in found)
        assert found[0] == [A] * k + [B]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_greedy_and_beam_never_repeat_an_ngram(n: int) -> None:
    src, lengths = pad([[A, EOS_ID]] * 3)
    plain = greedy_decode(TableModel(LOOP), src, lengths, 12)[0].tokens
    assert repeats_an_ngram(plain, n)  # the model loops without blocking
    greedy = greedy_decode(TableModel(LOOP), src, lengths, 12, no_repeat_ngram=n)
    beams = beam_search(TableModel(LOOP), src, lengths, 12, 4, n_best=4, no_repeat_ngram=n)
    outputs = [h.tokens for h in greedy] + [h.tokens for hyps in beams for h in hyps]
    assert all(not repeats_an_ngram(tokens, n) for tokens in outputs)
    # beam 1 is greedy with blocking too
    assert [h[0].tokens for h in beam_search(TableModel(LOOP), src, lengths, 12, 1, no_repeat_ngram=n)] == \
        [h.tokens for h in greedy]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_wide_beam_finds_the_best_output_without_a_repeated_ngram(n: int) -> None:
    src, lengths = pad([[A, EOS_ID]])
    allowed = [(score, tokens) for score, tokens in brute_force(LOOP, 5, 0.0) if not repeats_an_ngram(tokens, n)]
    found = beam_search(TableModel(LOOP), src, lengths, 5, 200, n_best=3, min_length=0, no_repeat_ngram=n)[0]
    assert [h.tokens for h in found] == [tokens for _, tokens in allowed[:3]]
    assert [h.score for h in found] == pytest.approx([score for score, _ in allowed[:3]], abs=1e-5)


def test_outputs_without_a_repeated_ngram_do_not_change() -> None:
    sources = [[4, 5, 6, 7, EOS_ID], [8, EOS_ID], [9, 4, 5, 6, 8, 7, EOS_ID]]
    src, lengths = pad(sources)
    for beam, n in itertools.product((1, 3), (2, 3, 4)):
        options = SearchOptions(beam_size=beam, no_repeat_ngram=n)
        assert search(CopyModel(), src, lengths, 20, options) == search(CopyModel(), src, lengths, 20,
                                                                         SearchOptions(beam_size=beam))
    trap, trap_lengths = pad([[A, EOS_ID]])
    assert search(TableModel(TRAP), trap, trap_lengths, 5, SearchOptions(beam_size=2, no_repeat_ngram=2)) == \
        search(TableModel(TRAP), trap, trap_lengths, 5, SearchOptions(beam_size=2))


@pytest.mark.parametrize("beam", [1, 3])
def test_an_export_blocks_the_same_ngrams(short_run, short_export, beam: int) -> None:  # noqa: F811
    """A random model loops; both engines block its repeats: alike in greedy search (beam search
    ranks hypotheses a little differently in CTranslate2, as without blocking)."""
    s2s, ct2 = engines(short_run, short_export, beam=beam, no_repeat_ngram=2, split=False)
    lines = [line for line in LINES if line and len(line) < 200]
    loose = best_tokens(engines(short_run, None, beam=beam, split=False)[0], lines)
    blocked = best_tokens(s2s, lines)
    assert blocked != loose and any(repeats_an_ngram(tokens, 2) for tokens in loose)
    assert all(not repeats_an_ngram(tokens, 2) for tokens in blocked)
    exported = best_tokens(ct2, lines)
    assert all(not repeats_an_ngram(tokens, 2) for tokens in exported)
    if beam == 1:
        assert exported == blocked


def best_tokens(translator, lines: list[str]) -> list[list[int]]:
    return [result.best.tokens for result in translator.translate_batch(lines)]


def test_the_length_cap_follows_the_source(short_run) -> None:  # noqa: F811
    """decode.max_len_ratio x source pieces + max_len_offset bounds every output of a model that
    would run on (a random one, no repetition rule), per sentence."""
    translator = engines(short_run, None, beam=2, no_repeat_ngram=0, split=False)[0]
    translator.settings = dataclasses.replace(translator.settings, max_len_ratio=1.2, max_len_offset=2)
    lines = ["Bonjour.", "Il fait très beau aujourd'hui, allons nous promener.", "Où est la gare ?"]
    results = translator.translate_batch(lines)
    sources = [translator.src_tokenizer.encode(line) for line in lines]
    assert all(len(r.best.tokens) <= int(1.2 * len(ids) + 2) for r, ids in zip(results, sources))
    assert any(len(r.best.tokens) == int(1.2 * len(ids) + 2) for r, ids in zip(results, sources))  # it ran on
