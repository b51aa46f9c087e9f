"""The one exception type a user ever sees, and where warnings go.

Anything the user can fix (a bad config key, a missing corpus, a checkpoint of another model)
is raised as `UserError` with a one-line message naming the file/line/key and what to do.
The CLI prints it on stderr as `error: <message>` and exits with code 1; no traceback.

A warning is said through a `Warnings` sink: a command says each one (once per call); the
server installs `ThrottledWarnings`, so clients that keep sending what warns cannot flood its log.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable


class UserError(Exception):
    """An error caused by the user's input, reported as one clear line."""


class Warnings:
    """Every warning on stderr, as it comes."""

    def say(self, kind: str, count: int, message: Callable[[int], str]) -> None:
        """Say `message(count)`: `count` things of `kind` (e.g. sentences cut) happened."""
        print(message(count), file=sys.stderr, flush=True)


class ThrottledWarnings(Warnings):
    """A kind of warning said the first time, then at most once per `interval_s`, counting what
    came meanwhile (said with the next one). Safe to share between threads."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self.clock = interval_s, clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # kind -> when it was last said
        self._pending: dict[str, int] = {}  # kind -> count not yet said

    def say(self, kind: str, count: int, message: Callable[[int], str]) -> None:
        with self._lock:
            now, last = self.clock(), self._last.get(kind)
            count += self._pending.pop(kind, 0)
            if last is not None and now - last < self.interval_s:
                self._pending[kind] = count
                return
            self._last[kind] = now
        since = "" if last is None else f" (in the last {now - last:.0f} s; said at most every {self.interval_s:g} s)"
        print(message(count) + since, file=sys.stderr, flush=True)
