"""Bad, unusual and hostile input: one clear line, a non-zero exit, nothing lost or overwritten.

One test (or more) per failure found by trying s2s as a new user would: data loss, wrong results
with exit code 0, tracebacks, unclear refusals and runaway output.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from seq2seq.config import config_from_dict, load_config
from seq2seq.data.prepare import prepare_corpus
from seq2seq.errors import UserError
from seq2seq.repetition import repeating
from seq2seq.search import SearchOptions, beam_search, greedy_decode, search
from seq2seq.translator import pad_sequences
from test_decode import A, B, TableModel, markov_table, reverse_batch, reverser  # noqa: F401 (a fixture)
from test_train import make_toy_data, run_training, toy_config, toy_pairs
from test_translate_eval import assert_one_line_error, make_checkpoint, run_cli

REPO = Path(__file__).resolve().parents[1]
SENTENCES = ["Jane visite l'Afrique en septembre.", "Où est la gare ?", "Il a 25 ans."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", {
        "type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
        "decoder_layers": 1, "max_positions": 128})


def one_error_line(result: tuple[int, str, str], *needles: str, code: int = 1, alone: bool = True) -> str:
    """The command failed with `code` and said why in one `error:` line on stderr; with alone,
    stderr holds nothing else (warnings aside)."""
    exit_code, _, err = result
    assert exit_code == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    if alone:
        assert len([line for line in err.splitlines() if not line.startswith("warning: ")]) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def s2s(*args: object, cwd: Path = REPO, stdin: bytes | None = None, file_size_limit: int | None = None,
        timeout: float = 120) -> tuple[int, str, str]:
    """`s2s ARGS` in a new process; file_size_limit: bytes any one file may grow to (a full disk)."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "seq2seq", *map(str, args)], cwd=cwd, env=env, input=stdin,
                          capture_output=True, timeout=timeout,
                          preexec_fn=limit_files if file_size_limit else None)
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def write_config(path: Path, config) -> Path:
    path.write_text(config.to_yaml(), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Data loss


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "../elsewhere", "a/b"])
def test_a_name_is_one_plain_directory_name(name: str):
    with pytest.raises(UserError, match="must not start with '.'"):
        config_from_dict({"name": name, "data": {"path": "c.tsv"}})


def test_a_name_set_with_set_is_blamed_on_set(tmp_path: Path):
    config = tmp_path / "c.yaml"
    config.write_text("name: ok\ndata: {path: c.tsv}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^--set: name '\.\.'"):
        load_config(config, ["name=.."])


def test_eval_refuses_to_write_its_hypotheses_over_the_references(run_dir, tmp_path, monkeypatch, capsys):
    src, ref = tmp_path / "t.fr", tmp_path / "t.en"
    src.write_text("Bonjour.\nMerci.\n", encoding="utf-8")
    ref.write_text("Hello.\nThanks.\n", encoding="utf-8")
    for target in (ref, src, tmp_path / "." / "t.en"):
        one_error_line(run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref,
                               "-o", target), "would replace an input")
    assert ref.read_text(encoding="utf-8") == "Hello.\nThanks.\n"


def test_translate_refuses_to_write_over_its_input(run_dir, tmp_path, monkeypatch, capsys):
    text = tmp_path / "in.fr"
    text.write_text("Bonjour.\n", encoding="utf-8")
    link = tmp_path / "link.fr"
    link.symlink_to(text)
    for target in (text, link):
        one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", text, "-o", target),
                       "would replace an input")
    assert text.read_text(encoding="utf-8") == "Bonjour.\n"


# ---------------------------------------------------------------------------------------------
# Wrong results with exit code 0


@pytest.fixture
def prepared(tmp_path: Path, monkeypatch) -> Path:
    """A corpus prepared by `s2s data prepare` in tmp_path/data/toy, and its config file."""
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{en}\t{fr}\n" for fr, en in toy_pairs(600, 5)), encoding="utf-8")
    config = toy_config(tmp_path / "data" / "toy", max_steps=2, validate_every=2)
    raw = config.to_dict()
    raw["data"].update({"path": str(corpus), "vocab_size": 60, "dev_size": 40, "test_size": 40})
    config = config_from_dict(raw)
    prepare_corpus(config)
    return write_config(tmp_path / "toy.yaml", config)


