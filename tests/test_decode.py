"""Greedy and beam search: exact answers on toy models, agreement on real small models."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.config import DecodeConfig, ModelConfig
from seq2seq.entities import SymbolCounts
from seq2seq.search import Hypothesis, SearchOptions, beam_search, greedy_decode, length_penalty, search
from seq2seq.translator import Translator, pad_sequences, search_ids
from seq2seq.models import build_model
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID

CPU = torch.device("cpu")
A, B, C = 4, 5, 6  # content tokens of the toy vocabularies


def pad(sources: list[list[int]]) -> tuple[Tensor, Tensor]:
    return pad_sequences(sources, CPU)


def greedy_search(model: Seq2SeqModel, src_tokens: Tensor, src_lengths: Tensor, max_lengths) -> list[list[int]]:
    """Greedy decoding of a batch -> one token list per sentence (neither BOS nor EOS).

    min_length=0 here and in the direct calls below that pass it: the plain search, where the
    empty output may win, as the brute-force references and the toy tables' answers assume."""
    return [hyp.tokens for hyp in greedy_decode(model, src_tokens, src_lengths, max_lengths, min_length=0)]


# ---------------------------------------------------------------------------------------------
# Toy models that implement the search interface with known answers


@dataclass
class StepState:
    position: Tensor  # (batch,) long: steps decoded so far

    def index_select(self, order: Tensor) -> "StepState":
        return StepState(self.position.index_select(0, order))


@dataclass(kw_only=True)
class ToyMemory(Memory):
    src_tokens: Tensor  # (batch, src_len)


class TableModel(Seq2SeqModel):
    """log P(next | previous token) = table[previous] (a Markov chain; the source is ignored).

    Records every batch of tokens fed to decode_step, and returns one-hot attention on the
    source position equal to the step number (clipped).
    """

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.dummy = nn.Parameter(torch.zeros(1))
        self.fed: list[list[int]] = []

    def encode(self, src_tokens: Tensor, src_lengths: Tensor) -> ToyMemory:
        mask = torch.arange(src_tokens.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)
        return ToyMemory(src_mask=mask, encoder_out=src_tokens.unsqueeze(2).float(), src_tokens=src_tokens)

    def decode_step(self, memory, state, prev_tokens, need_attention=False):
        self.fed.append(prev_tokens.tolist())
        if state is None:
            state = StepState(torch.zeros(prev_tokens.size(0), dtype=torch.long))
        logits = self.logits(memory, state, prev_tokens)
        attn = None
        if need_attention:
            src_len = memory.src_mask.size(1)
            where = state.position.clamp(max=src_len - 1)
            attn = F.one_hot(where, src_len).float().view(-1, 1, 1, src_len)
        return logits, StepState(state.position + 1), attn

    def logits(self, memory, state, prev_tokens):
        return self.table[prev_tokens]


class CopyModel(TableModel):
    """Emits the source token at the current position (so it copies the source, then EOS)."""

    def __init__(self, vocab: int = 10) -> None:
        super().__init__(torch.zeros(vocab, vocab))

    def logits(self, memory, state, prev_tokens):
        src = memory.src_tokens
        position = state.position.clamp(max=src.size(1) - 1)
        wanted = src.gather(1, position.unsqueeze(1)).squeeze(1)  # the source token (EOS at the end)
        return F.one_hot(wanted, self.table.size(0)).float() * 5.0


def markov_table(vocab: int, rows: dict[int, dict[int, float]]) -> Tensor:
    """log-prob table: rows[prev] = {token: prob}; unlisted tokens share what is left."""
    table = torch.full((vocab, vocab), -1e9)
    for prev in range(vocab):
        probs = rows.get(prev, {})
        rest = [t for t in range(A, vocab) if t not in probs] + ([EOS_ID] if EOS_ID not in probs else [])
        left = max(0.0, 1.0 - sum(probs.values()))
        for token in rest:
            table[prev, token] = math.log(left / len(rest)) if left > 0 else -1e9
        for token, p in probs.items():
            table[prev, token] = math.log(p)
    return table


