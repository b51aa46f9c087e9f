"""Search: greedy and batched beam search over any model with `encode` / `decode_step`.

Tensors in, token ids and scores out: no text, no files, no batching of sentences (that is the
translator's job). `search` is the one entry point; `SearchOptions` chooses the strategy.

Both strategies decode a whole batch of sentences together with the model's incremental state,
one `decode_step` per output position, and drop sentences from the batch as soon as they are
finished (so one long sentence does not keep the whole batch busy).

Conventions (see `seq2seq.special_tokens`):

* the source is pieces + [EOS], right-padded with PAD; the first decoder input is BOS;
* a hypothesis ends with EOS; the token lists returned here hold neither BOS nor EOS;
* `max_lengths[i]` is the largest number of tokens (EOS not counted) sentence i may get: at
  step `max_lengths[i] + 1` only EOS is allowed;
* scores are sums of log-probabilities divided by a length penalty lp(|Y|), |Y| counting the
  EOS, of one of two kinds (`penalty`) and weight `alpha`: GNMT's ((5 + |Y|) / 6) ** alpha
  (Wu et al., 2016) or plain length normalisation |Y| ** alpha (alpha 1: the average
  log-probability per token; CTranslate2's rule);
* no hypothesis ends before `min_length` tokens (MIN_LENGTH, 1: a model that gives the empty
  output a high probability would otherwise win every long sentence with it);
* a hypothesis `must_end` (only EOS may follow) at its length limit or when it repeats itself;
* with `no_repeat_ngram` n, no hypothesis repeats an n-gram of pieces (the piece that would is blocked),
  and with `max_piece_run` k none has one piece more than k times in a row;
* with `symbols` (placeholder pieces: seq2seq/entities/), every symbol of the source appears
  in the output as often as in the source, no more and no less: a symbol is not an output once
  placed (nor ever, when the source has none), and EOS is not one while a symbol is missing,
  unless the hypothesis must end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import Tensor

from seq2seq.models.base import Seq2SeqModel
from seq2seq.entities import SymbolCounts
from seq2seq.search_rules import NEG_INF, apply_rules_, log_probs_of
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID

PenaltyKind = Literal["gnmt", "length"]
MIN_LENGTH = 1  # tokens before EOS may come, unless the length limit ends the hypothesis sooner


@dataclass
class Hypothesis:
    """One output of the search for one source sentence."""

    tokens: list[int]  # target piece ids, without BOS and EOS
    score: float  # log P(tokens + EOS | source) / lp(len(tokens) + 1)
    # encoder-decoder attention of every output step, EOS included:
    # (len(tokens) + 1, layers, heads, src_len), or None (not asked for, or no attention)
    attention: Tensor | None = None


@dataclass
class SearchOptions:
    """How to search: greedy when beam_size is 1, beam search otherwise."""

    beam_size: int = 1
    alpha: float = 0.0  # the length penalty's weight, its exponent (0 = plain sum of log-probabilities)
    penalty: PenaltyKind = "gnmt"  # the length penalty's kind: ((5 + |Y|) / 6) ** alpha, or |Y| ** alpha
    min_length: int = MIN_LENGTH  # tokens before the EOS may come
    n_best: int = 1  # hypotheses returned per sentence (at most beam_size)
    need_attention: bool = False  # keep the encoder-decoder attention of every step
    # A hypothesis that repeats itself (see `repeating`) must end there (0: never): stops
    # "house house house ..." running to the length limit.
    max_repeats: int = 0
    # No hypothesis repeats an n-gram of this many pieces (0: no blocking): see repetition.py.
    no_repeat_ngram: int = 0
    # No piece stands more than this many times in a row (0: no limit): see repetition.py.
    max_piece_run: int = 0
    # True: max_lengths cut translations short (a cut hypothesis is scored without its forced
    # EOS, as greedy search would print its prefix); False: they are a safety bound and the
    # forced EOS counts with the model's probability.
    cut_at_max_len: bool = False
    # (source id, target id) of each placeholder symbol: each symbol of a source is placed in
    # its output exactly as often as the source has it (a name is never dropped nor doubled).
    symbols: tuple[tuple[int, int], ...] = ()
    # Beam search with a length penalty (alpha > 0) ends a sentence once its n best finished
    # hypotheses beat what any live one could score if it ended within this many more pieces
    # (None: up to its length limit, the exact bound; see `_Beams.reachable`).
    stop_lookahead: int | None = None


def search(model: Seq2SeqModel, src_tokens: Tensor, src_lengths: Tensor,
           max_lengths: Tensor | Sequence[int] | int, options: SearchOptions) -> list[list[Hypothesis]]:
    """Decode a batch: per sentence up to options.n_best hypotheses, best first.

    src_tokens: (batch, src_len) long; src_lengths: (batch,) long (EOS included);
    max_lengths: (batch,) or an int, tokens allowed before the EOS.
    """
    limits = {"max_repeats": options.max_repeats, "no_repeat_ngram": options.no_repeat_ngram,
              "max_piece_run": options.max_piece_run,
              "cut_at_max_len": options.cut_at_max_len,
              "penalty": options.penalty, "min_length": options.min_length,
              "symbols": SymbolCounts.of(src_tokens, options.symbols)}
    if options.beam_size == 1:
        found = greedy_decode(model, src_tokens, src_lengths, max_lengths, alpha=options.alpha,
                              need_attention=options.need_attention, **limits)
        return [[hyp] for hyp in found]
    return beam_search(model, src_tokens, src_lengths, max_lengths, options.beam_size, alpha=options.alpha,
                       n_best=options.n_best, need_attention=options.need_attention,
                       stop_lookahead=options.stop_lookahead, **limits)


def length_penalty(length: int | Tensor, alpha: float, penalty: PenaltyKind = "gnmt") -> float | Tensor:
    """lp(length) of kind `penalty`: GNMT's ((5 + length) / 6) ** alpha, or length ** alpha; 1 when alpha is 0."""
    if penalty == "length":
        return length ** alpha
    return ((5.0 + length) / 6.0) ** alpha


