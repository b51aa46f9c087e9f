"""`s2s serve`: an HTTP JSON API over one loaded model, with dynamic batching.

    POST /translate   {"text": "Bonjour."}            -> {"source": ..., "translation": ...}
                      {"texts": ["Bonjour.", "Merci."]} -> {"translations": [{"source", "translation"}, ...]}
                      optional "beam" and "n_best" (then each answer has "hypotheses": [{text, score}])
    GET  /health      {"status": "ok"}
    GET  /info        the model, its languages, parameters and decode settings, the server's limits

The model is loaded once and only one thread (the batcher) ever runs it. Requests that arrive
together are translated together: the batcher takes the first waiting request, then keeps
taking requests for `window_ms` more (up to `max_batch_texts` sentences) and translates all
their sentences in one `translate_batch` call, grouped by search options. The event loop only
parses, queues and answers, so the server stays responsive while it decodes. Bad input gets
a 4xx answer with a one-line JSON error, `{"error": "..."}`; nothing a client sends can stop
the server.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Request) as objects, and they are imported inside make_app, where FastAPI is optional.
import asyncio
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seq2seq.errors import UserError

MAX_BEAM = 16


@dataclass
class Limits:
    max_texts: int = 64  # sentences in one request
    max_chars: int = 2000  # characters in one sentence
    window_ms: float = 5.0  # how long the batcher waits for more requests after the first
    max_batch_texts: int = 256  # sentences translated in one call


@dataclass
class _Job:
    texts: list[str]
    beam: int | None
    n_best: int
    done: asyncio.Future = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)


class Batcher:
    """The one thread that runs the model: it translates the queued jobs in batches."""

    def __init__(self, translator: Any, limits: Limits) -> None:
        self.translator, self.limits = translator, limits
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="s2s-batcher", daemon=True)
        self.batches = 0  # calls made, for /info
        self.thread.start()

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch, count = [first], len(first.texts)
            deadline = time.monotonic() + self.limits.window_ms / 1000
            while count < self.limits.max_batch_texts:
                try:
                    job = self.jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)  # stop after this batch
                    break
                batch.append(job)
                count += len(job.texts)
            self._translate(batch)

    def _translate(self, batch: list[_Job]) -> None:
        groups: dict[tuple[int | None, int], list[_Job]] = {}
        for job in batch:
            groups.setdefault((job.beam, job.n_best), []).append(job)
        for (beam, n_best), jobs in groups.items():
            texts = [text for job in jobs for text in job.texts]
            try:
                results = self.translator.translate_batch(texts, beam=beam, n_best=n_best)
                self.batches += 1
            except Exception as exc:  # noqa: BLE001 - answered as a 500, the server goes on
                for job in jobs:
                    job.loop.call_soon_threadsafe(_settle, job.done, None, f"{type(exc).__name__}: {exc}")
                continue
            start = 0
            for job in jobs:
                mine = results[start:start + len(job.texts)]
                start += len(job.texts)
                job.loop.call_soon_threadsafe(_settle, job.done, mine, None)


def _settle(future: asyncio.Future, results: Any, error: str | None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(RuntimeError(error))
    else:
        future.set_result(results)


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the answer


def parse_request(body: bytes, limits: Limits) -> tuple[list[str], bool, int | None, int]:
    """(texts, one text?, beam, n_best) of a /translate body, or BadRequest with a 4xx status."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(400, f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest(422, 'the body must be a JSON object: {"text": "..."} or {"texts": ["...", ...]}')
    unknown = sorted(set(data) - {"text", "texts", "beam", "n_best"})
    if unknown:
        raise BadRequest(422, f"unknown field(s): {', '.join(unknown)}; allowed: text, texts, beam, n_best")
    if ("text" in data) == ("texts" in data):
        raise BadRequest(422, 'give exactly one of "text" (a string) or "texts" (a list of strings)')
    single = "text" in data
    texts = [data["text"]] if single else data["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise BadRequest(422, '"text" must be a string and "texts" a list of strings')
    if len(texts) > limits.max_texts:
        raise BadRequest(413, f"{len(texts)} texts in one request; at most {limits.max_texts}")
    too_long = [i for i, t in enumerate(texts) if len(t) > limits.max_chars]
    if too_long:
        raise BadRequest(413, f"text {too_long[0]} has {len(texts[too_long[0]])} characters; at most {limits.max_chars}")
    beam, n_best = data.get("beam"), data.get("n_best", 1)
    for name, value, low, high in (("beam", beam, 1, MAX_BEAM), ("n_best", n_best, 1, MAX_BEAM)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise BadRequest(422, f'"{name}" must be an integer from {low} to {high}; got {json.dumps(value)}')
    if beam is not None and n_best > beam:
        raise BadRequest(422, f'"n_best" ({n_best}) must not exceed "beam" ({beam})')
    return [t.replace("\n", " ") for t in texts], single, beam, n_best


def _answer(source: str, result: Any, n_best: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"source": source, "translation": result.text}
    if n_best > 1:
        answer["hypotheses"] = [{"text": h.text, "score": round(h.score, 4)} for h in result.hypotheses]
    return answer


def make_app(translator: Any, limits: Limits, info: dict[str, Any]) -> Any:
    """The ASGI application (FastAPI) over `translator`; the batcher starts and stops with it."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    state: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app: Any):  # noqa: ANN202
        state["batcher"] = Batcher(translator, limits)
        yield
        state["batcher"].close()

    app = FastAPI(title="s2s", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def info_endpoint() -> dict[str, Any]:
        return {**info, "batches_translated": state["batcher"].batches}

    @app.post("/translate")
    async def translate(request: Request) -> Any:
        try:
            texts, single, beam, n_best = parse_request(await request.body(), limits)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        loop = asyncio.get_running_loop()
        job = _Job(texts, beam, n_best, loop.create_future(), loop)
        state["batcher"].submit(job)
        try:
            results = await job.done
        except RuntimeError as exc:
            return JSONResponse({"error": f"translation failed: {exc}"}, status_code=500)
        answers = [_answer(text, result, n_best) for text, result in zip(texts, results)]
        return answers[0] if single else {"translations": answers}

    return app


def model_info(translator: Any, path: Path) -> dict[str, Any]:
    """What GET /info says about the model."""
    info: dict[str, Any] = {"model": str(path), "beam": translator.settings.beam_size,
                            "length_penalty": translator.settings.length_penalty}
    config = getattr(translator, "config", None)
    if config is not None:
        from seq2seq.models import count_parameters, describe_model

        info.update(source_language=config.data.src_lang, target_language=config.data.tgt_lang,
                    device=str(next(translator.model.parameters()).device), precision=translator.settings.precision,
                    parameters=count_parameters(translator.model),
                    architecture=describe_model(config.model, translator.model))
    else:  # an exported CTranslate2 model
        info.update(source_language=translator.info["data"]["src_lang"],
                    target_language=translator.info["data"]["tgt_lang"], engine="ctranslate2",
                    quantization=translator.info["quantization"])
    return info


def serve_command(*, model: Path | None, host: str, port: int, beam: int | None, limits: Limits,
                  threads: int | None, device: str | None = None, precision: str | None = None) -> None:
    """`s2s serve`: load the model once, then answer HTTP requests until Ctrl-C."""
    try:
        import uvicorn
    except ImportError:
        raise UserError("serving needs FastAPI and uvicorn: pip install 's2s[serve]'") from None
    import torch

    from seq2seq.checkpoint import resolve_model
    from seq2seq.loading import open_translator

    if threads:
        torch.set_num_threads(threads)
    _check_port(host, port)  # before the model loads: a busy port fails at once
    path = resolve_model(model)
    translator = open_translator(path, beam=beam, device=device, precision=precision)
    app = make_app(translator, limits, {**model_info(translator, path), "max_texts": limits.max_texts,
                                        "max_chars": limits.max_chars})
    print(f"serving {path} on http://{host}:{port} (POST /translate, GET /health, GET /info; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except (OSError, SystemExit):  # uvicorn exits (code 3) when it cannot bind
        raise UserError(f"cannot listen on {host}:{port} (in use?); choose another --port") from None


def _check_port(host: str, port: int) -> None:
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from None