def brute_force(table: Tensor, max_len: int, alpha: float) -> list[tuple[float, list[int]]]:
    """Every output of at most max_len content tokens, with its penalised score, best first."""
    found = []
    for length in range(max_len + 1):
        for tokens in itertools.product(range(A, table.size(0)), repeat=length):
            log_prob, prev = 0.0, BOS_ID
            for token in tokens:
                log_prob += float(table[prev, token])
                prev = token
            log_prob += float(table[prev, EOS_ID])
            found.append((log_prob / length_penalty(length + 1, alpha), list(tokens)))
    return sorted(found, key=lambda item: -item[0])


# The classic greedy trap: "A" is the likelier first token, but "B EOS" is the likeliest output.
TRAP = markov_table(7, {BOS_ID: {A: 0.55, B: 0.45}, A: {EOS_ID: 0.3, A: 0.25, B: 0.25, C: 0.2},
                        B: {EOS_ID: 0.9, A: 0.05, B: 0.03, C: 0.02}, C: {EOS_ID: 0.5, A: 0.5}})


# ---------------------------------------------------------------------------------------------
# Toy models: exact answers


def test_copy_model_greedy_and_beam_copy_every_sentence_of_a_batch():
    sources = [[4, 5, 6, 7, EOS_ID], [8, EOS_ID], [9, 9, 4, EOS_ID], [EOS_ID]]
    src, lengths = pad(sources)
    expected = [s[:-1] for s in sources]
    assert greedy_search(CopyModel(), src, lengths, 20) == expected
    for beam in (1, 2, 5):
        found = beam_search(CopyModel(), src, lengths, 20, beam, min_length=0)
        assert [hyps[0].tokens for hyps in found] == expected


def test_greedy_falls_into_the_trap_and_beam_does_not():
    src, lengths = pad([[A, EOS_ID]])
    greedy = greedy_decode(TableModel(TRAP), src, lengths, 5)[0]
    assert greedy.tokens == [A]  # the likelier first token, then EOS
    beam = beam_search(TableModel(TRAP), src, lengths, 5, 2)[0][0]
    assert beam.tokens == [B]
    assert beam.score == pytest.approx(math.log(0.45) + math.log(0.9), abs=1e-5)
    assert beam.score > greedy.score


def test_beam_size_1_is_greedy_on_the_trap():
    src, lengths = pad([[A, EOS_ID]] * 3)
    greedy = greedy_decode(TableModel(TRAP), src, lengths, [1, 4, 8], alpha=0.6)
    beam = beam_search(TableModel(TRAP), src, lengths, [1, 4, 8], 1, alpha=0.6)
    assert [h.tokens for h in greedy] == [hyps[0].tokens for hyps in beam]
    assert [h.score for h in greedy] == pytest.approx([hyps[0].score for hyps in beam], abs=1e-5)


@pytest.mark.parametrize("seed,alpha", [(0, 0.0), (1, 0.0), (2, 0.6), (3, 1.5)])
def test_wide_beam_finds_the_exact_n_best_list(seed: int, alpha: float):
    """A beam wider than the number of prefixes is exhaustive search, length penalty or not."""
    generator = torch.Generator().manual_seed(seed)
    vocab, max_len = 7, 3  # 3 content tokens: 27 prefixes of length 3
    table = torch.randn(vocab, vocab, generator=generator) * 2
    table[:, :EOS_ID] = -1e9  # never PAD, UNK, BOS
    table = torch.log_softmax(table, dim=1)
    expected = brute_force(table, max_len, alpha=alpha)[:5]
    src, lengths = pad([[A, EOS_ID], [B, C, EOS_ID]])
    for hyps in beam_search(TableModel(table), src, lengths, max_len, 40, alpha=alpha, n_best=5, min_length=0):
        assert [h.tokens for h in hyps] == [tokens for _, tokens in expected]
        assert [h.score for h in hyps] == pytest.approx([score for score, _ in expected], abs=1e-4)


