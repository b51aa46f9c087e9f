"""Validation: teacher-forced dev loss, and BLEU/chrF of greedy translations of the dev set.

The dev loss uses the training criterion (label-smoothed, per non-padding target token) so it
can be read against the training loss in metrics.csv. BLEU and chrF are sacrebleu's corpus
scores (computed as `s2s eval` does) of greedy (beam 1) translations of the first
`train.dev_sentences` dev sentences. With TensorBoard (training/tensorboard.py), the attention of
one fixed dev sentence too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seq2seq.config import Config
from seq2seq.data.batching import ParallelCorpus, collate, encode_corpus, fitting, make_batches, read_split
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.entities import Protector
from seq2seq.metrics import score_translations
from seq2seq.models.base import Seq2SeqModel
from seq2seq.training.loss import projected_loss_sum
from seq2seq.translator import TranslationResult, Translator


@dataclass
class DevSet:
    """The dev split: raw lines for decoding and scoring, ids and batches for the loss."""

    src_lines: list[str]
    tgt_lines: list[str]
    corpus: ParallelCorpus
    batches: list[Tensor]

    def __len__(self) -> int:
        return len(self.src_lines)


def load_dev_set(data_dir: Path, src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer, batch_tokens: int,
                 max_positions: int | None) -> DevSet:
    """The dev split; its loss leaves out the pairs longer than max_positions (its BLEU does not)."""
    src_lines, tgt_lines = read_split(data_dir, "dev")
    corpus, _ = fitting(encode_corpus(src_lines, tgt_lines, src_tokenizer, tgt_tokenizer), max_positions)
    batches = make_batches(corpus.src_sizes, corpus.tgt_sizes, batch_tokens, 1, None, shuffle=False)
    return DevSet(src_lines, tgt_lines, corpus, batches)


@torch.no_grad()
def dev_loss(model: Seq2SeqModel, dev: DevSet, label_smoothing: float, device: torch.device) -> float:
    """Mean label-smoothed loss per non-padding target token over the dev set (eval mode)."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for indices in dev.batches:
        batch = collate(dev.corpus, indices).to(device)
        states = model(batch.src_tokens, batch.src_lengths, batch.prev_tokens, project=False)
        total += float(projected_loss_sum(states, model.output_proj.weight, batch.gold, label_smoothing))
        tokens += batch.n_tokens
    model.train(was_training)
    return total / max(tokens, 1)


@dataclass
class DevScores:
    loss: float
    bleu: float
    chrf: float
    samples: list[tuple[str, str, str]]  # (source, reference, hypothesis) of the first sentences
    attention: TranslationResult | None = None  # attention_sentence's greedy translation with its attention


def validate(model: Seq2SeqModel, dev: DevSet, config: Config, src_tokenizer: Tokenizer,
             tgt_tokenizer: Tokenizer, device: torch.device, protector: Protector | None = None,
             n_samples: int = 3, attention: bool = False) -> DevScores:
    """Dev loss, then greedy translations of the first train.dev_sentences sentences, scored; with
    `attention` (and a model that has it), attention_sentence's translation with its attention."""
    loss = dev_loss(model, dev, config.train.label_smoothing, device)
    count = config.train.dev_sentences or len(dev)
    sources, references = dev.src_lines[:count], dev.tgt_lines[:count]
    # dev.* is already normalised by `s2s data prepare`; normalising again is a no-op.
    translator = Translator.for_config(model, src_tokenizer, tgt_tokenizer, config, protector=protector)
    # Batches of a training batch's size, not decode.batch_tokens (8,000): decoding the 500
    # sentences in one or two batches added ~140 MB to a run's memory, and greedy search is no
    # slower in smaller batches (README, "Speed and memory").
    results = translator.translate_batch(sources, beam=1, batch_tokens=config.train.batch_tokens)
    hypotheses = [result.text for result in results]
    scores = score_translations(hypotheses, references)
    samples = list(zip(sources, references, hypotheses, strict=True))[:n_samples]
    sample = None
    if attention and model.attention_layers:  # model.attention: none has nothing to show
        sample = translator.translate_batch([attention_sentence(sources)], beam=1, attention=True, split=False)[0]
    return DevScores(loss, scores["bleu"], scores["chrf"], samples, sample)


def attention_sentence(sources: list[str], shortest: int = 5, longest: int = 25) -> str:
    """The dev sentence whose attention each validation shows: the first of `shortest` to `longest`
    words (readable as a heat map), else the first one; the same at every validation."""
    return next((line for line in sources if shortest <= len(line.split()) <= longest), sources[0])
