"""Nothing a user made is destroyed (issue 33, the leftovers): s2s's appends never go through a
link planted in its folders, a prepared folder is not replaced while a training reads it, a
downloaded corpus is never an output, and the server does not flood its log.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from test_hardening import one_error_line, s2s
from test_train import make_toy_data, run_training, toy_config
from test_translate_eval import run_cli

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# train.log and metrics.csv: appended to on --resume, never through a link planted there


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, object]:
    """A finished two-step run (resuming it opens its log and metrics, and stops at once)."""
    root = tmp_path_factory.mktemp("linked")
    config = toy_config(make_toy_data(root / "data", n_train=60), max_steps=2, validate_every=2)
    run_training(config, root / "run")
    return root / "run", config


def test_resume_never_appends_through_a_planted_symlink(trained, tmp_path, capsys):
    run_dir, config = trained
    victims = {}
    for name in ("train.log", "metrics.csv"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("step\n7\nsomeone else's\n", encoding="utf-8")
        (run_dir / name).unlink()
        (run_dir / name).symlink_to(victim)
        victims[name] = victim
    run_training(config, run_dir, resume=True)
    for name, victim in victims.items():
        assert victim.read_text(encoding="utf-8") == "step\n7\nsomeone else's\n", name
        assert not (run_dir / name).is_symlink() and (run_dir / name).is_file()
    assert "someone else's" not in (run_dir / "train.log").read_text(encoding="utf-8")
    assert "train.log was a symbolic link" in capsys.readouterr().err


def test_resume_of_a_hard_linked_backup_leaves_the_backup_as_it_was(trained, tmp_path):
    run_dir, config = trained
    backup = tmp_path / "backup.log"
    os.link(run_dir / "train.log", backup)  # what `cp -al run backup` does to every file
    before = backup.read_bytes()
    run_training(config, run_dir, resume=True)
    assert backup.read_bytes() == before
    log = (run_dir / "train.log").read_bytes()
    assert log.startswith(before) and len(log) > len(before)


# ---------------------------------------------------------------------------------------------
# A training holds a reader's lock on its prepared folder: prepare cannot replace it meanwhile


def _hold_lock(folder: Path, shared: bool) -> subprocess.Popen:
    """Another process holding `folder`'s lock (as a reader with shared) until it is killed."""
    code = ("import sys, time; from pathlib import Path; from seq2seq.ownership import lock; "
            f"lock(Path(sys.argv[1]), 'folder', shared={shared}); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)))
    line = holder.stdout.readline().strip()
    if line != b"held":
        holder.wait()
        raise AssertionError(holder.stderr.read().decode())
    return holder


def test_prepare_waits_for_the_trainings_that_read_the_folder(tmp_path, monkeypatch, capsys):
    from seq2seq.ownership import release

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.tsv").write_text("".join(f"phrase {i} .\tsentence {i} .\n" for i in range(300)),
                                        encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {path: pairs.tsv, dir: data/x, vocab_size: 60, dev_size: 10, test_size: 10}\n"
                      "model: {type: transformer, encoder_layers: 1, decoder_layers: 1, d_model: 32, heads: 2, "
                      "ff_size: 64}\ntrain: {batch_tokens: 300, max_steps: 2, validate_every: 2, dev_sentences: 10, "
                      "threads: 1}\ndecode: {beam_size: 1}\n", encoding="utf-8")
    data = tmp_path / "data" / "x"
    assert run_cli(monkeypatch, capsys, "data", "prepare", "--config", config)[0] == 0
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", config, "--quiet")  # its lock stays with this process
    assert code == 0, err
    before = (data / "manifest.json").read_bytes()
    try:
        one_error_line(s2s("data", "prepare", "--config", config, "--force", cwd=tmp_path),
                       f"pid {os.getpid()}", "is reading this prepared-data folder", alone=False)
        code, out, err = s2s("data", "prepare", "--config", config, cwd=tmp_path)  # nothing to do is still fine
        assert code == 0 and "nothing to do" in out, err
        other = _hold_lock(data, shared=True)  # a second training reading it is fine
        try:
            release(data)
            one_error_line(s2s("data", "prepare", "--config", config, "--force", cwd=tmp_path),
                           f"pid {other.pid}", "is reading", alone=False)
            assert (data / "manifest.json").read_bytes() == before
        finally:
            other.send_signal(signal.SIGKILL)
            other.wait()
        writer = _hold_lock(data, shared=False)  # and a training cannot start while prepare writes it
        try:
            one_error_line(s2s("train", "--config", config, "--run-dir", tmp_path / "run2", "--quiet", cwd=tmp_path),
                           f"pid {writer.pid}", "is writing this prepared-data folder", alone=False)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        code, _, err = s2s("data", "prepare", "--config", config, "--force", cwd=tmp_path)
        assert code == 0, err
        # eval --split reads the split's two files: no prepare replaces them in between
        code, _, err = run_cli(monkeypatch, capsys, "eval", "--model", tmp_path / "runs" / "x", "--split", "test")
        assert code == 0, err
        one_error_line(s2s("data", "prepare", "--config", config, "--force", cwd=tmp_path),
                       f"pid {os.getpid()}", "is reading", alone=False)
    finally:
        release(data)


