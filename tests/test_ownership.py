"""Nothing a user made is destroyed (issue 33): one ownership rule for the folders s2s writes
(run, prepared data, export), single-file outputs that never replace a checkpoint, tokenizer,
config or corpus, and the OS lock on a folder being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seq2seq.ownership import LOCK, MARKER, folder_kind
from test_hardening import one_error_line, s2s, write_config
from test_train import make_toy_data, run_training, toy_config
from test_translate_eval import make_checkpoint, run_cli

REPO = Path(__file__).resolve().parents[1]
TRANSFORMER = {"type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
               "decoder_layers": 1, "max_positions": 128}


def digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (s2s's lock aside, whose pid changes), by content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run folder as an earlier release left it (no marker): best.pt, last.pt, config.yaml,
    spm.model, train.log, training_curves.png."""
    folder = make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", TRANSFORMER)
    for name in ("last.pt", "config.yaml", "spm.model", "train.log", "training_curves.png"):
        (folder / name).write_bytes((folder / "best.pt").read_bytes() if name == "last.pt" else name.encode())
    return folder


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """A prepared-data folder of an earlier release: the splits, spm.model, manifest.json."""
    folder = make_toy_data(tmp_path / "data" / "toy", n_train=60)
    (folder / "manifest.json").write_text('{"format": "s2s-prepared-corpus"}', encoding="utf-8")
    return folder


@pytest.fixture
def texts(tmp_path: Path) -> tuple[Path, Path]:
    src, ref = tmp_path / "in.fr", tmp_path / "ref.en"
    src.write_text("Bonjour.\nMerci.\n", encoding="utf-8")
    ref.write_text("Hello.\nThanks.\n", encoding="utf-8")
    return src, ref


# ---------------------------------------------------------------------------------------------
# -o and plots never replace a run's, a prepared corpus's or a user's checkpoint/tokenizer/config


@pytest.mark.parametrize("name", ["last.pt", "best.pt", "spm.model", "config.yaml", "train.log"])
def test_translate_and_eval_never_write_over_a_runs_files(run, texts, name, monkeypatch, capsys):
    before = digests(run)
    src, ref = texts
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", run / name, "Bonjour."),
                   name, "run folder")
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run / "best.pt", "--input", src,
                           "-o", run / name), name)
    one_error_line(run_cli(monkeypatch, capsys, "eval", "--model", run, "--src", src, "--ref", ref,
                           "-o", run / name), name)
    assert digests(run) == before


def test_a_runs_folder_is_known_through_a_symlink(run, tmp_path, monkeypatch, capsys):
    link = tmp_path / "link"
    link.symlink_to(run)
    before = digests(run)
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", link / "last.pt", "Bonjour."),
                   "run folder")
    assert digests(run) == before


def test_prepared_corpus_and_user_checkpoints_are_not_outputs(run, prepared, tmp_path, texts, monkeypatch, capsys):
    before = digests(prepared)
    for name in ("spm.model", "train.src", "manifest.json"):
        one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", prepared / name, "Bonjour."),
                       name, "prepared-data folder")
    assert digests(prepared) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("model.pt", "spm.model", "settings.yaml"):
        (mine / name).write_bytes(b"keep me")
        one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", mine / name, "Bonjour."),
                       name, "checkpoint, tokenizer or config")
        assert (mine / name).read_bytes() == b"keep me"


def test_outputs_next_to_a_run_still_work(run, texts, monkeypatch, capsys):
    """Correct use unchanged: a hypotheses file written (and re-written) inside the run folder."""
    src, ref = texts
    for _ in range(2):
        code, _, err = run_cli(monkeypatch, capsys, "eval", "--model", run, "--src", src, "--ref", ref,
                               "-o", run / "hyps.txt", "--beam", "1")
        assert code == 0, err
    assert len((run / "hyps.txt").read_text(encoding="utf-8").splitlines()) == 2
    (run / "hyps.txt").unlink()


def test_plot_attention_never_replaces_curves_nor_the_output(run, tmp_path, monkeypatch, capsys):
    before = digests(run)
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "--plot-attention",
                           run / "training_curves.png", "Bonjour."), "training_curves.png")
    assert digests(run) == before
    same = tmp_path / "x.png"
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "--plot-attention", same,
                           "-o", same, "Bonjour."), "same file")
    assert not same.exists()


def test_average_never_replaces_a_runs_checkpoint(run, tmp_path, monkeypatch, capsys):
    steps = tmp_path / "steps"
    steps.mkdir()
    for n in (1, 2):
        shutil.copyfile(run / "best.pt", steps / f"step-{n}.pt")
    before = digests(run)
    for name in ("last.pt", "best.pt"):
        one_error_line(run_cli(monkeypatch, capsys, "average", steps / "step-1.pt", steps / "step-2.pt",
                               "-o", run / name, "--force"), name, "run folder")
    assert digests(run) == before
    code, _, err = run_cli(monkeypatch, capsys, "average", steps / "step-1.pt", steps / "step-2.pt",
                           "-o", tmp_path / "avg.pt")
    assert code == 0, err