S1, S2 = 7, 8  # two entity symbols (the same id in source and target here)
SYMBOL_PAIRS = ((S1, S1), (S2, S2))
# Left alone, the model drops a symbol (A EOS) or doubles one (S1 S1 EOS).
SLIPS = markov_table(9, {BOS_ID: {A: 0.5, S1: 0.3, S2: 0.1, B: 0.1}, A: {EOS_ID: 0.6, S1: 0.2, S2: 0.1, B: 0.1},
                         S1: {S1: 0.5, EOS_ID: 0.3, S2: 0.15, A: 0.05}, S2: {EOS_ID: 0.6, S1: 0.25, A: 0.15},
                         B: {EOS_ID: 0.9, A: 0.1}})


def symbol_search(sources: list[list[int]], beam: int, symbols=SYMBOL_PAIRS, n_best: int = 1, max_len: int = 6):
    src, lengths = pad(sources)
    options = SearchOptions(beam_size=beam, n_best=n_best, symbols=symbols)
    return search(TableModel(SLIPS), src, lengths, max_len, options)


def test_every_source_symbol_is_placed_once_neither_dropped_nor_doubled():
    sources = [[S1, A, EOS_ID], [A, EOS_ID], [S2, S1, EOS_ID], [S1, B, S1, EOS_ID]]
    src, lengths = pad(sources)
    assert [h.tokens for h in greedy_decode(TableModel(SLIPS), src, lengths, 6)][:2] == [[A], [A]]  # unconstrained
    for beam in (1, 3, 8):
        outputs = [hyps[0].tokens for hyps in symbol_search(sources, beam)]
        for source, output in zip(sources, outputs):
            assert sorted(t for t in output if t in (S1, S2)) == sorted(t for t in source if t in (S1, S2)), beam
        assert outputs[1] == [A]  # a source without symbols: none in the output
    # the constrained beam search is exact: the best outputs that have each symbol as often as the source
    best = [(score, tokens) for score, tokens in brute_force(SLIPS, 4, alpha=0.0) if sorted(
        t for t in tokens if t in (S1, S2)) == [S1, S2]][:3]
    found = symbol_search([[S2, S1, EOS_ID]], beam=60, n_best=3, max_len=4)[0]
    assert [h.tokens for h in found] == [tokens for _, tokens in best]
    assert [h.score for h in found] == pytest.approx([score for score, _ in best], abs=1e-4)


def test_beam_1_is_greedy_with_symbols_and_the_length_limit_still_ends_a_sentence():
    sources = [[S1, A, EOS_ID], [S2, S1, EOS_ID], [S1, S1, S2, EOS_ID]]
    src, lengths = pad(sources)
    counts = SymbolCounts.of(src, SYMBOL_PAIRS)
    greedy = greedy_decode(TableModel(SLIPS), src, lengths, 6, symbols=counts)
    assert [h.tokens for h in greedy] == [hyps[0].tokens for hyps in symbol_search(sources, 1)]
    cut = symbol_search([[S1, S2, S1, EOS_ID]], 3, max_len=1)[0][0]  # no room for three: the limit wins
    assert len(cut.tokens) == 1


def test_n_best_lists_are_sorted_and_scores_are_penalised_log_probs():
    generator = torch.Generator().manual_seed(3)
    table = torch.randn(8, 8, generator=generator)
    table[:, :EOS_ID] = -1e9
    table = torch.log_softmax(table, dim=1)
    src, lengths = pad([[A, EOS_ID], [A, B, C, EOS_ID]])
    for alpha in (0.0, 0.6, 1.0):
        for hyps in beam_search(TableModel(table), src, lengths, 6, 5, alpha=alpha, n_best=5, min_length=0):
            assert len(hyps) == 5
            scores = [h.score for h in hyps]
            assert scores == sorted(scores, reverse=True)
            for h in hyps:
                log_prob, prev = 0.0, BOS_ID
                for token in h.tokens + [EOS_ID]:
                    log_prob += float(table[prev, token])
                    prev = token
                assert h.score == pytest.approx(log_prob / length_penalty(len(h.tokens) + 1, alpha), abs=1e-4)


