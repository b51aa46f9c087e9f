"""`s2s train`: the run directory, schedules, the loss, stopping, refusals, determinism.

Tiny models on a generated toy corpus (word-for-word "French" -> "English"), so every run takes
about a second. The helpers here are shared with test_resume.py and test_distributed.py.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from seq2seq.checkpoint import load_checkpoint, load_for_inference
from seq2seq.config import DataConfig, TrainConfig, config_from_dict
from seq2seq.data.batching import read_split
from seq2seq.data.manifest import FORMAT, PREPARE_VERSION
from seq2seq.data.shards import ShardWriter, id_dtype, shard_name
from seq2seq.data.tokenizer import load_tokenizers, train_sentencepiece
from seq2seq.entities import FLAG_DATES, FLAG_NAMES, FLAG_NUMBERS, FLAG_SYMBOLS, entity_flags, known_words
from seq2seq.errors import UserError
from seq2seq.special_tokens import PAD_ID
from seq2seq.train import train_command
from seq2seq.training.loss import projected_cross_entropy, projected_loss_sum, token_loss_sum
from seq2seq.training.schedule import LRSchedule

WORDS = {"le": "the", "chat": "cat", "chien": "dog", "mange": "eats", "voit": "sees", "petit": "small",
         "grand": "big", "rouge": "red", "vert": "green", "oiseau": "bird", "poisson": "fish",
         "boit": "drinks", "eau": "water", "lait": "milk", "et": "and", "aussi": "too",
         "maison": "house", "jardin": "garden", "dans": "in", "sous": "under"}
TIME_COLUMNS = ("tokens_per_s", "elapsed_s")


def toy_pairs(n: int, seed: int, numbers: bool = False) -> list[tuple[str, str]]:
    """n word-for-word pairs; with `numbers`, about a third end with a number (the same on both sides)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = [rng.choice(list(WORDS)) for _ in range(rng.randint(2, 9))]
        number = f" {rng.randint(1, 999)}" if numbers and rng.random() < 0.3 else ""
        pairs.append((" ".join(words) + number, " ".join(WORDS[w] for w in words) + number))
    return pairs