def test_training_refuses_data_prepared_with_other_settings(prepared: Path, monkeypatch, capsys):
    for override in ("data.lowercase=true", "data.vocab_size=70", "data.seed=2"):
        line = one_error_line(run_cli(monkeypatch, capsys, "train", "--config", prepared, "--set", override,
                                      "--quiet"), "prepared with other data settings")
        assert override.split("=")[0] in line
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", prepared, "--quiet")
    assert code == 0, err


def test_eval_refuses_a_split_prepared_again_with_another_seed(prepared: Path, monkeypatch, capsys):
    assert run_cli(monkeypatch, capsys, "train", "--config", prepared, "--quiet")[0] == 0
    assert run_cli(monkeypatch, capsys, "eval", "--model", "runs/toy", "--split", "test")[0] == 0
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", prepared, "--set", "data.seed=2",
                   "--force")[0] == 0
    one_error_line(run_cli(monkeypatch, capsys, "eval", "--model", "runs/toy", "--split", "test"),
                   "data.seed 2 -> 1", "trained on")


@pytest.mark.parametrize("section, key", [("train", "lr"), ("model", "dropout"), ("train", "adam_beta1"),
                                          ("data", "max_length_ratio"), ("train", "max_minutes")])
def test_nan_and_infinity_are_refused_by_name(tmp_path: Path, section: str, key: str):
    plain = tmp_path / "plain.yaml"
    plain.write_text("data: {path: c.tsv}\n", encoding="utf-8")
    for value in (".nan", ".inf", "-.inf"):
        path = tmp_path / "c.yaml"
        extra = "" if section == "data" else f"\n{section}:"
        path.write_text(f"data:\n  path: c.tsv{extra}\n  {key}: {value}\n", encoding="utf-8")
        with pytest.raises(UserError, match=rf"{section}\.{key} must be a finite number"):
            load_config(path)
        with pytest.raises(UserError, match=rf"^--set: {section}\.{key} must be a finite number"):
            load_config(plain, [f"{section}.{key}={value}"])


# ---------------------------------------------------------------------------------------------
# Tracebacks instead of one line


def test_a_full_disk_while_writing_translations_is_one_line(run_dir, tmp_path: Path):
    src = tmp_path / "in.fr"
    src.write_text("Bonjour.\n" * 3000, encoding="utf-8")
    out = tmp_path / "out.en"
    out.write_text("kept\n", encoding="utf-8")
    result = s2s("translate", "--model", run_dir, "-i", src, "-o", out, "--beam", "1", "--max-len", "4",
                 file_size_limit=2000)
    one_error_line(result, str(out), "nothing there was changed")
    assert out.read_text(encoding="utf-8") == "kept\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.en")], "no temporary file left"


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path: Path):
    data = make_toy_data(tmp_path / "data")
    config = write_config(tmp_path / "toy.yaml", toy_config(data, max_steps=4, validate_every=2))
    room = (data / "spm.model").stat().st_size + 20_000  # the run directory's small files fit, a checkpoint not
    result = s2s("train", "--config", config, "--run-dir", tmp_path / "run", "--quiet", cwd=tmp_path,
                 file_size_limit=room)
    line = one_error_line(result, str(tmp_path / "run"), "is the disk full", alone=False)  # after the log
    assert result[2].strip().endswith(line)


def test_outputs_that_are_directories_or_under_files(run_dir, tmp_path: Path, monkeypatch, capsys):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-o", folder, "Bonjour."),
                   "is a directory")
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--plot-attention", folder,
                           "Bonjour."), "is a directory")
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-o", a_file / "out.txt",
                           "Bonjour."), "not a directory")
    config = write_config(tmp_path / "toy.yaml", toy_config(make_toy_data(tmp_path / "data")))
    one_error_line(run_cli(monkeypatch, capsys, "train", "--config", config, "--run-dir", a_file, "--quiet"),
                   "is a file, not a run directory")