def test_length_penalty_reorders_finished_hypotheses():
    # "" (EOS at once) has log-prob log 0.5; "A" has log 0.45 + log 0.99: shorter wins unless
    # the length penalty rewards length enough.
    table = markov_table(6, {BOS_ID: {EOS_ID: 0.5, A: 0.45, B: 0.05}, A: {EOS_ID: 0.99}})
    src, lengths = pad([[A, EOS_ID]])
    plain = beam_search(TableModel(table), src, lengths, 5, 2, alpha=0.0, n_best=2, min_length=0)[0]
    assert [h.tokens for h in plain] == [[], [A]]
    rewarded = beam_search(TableModel(table), src, lengths, 5, 2, alpha=1.5, n_best=2, min_length=0)[0]
    assert [h.tokens for h in rewarded] == [[A], []]
    assert rewarded[0].score == pytest.approx((math.log(0.45) + math.log(0.99)) / length_penalty(2, 1.5))


def test_length_penalty_can_prefer_a_longer_output_found_later():
    """EOS comes first with the best log-prob, but "A EOS" wins once penalised: the search must
    not stop at the first finished hypothesis when a live one can still overtake it."""
    table = markov_table(6, {BOS_ID: {EOS_ID: 0.52, A: 0.48}, A: {EOS_ID: 0.99}})
    src, lengths = pad([[A, EOS_ID]])
    assert beam_search(TableModel(table), src, lengths, 5, 2, alpha=0.0, min_length=0)[0][0].tokens == []
    best = beam_search(TableModel(table), src, lengths, 5, 2, alpha=1.0, min_length=0)[0][0]
    assert best.tokens == [A]
    assert best.score == pytest.approx((math.log(0.48) + math.log(0.99)) / length_penalty(2, 1.0))
    # greedy (and a beam of one) stops at the first EOS
    assert beam_search(TableModel(table), src, lengths, 5, 1, alpha=1.0, min_length=0)[0][0].tokens == []


# The empty output is likeliest, but "A B" wins once scores are divided by length ** 3; a search
# that ends a sentence before it could see "A B" end (lookahead 0 at step 1) returns the empty one.
LATE_WINNER = markov_table(7, {BOS_ID: {EOS_ID: 0.9, A: 0.1}, A: {B: 1.0}, B: {EOS_ID: 1.0}})


@pytest.mark.parametrize("lookahead,tokens,steps", [(None, [A, B], 3), (4, [A, B], 3), (1, [A, B], 3), (0, [], 1)])
def test_the_stop_lookahead_misses_only_what_it_cannot_see(lookahead, tokens, steps):
    """A sentence is done once its best finished hypothesis beats what a live one could score if
    it ended within `lookahead` more pieces: at step 1 the empty output (log 0.9 / 1) beats "A"
    ending in 1 more piece (log 0.1 / 2 ** 3) but not in 2 ("A B": log 0.1 / 3 ** 3)."""
    src, lengths = pad([[A, EOS_ID]])
    model = TableModel(LATE_WINNER)
    best = beam_search(model, src, lengths, 10, 3, alpha=3.0, penalty="length", min_length=0,
                       stop_lookahead=lookahead)[0][0]
    assert (best.tokens, len(model.fed)) == (tokens, steps)
    one = beam_search(TableModel(LATE_WINNER), src, lengths, 10, 1, alpha=3.0, penalty="length", min_length=0,
                      stop_lookahead=lookahead)[0][0]
    assert one.tokens == greedy_decode(TableModel(LATE_WINNER), src, lengths, 10, alpha=3.0, penalty="length",
                                       min_length=0)[0].tokens == [], "a beam of one is greedy whatever the lookahead"


def test_the_stop_lookahead_ends_a_sentence_sooner_with_the_same_n_best():
    """"A C" is likeliest; "A C D ..." stays likely enough that the exact bound (length-normalised
    scores may still improve up to the limit) keeps searching for 19 steps; with a lookahead the
    search stops when nothing could beat the n best within it, with the same 2 best."""
    table = markov_table(9, {BOS_ID: {A: 0.9}, A: {C: 0.9}, C: {EOS_ID: 0.6, 7: 0.4}})
    src, lengths = pad([[A, EOS_ID]])
    found = {}
    for lookahead in (None, 8, 2):
        model = TableModel(table)
        hyps = beam_search(model, src, lengths, 30, 4, alpha=1.0, penalty="length", n_best=2, stop_lookahead=lookahead)
        found[lookahead] = ([(h.tokens, round(h.score, 4)) for h in hyps[0]], len(model.fed))
    assert [steps for _, steps in found.values()] == [19, 15, 8]
    assert found[None][0] == found[8][0] == found[2][0] == [([A, C], pytest.approx(math.log(0.9 * 0.9 * 0.6) / 3, abs=1e-4)),
                                                            ([A, C, 7, A, C], pytest.approx(-0.589, abs=1e-3))]


