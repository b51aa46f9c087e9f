"""Augmented rows made before a shard's plan: batches exactly as long as planned, the same rows
from one process or several, made ahead while the shard before trains, errors as one line, and a
resumed run that need not plan the shards it passed."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from test_loader import loader_for, numbered, updates  # noqa: F401 -- numbered is a fixture

from seq2seq.data.augmented_rows import AugmentAhead, AugmentedRows, augment_shard
from seq2seq.data.batching import Batch
from seq2seq.data.shards import SRC_LEN, TGT_LEN, Shard
from seq2seq.errors import UserError

AUGMENTED = {"number_augmentation": 1.0, "name_augmentation": 1.0}


def real_padding(batches: list[Batch]) -> tuple[int, int]:
    """(target tokens, target positions) of padded batches."""
    return sum(b.n_tokens for b in batches), sum(b.gold.numel() for b in batches)


def test_batches_are_as_long_as_planned(numbered: Path) -> None:
    """Planned on the augmented lengths: every update's batches hold the planned target tokens,
    and their padding is the plan's (across the shard and the epoch boundary)."""
    loader = loader_for(numbered, accumulate=2, **AUGMENTED)
    loader.start(0, 0)
    grown = 0
    try:
        for _ in range(40):
            run = loader.current
            rows = [run.plan.batch(run.update * 2 + k) for k in range(2)]
            widths = [int(run.shard.index[r.numpy(), TGT_LEN].max()) + 1 for r in rows]  # prepared lengths
            update = loader.next_update()
            tokens, positions = real_padding(update.batches)
            assert update.planned_tokens == tokens
            grown += sum(b.gold.shape[1] > w for b, w in zip(update.batches, widths))
            assert positions == sum(len(r) * b.gold.shape[1] for r, b in zip(rows, update.batches))
    finally:
        loader.close()
    assert grown > 5  # batches longer than their prepared rows: augmentation did lengthen rows


def test_the_plans_padding_is_the_batches_padding(numbered: Path) -> None:
    loader = loader_for(numbered, **AUGMENTED)
    loader.start(0, 0)
    plan, made = loader.current.plan, []
    for _ in range(loader.current.updates):
        made += loader.next_update().batches
    loader.close()
    tokens, positions = real_padding(made)
    assert plan.padding[0] == pytest.approx(1 - tokens / positions)


def augmenter(data_dir: Path, epoch: int = 0):
    loader = loader_for(data_dir, **AUGMENTED)
    shard = Shard.open(data_dir, "train.00000")
    return loader, shard, loader._augmenter(shard, epoch)


def same(a: AugmentedRows, b: AugmentedRows) -> bool:
    return all(np.array_equal(getattr(a, name), getattr(b, name))
               for name in ("rows", "src", "src_bounds", "tgt", "tgt_bounds"))


def test_augmented_rows_are_the_same_from_one_process_or_several(numbered: Path) -> None:
    _, shard, augment = augmenter(numbered)
    whole = augment(0, len(shard))
    assert 0.3 * len(shard) < len(whole) < len(shard)  # a third of the rows have a number, a third a name
    assert np.all(np.diff(whole.rows) > 0)
    for processes in (2, 3):
        assert same(augment_shard(augment, len(shard), processes, min_rows=0), whole)
    ahead = AugmentAhead(augment, len(shard), 2)
    assert same(ahead.result(), whole) and not ahead.jobs
    _, _, other_epoch = augmenter(numbered, epoch=1)
    assert not same(other_epoch(0, len(shard)), whole)
    shard.close()


def test_augmented_rows_give_sizes_and_ids(numbered: Path) -> None:
    _, shard, augment = augmenter(numbered)
    rows = augment(0, len(shard))
    src_sizes, tgt_sizes = rows.sizes(shard.src_sizes.numpy(), shard.tgt_sizes.numpy())
    changed = np.flatnonzero((src_sizes != shard.src_sizes.numpy()) | (tgt_sizes != shard.tgt_sizes.numpy()))
    assert set(changed.tolist()) <= set(rows.rows.tolist()) and len(changed) > 0.2 * len(shard)
    ask = np.array([int(rows.rows[3]), 0, int(rows.rows[3]), len(shard) - 1], dtype=np.int64)
    found = rows.ids_at(ask)
    assert {0, 2} <= set(found) and np.array_equal(found[0][0], found[2][0])
    assert len(found[0][0]) + 1 == src_sizes[ask[0]] and len(found[0][1]) + 1 == tgt_sizes[ask[0]]
    unchanged = [r for r in range(len(shard)) if r not in set(rows.rows.tolist())][:5]
    assert rows.ids_at(np.array(unchanged, dtype=np.int64)) == {}
    assert (shard.index[unchanged, SRC_LEN] + 1 == src_sizes[unchanged]).all()
    halves = [augment(0, 100), augment(100, len(shard))]
    assert same(AugmentedRows.join(halves), rows)
    shard.close()


def failing(lo: int, hi: int) -> AugmentedRows:
    raise UserError(f"rows {lo}..{hi}: train.00000.src: damaged training shard (line 3 is not valid UTF-8)")


def test_an_error_in_an_augmenting_process_is_the_trainers_one_line() -> None:
    with pytest.raises(UserError, match=r"^rows 0\.\.50: train.00000.src: damaged training shard"):
        AugmentAhead(failing, 100, 2).result()
    assert not multiprocessing.active_children()


def test_the_next_shard_is_augmented_ahead_and_nothing_is_left_running(numbered: Path) -> None:
    loader = loader_for(numbered, workers=1, **AUGMENTED)
    loader.start(0, 0)
    seen = set()
    while len(seen) < 3:
        run = loader.current
        seen.add((run.plan.epoch, run.plan.position))
        loader.next_update()
        following = (run.plan.epoch + run.plan.position, 1 - run.plan.position)  # two shards
        assert list(loader.ahead) == ([following] if run.updates // 2 < run.update < run.updates else [])
    loader.close()
    assert not loader.ahead and not multiprocessing.active_children()


def test_resuming_with_the_passed_shards_batch_counts_plans_only_the_current_one(numbered: Path,
                                                                                 monkeypatch) -> None:
    loader = loader_for(numbered, accumulate=2, **AUGMENTED)
    loader.start(0, 0)
    first = loader.current.plan
    while loader.current.plan is first:
        loader.next_update()
    passed, at = loader.passed_batches(), len(first)
    assert passed == [len(first)]
    expected = [loader.next_update() for _ in range(3)]
    loader.close()
    planned: list[int] = []
    resumed = loader_for(numbered, accumulate=2, **AUGMENTED)
    plan = resumed._plan
    monkeypatch.setattr(resumed, "_plan", lambda epoch, position: planned.append(position) or plan(epoch, position))
    resumed.start(0, at, passed)
    again = [resumed.next_update() for _ in range(3)]
    resumed.close()
    assert planned == [1]
    for a, b in zip(expected, again):
        assert a.planned_tokens == b.planned_tokens
        assert all(torch.equal(x.gold, y.gold) and torch.equal(x.src_tokens, y.src_tokens)
                   for x, y in zip(a.batches, b.batches))
    assert updates(loader_for(numbered, accumulate=2, **AUGMENTED), 3, 0, at)[0][1] == expected[0].planned_tokens