def test_eval_checks_where_its_plot_goes_before_translating(run_dir, tmp_path: Path, monkeypatch, capsys):
    src = tmp_path / "t.fr"
    src.write_text("Bonjour.\n", encoding="utf-8")
    (run_dir / "bleu_by_length.t.fr.png").mkdir(exist_ok=True)  # where the plot would go
    try:
        code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", src,
                                 "--by-length")
    finally:
        (run_dir / "bleu_by_length.t.fr.png").rmdir()
    one_error_line((code, out, err), "BLEU-by-length plot")
    assert "sentences/s" not in out, "refused before translating"


def test_a_damaged_metrics_csv_does_not_block_resume(tmp_path: Path):
    data = make_toy_data(tmp_path / "data")
    run_training(toy_config(data, max_steps=6, save_every=3, validate_every=6), tmp_path / "run")
    metrics = tmp_path / "run" / "metrics.csv"
    rows = metrics.read_text(encoding="utf-8")
    metrics.write_text(rows + "garbage,,,\nabc,1,2\n\x00\xff broken\n", encoding="utf-8")
    run_training(toy_config(data, max_steps=9, save_every=3, validate_every=6), tmp_path / "run", resume=True)
    with open(metrics, newline="", encoding="utf-8") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps == sorted(steps) and steps[-1] == 9


# ---------------------------------------------------------------------------------------------
# Unclear


def test_a_run_stopped_during_start_up_starts_again_without_force(tmp_path: Path, monkeypatch, capsys):
    data = make_toy_data(tmp_path / "data")
    config = write_config(tmp_path / "toy.yaml", toy_config(data, max_steps=2, validate_every=2))
    import seq2seq.train as train_module

    def interrupted(self):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(train_module.Trainer, "run", interrupted)
        code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config, "--run-dir", tmp_path / "run",
                               "--quiet")
    assert code == 130 and "error: interrupted" in err
    assert (tmp_path / "run" / "config.yaml").is_file() and not (tmp_path / "run" / "last.pt").exists()
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config, "--run-dir", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert (tmp_path / "run" / "last.pt").is_file()


def test_input_from_dev_stdin_a_pipe_and_dev_null(run_dir, tmp_path: Path, monkeypatch, capsys):
    expected = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, *SENTENCES)[1]
    stdin_run = s2s("translate", "--model", run_dir, "-i", "/dev/stdin", stdin="\n".join(SENTENCES).encode())
    assert stdin_run[0] == 0 and stdin_run[1] == expected, stdin_run[2]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8"))
    writer.start()
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", fifo)
    writer.join()
    assert code == 0 and out == expected, err
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", "/dev/null")
    assert code == 0 and out == "", err
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", tmp_path), "is a directory")
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", tmp_path / "nope"),
                   "not found")


def test_a_cross_key_error_caused_by_set_blames_set(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {path: c.tsv, src_column: 2, tgt_column: 1}\nmodel: {d_model: 256, heads: 4}\n",
                    encoding="utf-8")
    with pytest.raises(UserError, match=r"^--set: data.src_column and data.tgt_column"):
        load_config(path, ["data.src_column=1"])
    with pytest.raises(UserError, match=r"^--set: model.d_model"):
        load_config(path, ["model.heads=3"])
    path.write_text("data: {path: c.tsv, src_column: 1, tgt_column: 1}\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{path}: data.src_column"):
        load_config(path, ["model.heads=8"])


@pytest.mark.parametrize("args, needle", [
    (["train"], "Missing option '--config'"),
    (["eval", "--beam", "0"], "--beam"),
    (["translate", "--max-len", "0", "x"], "--max-len"),
    (["nosuch"], "No such command"),
    (["translate", "--beam"], "requires an argument"),
])
def test_command_line_mistakes_are_one_line(args, needle, monkeypatch, capsys):
    one_error_line(run_cli(monkeypatch, capsys, *args), needle, code=2)


