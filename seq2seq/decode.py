"""Search: greedy and batched beam search over any model with `encode` / `decode_step`.

Both search functions decode a whole batch of sentences together with the model's incremental
state, one `decode_step` per output position, and drop sentences from the batch as soon as they
are finished (so one long sentence does not keep the whole batch busy).

Conventions (see `seq2seq.special_tokens`):

* the source is pieces + [EOS], right-padded with PAD; the first decoder input is BOS;
* a hypothesis ends with EOS; the token lists returned here hold neither BOS nor EOS;
* `max_lengths[i]` is the largest number of tokens (EOS not counted) sentence i may get: at
  step `max_lengths[i] + 1` only EOS is allowed;
* scores are sums of log-probabilities divided by the GNMT length penalty
  lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al., 2016), |Y| counting the EOS.

`translate_sentences` is the high-level entry point used by validation, `s2s eval` and
`s2s translate`: text in, detokenised hypotheses out, with token-bounded length-sorted batches.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.config import DecodeConfig
from seq2seq.data.normalize import normalize_text
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID

NEG_INF = float("-inf")
# Longest source and output (in subwords, EOS/BOS included) for models without positional
# encodings that bound them (RNNs); Transformers use their model.max_positions.
DEFAULT_MAX_POSITIONS = 1024

# Characters that str.splitlines() (and many tools) treat as line breaks. Output text never
# holds one, so every input line gives exactly one output line.
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


@dataclass
class Hypothesis:
    """One output of the search for one source sentence."""

    text: str  # detokenised tokens, on one line ("" until translate_sentences fills it in)
    tokens: list[int]  # target piece ids, without BOS and EOS
    score: float  # log P(tokens + EOS | source) / length penalty
    # encoder-decoder attention of every output step, EOS included:
    # (len(tokens) + 1, layers, heads, src_len), or None (not asked for, or no attention)
    attention: Tensor | None = None


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha; 1 when alpha is 0."""
    return ((5.0 + length) / 6.0) ** alpha


def _as_lengths(max_lengths: Tensor | Sequence[int] | int, batch: int) -> Tensor:
    """An int, a sequence or a tensor of maximum lengths -> (batch,) long tensor."""
    if isinstance(max_lengths, int):
        return torch.full((batch,), max_lengths, dtype=torch.long)
    return torch.as_tensor(max_lengths, dtype=torch.long).reshape(batch).cpu()


def _log_probs(logits: Tensor) -> Tensor:
    """(rows, vocab) scores -> log-probabilities; PAD and BOS are never outputs (-inf)."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_probs[:, PAD_ID] = NEG_INF
    log_probs[:, BOS_ID] = NEG_INF
    return log_probs


def _force_eos_(log_probs: Tensor, over: Tensor) -> None:
    """In place: rows marked in `over` may only emit EOS (every other column becomes -inf).

    log_probs: (rows, vocab); over: (rows,) bool.
    """
    rows = over.nonzero().squeeze(1)
    eos_log_probs = log_probs[rows, EOS_ID]
    log_probs[rows] = NEG_INF
    log_probs[rows, EOS_ID] = eos_log_probs


# ---------------------------------------------------------------------------------------------
# Greedy search


@torch.inference_mode()
def greedy_decode(
    model: Any,
    src_tokens: Tensor,
    src_lengths: Tensor,
    max_lengths: Tensor | Sequence[int] | int,
    *,
    alpha: float = 0.0,
    need_attention: bool = False,
) -> list[Hypothesis]:
    """Pick the most probable token at every step, for a whole batch at once.

    src_tokens: (batch, src_len) long; src_lengths: (batch,) long (EOS included);
    max_lengths: (batch,) or an int, tokens allowed before the EOS.
    Returns one Hypothesis per sentence (score with length penalty `alpha`; attention
    (tgt_len + 1, layers, heads, src_len) when need_attention and the model has attention).
    Finished sentences leave the batch; decoding stops when every sentence is finished.
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
        log_probs = _log_probs(logits)  # (active, vocab)
        best_log_probs, tokens = log_probs.max(dim=-1)  # (active,)
        over = step > max_len  # only EOS is allowed now
        if bool(over.any()):
            tokens = tokens.masked_fill(over, EOS_ID)
            best_log_probs = torch.where(over, log_probs[:, EOS_ID], best_log_probs)
        log_prob_sums += best_log_probs
        if attn_history is not None and attn is not None:
            attn_history.append(attn.float())

        ended = tokens == EOS_ID
        if bool(ended.any()):
            rows = ended.nonzero().squeeze(1)
            scores = (log_prob_sums[rows] / length_penalty(step, alpha)).tolist()
            for row, sentence, token_list, score in zip(
                    rows.tolist(), sentence_ids[rows].tolist(), history[rows].tolist(), scores):
                attention = None
                if attn_history:
                    length = int(src_lengths[sentence])
                    attention = torch.stack([a[row] for a in attn_history])[..., :length]
                results[sentence] = Hypothesis("", token_list, score, attention)
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


