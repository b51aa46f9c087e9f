"""From a trained run to production: checkpoint averaging, CTranslate2 export, the HTTP server.

Real parts only: a real CTranslate2 model is written and run, a real uvicorn server is started
on 127.0.0.1 and talked to over HTTP.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint
from seq2seq.errors import UserError
from seq2seq.loading import open_translator
from seq2seq.translator import Translator
from test_hardening import one_error_line
from test_train import make_toy_data, run_training, toy_config
from test_translate_eval import make_checkpoint, run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[str]]:
    """A toy Transformer trained for 200 updates, keeping its last 3 saves; and its dev sentences."""
    root = tmp_path_factory.mktemp("production")
    data = make_toy_data(root / "data")
    run_training(toy_config(data, max_steps=200, validate_every=100, save_every=10, keep_last=3), root / "run")
    dev = (data / "dev.src").read_text(encoding="utf-8").splitlines()
    return root / "run", dev


# ---------------------------------------------------------------------------------------------
# s2s average


def test_training_keeps_the_last_k_step_checkpoints(trained):
    run, _ = trained
    assert sorted(p.name for p in run.glob("step-*.pt")) == ["step-180.pt", "step-190.pt", "step-200.pt"]
    assert "optimizer" not in load_checkpoint(run / "step-200.pt")


def test_average_is_the_mean_of_the_weights_and_translates(trained, tmp_path, monkeypatch, capsys):
    run, dev = trained
    out = tmp_path / "avg.pt"
    code, _, err = run_cli(monkeypatch, capsys, "average", run, "--last", "2", "-o", out)
    assert code == 0, err
    averaged = load_checkpoint(out)
    a, b = (load_checkpoint(run / name)["model_state"] for name in ("step-190.pt", "step-200.pt"))
    for name, tensor in averaged["model_state"].items():
        torch.testing.assert_close(tensor, (a[name] + b[name]) / 2)
    assert averaged["kind"] == "averaged" and len(averaged["averaged_from"]) == 2
    assert len(Translator.load(out).translate(dev[:5])) == 5
    one_error_line(run_cli(monkeypatch, capsys, "average", run, "--last", "2", "-o", out), "--force")
    assert run_cli(monkeypatch, capsys, "average", run, "-o", out, "--force")[0] == 0
    assert len(load_checkpoint(out)["averaged_from"]) == 3


def test_average_shows_a_bar_of_checkpoints_on_a_terminal_and_names_them_in_order(trained, monkeypatch):
    import io
    import sys

    from seq2seq.checkpoint import average_checkpoints

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    run, _ = trained
    paths = [run / name for name in ("step-180.pt", "step-190.pt", "step-200.pt")]
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    averaged = average_checkpoints(paths)
    assert "/3" in terminal.getvalue() and "checkpoints" in terminal.getvalue(), terminal.getvalue()
    assert [Path(p).name for p in averaged["averaged_from"]] == [p.name for p in paths]
    states = [load_checkpoint(p)["model_state"] for p in paths]
    for name, tensor in averaged["model_state"].items():
        torch.testing.assert_close(tensor, sum(state[name] for state in states) / 3)


def test_average_refuses_checkpoints_of_another_model(trained, tmp_path, monkeypatch, capsys):
    run, _ = trained
    other = make_checkpoint(tmp_path / "other", {"type": "transformer", "d_model": 16, "heads": 2,
                                                 "ff_size": 32, "encoder_layers": 1, "decoder_layers": 1})
    one_error_line(run_cli(monkeypatch, capsys, "average", run / "step-200.pt", other / "best.pt", "-o",
                           tmp_path / "x.pt"), "another model or vocabulary")
    one_error_line(run_cli(monkeypatch, capsys, "average", tmp_path, "-o", tmp_path / "y.pt"), "no step-<N>.pt")


def test_force_removes_the_kept_step_checkpoints(trained, tmp_path):
    run, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = toy_config(Path(load_checkpoint(run / "last.pt")["config"]["data"]["dir"]), max_steps=2,
                        validate_every=2)
    run_training(config, copy, force=True)
    assert not list(copy.glob("step-*.pt"))


# ---------------------------------------------------------------------------------------------
# s2s export --format ctranslate2


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import export_ctranslate2

    run, _ = trained
    return export_ctranslate2(run, tmp_path_factory.mktemp("export") / "ct2", "float32", force=False)


def test_the_export_translates_like_s2s(trained, exported):
    run, dev = trained
    s2s_greedy = Translator.load(run, beam=1, max_repeats=0, max_piece_run=0)  # rules CTranslate2 has not
    ct2 = open_translator(exported, beam=1)
    assert ct2.translate(dev) == s2s_greedy.translate(dev), "greedy search: the same output, sentence for sentence"
    # Beam search too, where the length limit does not cut the output (at the limit CTranslate2
    # does not score an EOS; s2s does); without a length penalty, so that the run's
    # decode.length_penalty_kind (CTranslate2 always divides by length ** alpha) cannot matter.
    # Without n-gram blocking: with it, CTranslate2's beam search agrees less (29 of 40 here; greedy: all).
    s2s = Translator.load(run, beam=4, max_repeats=0, max_piece_run=0, no_repeat_ngram=0, length_penalty=0.0)
    found = s2s.translate_batch(dev)
    bounds = [int(1.5 * len(s2s.src_tokenizer.encode(text)) + 10) for text in dev]
    ended = [text for text, result, bound in zip(dev, found, bounds) if len(result.best.tokens) < bound]
    assert len(ended) >= len(dev) // 2
    ct2_beam = open_translator(exported, beam=4, length_penalty=0.0, no_repeat_ngram=0).translate(ended)
    agree = sum(a == b for a, b in zip(ct2_beam, s2s.translate(ended)))
    assert agree >= 0.9 * len(ended), f"beam search agrees on {agree} of {len(ended)}"
    files = {p.name for p in exported.iterdir()}
    assert {"model.bin", "spm.src.model", "spm.tgt.model", "s2s_export.json", "README.md"} <= files


def test_translate_and_eval_take_an_exported_directory(trained, exported, tmp_path, monkeypatch, capsys):
    run, dev = trained
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", exported, "--beam", "1", *dev[:3])
    assert code == 0, err
    assert out.split("\n")[:3] == Translator.load(run, beam=1, max_repeats=0, max_piece_run=0).translate(dev[:3])
    src = tmp_path / "dev.src"
    src.write_text("\n".join(dev) + "\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", exported, "--src", src, "--ref", src, "--json")
    assert code == 0 and json.loads(out)["sentences"] == len(dev), err
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", exported, "--plot-attention",
                           tmp_path / "a.png", "Bonjour."), "no attention")
    # what takes a run says that an export is not one (it said "no step-<N>.pt checkpoints")
    one_error_line(run_cli(monkeypatch, capsys, "average", exported, "-o", tmp_path / "avg.pt"), "not a run")


def test_int8_export_and_refusals(trained, tmp_path, monkeypatch, capsys):
    pytest.importorskip("ctranslate2")
    run, dev = trained
    out = tmp_path / "int8"
    code, _, err = run_cli(monkeypatch, capsys, "export", "--model", run, "-o", out, "--quantization", "int8")
    assert code == 0, err
    assert len(open_translator(out).translate(dev[:4])) == 4
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", run, "-o", out), "--force")
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", run, "-o", tmp_path / "q",
                           "--quantization", "int3"), "--quantization")
    rnn = make_checkpoint(tmp_path / "rnn", {"type": "rnn", "embedding_dim": 16, "hidden_size": 16,
                                             "encoder_layers": 1, "decoder_layers": 1})
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", rnn, "-o", tmp_path / "r"),
                   "Transformers only")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------
# s2s serve: a real server on 127.0.0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def server(trained):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    run, _ = trained
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "seq2seq", "serve", "--model", run, "--port", str(port),
                                "--beam", "1", "--max-texts", "8", "--max-chars", "300", "--threads", "1"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if request(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=15)


def test_health_info_and_translations(server, trained):
    run, dev = trained
    assert request(server, "GET", "/health") == (200, {"status": "ok"})
    status, info = request(server, "GET", "/info")
    assert status == 200 and info["source_language"] == "fr" and info["target_language"] == "en"
    assert info["parameters"] > 0 and info["beam"] == 1 and info["max_texts"] == 8
    expected = Translator.load(run, beam=1).translate(dev[:3])
    status, answer = request(server, "POST", "/translate", json.dumps({"text": dev[0]}).encode())
    assert status == 200 and answer == {"source": dev[0], "translation": expected[0]}
    status, answer = request(server, "POST", "/translate", json.dumps({"texts": dev[:3]}).encode())
    assert status == 200 and [a["translation"] for a in answer["translations"]] == expected
    status, answer = request(server, "POST", "/translate", json.dumps({"text": dev[1], "beam": 3, "n_best": 2}).encode())
    assert status == 200 and len(answer["hypotheses"]) == 2


def test_concurrent_requests_are_batched_and_keep_their_pairing(server, trained):
    run, dev = trained
    expected = dict(zip(dev, Translator.load(run, beam=1).translate(dev)))
    batches_before = request(server, "GET", "/info")[1]["batches_translated"]
    answers: list[tuple[str, int, dict]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server, timeout=60)
        for k in range(10):
            text = dev[(offset * 7 + k) % len(dev)]
            connection.request("POST", "/translate", body=json.dumps({"text": text}).encode())
            response = connection.getresponse()
            with lock:
                answers.append((text, response.status, json.loads(response.read())))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 160 and all(status == 200 for _, status, _ in answers)
    assert all(answer["source"] == text for text, _, answer in answers), "every answer belongs to its request"
    same = sum(answer["translation"] == expected[text] for text, _, answer in answers)
    assert same >= 0.95 * len(answers), f"{same} of {len(answers)} as translated alone"
    batches = request(server, "GET", "/info")[1]["batches_translated"] - batches_before
    assert batches < len(answers), "requests that arrive together are translated together"


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400), (b"\xff\xfe", 400), (b"", 400), (b"[1, 2]", 422), (b'{"text": 5}', 422),
    (b'{"texts": "a"}', 422), (b'{"text": "a", "texts": ["b"]}', 422), (b"{}", 422),
    (b'{"text": "a", "beam": 0}', 422), (b'{"text": "a", "beam": true}', 422),
    (b'{"text": "a", "n_best": 3, "beam": 2}', 422), (b'{"text": "a", "colour": 1}', 422),
    (b'{"texts": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', 413), (b'{"text": "' + b"a" * 301 + b'"}', 413),
])
def test_malformed_requests_get_a_4xx_with_one_line(server, body, status):
    answer_status, answer = request(server, "POST", "/translate", body)
    assert answer_status == status
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    assert request(server, "GET", "/health")[0] == 200


def test_a_port_in_use_is_one_line(trained, monkeypatch, capsys):
    pytest.importorskip("uvicorn")
    run, _ = trained
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(monkeypatch, capsys, "serve", "--model", run, "--port", port)
    assert code == 1 and "choose another --port" in err and "Traceback" not in err


def test_open_translator_refuses_options_an_export_cannot_take(exported):
    with pytest.raises(UserError, match="max_repeats"):
        open_translator(exported, max_repeats=3)
