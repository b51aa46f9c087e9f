"""`s2s serve` against hostile and careless clients, and careless start-up: real servers on
127.0.0.1, real HTTP (issue 33). One client's bad request fails alone; no request body is read
past its limit; no request holds the model for long; a broken model or setup fails at start."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seq2seq.batcher import Batcher, Job, Limits
from seq2seq.translator import Translator
from test_hardening import one_error_line
from test_production import free_port, request
from test_translate_eval import make_checkpoint, run_cli

REPO = Path(__file__).resolve().parents[1]
TRANSFORMER = {"type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
               "decoder_layers": 1, "max_positions": 64}
SENTENCES = ["Bonjour.", "Merci beaucoup.", "Je ne sais pas.", "Où est la gare ?", "Il fait beau.",
             "Le chat dort.", "Nous partons demain.", "C'est la vie."]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("serve") / "tiny", TRANSFORMER)


def start_server(model: Path, log: Path, *options: str) -> tuple[subprocess.Popen, int]:
    """`s2s serve` on a free port of 127.0.0.1, its stderr in `log`, once /health answers."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    with open(log, "w", encoding="utf-8") as sink:
        process = subprocess.Popen([sys.executable, "-m", "seq2seq", "serve", "--model", str(model), "--port",
                                    str(port), "--threads", "1", *options], env=env, stdout=subprocess.DEVNULL,
                                   stderr=sink)
    deadline = time.monotonic() + 90
    while True:
        try:
            request(port, "GET", "/health")
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start: {log.read_text(encoding='utf-8')}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(run, tmp_path_factory):
    pytest.importorskip("fastapi")
    log = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    # a long batch window: requests sent together are surely batched together
    process, port = start_server(run, log, "--beam", "1", "--batch-window-ms", "300", "--max-body-bytes",
                                 "100000", "--max-request-chars", "1000", "--max-beam", "4")
    yield SimpleNamespace(port=port, log=log, pid=process.pid)
    process.terminate()
    process.wait(timeout=15)


