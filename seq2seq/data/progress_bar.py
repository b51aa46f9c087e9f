"""What `s2s data prepare` tells the user while it works, on stderr.

    [prepare   1.2s] splitting 1,583,112 pairs by source sentence (seed 1)       a stage line
    [prepare  14.0s] pass 1 ███████░░░░░ 58% 934,000/1,607,030 lines 71,300/s ETA 9s   a bar

On a terminal a pass shows a bar redrawn in place (carriage return, a few times a second) and
ended by a newline; elsewhere (a log file, a pipe, CI) a plain line every PLAIN_INTERVAL seconds,
so a log of a long run shows that it moves without filling up with redraws.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

PLAIN_INTERVAL = 10.0  # seconds between the progress lines written to a non-terminal
TTY_INTERVAL = 0.2  # seconds between two redraws of the bar
BAR_WIDTH = 24


class Progress:
    """The stage lines of one prepare (elapsed time since it started) and the bar of each pass."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.start = time.monotonic()
        self.stream = stream

    @property
    def out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr  # looked up late: tests capture it

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __call__(self, message: str) -> None:
        print(f"[prepare {self.elapsed():5.1f}s] {message}", file=self.out, flush=True)

    def bar(self, what: str, total: int, unit: str = "lines") -> "Bar":
        """A bar for a pass over `total` units (0: unknown)."""
        return Bar(self, what, total, unit)


class Bar:
    """Progress of one pass; `update(n)` after each chunk, `close()` at its end."""

    def __init__(self, progress: Progress, what: str, total: int, unit: str) -> None:
        self.progress, self.what, self.total, self.unit = progress, what, total, unit
        self.done = 0
        self.started = time.monotonic()
        self.tty = _is_terminal(progress.out)
        self.shown_at = self.started  # a plain line only after PLAIN_INTERVAL, not at once
        self.drawn = False

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        interval = TTY_INTERVAL if self.tty else PLAIN_INTERVAL
        if now - self.shown_at >= interval:
            self.shown_at = now
            self._show(now)

    def close(self) -> None:
        """Ends the bar's line on a terminal (with the final figures); nothing elsewhere."""
        if self.tty and self.drawn:
            self._show(time.monotonic())
            print(file=self.progress.out, flush=True)

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        """The text of the bar or of a plain progress line."""
        seconds = max(now - self.started, 1e-9)
        rate = self.done / seconds
        head = f"[prepare {now - self.progress.start:5.1f}s] {self.what}"
        if not self.total:
            return f"{head}: {self.done:,} {self.unit}, {rate:,.0f} {self.unit}/s"
        fraction = min(self.done / self.total, 1.0)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        figures = (f"{fraction:4.0%} {self.done:,}/{self.total:,} {self.unit} {rate:,.0f}/s "
                   f"ETA {format_seconds(max(eta, 0.0))}")
        if not self.tty:
            return f"{head}: {figures}"
        filled = round(fraction * BAR_WIDTH)
        return f"{head} {'█' * filled}{'░' * (BAR_WIDTH - filled)} {figures}"

    def _show(self, now: float) -> None:
        out = self.progress.out
        if self.tty:
            print(f"\r{self.line(now)}\033[K", end="", file=out, flush=True)  # \033[K: clear a longer old line
            self.drawn = True
        else:
            print(self.line(now), file=out, flush=True)


def format_seconds(seconds: float) -> str:
    """12 -> "12s", 754 -> "12m34s", 7384 -> "2h03m"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