def test_the_stop_lookahead_reaches_the_search_from_the_decode_settings():
    assert DecodeConfig().stop_lookahead == 2
    options = []
    translator = Translator(CopyModel(), DigitTokenizer(), DigitTokenizer(),
                            DecodeConfig(beam_size=2, stop_lookahead=None, split_sentences=False))
    translator._search = lambda sources, bounds, opts: options.append(opts) or [[Hypothesis([], 0.0)] for _ in sources]
    translator.translate("4 5")
    translator.settings = DecodeConfig(beam_size=2, split_sentences=False)
    translator.translate("4 5")
    assert [o.stop_lookahead for o in options] == [None, 2]


def test_max_length_is_respected_per_sentence():
    sources = [[4, 5, 6, 7, 8, 9, EOS_ID], [4, 5, 6, 7, 8, 9, EOS_ID], [4, 5, EOS_ID]]
    src, lengths = pad(sources)
    max_lengths = [3, 0, 10]
    assert greedy_search(CopyModel(), src, lengths, max_lengths) == [[4, 5, 6], [], [4, 5]]
    for beam in (1, 3):
        found = beam_search(CopyModel(), src, lengths, max_lengths, beam, n_best=min(beam, 2))
        assert [hyps[0].tokens for hyps in found] == [[4, 5, 6], [], [4, 5]]
        assert all(len(h.tokens) <= n for hyps, n in zip(found, max_lengths) for h in hyps)


def test_finished_hypotheses_are_not_extended():
    """Once a hypothesis ends with EOS it is never fed back; finished sentences leave the batch."""
    sources = [[4, EOS_ID], [4, 5, 6, 7, 8, EOS_ID]]
    src, lengths = pad(sources)
    model = CopyModel()
    greedy_search(model, src, lengths, 20)
    assert all(EOS_ID not in fed for fed in model.fed)
    assert [len(fed) for fed in model.fed] == [2, 2, 1, 1, 1, 1]  # the short sentence left after step 2

    model = TableModel(TRAP)
    found = beam_search(model, src, lengths, 6, 3, n_best=3)
    assert all(EOS_ID not in fed for fed in model.fed)
    assert all(EOS_ID not in h.tokens and BOS_ID not in h.tokens for hyps in found for h in hyps)


def test_tiny_vocabulary_narrower_than_the_beam():
    table = markov_table(5, {BOS_ID: {A: 0.7, EOS_ID: 0.3}, A: {A: 0.6, EOS_ID: 0.4}})
    src, lengths = pad([[A, EOS_ID]])
    hyps = beam_search(TableModel(table), src, lengths, 3, 4, n_best=4, min_length=0)[0]
    assert [h.tokens for h in hyps] == [[], [A], [A, A], [A, A, A]]


def test_attention_is_returned_per_hypothesis():
    src, lengths = pad([[4, 5, 6, EOS_ID], [7, EOS_ID]])
    for found in (beam_search(CopyModel(), src, lengths, 10, 2, need_attention=True),
                  [[h] for h in greedy_decode(CopyModel(), src, lengths, 10, need_attention=True)]):
        for hyps, length in zip(found, (4, 2)):
            attention = hyps[0].attention
            assert attention.shape == (len(hyps[0].tokens) + 1, 1, 1, length)
            # the toy attends to the source position of the step
            assert attention[:, 0, 0].argmax(dim=1).tolist() == list(range(length))


# ---------------------------------------------------------------------------------------------
# Real small models


