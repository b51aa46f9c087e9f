"""The batcher of `s2s serve`: the threads that run the model, in fair, bounded batches.

Requests (jobs) queue here; the batcher translates their sentences in batches, on `workers`
threads side by side (each takes the next batch when it is free, one at a time; on a CPU each
runs its share of the cores: two one-core workers decoded 1.5-1.7x as many sentences/s as one
two-core worker on 2 cores, small matrix products using a second core poorly; a worker takes only
its share of what waits while others are free, so they run side by side). Before each batch
it waits up to `window_ms` for requests that arrive together (longer while fewer wait than the
last batch had: see `_gather`), and not at all while a full batch's work is already waiting, so
the model is not left idle. A batch takes sentences round-robin
from every waiting request with the same search options (beam, n_best, attention), one each in turn, up to
`max_batch_texts` sentences and `max_batch_chars` characters x beam: a request of many long
sentences is split over several batches, and a small request that comes meanwhile rides in the
next one instead of waiting for the whole big one. A request whose sentences make the model
fail fails alone: a failed batch is retried request by request. A request whose client went away
is translated no further, and at most `max_queued_texts` sentences wait: more are refused.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Limits:
    """What one request may ask for, and how the batcher gathers work; `s2s serve`'s options."""

    max_texts: int = 64  # sentences in one request (--max-texts)
    max_chars: int = 2000  # characters in one sentence (--max-chars)
    max_request_chars: int = 20000  # characters in all the sentences of one request (--max-request-chars)
    max_beam: int = 16  # "beam" and "n_best" of one request (--max-beam)
    max_body_bytes: int = 1 << 20  # bytes of one request body (--max-body-bytes)
    body_timeout_s: float = 30.0  # a body not all sent by then is refused (408): no slow client holds a socket
    window_ms: float = 5.0  # how long a batch waits for more requests to arrive (--batch-window-ms)
    max_batch_texts: int = 256  # sentences translated in one call
    max_batch_chars: int = 8000  # characters x beam translated in one call (--max-batch-chars)
    max_queued_texts: int = 4096  # sentences waiting in the server; more: 503 (--max-queued-texts)
    workers: int = 1  # batches translated side by side, each by its own thread (--workers)

    def public(self) -> dict[str, Any]:
        """The limits as GET /info reports them."""
        return {"max_texts": self.max_texts, "max_chars": self.max_chars,
                "max_request_chars": self.max_request_chars, "max_beam": self.max_beam,
                "max_body_bytes": self.max_body_bytes, "body_timeout_s": self.body_timeout_s,
                "batch_window_ms": self.window_ms,
                "max_batch_texts": self.max_batch_texts, "max_batch_chars": self.max_batch_chars,
                "max_queued_texts": self.max_queued_texts, "workers": self.workers}


@dataclass(eq=False)  # jobs are told apart by identity
class Job:
    """One request: its sentences, its search options, and the future its handler awaits."""

    texts: list[str]
    beam: int | None
    n_best: int
    done: asyncio.Future = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    attention: bool = False  # its results carry the attention (the page of `s2s serve`)
    results: list[Any] = field(default_factory=list, repr=False)  # one per text, None until translated
    handed: int = 0  # texts[:handed] are in a batch (translated, or being translated by a worker)
    completed: int = 0  # texts translated
    failed: bool = False
    abandoned: bool = False  # its client went away: its sentences left are not translated
    left: bool = False  # its sentences no longer count in the queue

    def __post_init__(self) -> None:
        self.results = [None] * len(self.texts)

    @property
    def key(self) -> tuple[int | None, int, bool]:
        """What a batch's jobs share: how to search, and whether to keep the attention."""
        return self.beam, self.n_best, self.attention

    def finish(self, error: str | None = None) -> None:
        self.failed = self.failed or error is not None
        if self.abandoned:  # nobody would read it (an unread error would be logged)
            return
        self.loop.call_soon_threadsafe(_settle, self.done, None if error else self.results, error)