def greedy_search(
    model: Any,
    src_tokens: Tensor,
    src_lengths: Tensor,
    max_lengths: Tensor | Sequence[int] | int,
) -> list[list[int]]:
    """Greedy decoding of a batch: (batch, src_len) source -> one token list per sentence.

    The token lists hold neither BOS nor EOS. See `greedy_decode` for scores and attention.
    """
    return [hyp.tokens for hyp in greedy_decode(model, src_tokens, src_lengths, max_lengths)]


# ---------------------------------------------------------------------------------------------
# Beam search


@torch.inference_mode()
def beam_search(
    model: Any,
    src_tokens: Tensor,
    src_lengths: Tensor,
    max_lengths: Tensor | Sequence[int] | int,
    beam_size: int,
    *,
    alpha: float = 0.0,
    n_best: int = 1,
    need_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Batched beam search with the GNMT length penalty.

    src_tokens: (batch, src_len) long; src_lengths: (batch,) long (EOS included);
    max_lengths: (batch,) or an int, tokens allowed before the EOS.
    Returns per sentence up to `n_best` hypotheses, best score first.

    The decoder runs on (active, width) rows, width = 1 at the first step (every beam would
    hold the same BOS) and beam_size after. At each step the 2 * beam best continuations of
    each sentence are taken in one topk over (active, width * vocab); those among the first
    `beam` that end with EOS are finished (they leave the beam and are never extended), and
    the first `beam` that do not end with EOS form the next beam. A sentence is done when its
    `n_best` best finished hypotheses all score at least as well as the best score any live
    hypothesis can still reach, or when it reaches its maximum length; done sentences leave
    the batch. Further tokens only lower a log-probability, so with alpha = 0 that best score
    is the current log-probability; with alpha > 0 the penalty may still grow up to
    lp(max_len + 1), and the bound is log-prob / lp(max_len + 1) (exact: a wide enough beam
    returns the true n best). A beam of one keeps no alternatives: it stops at its first EOS
    and is exactly greedy search.
    """
    if n_best > beam_size:
        raise ValueError(f"n_best ({n_best}) must not exceed beam_size ({beam_size})")
    batch = src_tokens.size(0)
    beam = beam_size
    device = src_tokens.device
    max_len = _as_lengths(max_lengths, batch).to(device)  # (active,)

    memory = model.encode(src_tokens, src_lengths)
    state = None
    width = 1  # hypotheses per sentence in the rows being decoded
    sentence_ids = torch.arange(batch, device=device)  # (active,) original row of each sentence
    beam_scores = torch.zeros((batch, width), device=device)  # (active, width) log-probs
    prev_tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    history = torch.empty((batch, 0), dtype=torch.long, device=device)  # (active * width, step - 1)
    attn_history: Tensor | None = None  # (active * width, step - 1, layers, heads, src_len)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    # n_best-th best finished score of each active sentence (-inf while it has fewer)
    nth_best = torch.full((batch,), NEG_INF, device=device)

    step = 0
    while True:
        step += 1
        active = sentence_ids.numel()
        logits, state, attn = model.decode_step(memory, state, prev_tokens, need_attention)
        vocab = logits.size(-1)
        log_probs = _log_probs(logits)  # (active * width, vocab)
        over = step > max_len  # (active,) sentences that may only end now
        if bool(over.any()):
            _force_eos_(log_probs, over.repeat_interleave(width))
        if need_attention and attn is not None:
            attn = attn.float().unsqueeze(1)  # (active * width, 1, layers, heads, src_len)
            attn_history = attn if attn_history is None else torch.cat([attn_history, attn], dim=1)

        # The 2 * beam best continuations of each sentence over all its hypotheses.
        candidates = log_probs.view(active, width, vocab).add_(beam_scores.unsqueeze(2))
        candidates = candidates.view(active, width * vocab)
        n_candidates = min(2 * beam, width * vocab)
        top_scores, top_indices = candidates.topk(n_candidates, dim=1)  # (active, n_candidates)
        top_origins = torch.div(top_indices, vocab, rounding_mode="floor")  # hypothesis in width
        top_tokens = top_indices - top_origins * vocab
        top_is_eos = top_tokens == EOS_ID

        # 1. EOS among the first `beam` candidates: a finished hypothesis.
        penalty = length_penalty(step, alpha)
        ends = top_is_eos[:, :beam] & torch.isfinite(top_scores[:, :beam])
        if bool(ends.any()):
            where = ends.nonzero()  # (n, 2): (sentence, rank) pairs
            sent, rank = where[:, 0], where[:, 1]
            rows = sent * width + top_origins[sent, rank]
            scores = (top_scores[sent, rank] / penalty).tolist()
            touched: set[int] = set()
            for a, row, token_list, score in zip(sent.tolist(), rows.tolist(),
                                                 history[rows].tolist(), scores):
                sentence = int(sentence_ids[a])
                attention = None
                if attn_history is not None:
                    attention = attn_history[row, ..., :int(src_lengths[sentence])].clone()
                finished[sentence].append(Hypothesis("", token_list, score, attention))
                touched.add(a)
            for a in touched:
                done_scores = sorted((h.score for h in finished[int(sentence_ids[a])]), reverse=True)
                if len(done_scores) >= n_best:
                    nth_best[a] = done_scores[n_best - 1]

        # 2. The first `beam` candidates that do not end with EOS are the next hypotheses.
        next_width = min(beam, n_candidates)
        order_key = top_is_eos.long() * n_candidates + torch.arange(n_candidates, device=device)
        live = order_key.topk(next_width, dim=1, largest=False).indices  # (active, next_width)
        live_scores = top_scores.gather(1, live)
        live_tokens = top_tokens.gather(1, live)
        live_origins = top_origins.gather(1, live)
        dead = top_is_eos.gather(1, live)  # fewer non-EOS candidates than beam (tiny vocabulary)
        if bool(dead.any()):
            live_scores = live_scores.masked_fill(dead, NEG_INF)
            live_tokens = live_tokens.masked_fill(dead, PAD_ID)

        # 3. Sentences whose n_best finished beat the best score a live hypothesis can reach
        # are done. Its log-probability only falls; with alpha > 0 its penalty still grows up
        # to lp(max_len + 1), so that is the bound (a beam of one stops like greedy search).
        if alpha > 0 and beam > 1:
            best_penalty = ((5.0 + max_len.float() + 1.0) / 6.0) ** alpha  # (active,)
        else:
            best_penalty = penalty
        done = over | (nth_best >= live_scores[:, 0] / best_penalty)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            sentence_ids, max_len, nth_best = sentence_ids[keep], max_len[keep], nth_best[keep]
            live_scores, live_tokens = live_scores[keep], live_tokens[keep]
            first_rows = keep * width
            live_origins = live_origins[keep]
        else:
            first_rows = torch.arange(0, active * width, width, device=device)

        # 4. Follow the back-pointers (dropping done sentences) in memory, state and history.
        order = (first_rows.unsqueeze(1) + live_origins).view(-1)  # (active' * next_width,)
        memory, state = model.reorder(memory, state, order)
        history = torch.cat([history[order], live_tokens.view(-1, 1)], dim=1)
        if attn_history is not None:
            attn_history = attn_history[order]
        beam_scores = live_scores
        prev_tokens = live_tokens.view(-1)
        width = next_width

    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in finished]


# ---------------------------------------------------------------------------------------------
# From token ids and from text


def make_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices of sentences grouped into batches of similar length.

    Sentences are sorted longest first; a batch takes sentences while (sentences x longest
    length) stays within `batch_tokens` (always at least one sentence).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) + 1) * lengths[current[0]] > batch_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def model_max_positions(model: Any) -> int | None:
    """Longest sequence the model's positional encodings cover, or None if unbounded (RNN)."""
    cfg = getattr(model, "cfg", None)  # the ModelConfig the model was built from
    if cfg is not None and getattr(cfg, "type", None) == "transformer":
        return int(cfg.max_positions)
    value = getattr(model, "max_positions", None)
    return int(value) if value else None


def _pad(sequences: Sequence[Sequence[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    """Token lists -> (batch, longest) long tensor padded with PAD, and (batch,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded.to(device), lengths.to(device)


@torch.inference_mode()
def search_ids(
    model: Any,
    sources: Sequence[Sequence[int]],
    max_lengths: Sequence[int],
    *,
    beam_size: int = 1,
    alpha: float = 0.0,
    n_best: int = 1,
    batch_tokens: int = 8000,
    need_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Decode many sources given as id lists (pieces + [EOS]) in length-sorted batches.

    Greedy search when beam_size is 1, beam search otherwise. Returns the hypotheses in the
    order of `sources`. `batch_tokens` bounds source tokens x beam per batch (padding included).
    """
    device = next(model.parameters()).device
    results: list[list[Hypothesis]] = [[] for _ in sources]
    rows_budget = max(1, batch_tokens // beam_size)
    for batch in make_batches([len(s) for s in sources], rows_budget):
        src_tokens, src_lengths = _pad([sources[i] for i in batch], device)
        lengths = [max_lengths[i] for i in batch]
        if beam_size == 1:
            found = [[hyp] for hyp in greedy_decode(model, src_tokens, src_lengths, lengths,
                                                    alpha=alpha, need_attention=need_attention)]
        else:
            found = beam_search(model, src_tokens, src_lengths, lengths, beam_size, alpha=alpha,
                                n_best=n_best, need_attention=need_attention)
        for index, hyps in zip(batch, found):
            results[index] = hyps
    return results


def translate_sentences(
    model: Any,
    src_tokenizer: Any,
    tgt_tokenizer: Any,
    sentences: list[str],
    decode_cfg: DecodeConfig,
    *,
    beam_size: int | None = None,
    n_best: int = 1,
    batch_tokens: int | None = None,
    max_len: int | None = None,
    normalization: str = "nfkc",
    lowercase: bool = False,
    need_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Translate raw sentences: normalise, encode, decode in batches, detokenise.

    Returns for each sentence (in input order) up to n_best hypotheses, best first, each with
    its text on one line. Empty or whitespace-only sentences give one empty hypothesis without
    calling the model. Sources longer than the model's positional encodings allow are
    truncated (with a warning on stderr). beam_size, batch_tokens default to decode_cfg; the
    maximum output length is max_len, else decode_cfg.max_len_ratio * source pieces +
    decode_cfg.max_len_offset. The model is put in eval mode and restored afterwards.
    """
    beam_size = beam_size or decode_cfg.beam_size
    n_best = max(1, n_best)
    if n_best > beam_size:
        beam_size = n_best
    batch_tokens = batch_tokens or decode_cfg.batch_tokens

    texts = [normalize_text(s, normalization, lowercase) for s in sentences]
    todo = [i for i, text in enumerate(texts) if text]
    pieces = src_tokenizer.encode_batch([texts[i] for i in todo]) if todo else []

    # BOS/EOS + tokens must fit the positional encodings (Transformer); an RNN has no such
    # bound, but a sentence of thousands of subwords is far outside anything it was trained on
    limit = model_max_positions(model) or DEFAULT_MAX_POSITIONS
    truncated = 0
    for k, ids in enumerate(pieces):
        if len(ids) > limit - 1:
            pieces[k] = ids[:limit - 1]
            truncated += 1
    if truncated:
        print(f"warning: {truncated} sentence(s) longer than {limit - 1} subwords truncated to that "
              "length (the longest source the model takes)", file=sys.stderr)
    sources = [ids + [EOS_ID] for ids in pieces]
    if max_len is not None:
        max_lengths = [max_len] * len(sources)
    else:
        max_lengths = [int(decode_cfg.max_len_ratio * len(ids) + decode_cfg.max_len_offset)
                       for ids in pieces]
    max_lengths = [min(n, limit - 1) for n in max_lengths]

    results: list[list[Hypothesis]] = [[Hypothesis("", [], 0.0)] for _ in sentences]
    if not sources:
        return results
    was_training = model.training
    model.eval()
    try:
        found = search_ids(model, sources, max_lengths, beam_size=beam_size,
                           alpha=decode_cfg.length_penalty, n_best=n_best,
                           batch_tokens=batch_tokens, need_attention=need_attention)
    finally:
        model.train(was_training)
    for index, hyps in zip(todo, found):
        for hyp in hyps:
            hyp.text = tgt_tokenizer.decode(hyp.tokens).translate(_LINE_BREAKS)
        results[index] = hyps
    return results