class EosBiased(Seq2SeqModel):
    """A real model whose EOS score depends on the previous token, so that random weights end
    sentences at various lengths: EOS scores `eos_margin[prev]` above the best other token."""

    def __init__(self, model: Seq2SeqModel, vocab: int) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("eos_margin", torch.randn(vocab, generator=torch.Generator().manual_seed(4)) - 1.0)

    def encode(self, src_tokens, src_lengths):
        return self.model.encode(src_tokens, src_lengths)

    def decode_step(self, memory, state, prev_tokens, need_attention=False):
        logits, state, attn = self.model.decode_step(memory, state, prev_tokens, need_attention)
        eos = logits.max(dim=1).values + self.eos_margin[prev_tokens]
        return logits.index_put((torch.arange(logits.size(0)), torch.full_like(prev_tokens, EOS_ID)), eos), state, attn

    def reorder(self, memory, state, order):
        return self.model.reorder(memory, state, order)


SMALL_CONFIGS = {
    "transformer": ModelConfig(type="transformer", d_model=32, heads=4, ff_size=64, encoder_layers=2,
                               decoder_layers=2, dropout=0.0),
    "lstm": ModelConfig(type="rnn", embedding_dim=32, hidden_size=32, encoder_layers=2, decoder_layers=2),
    "gru-no-attention": ModelConfig(type="rnn", rnn_cell="gru", embedding_dim=32, hidden_size=32,
                                    attention="none", input_feeding=False),
}


def random_sources(count: int, vocab: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (count,), generator=generator).tolist()
    return [torch.randint(4, vocab, (n,), generator=generator).tolist() + [EOS_ID] for n in lengths]


def biased_model(name: str, vocab: int = 40) -> Seq2SeqModel:
    torch.manual_seed(0)
    model = build_model(SMALL_CONFIGS[name], vocab, vocab, True)
    with torch.no_grad():  # larger weights: outputs that depend more on the input
        for parameter in model.parameters():
            parameter.mul_(2.0)
    return EosBiased(model, vocab).eval()


@pytest.mark.parametrize("name", list(SMALL_CONFIGS))
def test_real_models_beam_1_is_greedy_and_batching_changes_nothing(name: str):
    model = biased_model(name)
    sources = random_sources(9, 40, seed=1)
    src, lengths = pad(sources)
    max_lengths = [len(s) + 6 for s in sources]
    greedy = greedy_search(model, src, lengths, max_lengths)
    assert len({len(tokens) for tokens in greedy}) > 2, "the EOS bias should give various lengths"
    beam_1 = beam_search(model, src, lengths, max_lengths, 1, min_length=0)
    assert [hyps[0].tokens for hyps in beam_1] == greedy

    one_by_one = [greedy_search(model, *pad([s]), [n])[0] for s, n in zip(sources, max_lengths)]
    assert one_by_one == greedy

    beam_4 = beam_search(model, src, lengths, max_lengths, 4, alpha=0.6, n_best=3, min_length=0)
    alone = [beam_search(model, *pad([s]), [n], 4, alpha=0.6, n_best=3, min_length=0)[0]
             for s, n in zip(sources, max_lengths)]
    assert [[h.tokens for h in hyps] for hyps in beam_4] == [[h.tokens for h in hyps] for hyps in alone]
    for batched, single in zip(beam_4, alone):
        assert [h.score for h in batched] == pytest.approx([h.score for h in single], abs=1e-4)
        assert [h.score for h in batched] == sorted((h.score for h in batched), reverse=True)


def test_search_ids_restores_input_order_and_batches_by_tokens():
    model = biased_model("transformer")
    sources = random_sources(15, 40, seed=2)
    max_lengths = [len(s) + 3 for s in sources]
    reference = [greedy_search(model, *pad([s]), [n])[0] for s, n in zip(sources, max_lengths)]
    for batch_tokens in (1, 25, 10_000):
        found = search_ids(model, sources, max_lengths, SearchOptions(beam_size=1), batch_tokens=batch_tokens)
        assert [hyps[0].tokens for hyps in found] == reference
    beam = search_ids(model, sources, max_lengths, SearchOptions(beam_size=3, n_best=2), batch_tokens=30)
    assert all(len(hyps) == 2 for hyps in beam)


# A small Transformer trained here (a few seconds) to reverse sequences of 2-6 symbols.
REVERSE_VOCAB = 14