def test_download_errors_never_share_a_line_with_progress_text(tmp_path: Path, monkeypatch, capsys):
    from seq2seq.data import download

    calls = {"n": 0}

    class Broken:
        def read(self, size: int) -> bytes:
            calls["n"] += 1
            if calls["n"] > 3:
                raise ConnectionResetError("reset")
            return b"x" * 1000

    with pytest.raises(UserError, match="interrupted"):
        download._copy_with_progress(Broken(), tmp_path / "f.part", "wb", 0, 10_000, "http://127.0.0.1/f")
    assert "\r" not in capsys.readouterr().err


def test_n_best_gives_every_line_the_same_number_of_fields(run_dir, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--n-best", "3",
                             "Bonjour.", "", "Merci.")
    assert code == 0, err
    lines = out.split("\n")[:-1]
    assert [len(line.split("\t")) for line in lines] == [6, 6, 6]
    assert lines[1].split("\t")[:2] == ["0.0000", ""]


# A Markov chain that ends at once with probability 0.3, or else says "A" and can hardly stop.
CUT_TRAP = markov_table(7, {2: {A: 0.7, 3: 0.3}, A: {A: 0.98, 3: 0.01, B: 0.01}})


def test_a_cut_at_max_len_gives_beam_the_prefix_greedy_gives():
    src, lengths = pad_sequences([[A, 3]], torch.device("cpu"))
    model = TableModel(CUT_TRAP)
    greedy = greedy_decode(model, src, lengths, 2, cut_at_max_len=True)[0]
    assert greedy.tokens == [A, A]
    beam = beam_search(model, src, lengths, 2, 4, cut_at_max_len=True)[0][0]
    assert beam.tokens == [A, A]
    # as a safety bound (the default), the forced EOS counts and the empty output wins
    assert beam_search(model, src, lengths, 2, 4, min_length=0)[0][0].tokens == []


def test_invalid_utf8_is_translated_with_one_warning(run_dir, tmp_path: Path, monkeypatch, capsys):
    bad = tmp_path / "bad.fr"
    bad.write_bytes(b"Bonjour.\nCaf\xe9 cr\xe8me.\nMerci.\n\xff\xfe\n")
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "-i", bad)
    assert code == 0 and len(out.split("\n")) == 5
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{bad} line 2 is not valid UTF-8" in warnings[0]
    code, out, err = s2s("translate", "--model", run_dir, stdin=bad.read_bytes())
    assert code == 0 and len(out.split("\n")) == 5
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        "warning: stdin line 2 is not valid UTF-8; its undecodable bytes were replaced by U+FFFD "
        "(convert the file to UTF-8 for a faithful translation)"]


# ---------------------------------------------------------------------------------------------
# Degenerate output


# "A" follows "A" with probability 0.9: without a stop, every output runs to its maximum length.
LOOP = markov_table(7, {2: {A: 0.9, B: 0.1}, A: {A: 0.9, 3: 0.05, B: 0.05}, B: {3: 0.9, A: 0.1}})


def test_a_hypothesis_that_repeats_itself_stops():
    src, lengths = pad_sequences([[A, 3]], torch.device("cpu"))
    model = TableModel(LOOP)
    assert greedy_decode(model, src, lengths, 500)[0].tokens == [A] * 500
    assert greedy_decode(model, src, lengths, 500, max_repeats=8)[0].tokens == [A] * 8
    found = beam_search(model, src, lengths, 500, 4, n_best=2, max_repeats=8)[0]
    assert all(len(h.tokens) <= 9 for h in found)


def test_repeats_of_runs_of_pieces_are_found():
    rows = torch.tensor([[1, 4, 5, 4, 5, 4, 5], [4, 5, 6, 4, 5, 6, 7], [9, 9, 9, 8, 9, 9, 9]])
    assert repeating(rows, 3).tolist() == [True, False, True]
    assert repeating(rows, 4).tolist() == [False, False, False]
    assert repeating(rows, 0).tolist() == [False, False, False]


