"""The public Python API: `seq2seq.Translator`, the README's example, and the model facts it reads."""

from __future__ import annotations

import importlib.util
import io
import math
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from seq2seq import Translator
from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.config import ModelConfig, config_from_dict
from seq2seq.errors import UserError
from seq2seq.models import build_model
from test_translate_eval import make_checkpoint, run_cli

REPO = Path(__file__).resolve().parents[1]
SENTENCES = ["Jane visite l'Afrique en septembre.", "", "Où est la gare ?", "Il a 25 ans."]


def sharp_transformer(run: Path, decoder_layers: int, max_positions: int) -> Path:
    """A tiny random Transformer with large weights: its outputs depend on the input and have no
    near-ties, so batching (other float rounding) cannot flip a choice."""
    make_checkpoint(run, {"type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
                          "decoder_layers": decoder_layers, "max_positions": max_positions})
    payload = load_checkpoint(run / "best.pt")
    payload.pop("path")
    payload["model_state"] = {name: tensor * 3.0 if tensor.is_floating_point() else tensor
                              for name, tensor in payload["model_state"].items()}
    save_checkpoint(run / "best.pt", payload)
    return run


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory) -> Path:
    return sharp_transformer(tmp_path_factory.mktemp("runs") / "tiny", decoder_layers=2, max_positions=128)


@pytest.fixture(scope="module")
def rnn_run(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "rnn", {
        "type": "rnn", "embedding_dim": 16, "hidden_size": 16, "encoder_layers": 1, "decoder_layers": 1})


