"""Repetition: the test that ends a hypothesis stuck in a loop ("house house house ...").

Beam and greedy search call `repeating` on the tokens of every live hypothesis at each step
(SearchOptions.max_repeats); it is cheap on the steps of an ordinary translation.
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