def reverse_batch(count: int, generator: torch.Generator) -> tuple[list[list[int]], list[list[int]]]:
    lengths = torch.randint(2, 7, (count,), generator=generator).tolist()
    sources = [torch.randint(4, REVERSE_VOCAB, (n,), generator=generator).tolist() for n in lengths]
    return sources, [s[::-1] for s in sources]


@pytest.fixture(scope="module")
def reverser() -> Seq2SeqModel:
    torch.manual_seed(0)
    cfg = ModelConfig(type="transformer", d_model=64, heads=4, ff_size=128, encoder_layers=1,
                      decoder_layers=1, dropout=0.0)
    model = build_model(cfg, REVERSE_VOCAB, REVERSE_VOCAB, True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        sources, targets = reverse_batch(64, generator)
        src, lengths = pad([s + [EOS_ID] for s in sources])
        prev, _ = pad([[BOS_ID] + t for t in targets])
        gold, _ = pad([t + [EOS_ID] for t in targets])
        logits = model(src, lengths, prev)
        loss = F.cross_entropy(logits.reshape(-1, REVERSE_VOCAB), gold.reshape(-1), ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_trained_reverser_beam_search_finds_the_reversed_sequence(reverser: Seq2SeqModel):
    sources, targets = reverse_batch(60, torch.Generator().manual_seed(7))
    src, lengths = pad([s + [EOS_ID] for s in sources])
    found = beam_search(reverser, src, lengths, 10, 5, alpha=0.6, n_best=3)
    correct = sum(hyps[0].tokens == t for hyps, t in zip(found, targets))
    assert correct >= 0.9 * len(targets)
    for hyps in found:
        assert len(hyps) == 3
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 3  # distinct hypotheses
    greedy = greedy_search(reverser, src, lengths, 10)
    beam_1 = beam_search(reverser, src, lengths, 10, 1, min_length=0)
    assert [hyps[0].tokens for hyps in beam_1] == greedy
    alone = [beam_search(reverser, *pad([s + [EOS_ID]]), 10, 5, alpha=0.6, n_best=3)[0] for s in sources[:20]]
    assert [[h.tokens for h in hyps] for hyps in alone] == [[h.tokens for h in hyps] for hyps in found[:20]]


class DigitTokenizer:
    """Text '4 5 6' <-> ids [4, 5, 6] (a stand-in for SentencePiece)."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [[int(t) for t in text.split()] for text in texts]

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))


def test_translate_sentences_end_to_end(reverser: Seq2SeqModel, capsys):
    reverser.train()
    sentences = ["4 5 6", "", "   ", "7 8 9 10 11", "12 13"]
    translator = Translator(reverser, DigitTokenizer(), DigitTokenizer(), DecodeConfig(beam_size=3))
    found = [result.hypotheses for result in translator.translate_batch(sentences, n_best=2, batch_tokens=8)]
    assert reverser.training, "the model's mode is restored"
    assert [hyps[0].text for hyps in found] == ["6 5 4", "", "", "11 10 9 8 7", "13 12"]
    assert [len(hyps) for hyps in found] == [2, 1, 1, 2, 2]
    assert isinstance(found[1][0], Hypothesis) and found[1][0].tokens == []
    greedy = Translator(reverser, DigitTokenizer(), DigitTokenizer(), DecodeConfig()).translate(sentences, beam=1)
    assert greedy == ["6 5 4", "", "", "11 10 9 8 7", "13 12"]

    # longer than the positional encodings allow: truncated with a warning, not a crash
    reverser.cfg.max_positions, saved = 16, reverser.cfg.max_positions
    try:
        long_input = " ".join(["4"] * 100)
        out = translator.translate_batch([long_input, "5 6"], beam=2, max_len=200)
    finally:
        reverser.cfg.max_positions = saved
    assert "truncated" in capsys.readouterr().err
    assert len(out[0].best.tokens) <= 15 and out[1].text == "6 5"


# ---------------------------------------------------------------------------------------------
# Length normalisation and the minimum length (issue 11: beam output was too short)


def test_length_penalty_arithmetic():
    assert length_penalty(7, 0.0) == 1.0 and length_penalty(7, 0.0, "length") == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)  # GNMT: (5 + 7) / 6
    assert length_penalty(7, 0.6) == pytest.approx(2.0 ** 0.6)
    assert length_penalty(7, 1.0, "length") == 7.0  # the mean log-probability per token
    assert length_penalty(4, 1.5, "length") == pytest.approx(8.0)


def brute_force_by_length(table: Tensor, max_len: int, alpha: float) -> list[tuple[float, list[int]]]:
    """brute_force with plain length normalisation and no empty output (min_length 1)."""
    found = [(score * length_penalty(len(tokens) + 1, alpha) / length_penalty(len(tokens) + 1, alpha, "length"),
              tokens) for score, tokens in brute_force(table, max_len, alpha) if tokens]
    return sorted(found, key=lambda item: -item[0])


@pytest.mark.parametrize("seed,alpha", [(4, 0.6), (5, 1.0), (6, 1.5)])
def test_wide_beam_is_exact_with_length_normalisation_and_a_minimum_length(seed: int, alpha: float):
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(7, 7, generator=generator) * 2
    table[:, :EOS_ID] = -1e9
    table[BOS_ID, EOS_ID] = 2.0  # the empty output is by far the likeliest: it must never come back
    table = torch.log_softmax(table, dim=1)
    expected = brute_force_by_length(table, 3, alpha)[:5]
    src, lengths = pad([[A, EOS_ID], [B, C, EOS_ID]])
    for hyps in beam_search(TableModel(table), src, lengths, 3, 40, alpha=alpha, n_best=5, penalty="length",
                            min_length=1):
        assert [h.tokens for h in hyps] == [tokens for _, tokens in expected]
        assert [h.score for h in hyps] == pytest.approx([score for score, _ in expected], abs=1e-4)


def test_the_output_is_never_empty_unless_the_length_limit_says_so():
    # EOS first has probability 0.9: plain search returns the empty output, min_length 1 does not
    table = markov_table(6, {BOS_ID: {EOS_ID: 0.9, A: 0.1}, A: {EOS_ID: 0.99}})
    src, lengths = pad([[A, EOS_ID], [A, EOS_ID]])
    assert [h.tokens for h in greedy_decode(TableModel(table), src, lengths, [5, 5], min_length=0)] == [[], []]
    for options in (SearchOptions(beam_size=1), SearchOptions(beam_size=3, alpha=1.0, penalty="length")):
        from seq2seq.search import search

        found = search(TableModel(table), src, lengths, [5, 0], options)
        assert [hyps[0].tokens for hyps in found] == [[A], []]  # a limit of 0 tokens still ends at once
        assert math.isfinite(found[1][0].score)


def test_min_length_has_one_default_everywhere():
    """Without min_length, the direct calls and SearchOptions (the translator's) search alike."""
    import inspect

    from seq2seq.search import MIN_LENGTH

    assert MIN_LENGTH == 1 and SearchOptions().min_length == MIN_LENGTH
    for function in (greedy_decode, beam_search):
        assert inspect.signature(function).parameters["min_length"].default == MIN_LENGTH
    table = markov_table(6, {BOS_ID: {EOS_ID: 0.9, A: 0.1}, A: {EOS_ID: 0.99}})
    src, lengths = pad([[A, EOS_ID]])
    assert greedy_decode(TableModel(table), src, lengths, 5)[0].tokens == [A]
    assert beam_search(TableModel(table), src, lengths, 5, 3)[0][0].tokens == [A]


def test_length_normalisation_lengthens_beam_output_on_a_model_that_prefers_short_ones():
    # "A EOS" beats "A A A A EOS" in total log-probability (log .9 + log .2 > log .9 + 3 log .8 +
    # log .2) but not per token (-0.86 < -0.48)
    table = markov_table(6, {BOS_ID: {A: 0.9}, A: {EOS_ID: 0.2, A: 0.8}})
    src, lengths = pad([[A, EOS_ID]])
    short = beam_search(TableModel(table), src, lengths, 4, 4, alpha=0.0, min_length=1)[0][0]
    long = beam_search(TableModel(table), src, lengths, 4, 4, alpha=1.0, penalty="length", min_length=1)[0][0]
    assert (len(short.tokens), len(long.tokens)) == (1, 4)
