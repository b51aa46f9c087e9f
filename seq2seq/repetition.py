"""Repetition: the test that ends a hypothesis stuck in a loop ("house house house ..."), and
n-gram blocking, which keeps it from looping at all.

Beam and greedy search call `repeating` on the tokens of every live hypothesis at each step
(SearchOptions.max_repeats); it is cheap on the steps of an ordinary translation. With
SearchOptions.no_repeat_ngram they also call `block_repeated_ngrams_`, as fairseq's
--no-repeat-ngram-size and CTranslate2's no_repeat_ngram_size do: no hypothesis may repeat an
n-gram of pieces, so "of the president of the president" cannot be written; and with
SearchOptions.max_piece_run `block_piece_runs_`: no piece stands more than that many times in a
row ("indededed", "fire fire fire"), the stutter of a model that does not know a rare word.
"""

from __future__ import annotations

import torch
from torch import Tensor

MAX_REPEAT_UNIT = 4  # longest run of tokens that SearchOptions.max_repeats looks for


def repeating(history: Tensor, max_repeats: int) -> Tensor:
    """(rows,) bool: the row's last tokens repeat themselves (always False when max_repeats is 0).

    Either one token, or one run of up to MAX_REPEAT_UNIT tokens, repeated `max_repeats` times in
    a row ("house house house ..."); or the last MAX_REPEAT_UNIT x max_repeats tokens drawn from
    at most MAX_REPEAT_UNIT distinct ones (the variations beam search finds: "house house home
    house house ..."), looked for once the newest token repeats one of the few before it.
    history: (rows, length) long, the tokens so far.
    """
    rows, length = history.shape
    found = torch.zeros(rows, dtype=torch.bool, device=history.device)
    if max_repeats < 1 or length < max_repeats:
        return found
    # A repeat ends with a token that stands among the few before it: on most steps of an
    # ordinary translation none does, and this one test is all the step pays.
    recent = history[:, -(MAX_REPEAT_UNIT + 1):]
    if not bool((recent[:, -1:] == recent[:, :-1]).any()):
        return found
    for unit in range(1, MAX_REPEAT_UNIT + 1):
        span = unit * max_repeats
        if span > length:
            break
        tail = history[:, length - span:].reshape(rows, max_repeats, unit)
        found |= (tail == tail[:, -1:]).all(dim=2).all(dim=1)
    window = MAX_REPEAT_UNIT * max_repeats
    if length >= window:
        ordered = history[:, length - window:].sort(dim=1).values
        distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(dim=1)
        found |= distinct <= MAX_REPEAT_UNIT
    return found


def block_repeated_ngrams_(log_probs: Tensor, history: Tensor, n: int) -> None:
    """In place: every piece that would complete an n-gram the row already holds gets -inf.

    log_probs: (rows, vocab); history: (rows, length) the tokens so far. The last n - 1 tokens
    are compared with every earlier run of n - 1 tokens; where one matches, the token that
    followed it is blocked (n = 1: every token already written).
    """
    rows, length = history.shape
    if n < 1 or length < n:
        return
    if n == 1:
        log_probs.scatter_(1, history, float("-inf"))
        return
    windows = history.unfold(1, n, 1)  # (rows, length - n + 1, n): every n-gram so far
    prefix = history[:, length - n + 1:]  # (rows, n - 1): what the next token would extend
    match = (windows[:, :, :-1] == prefix.unsqueeze(1)).all(dim=2)  # (rows, length - n + 1)
    if not bool(match.any()):
        return
    row, position = match.nonzero(as_tuple=True)
    log_probs[row, windows[row, position, -1]] = float("-inf")


def block_piece_runs_(log_probs: Tensor, history: Tensor, longest: int) -> None:
    """In place: where the last `longest` tokens are one piece, that piece gets -inf (it would stand
    `longest` + 1 times in a row)."""
    rows, length = history.shape
    if longest < 1 or length < longest:
        return
    tail = history[:, length - longest:]
    running = (tail == tail[:, -1:]).all(dim=1)
    if bool(running.any()):
        where = running.nonzero().squeeze(1)
        log_probs[where, tail[where, -1]] = float("-inf")
