"""Training (and optionally decoding) speed of one model on random batches; prints JSON.

    python scripts/bench_model.py                                   # default transformer
    python scripts/bench_model.py --set model.type=rnn              # bi-LSTM 2x256 ... see --set
    python scripts/bench_model.py --config configs/x.yaml --vocab 8000 --repeats 10
    python scripts/bench_model.py --decode-sentences 1000             # also greedy and beam-5 speed

A training step is forward + label-smoothed cross-entropy + backward + clip + Adam, on batches of
about --batch-tokens target tokens (padding included) whose sentences are 5-20 pieces long and
bucketed by length, as the trainer's batches are. Reported: median seconds per step and
non-padding target tokens per second. Decoding (optional) runs a plain greedy / beam-5 loop over
the model's encode, decode_step and reorder, batched by --decode-batch-tokens source tokens.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import random
import statistics
import time

import torch
import torch.nn.functional as F

from seq2seq.config import apply_overrides, config_from_dict, load_config
from seq2seq.models import build_model, count_parameters, describe_model
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID


def keep_large_tensors_on_the_heap() -> bool:
    """Stop glibc from giving every large tensor fresh mmap'd pages (Linux only).

    By default each allocation above 32 MB (e.g. the (tokens, vocab) logits and their gradients)
    is a new mmap whose pages fault in one by one, zeroed by the kernel: that made the
    elementwise ops on logits ~4x slower and a training step ~25% slower. With mmap off and
    trimming off, freed blocks are reused. Returns whether the setting took.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**30))