# ---------------------------------------------------------------------------------------------
# A downloaded corpus is never an output


def test_translate_never_writes_over_a_downloaded_corpus(tmp_path, monkeypatch, capsys):
    from seq2seq.data import download
    from seq2seq.data.download import CORPORA, KnownCorpus, RemoteFile
    from seq2seq.ownership import DOWNLOAD, folder_kind
    from test_ownership import TRANSFORMER
    from test_translate_eval import make_checkpoint

    text = "".join(f"Sentence {i}.\tPhrase {i} !\n" for i in range(50)).encode("utf-8")
    (tmp_path / "fra.txt").write_bytes(text)
    (tmp_path / "_about.txt").write_bytes(b"licence\n")
    monkeypatch.setitem(CORPORA, "tiny", KnownCorpus(
        name="tiny", description="tiny", licence="test", config_hint=download._tatoeba_hint,
        files=(RemoteFile(name="fra.txt", url="http://127.0.0.1:9/none.zip",
                          sha256={hashlib.sha256(text).hexdigest(): "test"}, extras=("fra-eng/_about.txt",)),)))
    raw = tmp_path / "data" / "raw" / "tiny"
    assert run_cli(monkeypatch, capsys, "data", "download", "tiny", "--from", tmp_path, "--dest", raw)[0] == 0
    assert folder_kind(raw) == DOWNLOAD
    run = make_checkpoint(tmp_path / "run", TRANSFORMER)
    for name in ("fra.txt", "_about.txt"):
        one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", raw / name, "Bonjour."),
                       name, "corpus folder of s2s data download")
    assert (raw / "fra.txt").read_bytes() == text and (raw / "_about.txt").read_bytes() == b"licence\n"
    code, _, err = run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", raw / "hyp.txt", "Bonjour.")
    assert code == 0, err  # a new file beside the corpus is still the user's to write, and rewrite
    assert run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", raw / "hyp.txt", "Merci.")[0] == 0
    # a folder downloaded by an earlier release gets its marker when the download is run again
    (raw / ".s2s-folder.json").unlink()
    assert run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", raw)[0] == 0
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run, "-o", raw / "fra.txt", "Bonjour."),
                   "corpus folder of s2s data download")


# ---------------------------------------------------------------------------------------------
# The server's warnings: over-long sources said once, then at most once a minute with a count


def test_throttled_warnings_say_a_kind_once_per_interval_with_the_count(capsys):
    from seq2seq.errors import ThrottledWarnings

    now = [100.0]
    sink = ThrottledWarnings(60.0, clock=lambda: now[0])
    message = lambda n: f"warning: {n} cut"  # noqa: E731
    for _ in range(50):  # a client sending long text in a loop
        sink.say("truncated", 2, message)
    assert capsys.readouterr().err == "warning: 2 cut\n"
    now[0] += 61
    sink.say("truncated", 1, message)
    sink.say("other", 1, message)  # another kind has its own clock
    assert capsys.readouterr().err.splitlines() == [
        "warning: 99 cut (in the last 61 s; said at most every 60 s)", "warning: 1 cut"]


