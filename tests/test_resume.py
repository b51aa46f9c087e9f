"""Resuming is exact: a run killed (SIGKILL) or interrupted (Ctrl-C) and resumed ends with the
same weights and metrics as a run never stopped.

The interrupted runs are real `s2s train` subprocesses, slowed down a little (a sleep before
each update) so that the signal lands mid-way; the resumed and reference runs are in-process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train import assert_same_weights, make_toy_data, metrics_rows, run_training, toy_config, weights

from seq2seq.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
MAX_STEPS = 40

# `s2s train ...` with a short sleep before every update.
SLOW_S2S = """
import sys, time
import seq2seq.train
update = seq2seq.train.Trainer.update
def slow_update(self, *args):
    time.sleep(0.05)
    return update(self, *args)
seq2seq.train.Trainer.update = slow_update
from seq2seq.cli import run
sys.argv[0] = "s2s"
run()
"""


# A schedule driven by the step budget, and the moving average of the weights, resume exactly too.
BUDGET_CASES = {"linear": {"schedule": "linear", "min_lr": 0.0003},
                "linear-ema": {"schedule": "linear", "min_lr": 0.0003, "ema_decay": 0.9}}


def resume_config(data_dir: Path, **train):
    return toy_config(data_dir, max_steps=MAX_STEPS, save_every=5, validate_every=20, **train)


def make_setup(root: Path, shards: int = 1, numbers: bool = False, **train) -> tuple[Path, Path, Path]:
    """(config file, data dir, run dir of the uninterrupted reference run)."""
    data_dir = make_toy_data(root / "data", shards=shards, numbers=numbers)
    config = resume_config(data_dir, **train)
    config_file = root / "toy.yaml"
    config_file.write_text(config.to_yaml(), encoding="utf-8")
    run_training(config, root / "reference")
    return config_file, data_dir, root / "reference"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    return make_setup(tmp_path_factory.mktemp("resume"))


@pytest.fixture(scope="module")
def sharded_setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Three shards (a shard's end every few updates) and number augmentation (pairs made anew)."""
    return make_setup(tmp_path_factory.mktemp("resume-sharded"), shards=3, numbers=True, number_augmentation=0.5)


@pytest.fixture(scope="module", params=list(BUDGET_CASES))
def budget_setup(request, tmp_path_factory) -> tuple[Path, Path, Path, dict]:
    train = BUDGET_CASES[request.param]
    return (*make_setup(tmp_path_factory.mktemp(f"resume-{request.param}"), **train), train)


def start_slow_training(config_file: Path, run_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", SLOW_S2S, "train", "--config", str(config_file),
                             "--run-dir", str(run_dir), "--quiet"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(process: subprocess.Popen, run_dir: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not (run_dir / "last.pt").exists():
        if process.poll() is not None:
            pytest.fail(f"training ended before its first checkpoint: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint within the timeout")
        time.sleep(0.05)
    time.sleep(0.3)  # a few more updates past the checkpoint


def kill_after_a_checkpoint(config_file: Path, run_dir: Path) -> None:
    """Start a slow training, SIGKILL it a few updates after its first last.pt."""
    process = start_slow_training(config_file, run_dir)
    wait_for_checkpoint(process, run_dir)
    process.send_signal(signal.SIGKILL)
    process.communicate()


@pytest.mark.parametrize("workers", [0, 1])
def test_killed_run_resumes_to_the_same_weights(setup, tmp_path: Path, workers: int) -> None:
    """Killed with 1 DataLoader worker (the default), resumed with `workers`: the same batches."""
    config_file, data_dir, reference = setup
    run_dir = tmp_path / "run"
    kill_after_a_checkpoint(config_file, run_dir)
    killed_at = load_checkpoint(run_dir / "last.pt")["train_state"]["step"]
    assert 0 < killed_at < MAX_STEPS, "the kill should land mid-way"
    (run_dir / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # as if killed while saving

    run_training(resume_config(data_dir, data_workers=workers), run_dir, resume=True)

    assert_same_weights(weights(run_dir / "last.pt"), weights(reference / "last.pt"))
    assert_same_weights(weights(run_dir / "best.pt"), weights(reference / "best.pt"))
    assert metrics_rows(run_dir) == metrics_rows(reference)
    assert not (run_dir / ".last.pt.abc123.tmp").exists()
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == MAX_STEPS


def test_a_killed_run_on_several_shards_with_augmentation_resumes_to_the_same_weights(sharded_setup,
                                                                                   tmp_path: Path) -> None:
    config_file, data_dir, reference = sharded_setup
    run_dir = tmp_path / "run"
    kill_after_a_checkpoint(config_file, run_dir)
    killed = load_checkpoint(run_dir / "last.pt")["train_state"]
    assert 0 < killed["step"] < MAX_STEPS and killed["batch_in_epoch"] > 0, "the kill should land mid-epoch"

    run_training(resume_config(data_dir, number_augmentation=0.5, data_workers=0), run_dir, resume=True)
    assert re.search(r"numbers substituted in 50% of the [1-9]\d+ pairs", (reference / "train.log").read_text())

    assert_same_weights(weights(run_dir / "last.pt"), weights(reference / "last.pt"))
    assert metrics_rows(run_dir) == metrics_rows(reference)


def test_ctrl_c_saves_last_pt_and_resumes_to_the_same_weights(setup, tmp_path: Path) -> None:
    config_file, data_dir, reference = setup
    run_dir = tmp_path / "run"
    process = start_slow_training(config_file, run_dir)
    wait_for_checkpoint(process, run_dir)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "SIGINT received: stopped after step" in stderr and "--resume" in stderr
    stopped_at = int(stderr.split("stopped after step ")[1].split(",")[0])
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == stopped_at < MAX_STEPS

    run_training(resume_config(data_dir), run_dir, resume=True)

    assert_same_weights(weights(run_dir / "last.pt"), weights(reference / "last.pt"))
    assert metrics_rows(run_dir) == metrics_rows(reference)


def test_killed_run_with_a_linear_decay_and_ema_resumes_to_the_same_weights(budget_setup, tmp_path: Path) -> None:
    config_file, data_dir, reference, train = budget_setup
    run_dir = tmp_path / "run"
    kill_after_a_checkpoint(config_file, run_dir)
    killed = load_checkpoint(run_dir / "last.pt")
    assert 0 < killed["train_state"]["step"] < MAX_STEPS, "the kill should land mid-way"
    assert ("ema" in killed) == ("ema_decay" in train)

    run_training(resume_config(data_dir, **train), run_dir, resume=True)

    ours, theirs = load_checkpoint(run_dir / "last.pt"), load_checkpoint(reference / "last.pt")
    assert_same_weights(ours["model_state"], theirs["model_state"])  # the trained weights
    assert_same_weights(weights(run_dir / "best.pt"), weights(reference / "best.pt"))
    assert metrics_rows(run_dir) == metrics_rows(reference)
    assert float(metrics_rows(run_dir)[-1]["lr"]) == pytest.approx(0.0003)  # min_lr at max_steps
    if "ema_decay" in train:  # the moving average too
        assert ours["ema"]["updates"] == theirs["ema"]["updates"] == MAX_STEPS
        assert_same_weights(ours["ema"]["averages"], theirs["ema"]["averages"])
