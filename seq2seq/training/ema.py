"""An exponential moving average of the weights (`train.ema_decay`), kept beside the trained ones.

After every optimiser step each float32 average a moves towards its parameter p:

    a <- d * a + (1 - d) * p,   d = min(ema_decay, (1 + n) / (10 + n)),  n = updates averaged before

so the first updates are not dominated by the initial weights (d is 0.1, 0.18, 0.25, ... until
it reaches ema_decay). One fused `_foreach_lerp_` over all parameters per update. Validation,
best.pt and the step-<N>.pt files use the averaged weights (`swapped_in`); last.pt keeps the
trained ones and `state_dict()`, so a resumed run continues both exactly. Buffers are not
averaged: the model's own (current) buffers go with the averaged parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager

import torch


class EMA:
    """float32 moving averages of `model`'s parameters."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0  # updates averaged so far
        named = dict(model.named_parameters())  # tied weights appear once
        self.names = list(named)
        self.params = [named[name] for name in self.names]
        with torch.no_grad():
            self.averages = [p.detach().float().clone() for p in self.params]

    def current_decay(self) -> float:
        """The decay of the next update: warm-up corrected."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move every average towards its parameter (call after each optimiser step)."""
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(self.averages, [p.detach().float() for p in self.params], weight)
        self.updates += 1

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averages in the model's parameters for the block; the trained weights back after it."""
        with torch.no_grad():
            trained = [p.detach().clone() for p in self.params]
            torch._foreach_copy_([p.detach() for p in self.params], self.averages)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], trained)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates,
                "averages": {name: a.clone() for name, a in zip(self.names, self.averages)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        with torch.no_grad():
            for name, average in zip(self.names, self.averages):
                average.copy_(state["averages"][name])


def averaged(ema: EMA | None) -> ContextManager[Any]:
    """`ema.swapped_in()`, or nothing to do when train.ema_decay is 0."""
    return ema.swapped_in() if ema is not None else nullcontext()
