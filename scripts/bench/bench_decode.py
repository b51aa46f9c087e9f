"""Translation speed: greedy and beam search, batched and one sentence at a time; prints JSON.

    python scripts/bench/bench_decode.py --model runs/tatoeba-transformer          # a trained run
    python scripts/bench/bench_decode.py --random-config configs/tatoeba-transformer.yaml
    python scripts/bench/bench_decode.py --random-config configs/tatoeba-rnn.yaml --sentences 500

Sentences: the first --sentences lines of --src FILE, else of the prepared test split named
in the model's config (data/<name>/test.src), else a seeded sample of the config's TSV corpus.

--random-config builds a randomly initialised model of that config, with the prepared
SentencePiece model of its data directory if there is one, else one trained on the first
--vocab-lines lines of the corpus. Random weights almost never emit EOS, so every output would
run to the maximum length (1.5 x source + 10): instead each output is forced to the length of
its reference translation (--ref, or the test split's .tgt), as if the model had learned where
to stop. A trained model decodes with its own decode settings (max_len_ratio/offset).

Measured: decoding (search_ids: batching, encoder, search) plus detokenisation, under
torch.inference_mode, float32, --threads torch threads; the median (and the best) of
--repeats runs, with the CPU seconds of each run. Check the machine's load (`uptime`) first:
the figures are only comparable on an idle CPU. Under load, two threads can be several times
slower than one (each parallel op waits for a thread that another process has preempted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from seq2seq.checkpoint import load_for_inference  # noqa: E402
from seq2seq.config import Config, load_config  # noqa: E402
from seq2seq.data.normalize import normalize_text  # noqa: E402
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece  # noqa: E402
from seq2seq.allocator import keep_large_tensors_on_the_heap  # noqa: E402
from seq2seq.search import SearchOptions  # noqa: E402
from seq2seq.translator import search_ids  # noqa: E402
from seq2seq.special_tokens import EOS_ID  # noqa: E402


def read_tsv_pairs(config: Config, limit: int | None, seed: int | None) -> list[tuple[str, str]]:
    """(source, target) pairs of the config's TSV corpus: the first `limit`, or a seeded sample."""
    data = config.data
    pairs = []
    with open(data.path, encoding="utf-8") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= max(data.src_column, data.tgt_column):
                pairs.append((cols[data.src_column - 1], cols[data.tgt_column - 1]))
    if seed is not None:
        random.Random(seed).shuffle(pairs)
    return pairs[:limit] if limit else pairs


def sentences_for(config: Config, args: argparse.Namespace) -> tuple[list[str], list[str] | None, str]:
    """Source sentences (and references if known) and where they came from."""
    if args.src:
        src = Path(args.src).read_text(encoding="utf-8").split("\n")[:args.sentences]
        ref = Path(args.ref).read_text(encoding="utf-8").split("\n")[:len(src)] if args.ref else None
        return src, ref, args.src
    split = config.data.resolved_dir(config.name) / "test.src"
    if split.is_file():
        src = split.read_text(encoding="utf-8").split("\n")[:args.sentences]
        ref = split.with_suffix(".tgt").read_text(encoding="utf-8").split("\n")[:len(src)]
        return src, ref, str(split)
    pairs = read_tsv_pairs(config, args.sentences, seed=1)
    return [p[0] for p in pairs], [p[1] for p in pairs], f"{config.data.path} (seeded sample)"


def random_model(args: argparse.Namespace) -> tuple[Any, Config, Tokenizer, Tokenizer, str]:
    from seq2seq.models import build_model

    config = load_config(args.random_config)
    spm_path = config.data.resolved_dir(config.name) / "spm.model"
    if spm_path.is_file() and config.data.joint_vocab:
        tokenizer, vocab_origin = Tokenizer.from_file(spm_path), str(spm_path)
    else:
        lines = [s for pair in read_tsv_pairs(config, args.vocab_lines, seed=None) for s in pair]
        proto = train_sentencepiece(iter(lines), vocab_size=config.data.vocab_size,
                                    model_type=config.data.vocab_type,
                                    character_coverage=config.data.character_coverage)
        tokenizer = Tokenizer(proto)
        vocab_origin = f"trained on the first {args.vocab_lines} lines of {config.data.path}"
    torch.manual_seed(0)
    model = build_model(config.model, tokenizer.vocab_size, tokenizer.vocab_size, True).eval()
    return model, config, tokenizer, tokenizer, vocab_origin