def post_together(port: int, bodies: list[bytes]) -> list[tuple[int, dict]]:
    """POST the bodies from one client thread each, released at the same moment."""
    answers: list[tuple[int, dict]] = [(0, {})] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        barrier.wait()
        connection.request("POST", "/translate", body=bodies[i], headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answers[i] = (response.status, json.loads(response.read()))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_lone_surrogate_fails_only_its_own_request(server, run):
    expected = Translator.load(run, beam=1).translate(SENTENCES)
    bodies = [json.dumps({"text": text}).encode() for text in SENTENCES]
    bodies.insert(3, b'{"text": "a\\ud800b"}')  # valid JSON, not Unicode text
    answers = post_together(server.port, bodies)
    bad = answers.pop(3)
    assert bad[0] == 400 and set(bad[1]) == {"error"} and "surrogate" in bad[1]["error"], bad
    assert answers == [(200, {"source": text, "translation": translation})
                       for text, translation in zip(SENTENCES, expected)]


def server_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_huge_body(port: int, chunked: bool) -> bytes:
    """POST 300 MB (declared, or chunked) as far as the server reads it; then its answer."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 300000000"
    piece = b"a" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + framing + b"\r\n\r\n")
        try:
            for _ in range(300):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        except OSError:  # the server answered and closed: what it did not read is not sent
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused_unread(server, chunked):
    before = server_memory_kib(server.pid)
    answer = send_huge_body(server.port, chunked)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert "--max-body-bytes" in json.loads(body)["error"]
    assert server_memory_kib(server.pid) - before < 100_000, "the server read the body"
    assert request(server.port, "GET", "/health") == (200, {"status": "ok"})


@pytest.mark.parametrize("body", [b"[" * 50_000 + b"]" * 50_000, b'{"text": "a", "beam": ' + b"1" * 5000 + b"}"],
                         ids=["nested", "huge-number"])
def test_hostile_json_is_a_400_without_a_traceback(server, body):
    status, answer = request(server.port, "POST", "/translate", body)
    assert status == 400 and set(answer) == {"error"} and "\n" not in answer["error"], answer
    time.sleep(0.2)
    assert "Traceback" not in server.log.read_text(encoding="utf-8")


@pytest.mark.parametrize("body, status, option", [
    (json.dumps({"text": "a", "beam": 5}), 400, "--max-beam"),
    (json.dumps({"text": "a", "beam": 4, "n_best": 5}), 400, "--max-beam"),
    (json.dumps({"texts": ["x" * 400] * 3}), 413, "--max-request-chars"),
    (json.dumps({"texts": ["x"] * 65}), 413, "--max-texts"),
    (json.dumps({"text": "x" * 2001}), 413, "--max-chars"),
], ids=["beam", "n_best", "request-chars", "texts", "chars"])
def test_the_work_of_one_request_is_bounded(server, body, status, option):
    answer_status, answer = request(server.port, "POST", "/translate", body.encode())
    assert answer_status == status and set(answer) == {"error"} and option in answer["error"], answer


def test_info_reports_the_limits(server):
    status, info = request(server.port, "GET", "/info")
    assert status == 200
    assert {key: info[key] for key in ("max_texts", "max_chars", "max_request_chars", "max_beam", "max_body_bytes",
                                       "max_batch_chars")} == {
        "max_texts": 64, "max_chars": 2000, "max_request_chars": 1000, "max_beam": 4, "max_body_bytes": 100000,
        "max_batch_chars": Limits().max_batch_chars}


@pytest.fixture(scope="module")
def one_at_a_time(run, tmp_path_factory):
    """A server whose batches hold one long sentence at beam 16, and at most 100 waiting sentences."""
    pytest.importorskip("fastapi")
    process, port = start_server(run, tmp_path_factory.mktemp("serve-log") / "stderr.txt", "--max-batch-chars",
                                 "2000", "--max-queued-texts", "100")
    yield port
    process.terminate()
    process.wait(timeout=15)


BIG = json.dumps({"texts": [" ".join(SENTENCES * 4)[:280]] * 64, "beam": 16}).encode()


def batches(port: int) -> int:
    return request(port, "GET", "/info")[1]["batches_translated"]


def test_a_big_request_does_not_hold_the_model_from_the_others(one_at_a_time):
    """64 long sentences at beam 16 go through the model a few at a time; a small request sent
    meanwhile is answered long before the big one."""
    port, before = one_at_a_time, batches(one_at_a_time)
    finished: dict[str, float] = {}

    def big() -> None:
        status, answer = request(port, "POST", "/translate", BIG)
        assert status == 200 and len(answer["translations"]) == 64
        finished["big"] = time.monotonic()

    thread = threading.Thread(target=big)
    thread.start()
    while batches(port) < before + 2:  # the big one is under way
        time.sleep(0.01)
    status, _ = request(port, "POST", "/translate", b'{"text": "Bonjour."}')
    finished["small"] = time.monotonic()
    thread.join()
    assert status == 200 and finished["small"] < finished["big"]
    assert batches(port) - before >= 32, "the big request went through in small batches"


def test_a_full_queue_is_a_503_and_a_client_gone_is_not_translated_on(one_at_a_time):
    port, before = one_at_a_time, batches(one_at_a_time)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(BIG), BIG))
        while batches(port) < before + 2:  # the big one is under way
            time.sleep(0.01)
        status, answer = request(port, "POST", "/translate", json.dumps({"texts": ["Merci."] * 40}).encode())
        assert status == 503 and "--max-queued-texts" in answer["error"], answer
    deadline = time.monotonic() + 30
    while request(port, "GET", "/info")[1]["queued_texts"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request(port, "GET", "/info")[1]["queued_texts"] == 0
    assert batches(port) - before < 40, "the rest of the request whose client went away was dropped"
    assert request(port, "POST", "/translate", json.dumps({"texts": ["Merci."] * 40}).encode())[0] == 200


# ---------------------------------------------------------------------------------------------
# The batcher alone, with a stand-in translator


class Stand:
    """A translator that upper-cases, records its calls, fails on "boom", and can be held."""

    settings = SimpleNamespace(beam_size=1)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()

    def translate_batch(self, texts: list[str], beam: int | None = None, n_best: int = 1,
                        attention: bool = False) -> list:
        self.hold.wait(30)
        self.calls.append(list(texts))
        if any("boom" in text for text in texts):
            raise ValueError("boom")
        return [SimpleNamespace(text=text.upper()) for text in texts]


async def settle(batcher: Batcher, requests: list[list[str]], delay_s: float = 0.0) -> list:
    loop = asyncio.get_running_loop()
    jobs = []
    for texts in requests:
        jobs.append(Job(texts, None, 1, loop.create_future(), loop))
        batcher.submit(jobs[-1])
        await asyncio.sleep(delay_s)
    return await asyncio.gather(*(job.done for job in jobs), return_exceptions=True)


def test_a_batch_waits_a_little_for_the_clients_just_answered():
    batcher = Batcher(Stand(), Limits(window_ms=0))
    batcher.close()  # its _gather is driven by hand here
    batcher.last_count, batcher.last_seconds = 3, 2.0  # the last batch: 3 sentences in 2 s
    loop = asyncio.new_event_loop()

    def client_sends_again(text: str, after_s: float) -> None:
        time.sleep(after_s)
        batcher.jobs.put(Job([text], None, 1, loop.create_future(), loop))

    senders = [threading.Thread(target=client_sends_again, args=(text, after_s))
               for text, after_s in (("b", 0.02), ("c", 0.05), ("late", 1.0))]
    for sender in senders:
        sender.start()
    pending = deque([Job(["a"], None, 1, loop.create_future(), loop)])
    try:
        assert batcher._gather(pending)
        assert [job.texts for job in pending] == [["a"], ["b"], ["c"]], "as many as the last batch, no more wait"
    finally:
        for sender in senders:
            sender.join()
        loop.close()


def test_the_queue_is_bounded():
    stand = Stand()
    stand.hold.clear()
    batcher = Batcher(stand, Limits(max_queued_texts=4))
    loop = asyncio.new_event_loop()
    try:
        assert batcher.submit(Job(["a", "b", "c"], None, 1, loop.create_future(), loop))
        assert not batcher.submit(Job(["d", "e"], None, 1, loop.create_future(), loop))
        assert batcher.submit(Job(["f"], None, 1, loop.create_future(), loop)) and batcher.queued == 4
    finally:
        stand.hold.set()
        batcher.close()
        loop.close()


def test_a_request_that_makes_the_model_fail_fails_alone():
    stand = Stand()
    batcher = Batcher(stand, Limits(window_ms=200))
    try:
        answers = asyncio.run(settle(batcher, [["a", "b"], ["boom"], ["c"]]))
    finally:
        batcher.close()
    assert [r.text for r in answers[0]] == ["A", "B"] and [r.text for r in answers[2]] == ["C"]
    assert isinstance(answers[1], RuntimeError) and "boom" in str(answers[1])
    assert stand.calls[0] == ["a", "b", "boom", "c"], "they were batched together"
    assert batcher.failing is None, "the model works"


def test_a_small_request_rides_in_the_next_batch_of_a_big_one():
    stand = Stand()
    stand.hold.clear()
    batcher = Batcher(stand, Limits(window_ms=0, max_batch_chars=20))  # 2 sentences of 9 characters

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        big = Job([f"sentence{i}" for i in range(10)], None, 1, loop.create_future(), loop)
        batcher.submit(big)
        await asyncio.sleep(0.2)  # the first batch of the big one is in the model
        small = Job(["small"], None, 1, loop.create_future(), loop)
        batcher.submit(small)
        await asyncio.sleep(0.1)
        stand.hold.set()
        return await asyncio.gather(big.done, small.done)

    try:
        big, small = asyncio.run(scenario())
    finally:
        batcher.close()
    assert [r.text for r in big] == [f"SENTENCE{i}" for i in range(10)] and [r.text for r in small] == ["SMALL"]
    assert stand.calls[0] == ["sentence0", "sentence1"] and "small" in stand.calls[1], stand.calls


class Concurrent(Stand):
    """A Stand that takes `delay_s` per batch and records how many batches it ran at once."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s, self.running, self.most_at_once = delay_s, 0, 0
        self.count_lock = threading.Lock()

    def translate_batch(self, texts: list[str], beam: int | None = None, n_best: int = 1,
                        attention: bool = False) -> list:
        with self.count_lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay_s)
            return super().translate_batch(texts, beam, n_best)
        finally:
            with self.count_lock:
                self.running -= 1


