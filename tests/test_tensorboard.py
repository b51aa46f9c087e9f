"""TensorBoard event files (train.tensorboard): real tiny trainings, read back with TensorBoard's
own EventAccumulator and compared with metrics.csv, which stays the record."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from test_train import make_toy_data, metrics_rows, run_training, toy_config

import seq2seq.train
from seq2seq.checkpoint import load_checkpoint
from seq2seq.errors import UserError

TRAIN_TAGS = ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s")
DEV_TAGS = ("dev/loss", "dev/bleu", "dev/chrf")
COLUMNS = {"train/loss": "train_loss", "train/lr": "lr", "train/tokens_per_s": "tokens_per_s",
           "dev/loss": "dev_loss", "dev/bleu": "dev_bleu", "dev/chrf": "dev_chrf"}


def needs_tensorboard() -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 's2s[tensorboard]')")


def events(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0,
                                                                                "tensors": 0})
    return accumulator.Reload()


def event_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("events.out.tfevents.*"))


def steps_of(accumulator, tag: str) -> list[int]:
    return [event.step for event in accumulator.Scalars(tag)]


def csv_steps(run_dir: Path, column: str) -> list[int]:
    return [int(row["step"]) for row in metrics_rows(run_dir, drop=()) if row[column]]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("toy") / "data")


@pytest.fixture(scope="module")
def board_run(toy_data: Path, tmp_path_factory) -> Path:
    needs_tensorboard()
    run_dir = tmp_path_factory.mktemp("runs") / "toy"
    run_training(toy_config(toy_data, tensorboard=True), run_dir)
    return run_dir


def test_scalars_are_metrics_csv_rows(board_run: Path) -> None:
    board = events(board_run)
    assert set(TRAIN_TAGS + DEV_TAGS) <= set(board.Tags()["scalars"])
    rows = metrics_rows(board_run, drop=())
    for tag in TRAIN_TAGS:
        assert steps_of(board, tag) == csv_steps(board_run, "train_loss") == [5, 10, 15, 20, 25, 30], tag
    for tag in DEV_TAGS:
        assert steps_of(board, tag) == csv_steps(board_run, "dev_bleu") == [10, 20, 30], tag
    for tag, column in COLUMNS.items():
        expected = {int(row["step"]): float(row[column]) for row in rows
                    if row[column] and (row["train_loss"] if tag.startswith("train/") else row["dev_bleu"])}
        got = {event.step: event.value for event in board.Scalars(tag)}
        assert got == pytest.approx(expected, rel=2e-5, abs=1e-9), tag
    assert max(event.value for event in board.Scalars("dev/chrf")) > 0  # a real score, not a placeholder
    # the gradient norm is the progress lines' (train.log shows it with 4 decimals)
    logged = {int(step): float(norm) for step, norm in
              re.findall(r"step +(\d+) \|.*?\| gnorm ([\d.]+) \|", (board_run / "train.log").read_text())}
    assert {e.step: round(e.value, 4) for e in board.Scalars("train/grad_norm")} == pytest.approx(logged, abs=2e-4)
    assert all(value > 0 for value in logged.values())


def test_each_validation_shows_the_attention_of_one_dev_sentence(board_run: Path) -> None:
    board = events(board_run)
    images = board.Images("dev/attention")
    assert [image.step for image in images] == [10, 20, 30]
    for image in images:
        assert image.encoded_image_string.startswith(b"\x89PNG") and image.width > 100 and image.height > 100


def test_the_config_is_logged_as_hyperparameters_and_text(board_run: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    board = events(board_run)
    content = board.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model.d_model"].number_value == 32 and hparams["train.lr"].number_value == pytest.approx(0.003)
    assert hparams["name"].string_value == "toy" and hparams["train.tensorboard"].string_value == "true"
    assert hparams["train.patience"].string_value == "null"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [metric.name.tag for metric in experiment.metric_infos] == ["dev/bleu", "dev/chrf"]
    assert "config/text_summary" in board.Tags()["tensors"]


def test_false_writes_no_event_files(toy_data: Path, tmp_path: Path) -> None:
    run_training(toy_config(toy_data, max_steps=5, validate_every=5, tensorboard=False), tmp_path / "run")
    assert (tmp_path / "run" / "metrics.csv").is_file()
    assert not event_files(tmp_path / "run")


def test_a_new_run_replaces_the_event_files_of_the_old_one(toy_data: Path, tmp_path: Path) -> None:
    needs_tensorboard()
    run_training(toy_config(toy_data, max_steps=10, tensorboard=True), tmp_path / "run")
    run_training(toy_config(toy_data, max_steps=10, tensorboard=True), tmp_path / "run", force=True)
    assert len(event_files(tmp_path / "run")) == 1
    assert steps_of(events(tmp_path / "run"), "dev/bleu") == [10]
    from seq2seq.ownership import protected

    assert protected(event_files(tmp_path / "run")[0])  # no -o of another command replaces them
    run_training(toy_config(toy_data, max_steps=5, validate_every=5, tensorboard=False), tmp_path / "run", force=True)
    assert event_files(tmp_path / "run") == []  # no curves of a run that is gone


def test_true_without_the_package_is_refused_before_training(toy_data: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` raises ImportError
    with pytest.raises(UserError) as info:
        run_training(toy_config(toy_data, max_steps=5, validate_every=5, tensorboard=True), tmp_path / "run")
    message = str(info.value)
    assert "\n" not in message
    assert "train.tensorboard" in message and "pip install 's2s[tensorboard]'" in message
    assert not (tmp_path / "run").exists()


def test_auto_without_the_package_trains_without_event_files(toy_data: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    run_training(toy_config(toy_data, max_steps=5, validate_every=5), tmp_path / "run")
    assert [int(row["step"]) for row in metrics_rows(tmp_path / "run")] == [5, 5]
    assert not event_files(tmp_path / "run")


def test_a_write_error_warns_once_and_training_goes_on(toy_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    needs_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SummaryWriter, "add_scalar", full_disk)
    run_training(toy_config(toy_data, max_steps=20, tensorboard=True), tmp_path / "run")
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert log.count("TensorBoard logging stopped") == 1 and "No space left on device" in log
    assert csv_steps(tmp_path / "run", "train_loss") == [5, 10, 15, 20]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == 20


def test_a_model_without_attention_logs_its_scalars_and_no_image(toy_data: Path, tmp_path: Path) -> None:
    needs_tensorboard()
    model = {"type": "rnn", "encoder_layers": 1, "decoder_layers": 1, "embedding_dim": 16, "hidden_size": 16,
             "attention": "none"}
    run_training(toy_config(toy_data, model, max_steps=10, tensorboard=True), tmp_path / "run")
    board = events(tmp_path / "run")
    assert steps_of(board, "dev/bleu") == [10] and steps_of(board, "train/loss") == [5, 10]
    assert board.Tags()["images"] == []


def test_resume_purges_what_the_interrupted_run_wrote_after_last_pt(toy_data: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that wrote events up to step 30 but saved last.pt last at step 20 (as if killed after
    step 30): resumed, every tag has each step once, as metrics.csv has its rows."""
    needs_tensorboard()
    run_dir = tmp_path / "run"
    save_last = seq2seq.train.Trainer.save_last

    def save_until_20(self):
        if self.state.step <= 20:
            save_last(self)

    with monkeypatch.context() as patch:
        patch.setattr(seq2seq.train.Trainer, "save_last", save_until_20)
        run_training(toy_config(toy_data, tensorboard=True), run_dir)
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == 20
    assert steps_of(events(run_dir), "dev/bleu") == [10, 20, 30]

    run_training(toy_config(toy_data, tensorboard=True), run_dir, resume=True)
    board = events(run_dir)
    for tag in TRAIN_TAGS:
        assert steps_of(board, tag) == csv_steps(run_dir, "train_loss") == [5, 10, 15, 20, 25, 30], tag
    for tag in DEV_TAGS:
        assert steps_of(board, tag) == csv_steps(run_dir, "dev_bleu") == [10, 20, 30], tag
    assert [image.step for image in board.Images("dev/attention")] == [10, 20, 30]
    got = {event.step: event.value for event in board.Scalars("train/loss")}
    assert got == pytest.approx({int(r["step"]): float(r["train_loss"]) for r in metrics_rows(run_dir)
                                 if r["train_loss"]}, rel=2e-5)


def test_only_rank_0_writes_event_files(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 2`: one event file, with each step once."""
    needs_tensorboard()
    from test_distributed import ddp_config, train_in_two_processes

    data_dir = make_toy_data(tmp_path / "data", numbers=True)
    train_in_two_processes(ddp_config(data_dir, tensorboard=True), tmp_path / "toy.yaml", tmp_path / "two")
    assert len(event_files(tmp_path / "two")) == 1
    board = events(tmp_path / "two")
    assert steps_of(board, "train/loss") == csv_steps(tmp_path / "two", "train_loss") == [3, 6, 9, 12]
    assert steps_of(board, "dev/bleu") == csv_steps(tmp_path / "two", "dev_bleu") == [6, 12]