def _as_lengths(max_lengths: Tensor | Sequence[int] | int, batch: int) -> Tensor:
    """An int, a sequence or a tensor of maximum lengths -> (batch,) long tensor."""
    if isinstance(max_lengths, int):
        return torch.full((batch,), max_lengths, dtype=torch.long)
    return torch.as_tensor(max_lengths, dtype=torch.long).reshape(batch).cpu()


# ---------------------------------------------------------------------------------------------
# Greedy search


@torch.inference_mode()
def greedy_decode(model: Seq2SeqModel, src_tokens: Tensor, src_lengths: Tensor,
                  max_lengths: Tensor | Sequence[int] | int, *, alpha: float = 0.0, need_attention: bool = False,
                  max_repeats: int = 0, cut_at_max_len: bool = False, penalty: PenaltyKind = "gnmt",
                  min_length: int = MIN_LENGTH, symbols: SymbolCounts | None = None,
                  no_repeat_ngram: int = 0, max_piece_run: int = 0) -> list[Hypothesis]:
    """Pick the most probable token at every step, for a whole batch at once.

    src_tokens: (batch, src_len) long; src_lengths: (batch,) long (EOS included);
    max_lengths: (batch,) or an int, tokens allowed before the EOS.
    Returns one Hypothesis per sentence (score with length penalty `alpha`; attention
    (tgt_len + 1, layers, heads, src_len) when need_attention and the model has attention).
    Finished sentences leave the batch; decoding stops when every sentence is finished.
    max_repeats, no_repeat_ngram, max_piece_run, cut_at_max_len, penalty and min_length: see SearchOptions;
    symbols: its counts.
    """
    batch = src_tokens.size(0)
    device = src_tokens.device
    max_len = _as_lengths(max_lengths, batch).to(device)
    memory = model.encode(src_tokens, src_lengths)
    state = None

    sentence_ids = torch.arange(batch, device=device)  # (active,) original row of each sentence
    prev_tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    history = torch.empty((batch, 0), dtype=torch.long, device=device)  # (active, step - 1)
    log_prob_sums = torch.zeros(batch, device=device)  # (active,)
    attn_history: list[Tensor] | None = [] if need_attention else None
    results: list[Hypothesis | None] = [None] * batch

    step = 0
    while sentence_ids.numel():
        step += 1
        logits, state, attn = model.decode_step(memory, state, prev_tokens, need_attention)
        log_probs = log_probs_of(logits)  # (active, vocab)
        must_end = apply_rules_(log_probs, step, step > max_len, history, sentence_ids, min_length, max_repeats,
                                 cut_at_max_len, symbols, no_repeat_ngram, max_piece_run)
        best_log_probs, tokens = log_probs.max(dim=-1)  # (active,)
        tokens = tokens.masked_fill(must_end, EOS_ID)  # (the row ends even where EOS has probability 0)
        log_prob_sums += best_log_probs
        if attn_history is not None and attn is not None:
            attn_history.append(attn.float())

        ended = tokens == EOS_ID
        if bool(ended.any()):
            rows = ended.nonzero().squeeze(1)
            scores = (log_prob_sums[rows] / length_penalty(step, alpha, penalty)).tolist()
            for row, sentence, token_list, score in zip(
                    rows.tolist(), sentence_ids[rows].tolist(), history[rows].tolist(), scores):
                attention = None
                if attn_history:
                    length = int(src_lengths[sentence])
                    attention = torch.stack([a[row] for a in attn_history])[..., :length]
                results[sentence] = Hypothesis(token_list, score, attention)
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            memory, state = model.reorder(memory, state, keep)
            sentence_ids, max_len, tokens = sentence_ids[keep], max_len[keep], tokens[keep]
            history, log_prob_sums = history[keep], log_prob_sums[keep]
            if attn_history:
                attn_history = [a[keep] for a in attn_history]
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
        prev_tokens = tokens
    return results  # type: ignore[return-value]  # every sentence ends by max_len + 1