def test_two_workers_translate_two_batches_at_once_and_answer_in_order():
    stand = Concurrent(0.2)
    batcher = Batcher(stand, Limits(window_ms=0, max_batch_chars=20, workers=2))  # 2 sentences of 9 characters
    big = [f"sentence{i}" for i in range(8)]
    try:
        answers = asyncio.run(settle(batcher, [big, ["small"], ["other"]], delay_s=0.01))
    finally:
        batcher.close()
    assert [r.text for r in answers[0]] == [text.upper() for text in big], "in order, though split over both workers"
    assert [r.text for r in answers[1]] == ["SMALL"] and [r.text for r in answers[2]] == ["OTHER"]
    assert stand.most_at_once == 2 and len(batcher.threads) == 2
    assert sorted(text for call in stand.calls for text in call) == sorted(big + ["small", "other"]), "each once"
    assert batcher.queued == 0 and batcher.batches == len(stand.calls)


def test_a_worker_leaves_the_free_workers_their_share():
    """Eight requests waiting, two workers free: each takes four at once (before, the first took
    all eight and the second idled, which halved the serving rate, turn by turn)."""
    stand = Concurrent(0.6)  # a batch takes longer than the second worker's window
    batcher = Batcher(stand, Limits(window_ms=100, workers=2))  # the first worker gathers all eight

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        jobs = [Job([f"s{i}"], None, 1, loop.create_future(), loop) for i in range(8)]
        for job in jobs:
            batcher.submit(job)
        return await asyncio.gather(*(job.done for job in jobs))

    try:
        answers = asyncio.run(scenario())
    finally:
        batcher.close()
    assert [r[0].text for r in answers] == [f"S{i}" for i in range(8)]
    assert sorted(map(len, stand.calls)) == [4, 4] and stand.most_at_once == 2, stand.calls


