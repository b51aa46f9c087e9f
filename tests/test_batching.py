"""Token-count batching: flat token arrays, padded tensors, length-bucketed batches."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from seq2seq.data.batching import (
    ParallelCorpus,
    TokenArrays,
    collate,
    encode_corpus,
    epoch_generator,
    make_batches,
    padding_ratio,
)
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID


def random_corpus(n: int, seed: int = 0) -> ParallelCorpus:
    """Pairs with correlated lengths, like real sentence pairs (target ~ source +- a few)."""
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        length = max(1, int(rng.lognormvariate(2.2, 0.5)))
        src.append([rng.randrange(4, 100) for _ in range(length)])
        tgt.append([rng.randrange(4, 100) for _ in range(max(1, length + rng.randint(-3, 3)))])
    return ParallelCorpus(TokenArrays.from_lists(src), TokenArrays.from_lists(tgt))


def test_token_arrays_round_trip_pad_and_select() -> None:
    sequences = [[5, 6], [7], [], [8, 9, 10]]
    arrays = TokenArrays.from_lists(sequences)
    assert arrays.flat.dtype == torch.int32 and len(arrays) == 4
    assert [arrays[i] for i in range(4)] == sequences
    padded = arrays.padded(torch.tensor([3, 1, 2]), 4)
    assert padded.tolist() == [[8, 9, 10, PAD_ID], [7, PAD_ID, PAD_ID, PAD_ID], [PAD_ID] * 4]
    picked = arrays.select(torch.tensor([3, 0, 2]))
    assert [picked[i] for i in range(3)] == [[8, 9, 10], [5, 6], []]
    joined = TokenArrays.concat([arrays, TokenArrays.from_lists([[11, 12]])])
    assert [joined[i] for i in range(5)] == sequences + [[11, 12]]


def test_collate_layout() -> None:
    corpus = ParallelCorpus(TokenArrays.from_lists([[5, 6], [7]]), TokenArrays.from_lists([[11], [12, 13, 14]]))
    batch = collate(corpus, torch.tensor([0, 1]))
    assert batch.src_tokens.tolist() == [[5, 6, EOS_ID], [7, EOS_ID, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 2]
    assert batch.prev_tokens.tolist() == [[BOS_ID, 11, PAD_ID, PAD_ID], [BOS_ID, 12, 13, 14]]
    assert batch.gold.tolist() == [[11, EOS_ID, PAD_ID, PAD_ID], [12, 13, 14, EOS_ID]]
    assert batch.n_tokens == int((batch.gold != PAD_ID).sum()) == 6
    assert batch.src_tokens.dtype == batch.gold.dtype == torch.long


def test_batches_cover_every_pair_once_within_the_token_budget() -> None:
    corpus = random_corpus(3000)
    batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, 300, 20, epoch_generator(1, 0))
    together = torch.cat(batches)
    assert sorted(together.tolist()) == list(range(len(corpus)))
    for indices in batches:
        padded_target = len(indices) * int(corpus.tgt_sizes[indices].max())
        assert padded_target <= 300 or len(indices) == 1


def test_a_sentence_longer_than_the_budget_gets_a_batch_of_its_own() -> None:
    corpus = ParallelCorpus(TokenArrays.from_lists([[5] * 3, [5] * 50, [5] * 2]),
                            TokenArrays.from_lists([[6] * 3, [6] * 60, [6] * 2]))
    batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, 20, 10, epoch_generator(1, 0))
    assert [1] in [b.tolist() for b in batches]


def test_batch_order_is_a_function_of_seed_and_epoch() -> None:
    corpus = random_corpus(2000)

    def order(seed: int, epoch: int) -> list[list[int]]:
        batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, 400, 10, epoch_generator(seed, epoch))
        return [b.tolist() for b in batches]

    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)


def test_bucketing_keeps_padding_small_on_both_sides() -> None:
    corpus = random_corpus(20000)
    batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, 2000, 100, epoch_generator(1, 0))
    assert padding_ratio(corpus.tgt_sizes, batches) < 0.10
    assert padding_ratio(corpus.src_sizes, batches) < 0.10
    # Without pools sorted by length (one batch per pool: only a shuffle) padding is far larger.
    unsorted = make_batches(corpus.src_sizes, corpus.tgt_sizes, 2000, 1, epoch_generator(1, 0))
    assert padding_ratio(corpus.tgt_sizes, unsorted) > 2 * padding_ratio(corpus.tgt_sizes, batches)


def test_padding_on_real_tatoeba_lengths(tatoeba_file) -> None:
    """Word counts of the real corpus (a proxy for piece counts): padding stays under 10 %."""
    src, tgt = [], []
    with open(tatoeba_file, encoding="utf-8") as handle:
        for line in handle:
            columns = line.rstrip("\n").split("\t")
            if len(columns) >= 2:
                tgt.append(len(columns[0].split()) + 1)
                src.append(len(columns[1].split()) + 1)
    src_sizes, tgt_sizes = torch.tensor(src), torch.tensor(tgt)
    batches = make_batches(src_sizes, tgt_sizes, 4000, 100, epoch_generator(1, 0))
    assert padding_ratio(tgt_sizes, batches) < 0.10
    assert padding_ratio(src_sizes, batches) < 0.10


def per_sentence_make_batches(src_sizes, tgt_sizes, batch_tokens, bucket_pool, generator, shuffle=True):
    """make_batches as it was written before, with a Python loop over the sentences (the reference)."""
    n = len(tgt_sizes)
    if n == 0:
        return []
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    tgt = tgt_sizes[order]
    pool = (torch.cumsum(tgt, 0) - 1) // (bucket_pool * batch_tokens) if shuffle else torch.zeros(n, dtype=torch.int64)
    src = src_sizes[order]
    longer = torch.maximum(src, tgt)
    span_t, span_s = int(tgt.max()) + 1, int(src.max()) + 1
    key = ((pool * (int(longer.max()) + 1) + longer) * span_t + tgt) * span_s + src
    by_length = torch.sort(key, stable=True).indices
    order, sizes, pools = order[by_length], tgt[by_length].tolist(), pool[by_length].tolist()
    bounds, longest = [0], 0
    for i, (size, pool_id) in enumerate(zip(sizes, pools)):
        start = bounds[-1]
        grown = max(longest, size)
        if i > start and (pool_id != pools[start] or (i - start + 1) * grown > batch_tokens):
            bounds.append(i)
            grown = size
        longest = grown
    bounds.append(n)
    batches = [order[a:b] for a, b in itertools.pairwise(bounds)]
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def test_batches_are_those_of_the_per_sentence_loop() -> None:
    """One numpy step per batch gives the batches the loop over sentences gave, on random sizes."""
    rng = random.Random(0)
    for trial in range(150):
        n, budget, pool = rng.randint(0, 2000), rng.choice([1, 5, 20, 300, 4000]), rng.choice([1, 3, 100])
        src = torch.randint(1, rng.choice([3, 30, 300]), (n,))
        tgt = torch.randint(1, rng.choice([3, 30, 300]), (n,))
        for shuffle in (True, False):
            ours = make_batches(src, tgt, budget, pool, epoch_generator(trial, 1) if shuffle else None, shuffle)
            theirs = per_sentence_make_batches(src, tgt, budget, pool, epoch_generator(trial, 1) if shuffle else None,
                                               shuffle)
            assert len(ours) == len(theirs), (trial, shuffle)
            assert all(torch.equal(a, b) and a.dtype == torch.int64 for a, b in zip(ours, theirs)), (trial, shuffle)
    corpus = random_corpus(20000)
    assert all(torch.equal(a, b) for a, b in zip(
        make_batches(corpus.src_sizes, corpus.tgt_sizes, 4000, 100, epoch_generator(1, 0)),
        per_sentence_make_batches(corpus.src_sizes, corpus.tgt_sizes, 4000, 100, epoch_generator(1, 0)), strict=True))


def test_validation_batches_are_sorted_and_unshuffled() -> None:
    corpus = random_corpus(500)
    batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, 300, 1, None, shuffle=False)
    maxima = [int(torch.maximum(corpus.src_sizes[b], corpus.tgt_sizes[b]).max()) for b in batches]
    assert maxima == sorted(maxima)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    sentences = [f"le chat {i} mange la souris numéro {i * 7}" for i in range(200)]
    return Tokenizer(train_sentencepiece(sentences, vocab_size=60, model_type="bpe", character_coverage=1.0))


def test_encode_corpus_matches_the_tokenizer(tokenizer: Tokenizer) -> None:
    src = [f"le chat {i} mange" for i in range(120)]
    tgt = [f"la souris numéro {i}" for i in range(120)]
    corpus = encode_corpus(src, tgt, tokenizer, tokenizer, chunk_size=50)  # several chunks
    assert len(corpus) == 120
    for i in (0, 49, 50, 119):
        assert corpus.src[i] == tokenizer.encode(src[i])
        assert corpus.tgt[i] == tokenizer.encode(tgt[i])
    assert corpus.tgt_sizes.tolist() == [len(tokenizer.encode(t)) + 1 for t in tgt]
