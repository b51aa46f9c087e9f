"""Worker processes for `s2s data prepare`: chunks of work in order, one in flight per worker.

`ChunkPool(workers, in_process)` runs `function(task)` over an iterable of tasks and yields
(task, result) in the tasks' order. Each worker has its own pipe and at most one task: task i
goes to worker i % workers as soon as that worker has handed back its previous result, so the
reader never piles the corpus up in a queue, and the output cannot depend on timing or on the
number of workers. `in_process=True` (a tiny corpus) runs the same calls in this process.

Why not multiprocessing.Pool or concurrent.futures: a Pool worker that dies (killed for lack of
memory) loses its task and the caller waits for ever; a ProcessPoolExecutor whose workers are
stopped while one sends a result can hang its manager thread, and with it the interpreter's
exit. Here there is no helper thread: a dead worker is an EOF on its pipe (a one-line error),
and stopping is terminating the processes.

Workers ignore Ctrl-C and take the default SIGTERM action: the main process alone stops, and
ends them on the way out (`with` block), so nothing outlives an interrupted prepare.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import pickle
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterable, Iterator, TypeVar

from seq2seq.errors import UserError

T = TypeVar("T")
R = TypeVar("R")
_STOP = {signal.SIGINT, signal.SIGTERM}
_END = object()
DIED = ("a worker process of `s2s data prepare` ended unexpectedly (killed, e.g. for lack of memory); "
        "set data.workers lower or free memory, then run it again")


def worker_count(setting: int) -> int:
    """data.workers: 0 = one per core."""
    return setting if setting > 0 else (os.cpu_count() or 1)


def _serve(conn: Connection, initializer: Callable[..., None] | None, initargs: tuple[Any, ...],
           inherited: list[Connection]) -> None:
    """A worker: (function, task) in, (True, result) or (False, exception) out, until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process stops, then ends the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's handler, which raises to unwind
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP)  # blocked while the workers were forked (ChunkPool)
    for other in inherited:  # the main process's ends, copied by fork: held here, a dead main gives no EOF
        other.close()
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        function, task = message
        try:
            reply = (True, function(task))
        except Exception as exc:  # handed to the main process, which raises it
            exc.add_note("in a worker process of `s2s data prepare`:\n" + traceback.format_exc())
            reply = (False, exc if _picklable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}"))
        conn.send(reply)


def _picklable(exc: Exception) -> bool:
    try:
        pickle.dumps(exc)
        return True
    except Exception:
        return False


class ChunkPool:
    """`map` in order over worker processes (or in this process); use it as a context manager."""

    def __init__(self, workers: int, in_process: bool, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        self.busy: set[int] = set()  # workers with a task whose result is not read yet
        if in_process:
            if initializer is not None:
                initializer(*initargs)
            return
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")  # fork: no re-import
        # Ctrl-C or SIGTERM during a fork would raise inside the interpreter's at-fork hooks, which
        # swallow it (the interruption is lost) or leave logging's lock taken (a hang at exit):
        # held back while the workers are made, raised by the unblocking call right after.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP)
        try:
            for _ in range(max(1, workers)):
                mine, theirs = context.Pipe()
                inherited = [*self.pipes, mine] if context.get_start_method() == "fork" else []
                process = context.Process(target=_serve, args=(theirs, initializer, initargs, inherited), daemon=True)
                process.start()
                theirs.close()  # only the worker holds its end: its death is an EOF here
                self.processes.append(process)
                self.pipes.append(mine)
        finally:
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP)
            except BaseException:
                self.__exit__(KeyboardInterrupt)
                raise

    def map(self, function: Callable[[T], R], tasks: Iterable[T]) -> Iterator[tuple[T, R]]:
        """(task, function(task)) for each task, in order."""
        if not self.processes:
            for task in tasks:
                yield task, function(task)
            return
        tasks = iter(tasks)
        pending: collections.deque[tuple[int, T]] = collections.deque()
        for worker in range(len(self.processes)):
            task = next(tasks, _END)
            if task is _END:
                break
            self._send(worker, function, task)
            pending.append((worker, task))
        upcoming = next(tasks, _END)
        while pending:
            worker, task = pending.popleft()
            result = self._receive(worker)
            if upcoming is not _END:  # the worker gets its next chunk at once; this one is read meanwhile
                self._send(worker, function, upcoming)
                pending.append((worker, upcoming))
                upcoming = next(tasks, _END)
            yield task, result

    def _send(self, worker: int, function: Callable[[T], R], task: T) -> None:
        try:
            self.pipes[worker].send((function, task))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise UserError(DIED) from None
        self.busy.add(worker)

    def _receive(self, worker: int) -> Any:
        try:
            ok, value = self.pipes[worker].recv()
        except (EOFError, ConnectionResetError):
            raise UserError(DIED) from None
        self.busy.discard(worker)
        if not ok:
            raise value
        return value

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        for worker, (process, pipe) in enumerate(zip(self.processes, self.pipes)):
            if kind is None and worker not in self.busy:
                try:
                    pipe.send(None)  # done: the worker returns
                except OSError:
                    pass
            else:
                process.terminate()  # an error or Ctrl-C (or a result nobody reads): stop it now
        for process, pipe in zip(self.processes, self.pipes):
            process.join()
            pipe.close()
        self.processes, self.pipes, self.busy = [], [], set()