# ---------------------------------------------------------------------------------------------
# s2s train --run-dir: only a new or empty folder or an s2s run folder


def test_train_refuses_folders_that_are_not_runs(tmp_path, monkeypatch, capsys):
    data = make_toy_data(tmp_path / "data", n_train=60)
    config = write_config(tmp_path / "toy.yaml", toy_config(data, max_steps=2, validate_every=2))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("mine", encoding="utf-8")
    (mine / "spm.model").write_text("mine", encoding="utf-8")
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    export = tmp_path / "export"
    export.mkdir()
    for name in ("s2s_export.json", "spm.src.model", "model.bin"):
        (export / name).write_text("export", encoding="utf-8")
    for folder, needle in ((mine, "s2s did not make"), (data, "which this command reads"),
                           (export, "export folder")):
        before = digests(folder)
        for extra in ((), ("--force",)):
            one_error_line(run_cli(monkeypatch, capsys, "train", "--config", config, "--run-dir", folder, *extra),
                           str(folder), needle, alone=False)
        assert digests(folder) == before


def test_train_restarts_its_own_run_that_stopped_before_a_checkpoint(tmp_path):
    data = make_toy_data(tmp_path / "data", n_train=60)
    config = toy_config(data, max_steps=2, validate_every=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / MARKER).write_text('{"kind": "run"}', encoding="utf-8")
    (run_dir / "config.yaml").write_text("stale", encoding="utf-8")
    (run_dir / "train.log").write_text("stale", encoding="utf-8")
    run_training(config, run_dir)
    assert (run_dir / "best.pt").is_file() and folder_kind(run_dir) == "run"
    marker = json.loads((run_dir / MARKER).read_text(encoding="utf-8"))
    assert marker["kind"] == "run" and marker["made_by"]["command"] == "s2s train"
    assert {"s2s_version", "time"} <= marker["made_by"].keys()


# ---------------------------------------------------------------------------------------------
# s2s export -o OUT --force: only an existing export is replaced


def test_export_force_replaces_only_an_export(run, tmp_path, monkeypatch, capsys):
    pytest.importorskip("ctranslate2")
    parent = run.parent
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    before = {folder: digests(folder) for folder in (parent, mine)}
    cases = ((run, run, "which this command reads"), (run / "best.pt", run / "best.pt", "is a file"),
             (run, parent, "which this command reads"), (run, mine, "s2s did not make"))
    for model, out, needle in cases:
        one_error_line(run_cli(monkeypatch, capsys, "export", "--model", model, "-o", out, "--force"), needle)
    assert before == {folder: digests(folder) for folder in (parent, mine)}
    out = tmp_path / "ct2"
    for extra in ((), ("--force",)):
        code, _, err = run_cli(monkeypatch, capsys, "export", "--model", run, "-o", out, *extra)
        assert code == 0, err
    assert json.loads((out / MARKER).read_text(encoding="utf-8"))["kind"] == "export"
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", run, "-o", out), "--force")
    # a user's file inside an export would go with it: refused, until it is moved out
    (out / "hyps.txt").write_text("mine", encoding="utf-8")
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", run, "-o", out, "--force"),
                   "hyps.txt", "move that out")
    assert (out / "hyps.txt").read_text(encoding="utf-8") == "mine"


# ---------------------------------------------------------------------------------------------
# s2s data prepare: never a folder holding its corpus, never a user's folder


def test_prepare_force_never_replaces_the_folder_holding_its_corpus(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "corpus"
    folder.mkdir()
    corpus = folder / "pairs.tsv"
    corpus.write_text("".join(f"phrase {i} .\tsentence {i} .\n" for i in range(300)), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"name: x\ndata:\n  path: {corpus}\n  dir: {folder}\n  vocab_size: 40\n"
                      "  dev_size: 10\n  test_size: 10\n", encoding="utf-8")
    for extra in ((), ("--force",)):
        one_error_line(run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, *extra),
                       "pairs.tsv", "which this command reads")
    assert corpus.is_file() and sorted(p.name for p in folder.iterdir()) == ["pairs.tsv"]
    config.write_text(config.read_text().replace(f"dir: {folder}", f"dir: {tmp_path / 'out'}"))
    code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)
    assert code == 0, err
    marker = json.loads((tmp_path / "out" / MARKER).read_text(encoding="utf-8"))
    assert marker["kind"] == "prepared" and marker["made_by"]["command"] == "s2s data prepare"
    # --force replaces the whole prepared folder: not while it holds a file s2s did not write
    (tmp_path / "out" / "notes.txt").write_text("mine", encoding="utf-8")
    one_error_line(run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, "--force"),
                   "notes.txt", "move that out", alone=False)
    assert (tmp_path / "out" / "notes.txt").read_text(encoding="utf-8") == "mine"


