"""Device and precision: `seq2seq.devices`, decoding in bf16 for both model families, and the
--device/--precision options of eval, translate, serve and train (one-line errors, never a traceback)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from seq2seq import Translator, devices
from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.devices import check_device_name, describe, resolve_device, resolve_precision
from seq2seq.errors import UserError
from test_translate_eval import assert_one_line_error, corpus_sentences, make_checkpoint, run_cli

CPU = torch.device("cpu")
SENTENCES = ["Jane visite l'Afrique en septembre.", "", "Où est la gare ?", "Il a 25 ans."]
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


def scaled_run(directory: Path, section: dict, scale: float) -> Path:
    """A tiny random model with its weights x scale: bigger weights give input-dependent outputs
    (x1 a random Transformer says the same few things for every sentence)."""
    run = make_checkpoint(directory, section)
    payload = load_checkpoint(run / "best.pt")
    payload.pop("path")
    payload["model_state"] = {name: tensor * scale if tensor.is_floating_point() else tensor
                              for name, tensor in payload["model_state"].items()}
    save_checkpoint(run / "best.pt", payload)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "transformer": scaled_run(root / "transformer", {
            "type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
            "decoder_layers": 2, "max_positions": 128}, 2.0),
        "rnn": scaled_run(root / "rnn", {
            "type": "rnn", "embedding_dim": 16, "hidden_size": 16, "encoder_layers": 1, "decoder_layers": 1}, 3.0),
    }


# ---------------------------------------------------------------------------------------------
# seq2seq.devices


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_names_that_are_devices(name: str):
    check_device_name(name, "train.device")


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", "", "tpu"])
def test_other_names_are_one_line_errors_that_say_what_to_use(name: str):
    with pytest.raises(UserError, match=r"^--device .* is not a device: use auto, cpu, cuda, cuda:N or mps$"):
        check_device_name(name, "--device")
    if name:  # resolve_device takes "" and None as the default, auto
        with pytest.raises(UserError, match="is not a device"):
            resolve_device(name, "--device")


@no_gpu
def test_auto_is_the_cpu_without_a_gpu():
    assert resolve_device("auto") == resolve_device(None) == resolve_device("cpu") == CPU
    assert resolve_device(torch.device("cpu")) == CPU


@no_gpu
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_is_an_error_naming_the_key(name: str):
    with pytest.raises(UserError, match=rf"^--device '{name}': this machine has no CUDA GPU.*use cpu or auto"):
        resolve_device(name, "--device")


def test_a_gpu_index_past_the_last_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"has 2 CUDA GPU\(s\).*cuda:0 \.\. cuda:1"):
        resolve_device("cuda:2", "--device")


def test_mps_where_it_is_not_available_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match="MPS backend is not available here; use cpu or auto"):
        resolve_device("mps", "--device")


def test_precisions_on_a_cpu(monkeypatch):
    for name in ("fp32", "bf16", "fp16"):
        assert resolve_precision(name, CPU) == name
    with pytest.raises(UserError, match=r"^--precision 'fp8': use one of auto, fp32, bf16, fp16$"):
        resolve_precision("fp8", CPU, "--precision")
    # auto: bf16 only where the CPU has bfloat16 matrix instructions (else it would be slower)
    for flags, expected in ((set(), "fp32"), ({"avx2", "avx512f"}, "fp32"), ({"avx512_bf16"}, "bf16"),
                            ({"amx_bf16", "amx_tile"}, "bf16")):
        monkeypatch.setattr(devices, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert resolve_precision("auto", CPU) == expected, flags
    assert devices.cpu_bf16_units() == ["amx_bf16"]
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


def test_precisions_on_a_gpu(monkeypatch):
    gpu = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert resolve_precision("auto", gpu) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision("auto", gpu) == resolve_precision("fp16", gpu) == "fp16"
    with pytest.raises(UserError, match="no bfloat16 support; use fp16"):
        resolve_precision("bf16", gpu, "--precision")


def test_describe_says_device_precision_and_bf16_units(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16", "sse2"}))
    assert describe(CPU, "bf16") == "bf16 on cpu (bfloat16 matrix units: avx512_bf16)"
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset())
    assert describe(CPU, "fp32") == "fp32 on cpu (bfloat16 matrix units: none)"
    assert describe(torch.device("mps"), "fp16") == "fp16 on mps"


# ---------------------------------------------------------------------------------------------
# Translator.load(device=..., precision=...)


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_bf16_decoding_works_for_both_families(runs, family: str):
    translator = Translator.load(runs[family], device="cpu", precision="bf16")
    assert {p.dtype for p in translator.model.parameters()} == {torch.bfloat16}
    assert translator.settings.precision == "bf16"
    for beam in (1, 3):
        results = translator.translate_batch(SENTENCES, beam=beam, n_best=min(beam, 2), attention=True)
        assert results[1].text == "" and all(r.best.tokens for i, r in enumerate(results) if i != 1)
        for result in (results[0], results[2]):
            hyp = result.best
            assert isinstance(hyp.score, float) and math.isfinite(hyp.score) and hyp.score < 0  # a log-prob
            assert hyp.attention is not None and hyp.attention.dtype == torch.float32  # what users get
            assert hyp.attention.shape[0] == len(hyp.pieces) and hyp.attention.shape[-1] == len(result.source_pieces)
            assert torch.allclose(hyp.attention.sum(-1), torch.ones(()), atol=0.02)


@pytest.mark.parametrize("family, least", [("transformer", 0.6), ("rnn", 0.7)])
def test_bf16_greedy_agrees_with_fp32_on_most_sentences(runs, family: str, least: float):
    """bf16 rounds every matrix product, so a near-tie may flip a word (and what follows it): most
    outputs are the same, not all. The outputs differ from sentence to sentence, so the share means something."""
    sentences = corpus_sentences()[1:80:2]
    # without the repetition rules, which turn a tie broken otherwise into a different continuation
    outputs = {p: [r.best.tokens for r in Translator.load(runs[family], beam=1, precision=p, no_repeat_ngram=0,
                                                          max_piece_run=0)
                   .translate_batch(sentences, max_len=10)] for p in ("fp32", "bf16")}
    assert len({tuple(tokens) for tokens in outputs["fp32"]}) >= 10
    same = sum(a == b for a, b in zip(outputs["fp32"], outputs["bf16"])) / len(sentences)
    assert same >= least, f"only {same:.0%} of greedy outputs identical"


def test_precision_defaults_to_the_runs_decode_precision(runs, tmp_path, monkeypatch):
    assert Translator.load(runs["rnn"]).settings.precision == "fp32"  # the config default
    payload = load_checkpoint(runs["rnn"] / "best.pt")
    payload.pop("path")
    payload["config"]["decode"]["precision"] = "auto"
    save_checkpoint(tmp_path / "auto.pt", payload)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert next(Translator.load(tmp_path / "auto.pt").model.parameters()).dtype == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset())
    assert next(Translator.load(tmp_path / "auto.pt").model.parameters()).dtype == torch.float32
    assert Translator.load(tmp_path / "auto.pt", precision="fp16").settings.precision == "fp16"
    with pytest.raises(UserError, match="precision 'int4': use one of"):
        Translator.load(tmp_path / "auto.pt", precision="int4")


# ---------------------------------------------------------------------------------------------
# The command line


@no_gpu
@pytest.mark.parametrize("command", [["translate", "Bonjour."], ["eval", "--src", "x.fr", "--ref", "x.en"],
                                     ["serve", "--port", "0"]])
def test_device_cuda_without_a_gpu_is_one_line(runs, command, monkeypatch, capsys):
    if command[0] == "serve":
        pytest.importorskip("uvicorn")
    result = run_cli(monkeypatch, capsys, command[0], "--model", runs["rnn"], "--device", "cuda", *command[1:])
    assert_one_line_error(result, "error: --device 'cuda': this machine has no CUDA GPU", "use cpu or auto")


@pytest.mark.parametrize("option, value, needle", [("--device", "gpu", "use auto, cpu, cuda, cuda:N or mps"),
                                                   ("--precision", "fp8", "use auto, fp32, bf16, fp16")])
@pytest.mark.parametrize("command", ["translate", "eval", "serve", "train"])
def test_bad_names_are_usage_errors_naming_the_option(runs, command, option, value, needle, monkeypatch, capsys):
    model = ["--config", "configs/tatoeba-transformer.yaml"] if command == "train" else ["--model", runs["rnn"]]
    code, out, err = run_cli(monkeypatch, capsys, command, *model, option, value)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"s2s {command}: Invalid value for '{option}'" in err  # in-process the program name differs
    assert needle in err


def test_translate_and_eval_in_bf16_end_to_end(runs, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", runs["transformer"], "--precision", "bf16",
                             "--device", "cpu", "--beam", "2", *SENTENCES)
    assert code == 0, err
    assert out.count("\n") == len(SENTENCES) and out.split("\n")[1] == ""
    expected = Translator.load(runs["transformer"], precision="bf16", beam=2).translate(SENTENCES)
    assert out.split("\n")[:-1] == expected
    sentences = corpus_sentences()[:20]
    (tmp_path / "s.fr").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", runs["rnn"], "--precision", "bf16", "--src",
                             tmp_path / "s.fr", "--ref", tmp_path / "s.fr", "--beam", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["sentences"] == 20


def test_train_device_and_precision_are_set_overrides(monkeypatch, capsys):
    import seq2seq.train

    seen = []
    monkeypatch.setattr(seq2seq.train, "train_command", lambda cfg, **kwargs: seen.append(cfg))
    config = "configs/tatoeba-transformer.yaml"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config, "--device", "cpu", "--precision", "bf16")
    assert code == 0, err
    assert (seen[-1].train.device, seen[-1].train.precision) == ("cpu", "bf16")
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config, "--set", "train.precision=fp16",
                           "--precision", "auto")
    assert code == 0, err
    assert (seen[-1].train.device, seen[-1].train.precision) == ("auto", "auto")  # the option wins
    if not torch.cuda.is_available():
        assert_one_line_error(run_cli(monkeypatch, capsys, "train", "--config", config, "--device", "cuda:1"),
                              "error: --device 'cuda:1': this machine has no CUDA GPU")
    assert len(seen) == 2


def test_an_export_maps_the_device_and_takes_no_precision(tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import EXPORT_INFO, ct2_device
    from seq2seq.loading import open_translator

    assert ct2_device("cpu") == ("cpu", 0)
    gpus = ctranslate2.get_cuda_device_count()
    assert ct2_device(None) == ct2_device("auto") == (("cuda", 0) if gpus else ("cpu", 0))
    if not gpus:
        with pytest.raises(UserError, match=r"^--device 'cuda:1': CTranslate2 sees 0 CUDA GPU\(s\).*use cpu or auto"):
            ct2_device("cuda:1", "--device")
    with pytest.raises(UserError, match="CTranslate2 runs on cpu or cuda only"):
        ct2_device("mps", "--device")
    with pytest.raises(UserError, match="is not a device"):
        ct2_device("gpu", "--device")
    exported = tmp_path / "export"
    exported.mkdir()
    (exported / EXPORT_INFO).write_text("{}", encoding="utf-8")
    (exported / "model.bin").write_bytes(b"")
    with pytest.raises(UserError, match=r"^--precision bf16: an exported CTranslate2 model computes in the quantization"):
        open_translator(exported, precision="bf16")