def test_the_repeat_stop_changes_no_ordinary_output(reverser):
    """A trained model (it reverses 2-6 symbols) gives the same outputs with the default stop."""
    sources, _ = reverse_batch(200, torch.Generator().manual_seed(11))
    src, lengths = pad_sequences([s + [3] for s in sources], torch.device("cpu"))
    for beam in (1, 4):
        plain = search(reverser, src, lengths, 10, SearchOptions(beam_size=beam, alpha=0.6))
        stopped = search(reverser, src, lengths, 10, SearchOptions(beam_size=beam, alpha=0.6, max_repeats=8))
        assert [h[0].tokens for h in plain] == [h[0].tokens for h in stopped]
        assert sum(h[0].tokens == s[::-1] for h, s in zip(plain, sources)) >= 180


def test_a_line_of_2000_repeated_words_does_not_come_back_as_a_runaway(run_dir, tmp_path: Path, monkeypatch,
                                                                      capsys):
    # A model that cannot stop: its decoder's last norm gives one vector at every step, whose
    # logits put one word piece far above every other (EOS included). Without the repetition
    # stop it writes that piece to the length limit; with it, 8 times.
    import sentencepiece as spm
    from seq2seq.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(run_dir / "best.pt")
    payload.pop("path")
    state = payload["model_state"]
    pieces = spm.SentencePieceProcessor(model_proto=payload["spm_tgt"])
    word = next(i for i in range(pieces.get_piece_size())
                if pieces.id_to_piece(i).startswith("▁") and len(pieces.id_to_piece(i)) > 2)
    state["decoder_norm.weight"].zero_()
    state["decoder_norm.bias"].zero_()
    state["decoder_norm.bias"][0] = 1.0
    state["output_proj.weight"][:, 0] = 0.0
    state["output_proj.weight"][word, 0] = 10.0
    runaway = tmp_path / "runaway.pt"  # a checkpoint carries its config and SentencePiece models
    save_checkpoint(runaway, payload)

    line = " ".join(["maison"] * 2000)
    no_blocking = ("--no-repeat-ngram", "0", "--max-piece-run", "0")  # the repetition stop alone
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", runaway, "--beam", "1", *no_blocking, line)
    assert code == 0, err
    with_stop = out.strip().split()
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", runaway, "--beam", "1",
                             "--max-repeats", "0", *no_blocking, line)
    assert code == 0, err
    without_stop = out.strip().split()
    assert len(with_stop) == 8 and len(without_stop) > 100, (len(with_stop), len(without_stop))


def test_eval_json_reports_the_time_per_sentence(run_dir, tmp_path: Path, monkeypatch, capsys):
    src = tmp_path / "t.fr"
    src.write_text("Bonjour.\nMerci.\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", src, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["seconds_per_sentence"] == pytest.approx(report["seconds"] / 2, abs=1e-3)


def test_a_reader_that_goes_away_is_not_an_error(run_dir, tmp_path: Path):
    """`s2s eval --json | head -c 10` and `s2s translate < f | head -1`: exit 0, nothing on stderr
    (click made eval's broken pipe a silent exit 1)."""
    src = tmp_path / "s.fr"
    src.write_text("Bonjour.\nMerci.\n" * 20, encoding="utf-8")
    for args in (["eval", "--model", str(run_dir), "--src", str(src), "--ref", str(src), "--json"],
                 ["translate", "--model", str(run_dir), "-i", str(src)]):
        child = subprocess.Popen([sys.executable, "-m", "seq2seq", *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)))
        child.stdout.close()  # the reader is gone before the first line
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 0, err
        assert "Traceback" not in err and "error" not in err, err


def test_sigterm_while_a_command_starts_is_one_line_and_143(run_dir, tmp_path: Path):
    """SIGTERM before a command's work ends (here: translate waiting on its input) said nothing."""
    child = subprocess.Popen([sys.executable, "-m", "seq2seq", "translate", "--model", str(run_dir)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        child.stdin.write(b"Bonjour.\n")
        child.stdin.flush()
        assert child.stdout.readline().strip()  # the model is loaded and has answered: the handler is in place
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=60)
    finally:
        child.kill()
    err = child.stderr.read().decode()
    assert code == 143, err
    assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: stopped by SIGTERM (a file it was writing is left as it was: written whole or not at all)"], err