# ---------------------------------------------------------------------------------------------
# Beam search


@dataclass
class _Candidates:
    """The best continuations of each active sentence, best first: (active, n) each."""

    scores: Tensor  # log-probabilities of the whole hypothesis
    tokens: Tensor  # the token that extends it
    origins: Tensor  # which of the sentence's live hypotheses (0 .. width - 1) it extends
    is_eos: Tensor  # tokens == EOS


@dataclass
class _Beams:
    """The live hypotheses of the sentences still being decoded: `width` rows per sentence."""

    sentence_ids: Tensor  # (active,) original row of each sentence
    max_len: Tensor  # (active,) tokens allowed before the EOS
    nth_best: Tensor  # (active,) n_best-th best finished score (-inf while there are fewer)
    scores: Tensor  # (active, width) log-probabilities of the live hypotheses
    history: Tensor  # (active * width, step - 1) their tokens
    attention: Tensor | None  # (active * width, step - 1, layers, heads, src_len)
    width: int

    def candidates(self, log_probs: Tensor, beam: int) -> _Candidates:
        """The 2 * beam best continuations of each sentence over all its hypotheses.

        log_probs: (active * width, vocab) of the next token.
        """
        active, vocab = self.sentence_ids.numel(), log_probs.size(-1)
        totals = log_probs.view(active, self.width, vocab).add_(self.scores.unsqueeze(2))
        totals = totals.view(active, self.width * vocab)
        scores, indices = totals.topk(min(2 * beam, self.width * vocab), dim=1)
        origins = torch.div(indices, vocab, rounding_mode="floor")
        tokens = indices - origins * vocab
        return _Candidates(scores, tokens, origins, tokens == EOS_ID)

    def finish(self, top: _Candidates, beam: int, lp: float, n_best: int,
               src_lengths: Tensor, finished: list[list[Hypothesis]]) -> None:
        """EOS among the first `beam` candidates: a finished hypothesis (never extended), its score
        divided by `lp`, the length penalty of this step."""
        ends = top.is_eos[:, :beam] & torch.isfinite(top.scores[:, :beam])
        if not bool(ends.any()):
            return
        where = ends.nonzero()  # (n, 2): (sentence, rank) pairs
        sent, rank = where[:, 0], where[:, 1]
        rows = sent * self.width + top.origins[sent, rank]
        scores = (top.scores[sent, rank] / lp).tolist()
        touched: set[int] = set()
        for a, row, token_list, score in zip(sent.tolist(), rows.tolist(), self.history[rows].tolist(), scores):
            sentence = int(self.sentence_ids[a])
            attention = None
            if self.attention is not None:
                attention = self.attention[row, ..., :int(src_lengths[sentence])].clone()
            finished[sentence].append(Hypothesis(token_list, score, attention))
            touched.add(a)
        for a in touched:
            done_scores = sorted((h.score for h in finished[int(self.sentence_ids[a])]), reverse=True)
            if len(done_scores) >= n_best:
                self.nth_best[a] = done_scores[n_best - 1]

    def advance(self, live: _Candidates, done: Tensor) -> tuple[Tensor, Tensor]:
        """Make `live` ((active, width') from `_next_hypotheses`) the hypotheses; done sentences leave.

        done: (active,) bool. Returns the rows of the old hypotheses that the new ones extend
        ((active' * width',) long, for `model.reorder`) and the tokens they add
        ((active' * width',) long, the next decoder input).
        """
        scores, tokens, origins = live.scores, live.tokens, live.origins
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            self.sentence_ids, self.max_len = self.sentence_ids[keep], self.max_len[keep]
            self.nth_best = self.nth_best[keep]
            scores, tokens, origins = scores[keep], tokens[keep], origins[keep]
            first_rows = keep * self.width
        else:
            first_rows = torch.arange(0, done.numel() * self.width, self.width, device=done.device)
        order = (first_rows.unsqueeze(1) + origins).view(-1)  # (active' * width',)
        self.history = torch.cat([self.history[order], tokens.view(-1, 1)], dim=1)
        if self.attention is not None:
            self.attention = self.attention[order]
        self.scores, self.width = scores, scores.size(1)
        return order, tokens.view(-1)

    def reachable(self, live_scores: Tensor, alpha: float, beam: int, step: int, penalty: PenaltyKind,
                  lookahead: int | None) -> Tensor:
        """(active,) the best penalised score a live hypothesis (log-prob `live_scores`, `step` pieces) can reach.

        Further tokens only lower a log-probability; with alpha > 0 the penalty may still grow, up to
        lp(max_len + 1): that bound is exact (a wide enough beam returns the true n best), but it
        keeps almost every sentence to its length limit. With a `lookahead` k the hypothesis is
        assumed to end within k more pieces, lp(step + k + 1): on the Tatoeba dev split k = 2 left
        1,997 of 2,000 outputs as the exact bound gives them for 25 % fewer decoder rows
        (docs/decoding.md). A beam of one keeps no alternatives: it stops like greedy search.
        """
        if alpha > 0 and beam > 1:
            longest = self.max_len.float() + 1.0
            if lookahead is not None:
                longest = longest.clamp(max=float(step + lookahead + 1))
            return live_scores / length_penalty(longest, alpha, penalty)
        return live_scores / length_penalty(step, alpha, penalty)


