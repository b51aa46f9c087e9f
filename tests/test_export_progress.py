"""`s2s export` on a terminal: a bar of its stages (what it does, done/total, ETA); piped: the one line only."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from test_translate_eval import make_checkpoint, run_cli

STAGES = ["reading tiny", "building the model", "mapping the weights of 1+2 layers", "weights to int8",
          "writing model.bin", "writing tokenizers and export info"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    pytest.importorskip("ctranslate2")
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", {
        "type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
        "decoder_layers": 2, "max_positions": 128})


def test_export_shows_its_stages_on_a_terminal(run_dir, tmp_path, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, out, _ = run_cli(monkeypatch, capsys, "export", "--model", run_dir, "-o", tmp_path / "ct2",
                           "--quantization", "int8")
    text = terminal.getvalue()
    assert code == 0 and out == "", text
    # each stage drawn as it starts, with the stages done before it: "export: STAGE:  33%|###3 | 2/6 [00:00<00:00, ...]"
    drawn = re.findall(r"\rexport: (.+?):\s+\d+%\|[^|]*\| (\d)/(\d) \[[\d:]+<[\d:?]+", text)
    shown = [(re.sub(r" \(\d[\d,]* MB\)$", "", what), int(done)) for what, done, total in dict.fromkeys(drawn)]
    assert shown == [(what, done) for done, what in enumerate(STAGES)], text
    assert {total for _, _, total in drawn} == {"6"}
    assert re.search(r"writing model\.bin \(\d[\d,]* MB\)", text), text
    # the bar is cleared when done (leave=False) and the one line the command prints follows it
    last = text.rstrip("\n").rpartition("\r")[2]
    assert last.startswith(f"exported {tmp_path / 'ct2'} (CTranslate2, int8)"), text
    assert (tmp_path / "ct2" / "model.bin").is_file()


def test_export_piped_prints_its_one_line_only(run_dir, tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "ct2"
    code, out, err = run_cli(monkeypatch, capsys, "export", "--model", run_dir, "-o", out_dir)
    assert code == 0 and out == ""
    assert err == (f"exported {out_dir} (CTranslate2, float32); translate with "
                   f"`s2s translate --model {out_dir}`\n"), err


def test_a_refused_export_clears_the_bar_before_its_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ctranslate2")
    rnn = make_checkpoint(tmp_path / "rnn", {"type": "rnn", "embedding_dim": 16, "hidden_size": 16,
                                             "encoder_layers": 1, "decoder_layers": 1})
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, _, _ = run_cli(monkeypatch, capsys, "export", "--model", rnn, "-o", tmp_path / "r")
    text = terminal.getvalue()
    assert code != 0 and "export: reading rnn" in text, text
    after_bar = text.rpartition("\r")[2]
    assert "Transformers only" in after_bar and "%|" not in after_bar, text
    assert not (tmp_path / "r").exists()