def test_the_cores_are_shared_among_the_workers():
    from seq2seq.serve import split_cores

    assert split_cores(None, 2, on_cpu=True) == (2, 1), "one worker per core"
    assert split_cores(None, 16, on_cpu=True) == (4, 4), "at most 4 by default, the cores shared"
    assert split_cores(None, 8, on_cpu=False) == (1, 8), "one on a GPU"
    assert split_cores(3, 2, on_cpu=True) == (3, 1), "asked for: at least one thread each"


def test_with_two_workers_a_request_fails_once_and_alone():
    stand = Concurrent(0.1)
    batcher = Batcher(stand, Limits(window_ms=0, max_batch_chars=12, workers=2))  # 2 short sentences a batch
    failing = ["a", "b", "c", "boom", "d", "e", "f", "g"]
    try:
        answers = asyncio.run(settle(batcher, [failing, ["x"], ["y", "z"]]))
    finally:
        batcher.close()
    assert isinstance(answers[0], RuntimeError) and "boom" in str(answers[0])
    assert [r.text for r in answers[1]] == ["X"] and [r.text for r in answers[2]] == ["Y", "Z"]
    assert batcher.queued == 0, "every request left the queue once"


# ---------------------------------------------------------------------------------------------
# A model that cannot translate, and a broken setup: refused at start, or /health says so


