"""Training batches from memory-mapped shards: plans, corpus weights, the batch maker and the
DataLoader (0, 1, 2 workers alike), shard and epoch boundaries, resuming at any update, and each
process's share of an update."""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import make_toy_data, toy_config, write_shards

from seq2seq.data.augment import Augmentation, BatchMaker, make_augmentation
from seq2seq.data.batching import Batch, collate, encode_corpus, epoch_generator, fitting, make_batches
from seq2seq.data.loader import LoaderSettings, TrainLoader
from seq2seq.data.manifest import read_manifest
from seq2seq.data.plan import PlanSettings, plan_shard, shard_order, weighted_rows
from seq2seq.data.shards import Shard
from seq2seq.config import Config
from seq2seq.data.tokenizer import Tokenizer, load_tokenizers, train_sentencepiece
from seq2seq.errors import UserError
from seq2seq.training.epochs import TrainingData
from seq2seq.training.distributed import Distributed

SEED, BATCH_TOKENS, POOL = 3, 300, 100
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("one") / "data", n_train=600)


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("three") / "data", n_train=900, shards=3)


def numbered_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Toy pairs, a third with a shared number and a third with a shared name (augmentation's food)."""
    rng = random.Random(seed)
    words = {"le": "the", "chat": "cat", "chien": "dog", "voit": "sees", "mange": "eats", "petit": "small"}
    pairs = []
    for i in range(n):
        chosen = [rng.choice(list(words)) for _ in range(rng.randint(2, 7))]
        src, tgt = " ".join(chosen), " ".join(words[w] for w in chosen)
        if i % 3 == 1:
            number = str(rng.randint(1, 999))
            src, tgt = f"{src} {number}", f"{tgt} {number}"
        elif i % 3 == 2:
            src, tgt = f"Tom {src}", f"Tom {tgt}"
        pairs.append((src + " .", tgt + " ."))
    return pairs


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("numbered") / "data"
    directory.mkdir()
    for split, count, seed in (("train", 450, 1), ("dev", 20, 2), ("test", 20, 3)):
        pairs = numbered_pairs(count, seed)
        (directory / f"{split}.src").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (directory / f"{split}.tgt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    sentences = [side for pair in numbered_pairs(450, 1) for side in pair] + ["0123456789 Tom Zoé Alice"] * 5
    (directory / "spm.model").write_bytes(
        train_sentencepiece(sentences, vocab_size=90, model_type="bpe", character_coverage=1.0))
    return write_shards(directory, shards=2)


def loader_for(data_dir: Path, *, workers: int = 0, rank: int = 0, world_size: int = 1, accumulate: int = 1,
               weights: tuple[float, ...] = (1.0,), limit: int | None = None, **train) -> TrainLoader:
    config = toy_config(data_dir, data_workers=workers, **train)
    manifest = read_manifest(config, shards=True)
    tokenizer = Tokenizer.from_file(data_dir / "spm.model")
    shards = manifest["shards"]
    plan = PlanSettings(SEED, BATCH_TOKENS, POOL, accumulate * world_size, limit, weights)
    settings = LoaderSettings(rank, world_size, workers, False, [s["name"] for s in shards],
                              [(s["longest_src"], s["longest_tgt"]) for s in shards], [s["pairs"] for s in shards],
                              tokenizer.vocab_size)
    augmentation = make_augmentation(config, data_dir, manifest, tokenizer, tokenizer)
    return TrainLoader(data_dir, plan, settings, BatchMaker(tokenizer, tokenizer, limit, SEED, augmentation))


def epoch_pairs(data_dir: Path, config: Config, epoch: int, shard_name: str = "train.00000") -> list[tuple[str, str]]:
    """Every row of a shard as `epoch` makes it (augmented), decoded: what the earlier TrainCorpus(epoch)
    gave, for the tests of the augmentations (`write_shards` turns a hand-made directory into shards)."""
    src_tok, tgt_tok = load_tokenizers(data_dir, config.data.joint_vocab)
    augmentation = make_augmentation(config, data_dir, read_manifest(config, shards=True), src_tok, tgt_tok)
    shard = Shard.open(data_dir, shard_name)
    try:
        batch = BatchMaker(src_tok, tgt_tok, None, config.train.seed, augmentation)(shard, epoch, 0,
                                                                                  torch.arange(len(shard)))
    finally:
        shard.close()
    return [(src_tok.decode(src), tgt_tok.decode(tgt)) for src, tgt in zip(batch.src_tokens.tolist(),
                                                                          batch.gold.tolist(), strict=True)]


def tensors(batch: Batch) -> list[list[list[int]]]:
    return [batch.src_tokens.tolist(), batch.src_lengths.tolist(), batch.prev_tokens.tolist(), batch.gold.tolist(),
            batch.n_tokens]


def updates(loader: TrainLoader, count: int, epoch: int = 0, batch_in_epoch: int = 0) -> list:
    """(batches as lists, planned tokens, ends_epoch, shard) of `count` updates from a position."""
    loader.start(epoch, batch_in_epoch)
    try:
        made = []
        for _ in range(count):
            shard = loader.current.plan.name
            update = loader.next_update()
            made.append(([tensors(b) for b in update.batches], update.planned_tokens, update.ends_epoch, shard))
        return made
    finally:
        loader.close()


# ---------------------------------------------------------------------------------------------
# Plans


@pytest.mark.parametrize("limit", [None, 12])
def test_one_shard_with_weight_1_is_batched_as_unsharded_training_was(one_shard: Path, limit) -> None:
    """The batches of the earlier training: the train split encoded, the pairs that do not fit
    dropped, make_batches with the epoch's generator, cut to whole updates."""
    tokenizer = Tokenizer.from_file(one_shard / "spm.model")
    src, tgt = (Path(one_shard / f"train.00000.{side}").read_text(encoding="utf-8").splitlines()
                for side in ("src", "tgt"))
    full = encode_corpus(src, tgt, tokenizer, tokenizer)
    base, dropped = fitting(full, limit)
    kept = torch.arange(len(full)) if limit is None else \
        torch.nonzero((full.src_sizes <= limit) & (full.tgt_sizes <= limit)).squeeze(1)
    assert (dropped > 0) == (limit is not None)
    shard = Shard.open(one_shard, "train.00000")
    info = read_manifest(toy_config(one_shard), shards=True)["shards"][0]
    for epoch in (0, 1):
        expected = make_batches(base.src_sizes, base.tgt_sizes, BATCH_TOKENS, POOL, epoch_generator(SEED, epoch))
        expected = expected[:len(expected) // 2 * 2]
        plan = plan_shard(shard, (info["longest_src"], info["longest_tgt"]),
                          PlanSettings(SEED, BATCH_TOKENS, POOL, 2, limit), epoch, 0, 0)
        assert len(plan) == len(expected) and plan.dropped == dropped
        for k, indices in enumerate(expected):
            assert torch.equal(plan.batch(k), kept[indices])
        assert plan.tokens.tolist() == [int(base.tgt_sizes[b].sum()) for b in expected]
    shard.close()


def test_corpus_weights_repeat_and_sample_rows_per_epoch() -> None:
    rows, corpus = torch.arange(1000).numpy(), (torch.arange(1000) % 3).numpy()
    assert weighted_rows(rows, corpus, (1.0, 1.0, 1.0), seed=5) is rows  # weight 1: nothing drawn
    picked = weighted_rows(rows, corpus, (2.0, 0.5, 1.5), seed=5)
    counts = torch.bincount(torch.from_numpy(picked), minlength=1000)
    assert (counts[0::3] == 2).all()  # corpus 0: twice
    assert set(counts[1::3].tolist()) == {0, 1} and 120 < int(counts[1::3].sum()) < 215  # about half
    assert set(counts[2::3].tolist()) == {1, 2} and 120 < int((counts[2::3] == 2).sum()) < 215
    again, other = weighted_rows(rows, corpus, (2.0, 0.5, 1.5), seed=5), weighted_rows(rows, corpus, (2.0, 0.5, 1.5), 6)
    assert (again == picked).all() and not (len(other) == len(picked) and (other == picked).all())


def test_weights_act_in_plans(tmp_path: Path) -> None:
    """Corpus "b" (every other row) weighted 3: its rows are in the epoch's batches 3 times."""
    directory = make_toy_data(tmp_path / "data", n_train=400, corpora=("a", "b"))
    shard = Shard.open(directory, "train.00000")
    plain = plan_shard(shard, (99, 99), PlanSettings(SEED, BATCH_TOKENS, POOL, 1, None, (1.0, 1.0)), 0, 0, 0)
    tripled = plan_shard(shard, (99, 99), PlanSettings(SEED, BATCH_TOKENS, POOL, 1, None, (1.0, 3.0)), 0, 0, 0)
    counts = torch.bincount(tripled.rows, minlength=len(shard))
    assert (counts[0::2] == 1).all() and (counts[1::2] == 3).all()  # one batch's cut aside: none here
    assert torch.equal(torch.bincount(plain.rows, minlength=len(shard)), torch.ones(len(shard), dtype=torch.int64))
    assert 1.8 * len(plain) < len(tripled) < 2.2 * len(plain)
    halved = plan_shard(shard, (99, 99), PlanSettings(SEED, BATCH_TOKENS, POOL, 1, None, (1.0, 0.5)), 0, 0, 0)
    other = plan_shard(shard, (99, 99), PlanSettings(SEED, BATCH_TOKENS, POOL, 1, None, (1.0, 0.5)), 1, 0, 0)
    picked = [set(p.rows[p.rows % 2 == 1].tolist()) for p in (halved, other)]
    assert all(60 < len(rows) < 140 for rows in picked) and picked[0] != picked[1]  # another half each epoch
    shard.close()


def test_shard_order_is_a_function_of_seed_and_epoch() -> None:
    orders = [shard_order(1, epoch, 6) for epoch in range(5)]
    assert all(sorted(order) == list(range(6)) for order in orders)
    assert orders == [shard_order(1, epoch, 6) for epoch in range(5)] and len({tuple(o) for o in orders}) > 1
    assert shard_order(1, 0, 1) == [0] and shard_order(2, 0, 6) != shard_order(1, 0, 6)


# ---------------------------------------------------------------------------------------------
# Batches


def test_a_batch_from_a_shard_is_the_batch_the_encoded_corpus_gave(one_shard: Path) -> None:
    tokenizer = Tokenizer.from_file(one_shard / "spm.model")
    src = (one_shard / "train.00000.src").read_text(encoding="utf-8").splitlines()
    tgt = (one_shard / "train.00000.tgt").read_text(encoding="utf-8").splitlines()
    corpus = encode_corpus(src, tgt, tokenizer, tokenizer)
    shard = Shard.open(one_shard, "train.00000")
    maker = BatchMaker(tokenizer, tokenizer, None, SEED, Augmentation())
    for rows in (torch.tensor([5, 0, 599, 17]), torch.tensor([3]), torch.tensor([8, 8, 2])):
        assert tensors(maker(shard, 0, 0, rows)) == tensors(collate(corpus, rows))
    shard.close()


@pytest.mark.parametrize("train", [{"number_augmentation": 0.7, "name_augmentation": 0.7},
                                   {"subword_sampling": 0.2}], ids=["entities", "sampling"])
def test_augmented_batches_are_a_function_of_seed_epoch_and_rows(numbered: Path, train) -> None:
    """The same batches with 0, 1 and 2 workers, across the shard and the epoch boundary; and
    the augmentation does change them."""
    plain = updates(loader_for(numbered), 30)
    made = {workers: updates(loader_for(numbered, workers=workers, **train), 30) for workers in (0, 1, 2)}
    assert made[0] == made[1] == made[2]
    assert any(u[2] for u in made[0]) and len({u[3] for u in made[0]}) == 2  # both shards, into epoch 1
    assert sum(a != b for a, b in zip(made[0], plain)) > 10  # batches with a pair made anew


FRESH_PROCESS = """
import sys
from pathlib import Path
from test_loader import loader_for, updates
made = [updates(loader_for(Path(sys.argv[1]), workers=workers, subword_sampling=0.2), 12) for workers in (2, 1, 0)]
print("same" if made[0] == made[1] == made[2] else "different")
"""


def test_sampled_batches_are_alike_with_any_workers_in_a_fresh_process(numbered: Path) -> None:
    """SentencePiece salts its sampling once per process, at first use: the trainer uses it before
    it forks workers (BatchMaker.before_fork), or two workers would sample with two salts."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(numbered)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "same"


def test_an_epochs_pairs_change_where_they_have_numbers_and_names(numbered: Path) -> None:
    config = toy_config(numbered, number_augmentation=1.0, name_augmentation=1.0)
    raw = list(zip(*((numbered / f"train.00000.{side}").read_text(encoding="utf-8").splitlines()
                     for side in ("src", "tgt")), strict=True))
    zero, one = epoch_pairs(numbered, config, 0), epoch_pairs(numbered, config, 1)
    assert zero == epoch_pairs(numbered, config, 0) != one  # a function of the epoch
    changed = [i for i, (made, pair) in enumerate(zip(zero, raw)) if made != pair]
    assert len(changed) > len(raw) // 3 and all(any(c.isdigit() for c in raw[i][0]) or "Tom" in raw[i][0]
                                                for i in changed)
    assert epoch_pairs(numbered, toy_config(numbered), 0) == raw  # without augmentation: the prepared pairs


def test_a_changed_pair_too_long_for_the_model_keeps_its_prepared_ids(numbered: Path) -> None:
    tokenizer = Tokenizer.from_file(numbered / "spm.model")
    config = toy_config(numbered, subword_sampling=0.9)
    augmentation = make_augmentation(config, numbered, read_manifest(config, shards=True), tokenizer, tokenizer)
    shard = Shard.open(numbered, "train.00000")
    rows = torch.arange(40)
    prepared = BatchMaker(tokenizer, tokenizer, None, SEED, Augmentation())(shard, 0, 0, rows)
    limit = int(prepared.src_lengths.max())  # every prepared pair fits; sampled ones are longer
    sampled = BatchMaker(tokenizer, tokenizer, limit, SEED, augmentation)(shard, 0, 0, rows)
    assert int(sampled.src_lengths.max()) <= limit and int((sampled.gold != 0).sum(1).max()) <= limit
    unlimited = BatchMaker(tokenizer, tokenizer, None, SEED, augmentation)(shard, 0, 0, rows)
    assert int(unlimited.src_lengths.max()) > limit
    shard.close()


# ---------------------------------------------------------------------------------------------
# The loader: boundaries, resuming, processes


def test_an_epoch_visits_every_shard_once_and_ends_on_its_last_update(three_shards: Path) -> None:
    loader = loader_for(three_shards, accumulate=2)
    loader.start(0, 0)
    seen, estimates, ends = [], [], []
    while True:
        run = loader.current
        update = loader.next_update()
        seen.append(run.plan.name)
        estimates.append(loader.batches_in_epoch(0))
        assert run.update < run.updates or run.shard.index is None  # a finished shard's maps are closed
        ends.append(update.ends_epoch)
        if update.ends_epoch:
            break
    loader.close()
    names = list(dict.fromkeys(seen))
    assert sorted(names) == ["train.00000", "train.00001", "train.00002"]
    assert names == [f"train.{n:05d}" for n in shard_order(SEED, 0, 3)]
    assert ends.count(True) == 1 and ends[-1]
    total, exact = estimates[-1]
    assert exact and total == 2 * len(seen)  # every batch of the epoch, 2 per update
    assert not estimates[0][1] and abs(estimates[0][0] - total) <= 0.2 * total  # "~" at first, and close


def test_a_finished_shards_workers_stop_and_its_maps_close(three_shards: Path) -> None:
    """At most the current and the next shard are open, each with train.data_workers processes."""
    loader = loader_for(three_shards, workers=2)
    loader.start(0, 0)
    counts, shards = set(), []
    for _ in range(40):
        shards.append(loader.current.shard)
        loader.next_update()
        counts.add(len(multiprocessing.active_children()))
        assert sum(shard.index is not None for shard in set(shards)) <= 2
    assert len(set(shards)) >= 3 and counts <= {2, 4}
    loader.close()
    assert all(shard.index is None for shard in shards) and not multiprocessing.active_children()


def test_resuming_at_any_update_continues_with_the_same_batches(three_shards: Path) -> None:
    """At the start of every shard and epoch and at every 7th update: as if never stopped."""
    through = updates(loader_for(three_shards, accumulate=2), 60)  # into the third epoch
    epoch, batch_in_epoch, tried = 0, 0, set()
    for step, (_, _, ends, shard) in enumerate(through[:-3]):
        if step % 7 == 0 or shard != through[step - 1][3]:
            assert updates(loader_for(three_shards, accumulate=2), 3, epoch, batch_in_epoch) == through[step:step + 3]
            tried.add((epoch, shard))
        epoch, batch_in_epoch = (epoch + 1, 0) if ends else (epoch, batch_in_epoch + 2)
    assert epoch >= 2 and len(tried) == 3 * epoch + 1


def test_each_process_takes_its_share_of_every_update(three_shards: Path) -> None:
    """2 processes x accumulate 1: rank r gets batch r of each update of 1 process x accumulate 2."""
    whole = updates(loader_for(three_shards, accumulate=2), 40)
    ranks = [updates(loader_for(three_shards, rank=rank, world_size=2), 40) for rank in (0, 1)]
    for step, (batches, *rest) in enumerate(whole):
        assert [ranks[0][step][0][0], ranks[1][step][0][0]] == batches
        assert ranks[0][step][1:] == ranks[1][step][1:] == tuple(rest)


def test_too_few_batches_for_an_update_is_one_line(one_shard: Path, three_shards: Path) -> None:
    with pytest.raises(UserError, match=r"only \d+ batch\(es\) of train.batch_tokens=300, fewer than one update "
                                        r"needs \(train.accumulate 500 x 1 process\(es\)\); lower those"):
        loader_for(one_shard, accumulate=500).start(0, 0)
    with pytest.raises(UserError, match="past the epoch's .* batches"):
        loader_for(one_shard).start(0, 10_000)
    with pytest.raises(UserError, match=r"the 3 training shards make at most \d+ batch\(es\) of train.batch_tokens=300 "
                                        r"each, fewer than one update needs \(train.accumulate 200 x 1"):
        loader_for(three_shards, accumulate=200).start(0, 0)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_damaged_shard_found_by_a_worker_is_one_line(numbered: Path, tmp_path: Path, workers: int) -> None:
    damaged = tmp_path / "data"
    shutil.copytree(numbered, damaged)
    text = bytearray((damaged / "train.00000.src").read_bytes())
    lines = text.split(b"\n")
    first_numbered = next(i for i, line in enumerate(lines) if any(chr(c).isdigit() for c in line))
    start = sum(len(line) + 1 for line in lines[:first_numbered])
    text[start] = 0xFF  # not UTF-8
    (damaged / "train.00000.src").write_bytes(bytes(text))
    loader = loader_for(damaged, workers=workers, number_augmentation=1.0)
    with pytest.raises(UserError) as info:  # found when the shard's augmented rows are made, before its plan
        loader.start(0, 0)
        for _ in range(100):
            loader.next_update()
    loader.close()
    assert str(info.value).count("\n") == 0 and "train.00000.src: damaged training shard" in str(info.value)


def test_training_data_reads_the_manifest(three_shards: Path) -> None:
    config = toy_config(three_shards)
    tokenizer = Tokenizer.from_file(three_shards / "spm.model")
    data = TrainingData(config, three_shards, tokenizer, tokenizer, 10, Distributed())
    shards = read_manifest(config, shards=True)["shards"]
    assert data.pairs == 900 == sum(s["pairs"] for s in shards)
    assert data.signature == [900, sum(s["src_tokens"] for s in shards), sum(s["tgt_tokens"] for s in shards)]
    lines = {side: [line for n in range(3) for line in
                    (three_shards / f"train.{n:05d}.{side}").read_text(encoding="utf-8").splitlines()]
             for side in ("src", "tgt")}
    too_long = sum(max(len(tokenizer.encode(s)), len(tokenizer.encode(t))) + 1 > 10
                   for s, t in zip(lines["src"], lines["tgt"]))
    assert data.n_dropped == too_long > 0
    data.close()