def readme_python_example() -> str:
    """The ```python block of README.md's "From Python" section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## From Python"):]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README.md has a ```python block under '## From Python'"
    return match.group(1)


def test_the_readme_python_example_runs_as_written(transformer_run: Path, tmp_path: Path, monkeypatch, capsys):
    code = readme_python_example()
    run_paths = set(re.findall(r"runs/[\w.-]+", code))
    assert run_paths, "the example loads a run directory"
    for run_path in run_paths:  # the example's run directories, here a tiny model
        (tmp_path / run_path).mkdir(parents=True)
        (tmp_path / run_path / "best.pt").write_bytes((transformer_run / "best.pt").read_bytes())
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.count("\n") >= 3


def test_translate_takes_a_sentence_or_a_list(transformer_run: Path):
    translator = Translator.load(transformer_run)
    one = translator.translate(SENTENCES[0])
    assert isinstance(one, str)
    many = translator.translate(SENTENCES)
    assert isinstance(many, list) and len(many) == len(SENTENCES)
    assert many[0] == one and many[1] == ""
    assert many == [translator.translate(sentence) for sentence in SENTENCES]  # batching changes nothing
    assert all("\n" not in text for text in many)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_shows_the_sentences_searched_on_a_terminal_only(transformer_run: Path, monkeypatch, capsys, tmp_path):
    """`s2s eval` and `translate -i` show a bar of the sentences searched on a terminal (done/total,
    sentences/s); piped, stderr gets nothing of it; the translations are the same either way."""
    sentences = [f"{word} {i}." for i in range(30) for word in ("maison", "chat")]
    translator = Translator.load(transformer_run, batch_tokens=40, split=False)  # many small batches
    quiet = translator.translate(sentences)
    assert capsys.readouterr().err == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    translator.show_progress = True
    assert translator.translate(sentences) == quiet
    shown = terminal.getvalue()
    assert f"/{len(sentences)}" in shown and "sentences/s" in shown, shown
    monkeypatch.undo()
    source = tmp_path / "in.fr"
    source.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", transformer_run, "-i", source, "--no-split")
    assert code == 0 and out.splitlines() == quiet and "sentences/s" not in err and "\r" not in err


def test_the_translator_gives_what_s2s_translate_prints(transformer_run: Path, monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "translate", "--model", transformer_run, *SENTENCES)
    assert code == 0
    assert out.split("\n")[:-1] == Translator.load(transformer_run).translate(SENTENCES)


def test_n_best_scores_attention_and_pieces(transformer_run: Path):
    translator = Translator.load(transformer_run, beam=4)
    results = translator.translate_batch(SENTENCES, n_best=3, attention=True)
    assert [result.source for result in results] == SENTENCES
    empty = results[1]
    assert empty.text == "" and len(empty.hypotheses) == 1 and empty.source_pieces == []
    # an empty sentence has an empty attention of the same layout (not None), and no pieces
    assert tuple(empty.best.attention.shape) == (0, 2, 4, 0) and empty.best.pieces == []
    for result in results[:1] + results[2:]:
        assert len(result.hypotheses) == 3
        scores = [hyp.score for hyp in result.hypotheses]
        assert scores == sorted(scores, reverse=True)
        assert result.best is result.hypotheses[0] and result.text == result.best.text
        src_pieces = result.source_pieces
        assert src_pieces is not None and src_pieces[-1] == "</s>"
        for hyp in result.hypotheses:
            assert hyp.attention is not None and hyp.pieces is not None
            # (target pieces with EOS, decoder layers, heads, source pieces with EOS)
            assert tuple(hyp.attention.shape) == (len(hyp.tokens) + 1, 2, 4, len(src_pieces))
            assert len(hyp.pieces) == len(hyp.tokens) + 1
            torch.testing.assert_close(hyp.attention.sum(-1), torch.ones(hyp.attention.shape[:-1]))
    # without attention=True, nothing extra is kept
    plain = translator.translate_batch(SENTENCES[:1], n_best=2)[0]
    assert plain.source_pieces is None and plain.best.attention is None and plain.best.pieces is None
    assert [h.text for h in plain.hypotheses] == [h.text for h in results[0].hypotheses[:2]]


def test_beam_override_and_settings(transformer_run: Path):
    assert Translator.load(transformer_run).settings.beam_size == 3  # the run's decode.beam_size
    greedy = Translator.load(transformer_run, beam=1)
    assert greedy.settings.beam_size == 1
    assert greedy.translate(SENTENCES) == Translator.load(transformer_run).translate(SENTENCES, beam=1)


def test_a_device_that_is_not_there_is_a_clear_error(transformer_run: Path):
    with pytest.raises(UserError, match="is not a device: use auto, cpu, cuda"):
        Translator.load(transformer_run, device="gpu9")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            Translator.load(transformer_run, device="cuda")


def test_a_checkpoint_with_a_retired_config_key_still_loads(transformer_run: Path, tmp_path: Path):
    payload = load_checkpoint(transformer_run / "best.pt")
    payload.pop("path")
    payload["config"]["decode"]["n_best"] = 1  # written by s2s before decode.n_best was removed
    save_checkpoint(tmp_path / "old.pt", payload)
    assert Translator.load(tmp_path / "old.pt").translate(SENTENCES) == Translator.load(transformer_run).translate(SENTENCES)
    with pytest.raises(UserError, match="decode.n_best is no longer a config key"):
        config_from_dict({"data": {"path": "c.tsv"}, "decode": {"n_best": 2}})


def test_rnn_runs_translate_through_the_same_api(rnn_run: Path):
    translator = Translator.load(rnn_run)
    result = translator.translate_batch(SENTENCES[:1], attention=True)[0]
    assert result.best.attention is not None and result.best.attention.shape[1:3] == (1, 1)


@pytest.mark.parametrize("section, positions, layers, heads", [
    ({"type": "transformer", "d_model": 32, "heads": 4, "decoder_layers": 3, "max_positions": 64}, 64, 3, 4),
    ({"type": "rnn", "hidden_size": 16, "embedding_dim": 16, "attention": "dot"}, None, 1, 1),
    ({"type": "rnn", "hidden_size": 16, "embedding_dim": 16, "attention": "none"}, None, 0, 1),
])
def test_models_state_the_facts_callers_need(section, positions, layers, heads):
    model = build_model(ModelConfig(**section), 40, 40, True)
    assert (model.max_positions, model.attention_layers, model.attention_heads) == (positions, layers, heads)


def test_importing_seq2seq_does_not_import_torch():
    import subprocess

    code = "import seq2seq, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_attention_stats_script_reads_the_last_layer_heads_averaged(transformer_run: Path, rnn_run: Path):
    spec = importlib.util.spec_from_file_location("attention_stats", REPO / "scripts" / "attention_stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sources = ["Où est la gare ?", "Il a 25 ans."]
    for run in (transformer_run, rnn_run):
        stats = module.attention_stats(str(run), sources)
        results = Translator.load(run, beam=1).translate_batch(sources, attention=True)
        by_sentence = [result.best.attention.float()[:, -1].mean(1) for result in results]
        assert by_sentence[0].shape[-1] == len(results[0].source_pieces)  # one column per source piece
        first = sum((w.argmax(-1) == 0).float().mean().item() for w in by_sentence) / 2
        eos = sum((w.argmax(-1) == w.shape[-1] - 1).float().mean().item() for w in by_sentence) / 2
        largest = sum(w.max(-1).values.mean().item() for w in by_sentence) / 2
        assert stats["sentences"] == 2
        assert stats["first_share"] == pytest.approx(first) and stats["eos_share"] == pytest.approx(eos)
        assert stats["max_weight"] == pytest.approx(largest)
        assert 0.0 < stats["entropy"] < math.log(max(w.shape[-1] for w in by_sentence)) + 1e-6