def test_a_translator_with_throttled_warnings_warns_once_for_many_requests(tmp_path, capsys):
    from seq2seq.errors import ThrottledWarnings
    from seq2seq.translator import Translator
    from test_ownership import TRANSFORMER
    from test_translate_eval import make_checkpoint

    translator = Translator.load(make_checkpoint(tmp_path / "run", TRANSFORMER), beam=1)
    long = " ".join(["bonjour"] * 300)
    for _ in range(2):  # a command: one warning per call
        translator.translate_batch([long], max_len=3)
    assert capsys.readouterr().err.count("truncated to that length") == 2
    translator.warnings = ThrottledWarnings()  # what `s2s serve` installs
    for _ in range(5):
        translator.translate_batch([long], max_len=3)
    assert capsys.readouterr().err.count("truncated to that length") == 1


def test_serve_on_port_0_says_the_port_it_listens_on(tmp_path, monkeypatch, capsys):
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    import re

    from test_ownership import TRANSFORMER
    from test_translate_eval import make_checkpoint

    listened: list[int] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, *a, **k: listened.append(server.config.port))
    code, _, err = run_cli(monkeypatch, capsys, "serve", "--model", make_checkpoint(tmp_path / "run", TRANSFORMER),
                           "--port", 0, "--workers", 1)
    assert code == 0, err
    said = re.search(r"on http://127\.0\.0\.1:(\d+) ", err)
    assert said and int(said.group(1)) > 0 and listened == [int(said.group(1))], err


@pytest.mark.parametrize("shared", [False, True])
def test_a_lock_file_planted_as_a_symlink_is_replaced_not_written_through(tmp_path, shared):
    from seq2seq.errors import UserError
    from seq2seq.ownership import LOCK, lock, release

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK).symlink_to(victim)
    try:
        lock(folder, "run folder", shared=shared)
    finally:
        release(folder)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not (folder / LOCK).is_symlink() and (folder / LOCK).read_text().strip() == str(os.getpid())
    os.unlink(folder / LOCK)
    os.mkfifo(folder / LOCK)
    with pytest.raises(UserError, match="is not a plain file.*remove it"):
        lock(folder, "run folder", shared=shared)


def test_a_corpus_is_never_downloaded_into_a_run_or_prepared_folder(tmp_path, monkeypatch, capsys):
    from test_ownership import TRANSFORMER
    from test_translate_eval import make_checkpoint

    run = make_checkpoint(tmp_path / "run", TRANSFORMER)
    (run / "train.log").write_text("log\n", encoding="utf-8")
    (run / "config.yaml").write_text("name: x\n", encoding="utf-8")
    before = sorted(p.name for p in run.iterdir())
    (tmp_path / "fra.txt").write_text("a\tb\n", encoding="utf-8")
    one_error_line(run_cli(monkeypatch, capsys, "data", "download", "tatoeba-fra-eng", "--from", tmp_path / "fra.txt",
                           "--dest", run), "is an s2s run folder", "choose another --dest")
    assert sorted(p.name for p in run.iterdir()) == before


def test_prepare_into_a_symlinked_data_dir_writes_where_it_points(tmp_path, monkeypatch, capsys):
    """data/x -> /big/disk/x: --force replaced the link by a folder beside it (on the small
    disk), leaving the old corpus behind the link's target."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.tsv").write_text("".join(f"phrase {i} .\tsentence {i} .\n" for i in range(300)),
                                        encoding="utf-8")
    big = tmp_path / "big" / "x"
    big.parent.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x").symlink_to(big, target_is_directory=True)
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {path: pairs.tsv, dir: data/x, vocab_size: 60, dev_size: 10, test_size: 10}\n",
                      encoding="utf-8")
    for extra in ((), ("--force",)):
        code, _, err = run_cli(monkeypatch, capsys, "data", "prepare", "--config", config, *extra)
        assert code == 0, err
        assert (tmp_path / "data" / "x").is_symlink() and (big / "manifest.json").is_file()


def test_export_force_through_a_link_replaces_the_export_it_names(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ctranslate2")
    from test_ownership import TRANSFORMER
    from test_translate_eval import make_checkpoint

    run = make_checkpoint(tmp_path / "run", TRANSFORMER)
    real, link = tmp_path / "big" / "ct2", tmp_path / "ct2"
    assert run_cli(monkeypatch, capsys, "export", "--model", run, "-o", real)[0] == 0
    link.symlink_to(real, target_is_directory=True)
    code, _, err = run_cli(monkeypatch, capsys, "export", "--model", run, "-o", link, "--force")
    assert code == 0, err
    assert link.is_symlink() and (real / "model.bin").is_file()