# ---------------------------------------------------------------------------------------------
# The lock: one writer per run or prepared-data folder, let go when its process dies


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding `folder`'s lock as a writing s2s does (until it is killed)."""
    code = ("import sys, time; from pathlib import Path; from seq2seq.ownership import lock; "
            "lock(Path(sys.argv[1]), 'folder'); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert holder.stdout.readline().strip() == b"held"
    return holder


def test_a_second_training_into_one_run_folder_is_refused(tmp_path):
    data = make_toy_data(tmp_path / "data", n_train=60)
    config = write_config(tmp_path / "toy.yaml", toy_config(data, max_steps=2, validate_every=2))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _hold_lock(run_dir)
    try:
        one_error_line(s2s("train", "--config", config, "--run-dir", run_dir, "--quiet"),
                       f"pid {holder.pid}", "another s2s process", alone=False)
        assert not (run_dir / "config.yaml").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    code, _, err = s2s("train", "--config", config, "--run-dir", run_dir, "--quiet")  # the lock died with it
    assert code == 0, err
    assert (run_dir / "best.pt").is_file()


def test_a_second_prepare_into_one_folder_is_refused(tmp_path):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"phrase {i} .\tsentence {i} .\n" for i in range(300)), encoding="utf-8")
    out = tmp_path / "data" / "x"
    out.mkdir(parents=True)
    config = tmp_path / "c.yaml"
    config.write_text(f"name: x\ndata:\n  path: {corpus}\n  dir: {out}\n  vocab_size: 40\n"
                      "  dev_size: 10\n  test_size: 10\n", encoding="utf-8")
    holder = _hold_lock(out)
    try:
        one_error_line(s2s("data", "prepare", "--config", config), f"pid {holder.pid}", alone=False)
        assert not (out / "manifest.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    code, _, err = s2s("data", "prepare", "--config", config)
    assert code == 0, err
    assert (out / "manifest.json").is_file()


# ---------------------------------------------------------------------------------------------
# Outputs that are not plain files: written through, never replaced by a file


def test_a_dotdot_path_is_judged_where_it_lands(run, tmp_path, monkeypatch, capsys):
    before = digests(run)
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", run / "missing" / ".." / "best.pt",
                           "Bonjour."), "run folder")
    one_error_line(run_cli(monkeypatch, capsys, "export", "--model", run, "-o", run / "missing" / "..", "--force"),
                   "which this command reads")
    assert digests(run) == before and not (run / "missing").exists()


def test_a_fifo_and_a_symlink_are_written_through(run, tmp_path, monkeypatch, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", fifo, "Bonjour.")
    if fifo.is_fifo():
        reader.join(timeout=60)
    assert code == 0, err
    assert fifo.is_fifo() and len(received) == 1 and received[0].count(b"\n") == 1
    mine, link = tmp_path / "mine.txt", tmp_path / "latest.txt"
    mine.write_text("old\n", encoding="utf-8")
    link.symlink_to(mine)
    code, _, err = run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", link, "Bonjour.")
    assert code == 0, err
    assert link.is_symlink() and mine.read_text(encoding="utf-8") != "old\n"


def test_a_link_to_an_open_descriptor_is_written_through(run, tmp_path):
    """`-o /dev/stdout` with stdout redirected to a file: renaming over the link replaced it
    (as root, /dev/stdout itself); here with a link of our own to /proc/self/fd/1."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    with open(tmp_path / "captured.txt", "wb") as captured:
        done = subprocess.run([sys.executable, "-m", "seq2seq", "translate", "--model", str(run), "-o", str(link),
                               "Bonjour."], stdout=captured, stderr=subprocess.PIPE, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert (tmp_path / "captured.txt").read_bytes().count(b"\n") == 1


def test_a_link_planted_in_a_run_folder_is_replaced_not_followed(tmp_path):
    """Only a file the user names is written through its link; s2s's own files never are (a
    shared folder where someone linked training_curves.png to another user's file)."""
    from seq2seq.plots import plot_training_curves

    victim = tmp_path / "victim.txt"
    victim.write_text("mine", encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("step,train_loss\n1,2.0\n2,1.5\n", encoding="utf-8")
    (run_dir / "training_curves.png").symlink_to(victim)
    plot_training_curves(run_dir / "metrics.csv", run_dir / "training_curves.png")
    assert victim.read_text(encoding="utf-8") == "mine"
    assert not (run_dir / "training_curves.png").is_symlink()


def test_a_file_system_without_locks_is_a_warning(tmp_path, monkeypatch, capsys):
    import errno

    from seq2seq import ownership

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(ownership.fcntl, "flock", no_locks)
    ownership.lock(tmp_path, "run folder")
    assert "takes no locks" in capsys.readouterr().err