def random_batch(rng: random.Random, vocab: int, batch_tokens: int, min_len: int, max_len: int):
    """One length bucket: target lengths within 2 of each other, sources ~ the same length."""
    bucket = rng.randint(min_len, max_len)
    tgt_lengths = [rng.randint(max(min_len, bucket - 1), bucket + 1) for _ in range(batch_tokens // (bucket + 2))]
    src_lengths = [max(1, round(n * rng.uniform(0.8, 1.2))) for n in tgt_lengths]
    batch = len(tgt_lengths)

    def pad(rows: list[list[int]]) -> torch.Tensor:
        out = torch.full((batch, max(map(len, rows))), PAD_ID, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
        return out

    src = [[rng.randrange(4, vocab) for _ in range(n)] + [EOS_ID] for n in src_lengths]
    tgt = [[rng.randrange(4, vocab) for _ in range(n)] for n in tgt_lengths]
    src_tokens = pad(src)
    prev_tokens = pad([[BOS_ID] + t for t in tgt])
    gold = pad([t + [EOS_ID] for t in tgt])
    lengths = torch.tensor([len(s) for s in src])
    return src_tokens, lengths, prev_tokens, gold


def source_batches(rng: random.Random, vocab: int, sentences: int, batch_tokens: int, min_len: int,
                   max_len: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random sources sorted by length, cut into batches of at most batch_tokens padded tokens."""

    def make_batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.full((len(lengths), lengths[-1]), PAD_ID, dtype=torch.long)
        for i, n in enumerate(lengths):
            tokens[i, : n - 1] = torch.tensor([rng.randrange(4, vocab) for _ in range(n - 1)])
            tokens[i, n - 1] = EOS_ID
        return tokens, torch.tensor(lengths)

    batches, rows = [], []
    for n in sorted(rng.randint(min_len, max_len) + 1 for _ in range(sentences)):
        if rows and (len(rows) + 1) * n > batch_tokens:
            batches.append(make_batch(rows))
            rows = []
        rows.append(n)
    if rows:
        batches.append(make_batch(rows))
    return batches


@torch.no_grad()
def decode_batch(model, src_tokens: torch.Tensor, src_lengths: torch.Tensor, beam: int) -> None:
    """Greedy (beam 1) or beam search for src_len + 1 steps (an untrained model never says EOS,
    so every sentence gets an output as long as the batch's longest source)."""
    batch, steps = src_tokens.size(0), src_tokens.size(1) + 1
    memory = model.encode(src_tokens, src_lengths)
    state = None
    if beam > 1:
        memory, state = model.reorder(memory, state, torch.arange(batch).repeat_interleave(beam))
    tokens = torch.full((batch * beam,), BOS_ID, dtype=torch.long)
    scores = torch.zeros(batch, beam)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    for _ in range(steps):
        logits, state, _ = model.decode_step(memory, state, tokens)
        if beam == 1:
            tokens = logits.argmax(-1)
            continue
        log_probs = torch.log_softmax(logits, dim=-1).view(batch, beam, -1) + scores.unsqueeze(-1)
        scores, best = log_probs.view(batch, -1).topk(beam, dim=-1)
        tokens = (best % logits.size(-1)).view(-1)
        back_pointers = (torch.arange(batch).unsqueeze(1) * beam + best // logits.size(-1)).view(-1)
        memory, state = model.reorder(memory, state, back_pointers)


def decode_speed(model, batches, beam: int) -> tuple[float, float]:
    """Sentences per second of greedy/beam decoding over all batches (after one warm-up batch),
    and the CPU utilisation meanwhile."""
    model.eval()
    decode_batch(model, *batches[0], beam)
    start, cpu_start = time.perf_counter(), time.process_time()
    for src_tokens, src_lengths in batches:
        decode_batch(model, src_tokens, src_lengths, beam)
    seconds = time.perf_counter() - start
    return sum(len(lengths) for _, lengths in batches) / seconds, (time.process_time() - cpu_start) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="experiment YAML (its model section is used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    parser.add_argument("--vocab", type=int, default=8000, help="vocabulary size (joint)")
    parser.add_argument("--batch-tokens", type=int, default=4000)
    parser.add_argument("--min-len", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's mmap threshold alone (to measure its effect)")
    parser.add_argument("--decode-sentences", type=int, default=0,
                        help="also time greedy and beam-5 decoding of this many random sentences")
    parser.add_argument("--decode-batch-tokens", type=int, default=8000)
    args = parser.parse_args()

    heap_malloc = False if args.default_malloc else keep_large_tensors_on_the_heap()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.config:
        cfg = load_config(args.config, args.overrides)
    else:  # the defaults; data.path only satisfies validation, nothing is read
        cfg = config_from_dict(apply_overrides({"data": {"path": "unused.tsv"}}, args.overrides))
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = build_model(cfg.model, args.vocab, args.vocab, joint_vocab=True)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    batches = [random_batch(rng, args.vocab, args.batch_tokens, args.min_len, args.max_len)
               for _ in range(args.warmup + args.repeats)]

    step_seconds, step_tokens, step_cpu_seconds = [], [], []
    for index, (src_tokens, src_lengths, prev_tokens, gold) in enumerate(batches):
        start, cpu_start = time.perf_counter(), time.process_time()
        logits = model(src_tokens, src_lengths, prev_tokens)
        loss_sum = F.cross_entropy(logits.view(-1, logits.size(-1)), gold.view(-1), ignore_index=PAD_ID,
                                   label_smoothing=0.1, reduction="sum")
        tokens = int((gold != PAD_ID).sum())
        optimizer.zero_grad(set_to_none=True)
        (loss_sum / tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        elapsed = time.perf_counter() - start
        if index >= args.warmup:
            step_seconds.append(elapsed)
            step_tokens.append(tokens)
            step_cpu_seconds.append(time.process_time() - cpu_start)

    decoding = {}
    if args.decode_sentences:
        batches = source_batches(rng, args.vocab, args.decode_sentences, args.decode_batch_tokens,
                                 args.min_len, args.max_len)
        greedy, greedy_cpu = decode_speed(model, batches, 1)
        beam, beam_cpu = decode_speed(model, batches, 5)
        decoding = {"decode_sentences": args.decode_sentences,
                    "greedy_sentences_per_second": round(greedy), "greedy_cpu_utilisation": round(greedy_cpu, 2),
                    "beam5_sentences_per_second": round(beam), "beam5_cpu_utilisation": round(beam_cpu, 2)}

    print(json.dumps({
        "model": describe_model(cfg.model, model),
        "parameters": count_parameters(model),
        "threads": torch.get_num_threads(),
        "large_tensors_on_heap": heap_malloc,
        "batch_tokens_padded": args.batch_tokens,
        "mean_nonpad_target_tokens": round(statistics.mean(step_tokens)),
        "median_step_seconds": round(statistics.median(step_seconds), 4),
        "median_tokens_per_second": round(statistics.median(t / s for t, s in zip(step_tokens, step_seconds))),
        "overall_tokens_per_second": round(sum(step_tokens) / sum(step_seconds)),
        # CPU seconds per wall second while training; well below `threads` means other
        # processes were taking the cores and the figures above are too low
        "train_cpu_utilisation": round(sum(step_cpu_seconds) / sum(step_seconds), 2),
        **decoding,
    }, indent=1))


if __name__ == "__main__":
    main()