@pytest.fixture
def stand_server():
    """make_app over a Stand, served by uvicorn in a thread on 127.0.0.1: (port, the Stand)."""
    pytest.importorskip("fastapi")
    import uvicorn

    from seq2seq.serve import make_app

    stand = Stand()
    app = make_app(stand, Limits(window_ms=0, body_timeout_s=0.5), {"model": "stand-in"})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield port, stand
    server.should_exit = True
    thread.join(timeout=15)


def test_health_says_when_the_model_fails(stand_server):
    port, _ = stand_server
    assert request(port, "GET", "/health") == (200, {"status": "ok"})
    assert request(port, "POST", "/translate", b'{"text": "boom"}')[0] == 500
    assert request(port, "GET", "/health") == (503, {"status": "failing", "error": "ValueError: boom"})
    assert request(port, "POST", "/translate", b'{"text": "fine"}') == (200, {"source": "fine", "translation": "FINE"})
    assert request(port, "GET", "/health") == (200, {"status": "ok"})


def test_a_body_that_never_comes_is_a_408(stand_server):
    port, _ = stand_server
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n{\"te")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert request(port, "POST", "/translate", b'{"text": "fine"}')[0] == 200


def serve_process(*args: object, prelude: str = "") -> subprocess.CompletedProcess:
    """`s2s serve ARGS` in a fresh interpreter that first runs `prelude`."""
    code = (f"import runpy, sys\n{prelude}\nsys.argv = ['s2s', 'serve', *sys.argv[1:]]\n"
            "runpy.run_module('seq2seq', run_name='__main__', alter_sys=True)")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_checkpoint_with_nan_weights_is_refused_at_start(run, tmp_path):
    payload = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    name = next(key for key, value in payload["model_state"].items() if value.is_floating_point())
    payload["model_state"][name].fill_(float("nan"))  # what a diverged training leaves
    (tmp_path / "nan").mkdir()
    torch.save(payload, tmp_path / "nan" / "best.pt")
    done = serve_process("--model", tmp_path / "nan", "--port", free_port())
    one_error_line((done.returncode, done.stdout, done.stderr), "non-finite")


def test_a_model_that_cannot_translate_is_refused_at_start(run, monkeypatch, capsys):
    pytest.importorskip("fastapi")
    import seq2seq.loading

    broken = Stand()
    broken.translate_batch = lambda texts, **options: [][0]  # as NaN weights made beam search fail
    monkeypatch.setattr(seq2seq.loading, "open_translator", lambda *args, **options: broken)
    one_error_line(run_cli(monkeypatch, capsys, "serve", "--model", run, "--port", free_port()),
                   "fails to translate a test sentence", "IndexError")


def test_without_fastapi_one_line_says_what_to_install_before_the_model_loads(tmp_path):
    # no such model: the check comes first
    done = serve_process("--model", tmp_path / "no-such-run", "--port", free_port(),
                         prelude="sys.modules['fastapi'] = None")
    one_error_line((done.returncode, done.stdout, done.stderr), "fastapi", "pip install 's2s[serve]'")


@pytest.mark.parametrize("host, says", [
    ("192.0.2.1", "not an address of this machine"),  # TEST-NET-1 (RFC 5737): never this machine's
    ("no-such-host.invalid", "not an address or a known name"),  # .invalid never resolves (RFC 2606)
])
def test_a_host_that_is_not_this_machine_is_said_so(run, monkeypatch, capsys, host, says):
    line = one_error_line(run_cli(monkeypatch, capsys, "serve", "--model", run, "--host", host, "--port", free_port()),
                          says, f"--host {host}")
    assert "--port" not in line
