"""`Translator`: a trained model with its tokenizers, normalisation and search settings.

Text in, text out: the public Python API, and what `s2s translate`, `s2s eval` and validation
during training all use.

    from seq2seq import Translator

    translator = Translator.load("runs/tatoeba-transformer")        # a run directory or a .pt file
    translator.translate("Je ne sais pas.")                           # -> "I don't know."
    translator.translate(["Où est la gare ?", "Merci."])              # -> a list, in input order
    results = translator.translate_batch(["Bonjour."], n_best=3, attention=True)
    results[0].hypotheses[0].score, results[0].source_pieces          # n-best, scores, attention

The text side (normalising, protecting entities, encoding, cutting, batching, decoding,
restoring) is `seq2seq.pipeline`, shared with exported models. The Translator is the engine in
its middle: batches of token ids through `seq2seq.search`, which only sees tensors of ids.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from seq2seq.config import Config, DecodeConfig
from seq2seq.data.normalize import elision_language
from seq2seq.devices import dtype_of, resolve_device, resolve_precision
from seq2seq.errors import UserError
from seq2seq.models.base import Seq2SeqModel
from seq2seq.pipeline import (DEFAULT_MAX_POSITIONS, LINE_BREAKS, Protector, TextTranslator, Translation,
                              TranslationResult, batches_by_length, search_in_batches, with_arguments)
from seq2seq.search import Hypothesis, SearchOptions, search
from seq2seq.special_tokens import PAD_ID

# Importable from here as before: the results' types and the pipeline's constants.
__all__ = ["DEFAULT_MAX_POSITIONS", "LINE_BREAKS", "TextTranslator", "Translation", "TranslationResult",
           "Translator", "pad_sequences", "search_ids", "search_padded"]


class Translator(TextTranslator):
    """Translate sentences with one model; see the module docstring for an example.

    The engine of the pipeline (`seq2seq.pipeline`): batches of ids through `seq2seq.search`, the
    model in eval mode meanwhile (its mode is put back afterwards).
    """

    def __init__(self, model: Seq2SeqModel, src_tokenizer: Any, tgt_tokenizer: Any,
                 settings: DecodeConfig | None = None, *, normalization: str = "nfkc",
                 lowercase: bool = False, config: Config | None = None, path: Path | None = None,
                 protector: Protector | None = None, elision: str | None = None) -> None:
        self.model = model
        self.src_tokenizer, self.tgt_tokenizer = src_tokenizer, tgt_tokenizer
        self.settings = settings or DecodeConfig()  # beam, length penalty, output length, batching
        self.normalization, self.lowercase = normalization, lowercase  # as the training data was
        self.elision = elision  # the source language whose elisions are split (data.split_elision)
        self.config = config  # the model's whole config, when known
        self.path = path  # the checkpoint it came from, when loaded
        self.protector = protector  # the model's entity symbols (train.protect_entities), when it has them
        if config is not None:  # how a line is split into sentences and their translations joined
            self.languages = (config.data.src_lang, config.data.tgt_lang)

    @classmethod
    def for_config(cls, model: Seq2SeqModel, src_tokenizer: Any, tgt_tokenizer: Any, config: Config,
                   path: Path | None = None, protector: Protector | None = None) -> Translator:
        """A Translator that reads text as `config`'s data was prepared and searches as its decode section says."""
        return cls(model, src_tokenizer, tgt_tokenizer, config.decode, normalization=config.data.normalization,
                   lowercase=config.data.lowercase, config=config, path=path, protector=protector,
                   elision=elision_language(config.data.split_elision, config.data.src_lang))

    @classmethod
    def load(cls, path: str | Path, *, beam: int | None = None, length_penalty: float | None = None,
             batch_tokens: int | None = None, max_repeats: int | None = None,
             length_penalty_kind: str | None = None, device: str | torch.device | None = None,
             precision: str | None = None, protect_entities: bool | None = None,
             no_repeat_ngram: int | None = None, max_piece_run: int | None = None,
             split: bool | None = None) -> Translator:
        """Load a run directory (its best.pt, else last.pt) or one checkpoint file.

        beam, length_penalty, length_penalty_kind, batch_tokens, max_repeats, no_repeat_ngram, max_piece_run and split
        (decode.split_sentences) override the run's decode settings. device is where the model runs ("auto" by default: the CUDA GPU when
        there is one, else the CPU; "cpu", "cuda", "cuda:1", "mps"); precision is the number
        format of its weights and matrix products ("fp32", "bf16", "fp16" or "auto"; default the
        run's decode.precision). Scores, log-probabilities and returned attention stay float32.
        protect_entities=False translates a model trained with entity symbols (train.protect_entities) without them.
        """
        from seq2seq.allocator import bound_primitive_caches
        from seq2seq.checkpoint import load_for_inference

        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a run directory or checkpoint file (str or Path); got {type(path).__name__}")
        bound_primitive_caches()  # a server decodes batches of ever new shapes

        arguments = dict(beam=beam, length_penalty=length_penalty, batch_tokens=batch_tokens, max_repeats=max_repeats,
                         length_penalty_kind=length_penalty_kind, protect_entities=protect_entities,
                         no_repeat_ngram=no_repeat_ngram, max_piece_run=max_piece_run, split=split)
        with_arguments(DecodeConfig(), **arguments)  # bad values fail before the (slow) checkpoint load
        target = resolve_device(device, "device")
        if precision is not None:  # a bad name fails before the (slow) checkpoint load
            resolve_precision(precision, target, "precision")
        loaded = load_for_inference(path)  # on the CPU, wherever it was saved
        blame = "precision" if precision is not None else f"{loaded.path}: decode.precision"
        chosen = resolve_precision(precision or loaded.config.decode.precision, target, blame)
        decode = dataclasses.replace(with_arguments(loaded.config.decode, **arguments), precision=chosen)
        config = dataclasses.replace(loaded.config, decode=decode)
        model = loaded.model.to(device=target, dtype=dtype_of(chosen))
        return cls.for_config(model, loaded.src_tokenizer, loaded.tgt_tokenizer, config, loaded.path, loaded.protector)

    @property
    def max_positions(self) -> int:
        """Longest source or output the model takes, in pieces with BOS/EOS."""
        return self.model.max_positions or DEFAULT_MAX_POSITIONS

    def _empty_attention(self) -> Tensor | None:
        layers, heads = self.model.attention_layers, self.model.attention_heads
        return torch.zeros(0, layers, heads, 0) if layers else None

    def _batches(self, lengths: list[int], batch_tokens: int, beam_size: int) -> list[list[int]]:
        # batch_tokens bounds source tokens x beam (padding included): the search runs beam rows per sentence
        return batches_by_length(lengths, max(1, batch_tokens // beam_size))

    def _search(self, sources: list[list[int]], max_lengths: list[int], options: SearchOptions) -> list[list[Hypothesis]]:
        was_training = self.model.training
        if was_training:  # (only then: `s2s serve` searches from several threads at once)
            self.model.eval()  # and put back afterwards
        try:
            return search_padded(self.model, sources, max_lengths, options)
        except (torch.OutOfMemoryError, RuntimeError) as exc:  # the CPU's allocator raises a RuntimeError
            if not isinstance(exc, torch.OutOfMemoryError) and "allocate memory" not in str(exc):
                raise
            raise UserError(f"out of memory decoding {len(sources)} sentence(s) at beam {options.beam_size}: "
                            "lower the beam or batch_tokens (--beam, --batch-tokens)") from None
        finally:
            if was_training:
                self.model.train()


# ---------------------------------------------------------------------------------------------
# Token ids in, hypotheses out, around `seq2seq.search`


def pad_sequences(sequences: Sequence[Sequence[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    """Token lists -> (batch, longest) long tensor padded with PAD, and (batch,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded.to(device), lengths.to(device)


@torch.inference_mode()
def search_padded(model: Seq2SeqModel, sources: Sequence[Sequence[int]], max_lengths: Sequence[int],
                  options: SearchOptions) -> list[list[Hypothesis]]:
    """Search one batch of sources given as id lists (pieces + [EOS])."""
    src_tokens, src_lengths = pad_sequences(sources, next(model.parameters()).device)
    return search(model, src_tokens, src_lengths, list(max_lengths), options)


def search_ids(model: Seq2SeqModel, sources: Sequence[Sequence[int]], max_lengths: Sequence[int],
               options: SearchOptions, batch_tokens: int = 8000) -> list[list[Hypothesis]]:
    """Search many sources given as id lists (pieces + [EOS]) in length-sorted batches.

    Returns the hypotheses in the order of `sources`. `batch_tokens` bounds source tokens x
    beam per batch (padding included), as the Translator batches.
    """
    batches = batches_by_length([len(s) for s in sources], max(1, batch_tokens // options.beam_size))
    return search_in_batches(lambda batch, bounds: search_padded(model, batch, bounds, options),
                             [list(s) for s in sources], max_lengths, batches)
