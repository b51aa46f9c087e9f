"""Where a model's encoder-decoder attention goes: has it learned to align, or does it read a summary?

An RNN whose attention did not take off puts much of its weight on one state that sums up the
whole sentence (the source's first piece, whose backward state has read it all, or its EOS),
much as the no-attention baseline's bottleneck, instead of on the word it translates. For each
run: the share of output steps whose largest weight falls on the source's first piece and on its
EOS, the mean largest weight, and the mean entropy of the weights (nats), over the
greedy translations of the first N sentences of a source file (the last decoder layer, heads
averaged, for a Transformer).

    python scripts/attention_stats.py runs/tatoeba-rnn-lr3-10min-seed1 runs/tatoeba-rnn-tship-10min-seed1
    python scripts/attention_stats.py --src data/tatoeba-fr-en/dev.src --sentences 300 runs/NAME
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from seq2seq import Translator


def attention_stats(run: str, sources: list[str]) -> dict[str, float]:
    """{sentences, first_share, eos_share, max_weight, entropy}, averaged over the sentences (each
    sentence's steps averaged first)."""
    translator = Translator.load(run, beam=1)
    results = translator.translate_batch(sources, attention=True)
    first, eos, largest, entropy = [], [], [], []
    for result in results:
        weights = result.best.attention
        if weights is None or len(weights) == 0:
            continue
        # (target steps, layers, heads, source pieces with EOS) -> the last layer, heads averaged
        weights = weights.float()[:, -1].mean(1)
        top = weights.argmax(-1)
        first.append((top == 0).float().mean().item())
        eos.append((top == weights.shape[-1] - 1).float().mean().item())
        largest.append(weights.max(-1).values.mean().item())
        entropy.append(-(weights * weights.clamp_min(1e-9).log()).sum(-1).mean().item())
    n = max(len(eos), 1)
    return {"sentences": len(eos), "first_share": sum(first) / n, "eos_share": sum(eos) / n,
            "max_weight": sum(largest) / n, "entropy": sum(entropy) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (or checkpoints)")
    parser.add_argument("--src", default="data/tatoeba-fr-en/dev.src", help="source sentences, one a line")
    parser.add_argument("--sentences", type=int, default=300, help="the first N sentences of --src")
    args = parser.parse_args()
    lines = Path(args.src).read_text(encoding="utf-8").splitlines()[:args.sentences]
    print("| run | sentences | steps whose largest weight is on the source's first piece / its EOS "
          "| mean largest weight | entropy (nats) |")
    print("| --- | --- | --- | --- | --- |")
    for run in args.runs:
        stats = attention_stats(run, lines)
        print(f"| {run} | {stats['sentences']} | {100 * stats['first_share']:.1f} % / "
              f"{100 * stats['eos_share']:.1f} % | {stats['max_weight']:.3f} | {stats['entropy']:.3f} |")


if __name__ == "__main__":
    main()