def run_mode(model: Any, tgt_tok: Tokenizer, sources: list[list[int]], max_lengths: list[int],
             options: SearchOptions, batch_tokens: int, one_at_a_time: bool, repeats: int) -> dict:
    """Median over `repeats` of decoding all `sources`, batched or one by one."""
    times, cpu_times, out_tokens = [], [], 0
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        if one_at_a_time:
            results = [search_ids(model, [s], [n], options, batch_tokens)[0]
                       for s, n in zip(sources, max_lengths)]
        else:
            results = search_ids(model, sources, max_lengths, options, batch_tokens)
        for hyps in results:
            tgt_tok.decode(hyps[0].tokens)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        out_tokens = sum(len(hyps[0].tokens) + 1 for hyps in results)
    seconds = statistics.median(times)
    return {"sentences": len(sources), "seconds_median": round(seconds, 3),
            "seconds_all": [round(t, 3) for t in times],
            # CPU seconds of this process (all threads): near wall x threads on an idle machine;
            # much lower than that means the process waited for a core others were using
            "cpu_seconds_all": [round(t, 3) for t in cpu_times],
            "sentences_per_s": round(len(sources) / seconds, 1),
            # the fastest run: the least disturbed by other processes on a shared machine
            "sentences_per_s_best": round(len(sources) / min(times), 1),
            "target_tokens_per_s": round(out_tokens / seconds, 1),
            "avg_output_tokens": round(out_tokens / len(sources), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="run directory or checkpoint")
    what.add_argument("--random-config", help="YAML config: benchmark a randomly initialised model of it")
    parser.add_argument("--src", help="source sentences, one per line (default: the prepared test split)")
    parser.add_argument("--ref", help="references for --src (to force output lengths of a random model)")
    parser.add_argument("--sentences", type=int, default=1000, help="sentences decoded batched")
    parser.add_argument("--single", type=int, default=200,
                        help="sentences decoded one at a time (a subset; 0 = skip)")
    parser.add_argument("--beam", type=int, default=5, help="beam size of the beam-search runs")
    parser.add_argument("--batch-tokens", type=int, default=None, help="default decode.batch_tokens")
    parser.add_argument("--modes", default="greedy,beam", help="which searches to time: greedy, beam or both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab-lines", type=int, default=50000,
                        help="--random-config without a prepared vocabulary: corpus lines to train one on")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    heap = keep_large_tensors_on_the_heap()  # as `s2s translate` and `s2s eval` do
    load_before = os.getloadavg()
    if args.model:
        loaded = load_for_inference(args.model)
        model, config, src_tok, tgt_tok = loaded.model, loaded.config, loaded.src_tokenizer, loaded.tgt_tokenizer
        weights, vocab_origin = str(loaded.path), "checkpoint"
    else:
        model, config, src_tok, tgt_tok, vocab_origin = random_model(args)
        weights = f"random ({args.random_config})"
    from seq2seq.models import count_parameters, describe_model

    src_lines, ref_lines, origin = sentences_for(config, args)
    norm = config.data.normalization, config.data.lowercase
    limit = model.max_positions
    pieces = [ids[:limit - 1] if limit else ids
              for ids in src_tok.encode_batch([normalize_text(s, *norm) for s in src_lines])]
    sources = [ids + [EOS_ID] for ids in pieces]
    if args.model:
        length_rule = f"{config.decode.max_len_ratio} x source + {config.decode.max_len_offset}"
        max_lengths = [int(config.decode.max_len_ratio * len(p) + config.decode.max_len_offset) for p in pieces]
    else:
        if ref_lines is None:
            raise SystemExit("--random-config needs references (--ref, or a prepared test split) "
                             "to force realistic output lengths")
        length_rule = "forced to the reference length (random weights)"
        max_lengths = [len(ids) for ids in tgt_tok.encode_batch([normalize_text(s, *norm) for s in ref_lines])]
    if limit:
        max_lengths = [min(n, limit - 1) for n in max_lengths]
    batch_tokens = args.batch_tokens or config.decode.batch_tokens
    alpha = config.decode.length_penalty

    report: dict[str, Any] = {
        "model": describe_model(config.model, model), "parameters": count_parameters(model),
        "weights": weights, "vocabulary": vocab_origin, "sentences_from": origin,
        "avg_source_tokens": round(sum(map(len, sources)) / len(sources), 2),
        "output_length": length_rule, "threads": args.threads, "batch_tokens": batch_tokens,
        "length_penalty": alpha, "max_repeats": config.decode.max_repeats, "repeats": args.repeats, "large_tensors_on_heap": heap,
        "load_average_before": [round(x, 2) for x in load_before],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
    }
    # warm-up (allocator, lazy init), not timed
    search_ids(model, sources[:64], max_lengths[:64], SearchOptions(beam_size=args.beam, alpha=alpha), batch_tokens)
    wanted = set(args.modes.split(","))
    modes = [(name, beam) for name, beam in [("greedy", 1), (f"beam{args.beam}", args.beam)]
             if name.rstrip("0123456789") in wanted]
    # the search s2s translate runs: the run's length penalty and repetition rules
    options = {name: SearchOptions(beam_size=beam, alpha=alpha, max_repeats=config.decode.max_repeats,
                                   no_repeat_ngram=config.decode.no_repeat_ngram,
                                   max_piece_run=config.decode.max_piece_run)
               for name, beam in modes}
    for name, _ in modes:
        report[f"{name}_batched"] = run_mode(model, tgt_tok, sources, max_lengths, options[name],
                                             batch_tokens, False, args.repeats)
        print(f"{name} batched: {report[f'{name}_batched']['sentences_per_s']} sentences/s", file=sys.stderr)
    if args.single:
        for name, _ in modes:
            report[f"{name}_one_at_a_time"] = run_mode(model, tgt_tok, sources[:args.single],
                                                       max_lengths[:args.single], options[name],
                                                       batch_tokens, True, args.repeats)
            print(f"{name} one at a time: {report[f'{name}_one_at_a_time']['sentences_per_s']} "
                  "sentences/s", file=sys.stderr)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
