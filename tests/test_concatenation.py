"""Concatenation augmentation (train.concat_augmentation): joined examples aligned on both sides,
seeded by (seed, epoch, shard, row), the same from any process, within the model's positions,
planned on their joined lengths, and exact on resume (a killed run ends with the same weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_augmented_rows import same
from test_loader import epoch_pairs, loader_for, numbered, updates  # noqa: F401 -- numbered is a fixture
from test_resume import MAX_STEPS, kill_after_a_checkpoint, make_setup, resume_config
from test_train import assert_same_weights, metrics_rows, run_training, toy_config, weights

from seq2seq.checkpoint import load_checkpoint
from seq2seq.data.augmented_rows import augment_shard
from seq2seq.data.concatenation import Concatenation
from seq2seq.data.shards import Shard
from seq2seq.errors import UserError

JOINED = {"concat_augmentation": 0.4, "concat_max_pairs": 3}
SEED = 3  # toy_config's train.seed


def prepared(data_dir: Path) -> list[tuple[str, str]]:
    shard = Shard.open(data_dir, "train.00000")
    try:
        return [shard.text(row) for row in range(len(shard))]
    finally:
        shard.close()


def test_a_joined_example_is_its_pair_and_the_drawn_pairs_in_the_same_order_on_both_sides(numbered: Path) -> None:
    rows = prepared(numbered)
    made = epoch_pairs(numbered, toy_config(numbered, **JOINED), epoch=0)
    joins = Concatenation(0.4, 3, SEED).partners(0, "train.00000", len(rows), np.arange(len(rows)))
    assert 0.3 * len(rows) < len(joins) < 0.5 * len(rows)
    assert {len(others) for others in joins.values()} == {1, 2}  # 2 or 3 pairs
    for row, (src, tgt) in enumerate(made):
        together = [row] + joins[row].tolist() if row in joins else [row]
        assert src == " ".join(rows[r][0] for r in together)
        assert tgt == " ".join(rows[r][1] for r in together)


def test_joins_are_seeded_by_seed_epoch_and_shard() -> None:
    rows = np.arange(5000)
    first = Concatenation(0.3, 4, 1).partners(0, "train.00000", 5000, rows)
    assert first.keys() == Concatenation(0.3, 4, 1).partners(0, "train.00000", 5000, rows).keys()
    for other in (Concatenation(0.3, 4, 2).partners(0, "train.00000", 5000, rows),
                  Concatenation(0.3, 4, 1).partners(1, "train.00000", 5000, rows),
                  Concatenation(0.3, 4, 1).partners(0, "train.00001", 5000, rows)):
        assert len(first.keys() & other.keys()) < 0.5 * len(first)
    # a row's draw does not depend on the rows asked with it
    part = Concatenation(0.3, 4, 1).partners(0, "train.00000", 5000, rows[1234:2345])
    assert {i + 1234: list(o) for i, o in part.items()} == {i: list(o) for i, o in first.items() if 1234 <= i < 2345}
    counts = np.bincount([len(o) for o in first.values()])
    assert abs(len(first) / 5000 - 0.3) < 0.03 and all(abs(c / len(first) - 1 / 3) < 0.05 for c in counts[1:])


def test_with_entity_augmentation_the_joined_example_starts_with_the_augmented_pair(numbered: Path) -> None:
    both = toy_config(numbered, number_augmentation=1.0, **JOINED)
    alone = epoch_pairs(numbered, toy_config(numbered, number_augmentation=1.0), 0)
    augmented = epoch_pairs(numbered, both, 0)
    rows = prepared(numbered)
    joins = Concatenation(0.4, 3, SEED).partners(0, "train.00000", len(rows), np.arange(len(rows)))
    checked = 0
    for row, others in joins.items():
        if alone[row] != tuple(rows[row]):  # its number was substituted
            rest = [rows[r] for r in others.tolist()]
            assert augmented[row] == (" ".join([alone[row][0]] + [s for s, _ in rest]),
                                      " ".join([alone[row][1]] + [t for _, t in rest]))
            checked += 1
    assert checked > 10


def test_joined_rows_are_the_same_from_several_processes_and_fit_the_limit(numbered: Path) -> None:
    loader = loader_for(numbered, limit=20, **JOINED)
    shard = Shard.open(numbered, "train.00000")
    augment = loader._augmenter(shard, 0)
    whole = augment(0, len(shard))
    assert same(augment_shard(augment, len(shard), 3, min_rows=0), whole)
    src_lengths, tgt_lengths = np.diff(whole.src_bounds), np.diff(whole.tgt_bounds)
    assert np.all(np.maximum(src_lengths, tgt_lengths) + 1 <= 20)
    assert len(whole) > 0.2 * len(shard)  # most joins fit: pairs are 3-9 pieces
    shard.close()
    loader.close()


def test_batches_hold_the_planned_tokens_of_the_joined_examples(numbered: Path) -> None:
    made = updates(loader_for(numbered, accumulate=2, **JOINED), 30)
    assert all(planned == sum(batch[-1] for batch in batches) for batches, planned, *_ in made)
    longest = max(len(batch[3][0]) for batches, *_ in made for batch in batches)
    assert longest > 2 * 12  # joined targets: a toy pair has at most ~12 pieces


def test_resuming_at_any_update_continues_with_the_same_joined_batches(numbered: Path) -> None:
    through = updates(loader_for(numbered, **JOINED), 40)  # into the second epoch
    epoch, batch_in_epoch = 0, 0
    for step, (_, _, ends, _) in enumerate(through[:-3]):
        if step % 6 == 0:
            assert updates(loader_for(numbered, **JOINED), 3, epoch, batch_in_epoch) == through[step:step + 3]
        epoch, batch_in_epoch = (epoch + 1, 0) if ends else (epoch, batch_in_epoch + 1)
    assert epoch >= 1


def test_concatenation_with_subword_sampling_is_one_line(numbered: Path) -> None:
    with pytest.raises(UserError, match="train.concat_augmentation does not work with train.subword_sampling"):
        loader_for(numbered, subword_sampling=0.1, **JOINED)


def test_a_killed_run_with_concatenation_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config_file, data_dir, reference = make_setup(tmp_path, shards=2, **JOINED)
    assert "0.4 of the examples joined from 2 to 3 pairs" in (reference / "train.log").read_text()
    run_dir = tmp_path / "run"
    kill_after_a_checkpoint(config_file, run_dir)
    run_training(resume_config(data_dir, **JOINED), run_dir, resume=True)
    assert_same_weights(weights(run_dir / "last.pt"), weights(reference / "last.pt"))
    assert metrics_rows(run_dir) == metrics_rows(reference)
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == MAX_STEPS