def make_toy_data(directory: Path, n_train: int = 400, shards: int = 1, corpora: tuple[str, ...] = ("corpus",),
                  numbers: bool = False) -> Path:
    """A prepared-data directory as `s2s data prepare` writes it (shards, dev/test text, joint spm.model)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", n_train, 1), ("dev", 40, 2), ("test", 40, 3)):
        pairs = toy_pairs(count, seed, numbers)
        (directory / f"{split}.src").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (directory / f"{split}.tgt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    sentences = [side for pair in toy_pairs(n_train, 1, numbers) for side in pair]
    (directory / "spm.model").write_bytes(
        train_sentencepiece(sentences, vocab_size=80, model_type="bpe", character_coverage=1.0))
    return write_shards(directory, shards=shards, corpora=corpora)


def write_shards(directory: Path, data: DataConfig | None = None, *, shards: int = 1,
                 corpora: tuple[str, ...] = ("corpus",)) -> Path:
    """Turn a directory made by hand as an earlier `s2s data prepare` wrote it (train.src/.tgt, dev
    and test text, SentencePiece) into today's: train.src/.tgt become `shards` training shards
    (row i in shard i % shards, of corpus i % len(corpora)), with the known words and a manifest
    that matches `data` (default: toy_config's)."""
    data = data or toy_config(directory).data
    src_tok, tgt_tok = load_tokenizers(directory, data.joint_vocab)
    src, tgt = read_split(directory, "train")
    flags = [entity_flags(s, t, data.src_lang, data.tgt_lang) for s, t in zip(src, tgt, strict=True)]
    dtype = id_dtype(max(src_tok.vocab_size, tgt_tok.vocab_size))
    infos = []
    for number in range(shards):
        rows = range(number, len(src), shards)
        writer = ShardWriter(directory, shard_name("train", number), dtype)
        writer.add([src_tok.encode(src[i]) for i in rows], [tgt_tok.encode(tgt[i]) for i in rows],
                   [src[i] for i in rows], [tgt[i] for i in rows], [flags[i] for i in rows],
                   [i % len(corpora) for i in rows])
        infos.append(writer.close().to_dict())
    (directory / "train.known-words.txt").write_text("".join(w + "\n" for w in sorted(known_words(src))),
                                                     encoding="utf-8")
    entities = {key: sum(bool(f & bit) for f in flags) for bit, key in (
        (FLAG_NAMES, "names"), (FLAG_NUMBERS, "numbers"), (FLAG_DATES, "dates"), (FLAG_SYMBOLS, "symbols"))}
    manifest = {"format": FORMAT, "format_version": PREPARE_VERSION, "config": dataclasses.asdict(data),
                "inputs": [], "shards": infos, "corpora": [{"name": name, "weight": 1.0} for name in corpora],
                "entities": entities, "known_words": "train.known-words.txt", "files": {}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    for side in ("src", "tgt"):  # training must not read them
        (directory / f"train.{side}").unlink()
    return directory


def toy_config(data_dir: Path, model: dict[str, Any] | None = None, **train: Any):
    """A tiny Transformer on the toy data; `train` keys override the small defaults below."""
    train_section = {"batch_tokens": 300, "max_steps": 30, "validate_every": 10, "log_every": 5,
                     "lr": 0.003, "warmup_steps": 5, "dev_sentences": 10, "threads": 1, "seed": 3}
    train_section.update(train)
    model_section = {"type": "transformer", "encoder_layers": 1, "decoder_layers": 1, "d_model": 32,
                     "heads": 2, "ff_size": 64, "dropout": 0.1}
    model_section.update(model or {})
    return config_from_dict({"name": "toy", "data": {"path": "unused.tsv", "dir": str(data_dir)},
                             "model": model_section, "train": train_section, "decode": {"beam_size": 1}})


def run_training(config, run_dir: Path, **kwargs: Any) -> None:
    train_command(config, run_dir=run_dir, quiet=True, **kwargs)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model_state"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        if atol == 0.0:
            assert torch.equal(tensor, b[name]), name
        else:
            torch.testing.assert_close(tensor, b[name], atol=atol, rtol=0.0, msg=name)


def metrics_rows(run_dir: Path, drop: tuple[str, ...] = TIME_COLUMNS) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("toy") / "data")


@pytest.fixture(scope="module")
def finished_run(toy_data: Path, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "toy"
    run_training(toy_config(toy_data), run_dir)
    return run_dir


# ---------------------------------------------------------------------------------------------
# The run directory


def test_run_directory_layout(finished_run: Path) -> None:
    names = {p.name for p in finished_run.iterdir()}
    assert {"config.yaml", "spm.model", "last.pt", "best.pt", "train.log", "metrics.csv"} <= names
    with open(finished_run / "metrics.csv", newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["step", "epoch", "train_loss", "dev_loss", "dev_bleu", "dev_chrf", "lr",
                      "tokens_per_s", "elapsed_s"]
    rows = metrics_rows(finished_run, drop=())
    assert [int(r["step"]) for r in rows if r["train_loss"]] == [5, 10, 15, 20, 25, 30]
    assert [int(r["step"]) for r in rows if r["dev_bleu"]] == [10, 20, 30]
    assert all(float(r["tokens_per_s"]) > 0 for r in rows if r["train_loss"])
    log = (finished_run / "train.log").read_text(encoding="utf-8")
    for expected in ("parameters", "padding", "validation at step 30", "hypothesis:", "stopped after step 30"):
        assert expected in log


def test_checkpoints_are_self_contained(finished_run: Path) -> None:
    last = load_checkpoint(finished_run / "last.pt")
    for key in ("config", "model_state", "spm_src", "spm_tgt", "optimizer", "schedule", "rng",
                "train_state", "data_signature", "format_version"):
        assert key in last, key
    state = last["train_state"]
    assert state["step"] == 30 and state["elapsed_s"] > 0
    assert {"epoch", "batch_in_epoch", "best_bleu", "bad_validations"} <= state.keys()
    best = load_checkpoint(finished_run / "best.pt")
    assert "optimizer" not in best and best["step"] in (10, 20, 30)
    loaded = load_for_inference(finished_run / "best.pt")  # translates on its own
    assert loaded.src_tokenizer.vocab_size == 80


def test_loss_goes_down(finished_run: Path) -> None:
    losses = [float(r["train_loss"]) for r in metrics_rows(finished_run) if r["train_loss"]]
    assert losses[-1] < losses[0] - 0.5


def test_two_runs_with_one_seed_are_identical(toy_data: Path, finished_run: Path, tmp_path: Path) -> None:
    run_training(toy_config(toy_data), tmp_path / "again")
    assert metrics_rows(tmp_path / "again") == metrics_rows(finished_run)
    assert_same_weights(weights(tmp_path / "again" / "last.pt"), weights(finished_run / "last.pt"))


def test_existing_run_directory_needs_resume_or_force(toy_data: Path, tmp_path: Path) -> None:
    config = toy_config(toy_data, max_steps=5, validate_every=5)
    run_training(config, tmp_path / "run")
    with pytest.raises(UserError, match="already holds a run; use --resume .* or --force"):
        run_training(config, tmp_path / "run")
    with pytest.raises(UserError, match="contradict"):
        run_training(config, tmp_path / "run", resume=True, force=True)
    run_training(config, tmp_path / "run", force=True)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == 5
    with pytest.raises(UserError, match="nothing to resume"):
        run_training(config, tmp_path / "empty", resume=True)


def test_resume_refuses_another_model_or_a_truncated_checkpoint(toy_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(toy_config(toy_data, max_steps=5, validate_every=5), run_dir)
    other = toy_config(toy_data, model={"d_model": 64, "ff_size": 128}, max_steps=10, validate_every=5)
    with pytest.raises(UserError, match=r"another config.*model\.d_model: 32 -> 64.*model\.ff_size"):
        run_training(other, run_dir, resume=True)
    with pytest.raises(UserError, match="train.batch_tokens"):
        run_training(toy_config(toy_data, batch_tokens=400, max_steps=10), run_dir, resume=True)
    data = (run_dir / "last.pt").read_bytes()
    (run_dir / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        run_training(toy_config(toy_data, max_steps=10), run_dir, resume=True)


def test_resume_may_extend_the_budget(toy_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(toy_config(toy_data, max_steps=10), run_dir)
    run_training(toy_config(toy_data, max_steps=20), run_dir, resume=True)
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == 20
    assert "resuming" in (run_dir / "train.log").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Stopping


def test_a_config_that_never_stops_is_refused(toy_data: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="max_steps.*max_epochs.*max_minutes.*patience"):
        run_training(toy_config(toy_data, max_steps=None), tmp_path / "run")


def test_max_epochs(toy_data: Path, tmp_path: Path) -> None:
    run_training(toy_config(toy_data, max_steps=None, max_epochs=2, validate_every=1000), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]
    assert state["epoch"] == 2 and state["batch_in_epoch"] == 0
    assert metrics_rows(tmp_path / "run")[-1]["dev_bleu"] != ""  # final validation


def test_a_snapshot_at_m_minutes_is_what_an_m_minute_run_ends_with(toy_data: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    import seq2seq.train as train_module

    # A clock that advances 6 s per update makes "when the budget runs out" deterministic.
    monkeypatch.setattr(train_module.Trainer, "elapsed", lambda self: 6.0 * self.state.step)
    short, long = tmp_path / "short", tmp_path / "long"
    run_training(toy_config(toy_data, max_steps=None, max_minutes=0.55, validate_every=4), short)
    run_training(toy_config(toy_data, max_steps=None, max_minutes=1.5, snapshot_minutes=0.55,
                            validate_every=4), long)
    short_steps = load_checkpoint(short / "last.pt")["train_state"]["step"]
    assert load_checkpoint(long / "last.pt")["train_state"]["step"] > short_steps + 5
    assert_same_weights(weights(long / "best-at-0.55min.pt"), weights(short / "best.pt"))
    assert "copied best.pt" in (long / "train.log").read_text(encoding="utf-8")


def test_max_minutes_stops_on_time_with_a_final_validation(toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    import seq2seq.train as train_module

    # A clock that advances 0.25 s per update: the budget (1.8 s) runs out at update 8, whatever
    # the machine's speed (a wall-clock bound was flaky on a busy machine).
    monkeypatch.setattr(train_module.Trainer, "elapsed", lambda self: 0.25 * self.state.step)
    run_training(toy_config(toy_data, max_steps=None, max_minutes=0.03, validate_every=1000), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]
    assert state["step"] == 8
    assert "train.max_minutes=0.03" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert metrics_rows(tmp_path / "run")[-1]["dev_bleu"] != ""
    # resuming the finished run changes nothing (it stopped early so the last validation fit)
    run_training(toy_config(toy_data, max_steps=None, max_minutes=0.03, validate_every=1000), tmp_path / "run",
                 resume=True)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == state["step"]
    assert "nothing to do" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


def test_patience_stops_when_dev_bleu_stalls(toy_data: Path, tmp_path: Path) -> None:
    # lr 1e-5: nothing is learnt, BLEU never improves on the first validation
    run_training(toy_config(toy_data, max_steps=None, patience=2, validate_every=2, lr=1e-5), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]
    assert state["step"] == 6 and state["bad_validations"] == 2


def test_an_update_sums_its_totals_over_the_processes_in_one_all_reduce(toy_data: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    from seq2seq.training.distributed import Distributed
    from seq2seq.training.update import UpdateTotals

    class TwoProcesses:
        """A collective that adds an identical second process's values."""

        def __init__(self) -> None:
            self.calls: list[list[float]] = []

        def sum(self, values: list[float]) -> list[float]:
            self.calls.append(list(values))
            return [2 * v for v in values]

    totals = UpdateTotals(loss_sum=3.5, interrupted=0.0, clock_s=12.0, snapshot_due=1.0)
    assert UpdateTotals.unpack(totals.pack()) == totals
    two = TwoProcesses()
    assert totals.summed(two) == UpdateTotals(loss_sum=7.0, interrupted=0.0, clock_s=24.0, snapshot_due=2.0)
    assert two.calls == [[3.5, 0.0, 12.0, 1.0]]

    calls = []
    real_sum = Distributed.sum
    monkeypatch.setattr(Distributed, "sum", lambda self, values: calls.append(values) or real_sum(self, values))
    run_training(toy_config(toy_data, max_steps=4, validate_every=100), tmp_path / "run")
    assert len(calls) == 4 and all(len(values) == 4 for values in calls)  # one all-reduce per update


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    import seq2seq.training.update as update_module

    real_loss = update_module.projected_cross_entropy
    calls = {"n": 0}

    def poisoned(states, weight, gold, eps, scale):
        calls["n"] += 1
        loss = real_loss(states, weight, gold, eps, scale)
        return loss * float("nan") if calls["n"] == 8 else loss

    monkeypatch.setattr(update_module, "projected_cross_entropy", poisoned)
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=r"diverged at step 8: loss nan.*last\.pt still holds step 5"):
        run_training(toy_config(toy_data, save_every=5), run_dir)
    last = load_checkpoint(run_dir / "last.pt")
    assert last["train_state"]["step"] == 5
    assert all(torch.isfinite(t).all() for t in last["model_state"].values())
    assert "diverged at step 8" in (run_dir / "train.log").read_text(encoding="utf-8")


def test_the_rnn_family_trains_too(toy_data: Path, tmp_path: Path) -> None:
    model = {"type": "rnn", "encoder_layers": 1, "decoder_layers": 1, "embedding_dim": 32, "hidden_size": 32}
    run_training(toy_config(toy_data, model=model, max_steps=10, validate_every=10), tmp_path / "run")
    losses = [float(r["train_loss"]) for r in metrics_rows(tmp_path / "run") if r["train_loss"]]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


# ---------------------------------------------------------------------------------------------
# Loss and schedules


def loss_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decoder states (3, 5, 7), an output weight (11 words, 7) and gold ids with padding in two rows."""
    torch.manual_seed(0)
    states, weight = torch.randn(3, 5, 7), torch.randn(11, 7)
    gold = torch.randint(4, 11, (3, 5))
    gold[0, 3:] = PAD_ID
    gold[2, 1:] = PAD_ID
    return states, weight, gold


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("block_elements", [11, 1 << 22])  # one row per block / all rows in one
def test_projected_cross_entropy_matches_pytorch(eps: float, block_elements: int, monkeypatch) -> None:
    monkeypatch.setattr("seq2seq.training.loss.BLOCK_ELEMENTS", block_elements)
    states, weight, gold = loss_inputs()
    ours_states, ours_weight = states.clone().requires_grad_(), weight.clone().requires_grad_()
    ref_states, ref_weight = states.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = projected_cross_entropy(ours_states, ours_weight, gold, eps, scale=0.25)
    (loss * 2).backward()
    expected = token_loss_sum(ref_states @ ref_weight.t(), gold, eps) * 0.25
    (expected * 2).backward()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(ours_states.grad, ref_states.grad)
    torch.testing.assert_close(ours_weight.grad, ref_weight.grad)
    assert ours_states.grad[0, 3:].abs().sum() == 0  # padding gets no gradient
    # the plain F.cross_entropy definition, for the record
    logits = (states @ weight.t()).view(-1, 11)
    assert torch.allclose(expected / 0.25, F.cross_entropy(logits, gold.view(-1), ignore_index=PAD_ID,
                                                           label_smoothing=eps, reduction="sum"))


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("block_elements", [11, 33, 1 << 22])  # one row per block, three, all rows in one
def test_validation_loss_a_block_at_a_time_equals_the_plain_loss(eps: float, block_elements: int,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr("seq2seq.training.loss.BLOCK_ELEMENTS", block_elements)
    states, weight, gold = loss_inputs()
    expected = token_loss_sum(states @ weight.t(), gold, eps)
    torch.testing.assert_close(projected_loss_sum(states, weight, gold, eps), expected)
    states[0, 3:] = float("nan")  # padding rows are never projected
    torch.testing.assert_close(projected_loss_sum(states, weight, gold, eps), expected)


def make_schedule(**keys: Any) -> LRSchedule:
    return LRSchedule(TrainConfig(**keys), d_model=256)


def test_warmup_then_inverse_sqrt_and_noam_peak_at_lr() -> None:
    schedule = make_schedule(lr=0.001, warmup_steps=100, schedule="inverse_sqrt")
    assert schedule.lr(1) == pytest.approx(0.001 / 100)
    assert schedule.lr(50) == pytest.approx(0.0005)
    assert schedule.lr(100) == pytest.approx(0.001)
    assert schedule.lr(400) == pytest.approx(0.0005)
    noam = make_schedule(lr=0.001, warmup_steps=100, schedule="noam")
    assert max(noam.lr(s) for s in range(1, 1000)) == pytest.approx(0.001)
    assert noam.lr(100) == pytest.approx(0.001) and noam.lr(400) == pytest.approx(0.0005)
    assert noam.lr(10) == pytest.approx(0.0001)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_linear_and_cosine_warm_up_then_reach_min_lr_exactly_at_the_step_budget(kind: str) -> None:
    schedule = make_schedule(lr=0.001, min_lr=0.0001, warmup_steps=10, schedule=kind, max_steps=110)
    assert [schedule.lr(s) for s in (1, 5, 10)] == pytest.approx([0.0001, 0.0005, 0.001])  # warm-up
    assert schedule.lr(60) == pytest.approx(0.00055)  # half-way, for both shapes
    quarter = 0.75 if kind == "linear" else 0.5 * (1 + math.cos(math.pi / 4))
    assert schedule.lr(35) == pytest.approx(0.0001 + 0.0009 * quarter)
    rates = [schedule.lr(s) for s in range(10, 200)]
    assert all(a > b for a, b in zip(rates[:100], rates[1:101]))  # strictly down to the budget ...
    assert schedule.lr(110) == 0.0001 and schedule.lr(500) == 0.0001  # ... where it is min_lr exactly
    # train.decay_steps ends the decay before train.max_steps
    early = make_schedule(lr=0.001, warmup_steps=10, schedule=kind, max_steps=110, decay_steps=60)
    assert early.lr(35) == pytest.approx(0.0005) and early.lr(60) == 0.0  # half-way, then the floor


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_linear_and_cosine_reach_min_lr_exactly_when_the_time_budget_ends(kind: str) -> None:
    schedule = make_schedule(lr=0.001, min_lr=0.0001, warmup_steps=10, schedule=kind, max_minutes=10)
    assert schedule.lr(5, clock_s=400.0) == pytest.approx(0.0005)  # warm-up goes by steps
    assert schedule.lr(10, clock_s=60.0) == pytest.approx(0.001)  # warm-up ended at 60 s ...
    assert schedule.lr(12, clock_s=330.0) == pytest.approx(0.00055)  # ... so 330 s is half-way to 600 s
    rates = [schedule.lr(13 + i, clock_s=60.0 + i) for i in range(540)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert schedule.lr(20, clock_s=599.9999) > 0.0001
    assert schedule.lr(21, clock_s=600.0) == 0.0001  # the clock out_of_time stops on
    # a resumed run continues the same decay: when warm-up ended is in last.pt
    restored = make_schedule(lr=0.001, min_lr=0.0001, warmup_steps=10, schedule=kind, max_minutes=10)
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr(500, clock_s=330.0) == schedule.lr(500, clock_s=330.0) == pytest.approx(0.00055)
    # with a step budget too, whichever ends first: progress = max(step fraction, time fraction)
    both = make_schedule(lr=0.001, warmup_steps=0, schedule=kind, max_minutes=10, max_steps=100)
    assert both.lr(1, clock_s=0.0) == pytest.approx(make_schedule(lr=0.001, warmup_steps=0, schedule=kind,
                                                                  max_steps=100).lr(1))
    assert both.lr(50, clock_s=450.0) == pytest.approx(make_schedule(lr=0.001, warmup_steps=0, schedule=kind,
                                                                     max_steps=100).lr(75))
    assert both.lr(100, clock_s=10.0) == 0.0 and both.lr(2, clock_s=600.0) == 0.0


def test_a_budget_driven_schedule_needs_a_budget_and_refuses_a_clock_snapshot(toy_data: Path, tmp_path: Path) -> None:
    for kind in ("linear", "cosine"):
        with pytest.raises(UserError, match=f"schedule is {kind}.*set train.decay_steps, train.max_steps or "
                                            "train.max_minutes"):
            make_schedule(schedule=kind, max_epochs=3)
        with pytest.raises(UserError, match="snapshot_minutes cannot be used with .*max_minutes"):
            make_schedule(schedule=kind, max_minutes=30, snapshot_minutes=10)
        make_schedule(schedule=kind, max_steps=100, snapshot_minutes=10)  # a step budget: allowed
    make_schedule(schedule="inverse_sqrt", max_minutes=30, snapshot_minutes=10)
    with pytest.raises(UserError, match=r"min_lr \(0.1\) is above train.lr"):
        make_schedule(schedule="linear", max_steps=10, min_lr=0.1)
    # refused before anything is written
    with pytest.raises(UserError, match="schedule is linear"):
        run_training(toy_config(toy_data, schedule="linear", max_steps=None, max_epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cosine_steps_is_now_decay_steps() -> None:
    with pytest.raises(UserError, match=r"train.cosine_steps is no longer a config key: it is now train.decay_steps"):
        config_from_dict({"data": {"path": "c.tsv"}, "train": {"cosine_steps": 100}})
    stored = config_from_dict({"data": {"path": "c.tsv"}, "train": {"cosine_steps": None}}, stored=True)
    assert stored.train.decay_steps is None  # an old checkpoint's config still loads


def test_a_linear_decay_over_max_minutes_ends_at_min_lr_when_the_run_stops(toy_data: Path, tmp_path: Path,
                                                                           monkeypatch) -> None:
    import seq2seq.train as train_module

    # A clock on which each update takes 6 s (before its rate is chosen): the 30 s run out in update 5.
    clock = {"s": 0.0}
    update = train_module.Trainer.update

    def six_second_update(self, *args):
        clock["s"] += 6.0
        return update(self, *args)

    monkeypatch.setattr(train_module.Trainer, "update", six_second_update)
    monkeypatch.setattr(train_module.Trainer, "elapsed", lambda self: clock["s"])
    run_training(toy_config(toy_data, max_steps=None, max_minutes=0.5, schedule="linear", warmup_steps=2,
                            min_lr=0.0003, validate_every=1000, log_every=1), tmp_path / "run")
    rates = [float(r["lr"]) for r in metrics_rows(tmp_path / "run") if r["train_loss"]]
    # warm-up by steps, the peak at 12 s, then a straight line from 12 s to min_lr at 30 s
    assert rates == pytest.approx([0.0015, 0.003, 0.0021, 0.0012, 0.0003])
    assert "stopped after step 5 (train.max_minutes=0.5)" in (tmp_path / "run" / "train.log").read_text()


def test_plateau_and_constant() -> None:
    schedule = make_schedule(lr=0.001, warmup_steps=0, schedule="plateau", plateau_factor=0.5, plateau_patience=2)
    for bleu in (10, 12, 11, 11.5):  # two validations without a better BLEU
        schedule.on_validation(bleu)
    assert schedule.lr(50) == pytest.approx(0.0005)
    restored = make_schedule(lr=0.001, warmup_steps=0, schedule="plateau")
    restored.load_state_dict(schedule.state_dict())
    assert restored.lr(50) == pytest.approx(0.0005)
    constant = make_schedule(lr=0.001, warmup_steps=4, schedule="constant")
    assert [constant.lr(s) for s in (2, 4, 1000)] == pytest.approx([0.0005, 0.001, 0.001])
