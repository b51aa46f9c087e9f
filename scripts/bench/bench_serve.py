"""Load test of `s2s serve`: concurrent clients on 127.0.0.1, throughput and latency; prints JSON.

    python scripts/bench/bench_serve.py --model runs/tatoeba-transformer --src data/tatoeba-fr-en/dev.src
    python scripts/bench/bench_serve.py --url http://127.0.0.1:8000 --src dev.src   # a server already running

Starts `s2s serve --model MODEL` on a free port of 127.0.0.1 (unless --url is given, which must be
a loopback address), then --clients threads each send single sentences (`{"text": ...}`) one after
another over a kept-alive connection, until --requests requests are answered or --seconds have
passed. It reports sentences/s, latency percentiles (p50/p95/p99, milliseconds) and checks every
answer: status 200, and its "source" is the sentence that request sent. Then it sends malformed
requests and counts those answered 4xx. The run is bounded in count and time and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
MALFORMED = [b"{bad json", b"[1, 2]", b'{"text": 5}', b'{"texts": "x"}', b'{"text": "a", "texts": ["b"]}',
             b'{"text": "a", "beam": 0}', b'{"text": "a", "beam": 99}', b'{"text": "a", "n_best": 3, "beam": 2}',
             b'{"texts": [' + b", ".join([b'"a"'] * 100) + b"]}", b'{"text": "' + b"a" * 5000 + b'"}',
             b'{"text": "a", "colour": "red"}', b"\xff\xfe", b"",
             b'{"text": "a\\ud800b"}', b"[" * 50_000 + b"]" * 50_000]  # a lone surrogate; deep nesting


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, port: int, extra: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    server = subprocess.Popen([sys.executable, "-m", "seq2seq", "serve", "--model", model, "--host", "127.0.0.1",
                               "--port", str(port), *extra], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: the server stopped: {server.stderr.read() if server.stderr else ''}")
        try:
            if get(port, "/health")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("error: the server did not answer /health within 120 s")


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", "/translate", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def client(port: int, sentences: list[str], start: int, stride: int, budget: dict, out: dict) -> None:
    """Send sentence start, start + stride, ... until the shared budget is spent."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    index = start
    while True:
        with budget["lock"]:
            if budget["left"] <= 0 or time.monotonic() > budget["deadline"]:
                return
            budget["left"] -= 1
        text = sentences[index % len(sentences)]
        index += stride
        sent = time.perf_counter()
        try:
            status, body = post(connection, json.dumps({"text": text}).encode("utf-8"))
            answer = json.loads(body) if status == 200 else {}
        except (OSError, http.client.HTTPException, json.JSONDecodeError) as exc:
            status, answer = -1, {"error": repr(exc)}
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latency = time.perf_counter() - sent
        with budget["lock"]:
            out["latencies"].append(latency)
            if status != 200:
                out["errors"] += 1
            elif answer.get("source") != text or not isinstance(answer.get("translation"), str):
                out["mismatched"] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="run directory, checkpoint or exported model to serve")
    parser.add_argument("--url", help="a server already running on 127.0.0.1 instead")
    parser.add_argument("--src", required=True, help="sentences to send, one per line")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=120, help="stop sending after this long")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `s2s serve` argument")
    args = parser.parse_args()
    sentences = [s for s in Path(args.src).read_text(encoding="utf-8").split("\n") if s.strip()]

    server = None
    if args.url:
        parsed = urlparse(args.url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("error: --url must be a loopback address (127.0.0.1)")
        port = parsed.port or 80
    else:
        if not args.model:
            sys.exit("error: give --model to start a server, or --url of one running on 127.0.0.1")
        port = free_port()
        server = start_server(args.model, port, args.serve_arg)
    try:
        info = json.loads(get(port, "/info")[1])
        for text in sentences[:args.clients]:  # warm-up, not counted
            post(http.client.HTTPConnection("127.0.0.1", port, timeout=60), json.dumps({"text": text}).encode())
        budget = {"left": args.requests, "deadline": time.monotonic() + args.seconds, "lock": threading.Lock()}
        out = {"latencies": [], "errors": 0, "mismatched": 0}
        threads = [threading.Thread(target=client, args=(port, sentences, i, args.clients, budget, out))
                   for i in range(args.clients)]
        started, cpu_started = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds, client_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        statuses = [post(connection, body)[0] for body in MALFORMED]
        latencies = out["latencies"]
        report = {
            "model": info.get("model"), "engine": info.get("engine", "s2s"), "beam": info.get("beam"),
            "clients": args.clients, "requests": len(latencies), "seconds": round(seconds, 2),
            "sentences_per_s": round(len(latencies) / seconds, 1),
            "latency_ms": {name: round(1000 * percentile(latencies, q), 1)
                           for name, q in (("p50", 50), ("p95", 95), ("p99", 99))},
            "latency_ms_mean": round(1000 * statistics.mean(latencies), 1),
            "errors": out["errors"], "mismatched": out["mismatched"],
            # the clients' own CPU time: on a small machine they take cores from the server
            "client_cpu_seconds": round(client_cpu, 1),
            "malformed_answered_4xx": sum(400 <= s < 500 for s in statuses), "malformed_sent": len(MALFORMED),
            "still_healthy": get(port, "/health")[0] == 200,
            "batches_translated": json.loads(get(port, "/info")[1]).get("batches_translated"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(report, indent=2))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
