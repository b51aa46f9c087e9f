"""Several processes: `torchrun --nproc_per_node 2 -m seq2seq train` (gloo on CPU) gives the same
weights as one process with train.accumulate 2, only rank 0 writes the run directory, and the two
processes read disjoint batches of the same shards, which together are each update's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import assert_same_weights, make_toy_data, metrics_rows, run_training, toy_config, weights

from seq2seq.checkpoint import load_checkpoint
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.training.distributed import Distributed
from seq2seq.training.epochs import TrainingData

REPO = Path(__file__).resolve().parents[1]


def ddp_config(data_dir: Path, **train):
    """A tiny RNN without dropout (each process draws its own dropout masks, one process one stream).

    Not the Transformer: the gradient of its attention key bias is zero in exact arithmetic (softmax
    ignores a constant added to every score), so it holds only rounding noise, which Adam scales up
    to lr-sized steps -- runs that agree to 1e-7 elsewhere differ there by ~1e-4.
    """
    model = {"type": "rnn", "encoder_layers": 1, "decoder_layers": 1, "embedding_dim": 32,
             "hidden_size": 32, "dropout": 0.0}
    # number augmentation: the processes' batches change lengths, so an update's token count is summed
    keys = {"max_steps": 12, "validate_every": 6, "log_every": 3, "number_augmentation": 0.5, **train}
    return toy_config(data_dir, model=model, **keys)


def train_in_two_processes(config, config_file: Path, run_dir: Path) -> None:  # noqa: ANN001
    """`s2s train` of `config` (written to `config_file`) into `run_dir` by torchrun, 2 processes."""
    config_file.write_text(config.to_yaml(), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "seq2seq", "train", "--config", str(config_file), "--run-dir", str(run_dir), "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data dir, 2-process run with accumulate 1, 1-process run with accumulate 2)."""
    root = tmp_path_factory.mktemp("ddp")
    data_dir = make_toy_data(root / "data", numbers=True)
    train_in_two_processes(ddp_config(data_dir, accumulate=1), root / "toy.yaml", root / "two")
    run_training(ddp_config(data_dir, accumulate=2), root / "one")
    return data_dir, root / "two", root / "one"


def test_two_processes_match_one_process_with_accumulate_2(runs) -> None:
    _, two, one = runs
    assert_same_weights(weights(two / "last.pt"), weights(one / "last.pt"), atol=1e-5)
    for a, b in zip(metrics_rows(two), metrics_rows(one), strict=True):
        assert a["step"] == b["step"]
        for column in ("train_loss", "dev_loss"):
            assert (a[column] == b[column] == "") or abs(float(a[column]) - float(b[column])) < 1e-4


def grad_norms(run_dir: Path) -> list[float]:
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    return [float(part.split("gnorm ")[1].split()[0]) for part in log.splitlines() if "gnorm " in part]


def test_gradients_are_averaged_per_token_across_processes(runs) -> None:
    """Adam hardly notices a gradient off by a constant factor; the logged norms do."""
    _, two, one = runs
    assert grad_norms(two)[:4] == pytest.approx(grad_norms(one)[:4], rel=1e-4)
    assert len(grad_norms(two)) >= 4


def test_only_rank_0_writes(runs) -> None:
    _, two, _ = runs
    log = (two / "train.log").read_text(encoding="utf-8")
    assert log.count("training toy into") == 1 and "2 process(es)" in log
    assert log.count("validation at step 6") == 1
    payload = load_checkpoint(two / "last.pt")
    assert payload["world_size"] == 2 and len(payload["rng"]) == 2  # every rank's random state


def test_a_two_process_run_resumes_in_one_process(runs, tmp_path: Path) -> None:
    """2 x accumulate 1 -> 1 x accumulate 2: the same update size, so the run continues exactly."""
    data_dir, shared_two, shared_one = runs
    # resumed in copies: the module's runs stay as the other tests read them, in any order
    two, one = tmp_path / "two", tmp_path / "one"
    shutil.copytree(shared_two, two)
    shutil.copytree(shared_one, one)
    run_training(ddp_config(data_dir, accumulate=2, max_steps=18), two, resume=True)
    run_training(ddp_config(data_dir, accumulate=2, max_steps=18), one, resume=True)
    assert_same_weights(weights(two / "last.pt"), weights(one / "last.pt"), atol=1e-5)


# Each process records, for its first UPDATES updates, the shard rows of its batches and the batches.
RECORD_BATCHES = """
import sys, torch
from seq2seq.config import load_config
from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.training.distributed import init_distributed
from seq2seq.training.epochs import TrainingData
config, out, updates = load_config(sys.argv[1]), sys.argv[2], int(sys.argv[3])
dist = init_distributed("cpu")
data_dir = config.data.resolved_dir(config.name)
data = TrainingData(config, data_dir, *load_tokenizers(data_dir, True), None, dist)
data.loader.start(0, 0)
made = []
for _ in range(updates):
    run = data.loader.current
    first = run.update * data.group_size
    mine = range(dist.rank, data.group_size, dist.world_size)
    rows = [(run.plan.name, run.plan.batch(first + k).tolist()) for k in mine]
    made.append((rows, [(b.src_tokens, b.gold) for b in data.loader.next_update().batches]))
torch.save(made, f"{out}/rank{dist.rank}.pt")
data.close()
dist.close()
"""


def test_two_processes_read_disjoint_batches_that_make_up_each_update(tmp_path: Path) -> None:
    data_dir = make_toy_data(tmp_path / "data", n_train=600, shards=3)
    config_file = tmp_path / "toy.yaml"
    config_file.write_text(ddp_config(data_dir, accumulate=2, data_workers=1).to_yaml(), encoding="utf-8")
    updates = 25  # past a shard's end
    script = tmp_path / "record.py"
    script.write_text(RECORD_BATCHES, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         str(config_file), str(tmp_path), str(updates)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]

    # one process with accumulate 4: the whole update of 2 processes x accumulate 2
    config = ddp_config(data_dir, accumulate=4, data_workers=0)
    data = TrainingData(config, data_dir, *load_tokenizers(data_dir, True), None, Distributed())
    data.loader.start(0, 0)
    shards = set()
    for step in range(updates):
        run = data.loader.current
        group = [run.plan.batch(run.update * 4 + k).tolist() for k in range(4)]
        whole = data.loader.next_update().batches
        (rows0, batches0), (rows1, batches1) = ranks[0][step], ranks[1][step]
        assert {name for name, _ in rows0 + rows1} == {run.plan.name}
        shards.add(run.plan.name)
        mine = [[row for _, rows in rows0 for row in rows], [row for _, rows in rows1 for row in rows]]
        assert not set(mine[0]) & set(mine[1]) and sorted(mine[0] + mine[1]) == sorted(sum(group, []))
        assert [rows for _, rows in rows0] == group[0::2] and [rows for _, rows in rows1] == group[1::2]
        for mine_made, theirs in zip(batches0 + batches1, whole[0::2] + whole[1::2], strict=True):
            assert torch.equal(mine_made[0], theirs.src_tokens) and torch.equal(mine_made[1], theirs.gold)
    data.close()
    assert len(shards) >= 2