def _next_hypotheses(top: _Candidates, beam: int) -> _Candidates:
    """The first `beam` candidates of each sentence that do not end with EOS: (active, beam).

    With a tiny vocabulary there can be fewer; those places get score -inf and token PAD.
    """
    n_candidates = top.scores.size(1)
    positions = torch.arange(n_candidates, device=top.scores.device)
    order_key = top.is_eos.long() * n_candidates + positions
    live = order_key.topk(min(beam, n_candidates), dim=1, largest=False).indices
    scores, tokens = top.scores.gather(1, live), top.tokens.gather(1, live)
    dead = top.is_eos.gather(1, live)
    if bool(dead.any()):
        scores = scores.masked_fill(dead, NEG_INF)
        tokens = tokens.masked_fill(dead, PAD_ID)
    return _Candidates(scores, tokens, top.origins.gather(1, live), dead)


@torch.inference_mode()
def beam_search(model: Seq2SeqModel, src_tokens: Tensor, src_lengths: Tensor,
                max_lengths: Tensor | Sequence[int] | int, beam_size: int, *, alpha: float = 0.0,
                n_best: int = 1, need_attention: bool = False, max_repeats: int = 0,
                cut_at_max_len: bool = False, penalty: PenaltyKind = "gnmt",
                min_length: int = MIN_LENGTH, symbols: SymbolCounts | None = None,
                no_repeat_ngram: int = 0, max_piece_run: int = 0,
                stop_lookahead: int | None = None) -> list[list[Hypothesis]]:
    """Batched beam search with a length penalty (see the module docstring).

    src_tokens: (batch, src_len) long; src_lengths: (batch,) long (EOS included);
    max_lengths: (batch,) or an int, tokens allowed before the EOS.
    Returns per sentence up to `n_best` hypotheses, best score first.

    The decoder runs on (active, width) rows, width = 1 at the first step (every beam would
    hold the same BOS) and beam_size after. At each step the 2 * beam best continuations of
    each sentence are taken in one topk over (active, width * vocab); those among the first
    `beam` that end with EOS are finished (they leave the beam and are never extended), and
    the first `beam` that do not end with EOS form the next beam. A sentence is done when its
    `n_best` best finished hypotheses all score at least as well as the best score any live
    hypothesis can still reach (within `stop_lookahead` more pieces, when given), or when it
    reaches its maximum length; done sentences leave the batch. Without a lookahead that bound
    is exact, so a wide enough beam returns the true n best. A beam of one keeps no
    alternatives: it stops at its first EOS and is exactly greedy search.
    max_repeats, no_repeat_ngram, max_piece_run, cut_at_max_len, penalty, min_length and stop_lookahead: see SearchOptions;
    symbols: its counts.
    """
    if n_best > beam_size:
        raise ValueError(f"n_best ({n_best}) must not exceed beam_size ({beam_size})")
    batch = src_tokens.size(0)
    device = src_tokens.device
    memory = model.encode(src_tokens, src_lengths)
    state = None
    beams = _Beams(sentence_ids=torch.arange(batch, device=device),
                   max_len=_as_lengths(max_lengths, batch).to(device),
                   nth_best=torch.full((batch,), NEG_INF, device=device),
                   scores=torch.zeros((batch, 1), device=device),
                   history=torch.empty((batch, 0), dtype=torch.long, device=device),
                   attention=None, width=1)
    prev_tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]

    step = 0
    while True:
        step += 1
        logits, state, attn = model.decode_step(memory, state, prev_tokens, need_attention)
        log_probs = log_probs_of(logits)  # (active * width, vocab)
        sentences_at_limit = step > beams.max_len  # (active,)
        width = beams.width  # rows per sentence
        apply_rules_(log_probs, step, sentences_at_limit.repeat_interleave(width), beams.history,
                      beams.sentence_ids.repeat_interleave(width), min_length, max_repeats, cut_at_max_len, symbols,
                      no_repeat_ngram, max_piece_run)
        if need_attention and attn is not None:
            attn = attn.float().unsqueeze(1)  # (active * width, 1, layers, heads, src_len)
            beams.attention = attn if beams.attention is None else torch.cat([beams.attention, attn], dim=1)

        top = beams.candidates(log_probs, beam_size)
        lp = length_penalty(step, alpha, penalty)
        beams.finish(top, beam_size, lp, n_best, src_lengths, finished)
        live = _next_hypotheses(top, beam_size)
        # Done: at the length limit, or the n_best finished beat the best score a live hypothesis can still reach.
        best_reachable = beams.reachable(live.scores[:, 0], alpha, beam_size, step, penalty, stop_lookahead)
        done = sentences_at_limit | (beams.nth_best >= best_reachable)
        if bool(done.all()):
            break
        order, prev_tokens = beams.advance(live, done)
        memory, state = model.reorder(memory, state, order)

    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in finished]

