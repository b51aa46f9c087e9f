"""`s2s serve`: an HTTP JSON API over one loaded model, with dynamic batching.

    POST /translate   {"text": "Bonjour."}            -> {"source": ..., "translation": ...}
                      {"texts": ["Bonjour.", "Merci."]} -> {"translations": [{"source", "translation"}, ...]}
                      optional "beam" and "n_best" (then each answer has "hypotheses": [{text, score}]),
                      "attention": true (then each answer has "attention": see seq2seq.web.attention)
    GET  /            the translation page: the translation, its n-best and its attention as a heat map
    GET  /health      {"status": "ok"}; 503 {"status": "failing", "error"} while the model fails
    GET  /info        the model, its languages, parameters and decode settings, the server's limits

The model is loaded (and tried on one sentence) once, and only the batcher's workers
(`seq2seq.batcher`) run it: requests that arrive together are translated together, in fair
batches of bounded size, several batches side by side on a CPU (`--workers`). The event loop
only reads, checks, queues and answers, so the server stays responsive while it decodes.
Everything a client sends is checked at the edge: the body's size (read no further than the
limit), its JSON, the texts (valid Unicode, their number and length), beam and n_best; bad input
gets a 4xx answer with a one-line JSON error, `{"error": "..."}`, for that request only. Nothing a client sends can stop the server or fail
another client's request.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Request) as objects, and they are imported inside make_app, where FastAPI is optional.
import asyncio
import errno
import json
import sys
from pathlib import Path
from typing import Any

from seq2seq.batcher import Batcher, Job, Limits
from seq2seq.errors import ThrottledWarnings, UserError
from seq2seq.web import page_html
from seq2seq.web.attention import attention_unavailable, attention_json

__all__ = ["BadRequest", "Limits", "make_app", "parse_request", "serve_command"]


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the answer


async def read_body(request: Any, limit: int) -> bytes:
    """The request's body, or BadRequest 413 as soon as it is known to exceed `limit` bytes."""
    too_big = BadRequest(413, f"the body exceeds {limit} bytes, this server's limit (--max-body-bytes)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # refused unread
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body: read no further
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes, limits: Limits) -> tuple[list[str], bool, int | None, int, bool]:
    """(texts, one text?, beam, n_best, attention?) of a /translate body, or BadRequest with a 4xx status."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest(400, "the body nests JSON too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also numbers of thousands of digits
        raise BadRequest(400, f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest(422, 'the body must be a JSON object: {"text": "..."} or {"texts": ["...", ...]}')
    unknown = sorted(set(data) - {"text", "texts", "beam", "n_best", "attention"})
    if unknown:
        raise BadRequest(422, f"unknown field(s): {', '.join(unknown)}; allowed: text, texts, beam, n_best, attention")
    if ("text" in data) == ("texts" in data):
        raise BadRequest(422, 'give exactly one of "text" (a string) or "texts" (a list of strings)')
    single = "text" in data
    texts = [data["text"]] if single else data["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise BadRequest(422, '"text" must be a string and "texts" a list of strings')
    check_texts(texts, limits)
    beam, n_best = data.get("beam"), data.get("n_best", 1)
    for name, value in (("beam", beam), ("n_best", n_best)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BadRequest(422, f'"{name}" must be a positive integer; got {json.dumps(value)[:40]}')
        if value is not None and value > limits.max_beam:
            raise BadRequest(400, f'"{name}" {value} exceeds this server\'s limit of {limits.max_beam} (--max-beam)')
    if beam is not None and n_best > beam:
        raise BadRequest(422, f'"n_best" ({n_best}) must not exceed "beam" ({beam})')
    attention = data.get("attention", False)
    if not isinstance(attention, bool):
        raise BadRequest(422, f'"attention" must be true or false; got {json.dumps(attention)[:40]}')
    return [t.replace("\n", " ") for t in texts], single, beam, n_best, attention


def check_texts(texts: list[str], limits: Limits) -> None:
    """BadRequest unless the texts are Unicode text within the limits of one request."""
    if len(texts) > limits.max_texts:
        raise BadRequest(413, f"{len(texts)} texts in one request; at most {limits.max_texts} (--max-texts)")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise BadRequest(413, f"text {i} has {len(text)} characters; at most {limits.max_chars} (--max-chars)")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # JSON can escape a lone surrogate; no tokenizer takes one
            raise BadRequest(400, f"text {i} holds a lone surrogate (U+{ord(text[exc.start]):04X}) at character "
                                  f"{exc.start}, which is not Unicode text; send UTF-8 text") from None
    total = sum(map(len, texts))
    if total > limits.max_request_chars:
        raise BadRequest(413, f"the texts have {total} characters in all; at most {limits.max_request_chars} "
                              "in one request (--max-request-chars)")


def _answer(source: str, result: Any, n_best: int, attention: bool, no_attention: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"source": source, "translation": result.text}
    if n_best > 1:
        answer["hypotheses"] = [{"text": h.text, "score": round(h.score, 4)} for h in result.hypotheses]
    if attention:  # asked for: the weights, or why this model gives none
        answer["attention"] = attention_json(result) if no_attention is None else {"available": False,
                                                                                   "reason": no_attention}
    return answer


def make_app(translator: Any, limits: Limits, info: dict[str, Any]) -> Any:
    """The ASGI application (FastAPI) over `translator`; the batcher starts and stops with it."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse

    state: dict[str, Batcher] = {}
    no_attention = attention_unavailable(translator)  # None: the model gives its attention

    @asynccontextmanager
    async def lifespan(app: Any):  # noqa: ANN202
        state["batcher"] = Batcher(translator, limits)
        yield
        state["batcher"].close()

    app = FastAPI(title="s2s", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> Any:
        return HTMLResponse(page_html())

    @app.get("/health")
    async def health() -> Any:
        failing = state["batcher"].failing
        if failing is not None:  # the latest model calls all failed: say so to a load balancer
            return JSONResponse({"status": "failing", "error": failing}, status_code=503)
        return {"status": "ok"}

    @app.get("/info")
    async def info_endpoint() -> dict[str, Any]:
        batcher = state["batcher"]
        return {**info, **limits.public(), "batches_translated": batcher.batches, "queued_texts": batcher.queued}

    @app.post("/translate")
    async def translate(request: Request) -> Any:
        try:
            return await _translate(request, state["batcher"], limits, no_attention)
        except BadRequest as exc:  # refused unread bodies close the connection: what is left is not read
            headers = {"Connection": "close"} if exc.status in (408, 413) else None
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
        except RuntimeError as exc:
            return JSONResponse({"error": f"translation failed: {exc}"}, status_code=500)
        except Exception as exc:  # noqa: BLE001 - a bug answers one JSON line, never a traceback
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"warning: a request failed: {message}", file=sys.stderr, flush=True)
            return JSONResponse({"error": f"internal error: {message}"}, status_code=500)

    return app