def _settle(future: asyncio.Future, results: Any, error: str | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(RuntimeError(error))
    else:
        future.set_result(results)


Slice = tuple[Job, int, int]  # a job, its first sentence in the batch, how many


class Batcher:
    """The threads that run the model (`limits.workers`): they translate the queued jobs in fair batches."""

    def __init__(self, translator: Any, limits: Limits) -> None:
        self.translator, self.limits = translator, limits
        self.default_beam = int(getattr(getattr(translator, "settings", None), "beam_size", 1) or 1)
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.pending: deque[Job] = deque()  # jobs with sentences not yet in a batch, in serving order
        self.batches = 0  # model calls made, for /info
        self.failing: str | None = None  # the error of the latest round when every call of it failed
        self.queued = 0  # sentences of the requests in the server, for the limit and /info
        self.last_count, self.last_seconds = 0, 0.0  # sentences in the last batch, and its time
        self.lock = threading.Lock()  # the counters and the jobs' progress
        self.turn = threading.Lock()  # one worker at a time gathers jobs and takes its batch
        self.closed = False
        self.busy = 0  # workers translating a batch
        self.threads = [threading.Thread(target=self._run, name=f"s2s-batcher-{i}", daemon=True)
                        for i in range(max(1, limits.workers))]
        for thread in self.threads:
            thread.start()

    def submit(self, job: Job) -> bool:
        """Queue `job`; False (not queued) when that would exceed max_queued_texts waiting sentences."""
        with self.lock:
            if self.queued and self.queued + len(job.texts) > self.limits.max_queued_texts:
                return False
            self.queued += len(job.texts)
        self.jobs.put(job)
        return True

    def _leave(self, job: Job) -> None:
        """Its sentences no longer count in the queue (once, however it ended)."""
        with self.lock:
            if not job.left:
                job.left = True
                self.queued -= len(job.texts)

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            started = time.monotonic()
            try:
                self._round(batch)
            finally:
                with self.lock:
                    self.busy -= 1
            self.last_seconds = time.monotonic() - started

    def _next_batch(self) -> list[Slice] | None:
        """This worker's next batch, once it is its turn and there is work; None once closed."""
        with self.turn:
            while True:
                if self.closed:
                    return None
                pending = self.pending
                if not pending:  # nothing to do: wait for a request
                    job = self.jobs.get()
                    if job is None:
                        self.closed = True
                        return None
                    pending.append(job)
                if not self._gather(pending):
                    self.closed = True
                    for job in pending:
                        if not job.failed:  # (a failed one was answered)
                            job.finish("the server is stopping")
                        self._leave(job)
                    return None
                for job in [job for job in pending if job.abandoned or job.failed]:  # nobody waits for it
                    pending.remove(job)
                    self._leave(job)
                if pending:
                    batch = self._take(pending)
                    with self.lock:
                        self.busy += 1
                    return batch

    def _gather(self, pending: deque[Job]) -> bool:
        """Move queued jobs into `pending` for the batch window, or not at all while a full batch
        waits; False once closed. While fewer sentences wait than the last batch had, it waits
        longer, up to a tenth of that batch's time: the clients just answered are sending their
        next requests, and one batch of all of them costs much less than a big and a small batch
        taking turns (which is what a fixed 5 ms window gives on a busy machine)."""
        now = time.monotonic()
        short = now + self.limits.window_ms / 1000
        long = max(short, now + min(0.1 * self.last_seconds, 0.5))
        while True:
            waiting = sum(len(job.texts) - job.handed for job in pending)
            deadline = short if waiting >= self.last_count else long
            # with a full batch waiting, take only what is queued (timeout 0 still takes a queued job)
            timeout = 0.0 if self._full(pending) else max(0.0, deadline - time.monotonic())
            try:
                job = self.jobs.get(timeout=timeout)
            except queue.Empty:
                return True
            if job is None:
                return False
            pending.append(job)

    def _full(self, pending: deque[Job]) -> bool:
        count = work = 0
        for job in pending:
            beam = max(job.beam or self.default_beam, job.n_best)
            for text in job.texts[job.handed:]:
                count, work = count + 1, work + (len(text) + 1) * beam
                if count >= self.limits.max_batch_texts or work >= self.limits.max_batch_chars:
                    return True
        return False

    def _take(self, pending: deque[Job]) -> list[Slice]:
        """The next batch: sentences round-robin from the jobs with the first job's options. The
        jobs it serves go to the back of `pending` (those with nothing left to hand out leave it)."""
        key = pending[0].key
        beam = max(key[0] or self.default_beam, key[1])
        jobs = [job for job in pending if job.key == key]
        taken = dict.fromkeys(jobs, 0)
        count = work = 0
        # with other workers free, take only this worker's share: the rest is theirs at once
        # (else one worker took every waiting request while the others idled, turn by turn)
        free = max(1, len(self.threads) - self.busy)
        most = min(self.limits.max_batch_texts, -(-sum(len(job.texts) - job.handed for job in jobs) // free))
        full = False
        while not full:
            grew = False
            for job in jobs:
                index = job.handed + taken[job]
                if index >= len(job.texts):
                    continue
                cost = (len(job.texts[index]) + 1) * beam
                if count and (count >= most or work + cost > self.limits.max_batch_chars):
                    full = True
                    break
                taken[job] += 1
                count, work, grew = count + 1, work + cost, True
            full = full or not grew
        batch = [(job, job.handed, n) for job, n in taken.items() if n]
        for job, _, n in batch:
            job.handed += n
        served = set(taken)
        unfinished = [job for job in pending if job in served and job.handed < len(job.texts)]
        rest = [job for job in pending if job not in served]
        pending.clear()
        pending.extend(rest + unfinished)  # round-robin: who was served waits behind who was not
        return batch

    def _round(self, batch: list[Slice]) -> None:
        """Translate one batch; answer the jobs it completes."""
        self.last_count = sum(n for _, _, n in batch)
        outcome = {"ok": 0, "error": None}
        self._translate(batch, batch[0][0].key, outcome)
        if outcome["ok"]:
            self.failing = None
        elif outcome["error"]:
            self.failing = outcome["error"]
        for job in {job for job, _, _ in batch}:
            with self.lock:  # answered once, by the worker that translated its last sentences
                complete = not job.failed and not job.left and job.completed == len(job.texts)
                if complete:
                    job.left = True
                    self.queued -= len(job.texts)
            if complete:
                job.finish()

    def _translate(self, batch: list[Slice], key: tuple[int | None, int, bool], outcome: dict[str, Any]) -> None:
        texts = [text for job, start, n in batch for text in job.texts[start:start + n]]
        beam, n_best, attention = key
        try:
            results = self.translator.translate_batch(texts, beam=beam, n_best=n_best, attention=attention)
            with self.lock:
                self.batches += 1
        except Exception as exc:  # noqa: BLE001 - answered as a 500, the server goes on
            if len(batch) > 1:  # one request's sentences may be the cause: only that request fails
                for part in batch:
                    self._translate([part], key, outcome)
                return
            message = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            print(f"warning: a translation failed: {message}", file=sys.stderr, flush=True)
            outcome["error"] = message
            job = batch[0][0]
            with self.lock:
                first = not job.failed
                job.failed = True
            if first:  # another worker may have failed on its other sentences
                job.finish(message)
                self._leave(job)
            return
        outcome["ok"] += 1
        offset = 0
        for job, start, n in batch:
            job.results[start:start + n] = results[offset:offset + n]
            offset += n
            with self.lock:
                job.completed += n