async def _translate(request: Any, batcher: Batcher, limits: Limits, no_attention: str | None) -> Any:
    from fastapi.responses import JSONResponse

    try:
        body = await asyncio.wait_for(read_body(request, limits.max_body_bytes), limits.body_timeout_s)
    except asyncio.TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {limits.body_timeout_s:g} s") from None
    texts, single, beam, n_best, attention = parse_request(body, limits)
    if attention and sum(map(len, texts)) > limits.max_chars:  # the weights grow with the square of the length
        raise BadRequest(413, f'with "attention": true the texts may have {limits.max_chars} characters in all '
                              "(--max-chars); send fewer or shorter texts")
    loop = asyncio.get_running_loop()
    job = Job(texts, beam, n_best, loop.create_future(), loop, attention and no_attention is None)
    if texts and not batcher.submit(job):
        raise BadRequest(503, f"the server is busy: more than {limits.max_queued_texts} sentences would wait "
                              "(--max-queued-texts); retry later")
    if texts:
        # the next message after the body is the client's going away (or our answer sent)
        gone = asyncio.ensure_future(request.receive())
        try:
            await asyncio.wait({job.done, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not job.done.done():
            job.abandoned = True  # the batcher drops what is left of it
            return None
    results = await job.done if texts else []

    def answer() -> Any:
        answers = [_answer(text, result, n_best, attention, no_attention) for text, result in zip(texts, results)]
        return JSONResponse(answers[0] if single else {"translations": answers})

    # the weights of a long text take a while to write as JSON: not on the event loop, which serves everyone
    return await asyncio.to_thread(answer) if attention else answer()


def model_info(translator: Any, path: Path) -> dict[str, Any]:
    """What GET /info says about the model."""
    info: dict[str, Any] = {"model": str(path), "beam": translator.settings.beam_size,
                            "length_penalty": translator.settings.length_penalty}
    no_attention = attention_unavailable(translator)
    info["attention"] = ({"available": False, "reason": no_attention} if no_attention else {
        "available": True, "layers": translator.model.attention_layers, "heads": translator.model.attention_heads})
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


MAX_AUTO_WORKERS = 4  # more workers on a many-core CPU would make each batch too small


def split_cores(workers: int | None, threads: int | None, on_cpu: bool) -> tuple[int, int]:
    """(workers, torch threads of each): `--threads` (default: all cores) shared among `--workers`
    (default on a CPU one per core, at most MAX_AUTO_WORKERS; on a GPU one)."""
    import torch

    total = threads or torch.get_num_threads()
    if workers is None:
        workers = min(total, MAX_AUTO_WORKERS) if on_cpu else 1
    return workers, max(1, total // workers)


def serve_command(*, model: Path | None, host: str, port: int, beam: int | None, limits: Limits,
                  threads: int | None, device: str | None = None, precision: str | None = None,
                  no_repeat_ngram: int | None = None, max_piece_run: int | None = None,
                  split_sentences: bool | None = None, workers: int | None = None) -> None:
    """`s2s serve`: load the model once, then answer HTTP requests until Ctrl-C."""
    missing = [name for name in ("fastapi", "uvicorn") if not _importable(name)]
    if missing:  # before the (slow) model load
        raise UserError(f"serving needs FastAPI and uvicorn, and {' and '.join(missing)} is not installed: "
                        "pip install 's2s[serve]'")
    import dataclasses

    import torch
    import uvicorn

    from seq2seq.checkpoint import resolve_model
    from seq2seq.devices import resolve_device
    from seq2seq.export.ct2 import ct2_device, is_exported
    from seq2seq.loading import open_translator

    port = _check_port(host, port)  # before the model loads: a bad host or a busy port fails at once
    path = resolve_model(model)
    exported = is_exported(Path(path))
    on_cpu = (ct2_device(device, "--device")[0] if exported else resolve_device(device, "--device").type) == "cpu"
    workers, threads_each = split_cores(workers, threads, on_cpu)
    torch.set_num_threads(threads_each)  # each worker's products run on its own threads
    limits = dataclasses.replace(limits, workers=workers)
    translator = open_translator(path, beam=beam, device=device, precision=precision, no_repeat_ngram=no_repeat_ngram,
                                 max_piece_run=max_piece_run, split=split_sentences, workers=workers)
    translator.warnings = ThrottledWarnings()  # clients sending long text cannot flood the log
    try:  # a model that cannot translate must not answer /health with ok
        translator.translate_batch(["Hello."])
    except Exception as exc:  # noqa: BLE001 - said in one line
        raise UserError(f"{path}: the model fails to translate a test sentence "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); serve another model")
    app = make_app(translator, limits, model_info(translator, path))
    print(f"serving {path} on http://{host}:{port} with {workers} worker(s) of {threads_each} thread(s) "
          "(GET / is the translation page for a browser; POST /translate, GET /health, GET /info; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except (OSError, SystemExit):  # uvicorn exits (code 3) when it cannot bind
        raise UserError(f"cannot listen on {host}:{port} (in use?); choose another --port") from None


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:  # also a module set to None in sys.modules
        return False
    return True


def _check_port(host: str, port: int) -> int:
    """UserError unless `host` is an address of this machine and `port` is free on it; returns the
    port, for --port 0 the free one the system chose (what the "serving ... on" line then says)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"--host {host}: not an address or a known name ({getattr(exc, 'strerror', None) or exc}); "
                        "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    try:
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
            return probe.getsockname()[1]
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"--host {host} is not an address of this machine ({reason}); use 127.0.0.1 "
                            "(this machine only), 0.0.0.0 (every interface) or one of its own addresses") from None
        if exc.errno == errno.EACCES:
            reason += "; ports below 1024 need administrator rights"
        raise UserError(f"cannot listen on {host}:{port} ({reason}); choose another --port") from None
