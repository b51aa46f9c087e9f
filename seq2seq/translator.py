"""`Translator`: a trained model with its tokenizers, normalisation and search settings.

Text in, text out: the public Python API, and what `s2s translate`, `s2s eval` and validation
during training all use.

    from seq2seq import Translator

    translator = Translator.load("runs/tatoeba-transformer")        # a run directory or a .pt file
    translator.translate("Je ne sais pas.")                           # -> "I don't know."
    translator.translate(["Où est la gare ?", "Merci."])              # -> a list, in input order
    results = translator.translate_batch(["Bonjour."], n_best=3, attention=True)
    results[0].hypotheses[0].score, results[0].source_pieces          # n-best, scores, attention

The text side lives here: normalising, encoding into pieces, batching sentences of similar
length by tokens, decoding pieces back into text. The search itself (`seq2seq.search`) only sees
tensors of token ids.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, overload

import torch
from torch import Tensor

from seq2seq.config import Config, DecodeConfig
from seq2seq.data.normalize import elision_language, normalize_text
from seq2seq.data.placeholders import Protector, protect_all, restore, shown_pieces, symbol_ids
from seq2seq.devices import DTYPES, resolve_device, resolve_precision
from seq2seq.errors import UserError
from seq2seq.models.base import Seq2SeqModel
from seq2seq.search import Hypothesis, SearchOptions, search
from seq2seq.special_tokens import EOS_ID, PAD_ID

# Longest source and output (in subwords, EOS/BOS included) for models whose positional
# encodings do not bound them (RNNs): a sentence of thousands of subwords is far outside
# anything such a model was trained on.
DEFAULT_MAX_POSITIONS = 1024

# Characters that str.splitlines() (and many tools) treat as line breaks. Output text never
# holds one, so every input line gives exactly one output line.
LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


@dataclass
class Translation(Hypothesis):
    """One hypothesis of the search with its text (on one line)."""

    text: str = ""
    # the target pieces, EOS included (one per row of `attention`); only with attention=True
    pieces: list[str] | None = None


@dataclass
class TranslationResult:
    """What one input sentence became: its hypotheses, best first."""

    source: str  # the input sentence as given
    hypotheses: list[Translation]  # up to n_best, best score first; one empty one for empty input
    # the source pieces the model read, EOS included (one per column of the attention);
    # only with attention=True
    source_pieces: list[str] | None = None

    @property
    def best(self) -> Translation:
        return self.hypotheses[0]

    @property
    def text(self) -> str:
        return self.hypotheses[0].text


class TextTranslator:
    """What every translator offers: `translate_batch` (each engine's own) and `translate` (here)."""

    @overload
    def translate(self, sentences: str, *, beam: int | None = None) -> str: ...

    @overload
    def translate(self, sentences: Sequence[str], *, beam: int | None = None) -> list[str]: ...

    def translate(self, sentences: str | Sequence[str], *, beam: int | None = None) -> str | list[str]:
        """The best translation of one sentence, or of each sentence of a list (in input order)."""
        if isinstance(sentences, str):
            return self.translate_batch([sentences], beam=beam)[0].text
        return [result.text for result in self.translate_batch(sentences, beam=beam)]

    def translate_batch(self, sentences: Sequence[str], *, beam: int | None = None, n_best: int = 1,
                        max_len: int | None = None, batch_tokens: int | None = None,
                        attention: bool = False) -> list[TranslationResult]:
        raise NotImplementedError


class Translator(TextTranslator):
    """Translate sentences with one model; see the module docstring for an example."""

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
        self.protector = protector  # the model's placeholders (train.placeholders), when it has them

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
             precision: str | None = None, placeholders: bool | None = None) -> Translator:
        """Load a run directory (its best.pt, else last.pt) or one checkpoint file.

        beam, length_penalty, length_penalty_kind, batch_tokens and max_repeats override the run's
        decode settings. device is where the model runs ("auto" by default: the CUDA GPU when
        there is one, else the CPU; "cpu", "cuda", "cuda:1", "mps"); precision is the number
        format of its weights and matrix products ("fp32", "bf16", "fp16" or "auto"; default the
        run's decode.precision). Scores, log-probabilities and returned attention stay float32.
        placeholders=False translates a model trained with train.placeholders without them.
        """
        from seq2seq.allocator import bound_primitive_caches
        from seq2seq.checkpoint import load_for_inference

        bound_primitive_caches()  # a server decodes batches of ever new shapes

        target = resolve_device(device, "device")
        if precision is not None:  # a bad name fails before the (slow) checkpoint load
            resolve_precision(precision, target, "precision")
        loaded = load_for_inference(path)  # on the CPU, wherever it was saved
        blame = "precision" if precision is not None else f"{loaded.path}: decode.precision"
        chosen = resolve_precision(precision or loaded.config.decode.precision, target, blame)
        overrides = {key: value for key, value in (("beam_size", beam), ("length_penalty", length_penalty),
                                                   ("batch_tokens", batch_tokens), ("max_repeats", max_repeats),
                                                   ("length_penalty_kind", length_penalty_kind),
                                                   ("placeholders", placeholders))
                     if value is not None}
        if overrides.get("length_penalty_kind", "gnmt") not in ("gnmt", "length"):
            raise UserError(f"length penalty kind {length_penalty_kind!r}: use gnmt or length")
        decode = dataclasses.replace(loaded.config.decode, **overrides, precision=chosen)
        config = dataclasses.replace(loaded.config, decode=decode)
        model = loaded.model.to(device=target, dtype=DTYPES[chosen])
        return cls.for_config(model, loaded.src_tokenizer, loaded.tgt_tokenizer, config, loaded.path, loaded.protector)

    def translate_batch(self, sentences: Sequence[str], *, beam: int | None = None, n_best: int = 1,
                        max_len: int | None = None, batch_tokens: int | None = None,
                        attention: bool = False) -> list[TranslationResult]:
        """Translate raw sentences: normalise, encode, search in length-sorted batches, detokenise.

        Returns one TranslationResult per sentence, in input order, with up to n_best hypotheses
        (the beam is widened to n_best if narrower). Empty or whitespace-only sentences give one
        empty hypothesis without calling the model. Sources longer than the model takes are
        truncated (with a warning on stderr). max_len cuts outputs at that many pieces (beam search
        then compares the cut hypotheses by their pieces alone); without it the bound is
        settings.max_len_ratio x source pieces + settings.max_len_offset. With attention=True
        each hypothesis carries its encoder-decoder attention and target pieces, and each
        result its source pieces. The model is put in eval mode and restored afterwards.
        """
        settings = self.settings
        n_best = max(1, n_best)
        protector = self.protector if settings.placeholders else None
        options = SearchOptions(beam_size=max(beam or settings.beam_size, n_best), alpha=settings.length_penalty,
                                penalty=settings.length_penalty_kind,
                                symbols=symbol_ids(self.src_tokenizer, self.tgt_tokenizer) if protector else (),
                                n_best=n_best, need_attention=attention, max_repeats=settings.max_repeats,
                                cut_at_max_len=max_len is not None)
        texts = [normalize_text(s, self.normalization, self.lowercase, self.elision) for s in sentences]
        texts, originals = protect_all(texts, protector)
        todo = [i for i, text in enumerate(texts) if text]
        pieces = self._fit(self.src_tokenizer.encode_batch([texts[i] for i in todo]) if todo else [])
        limit = self.max_positions
        if max_len is not None:
            max_lengths = [max_len] * len(pieces)
        else:
            max_lengths = [int(settings.max_len_ratio * len(ids) + settings.max_len_offset) for ids in pieces]
        max_lengths = [min(n, limit - 1) for n in max_lengths]

        results = [TranslationResult(sentence, [Translation([], 0.0)]) for sentence in sentences]
        if not pieces:
            return results
        sources = [ids + [EOS_ID] for ids in pieces]
        was_training = self.model.training
        self.model.eval()
        try:
            found = search_ids(self.model, sources, max_lengths, options, batch_tokens or settings.batch_tokens)
        finally:
            self.model.train(was_training)
        for index, source_ids, hyps in zip(todo, sources, found):
            results[index].hypotheses = [self._with_text(hyp, attention, originals[index]) for hyp in hyps]
            if attention:
                results[index].source_pieces = shown_pieces(self.src_tokenizer.pieces(source_ids), originals[index])
        return results

    @property
    def max_positions(self) -> int:
        """Longest source or output the model takes, in pieces with BOS/EOS."""
        return self.model.max_positions or DEFAULT_MAX_POSITIONS

    def _fit(self, pieces: list[list[int]]) -> list[list[int]]:
        """Cut sources that, with their EOS, are longer than the model takes; say so on stderr."""
        limit = self.max_positions - 1
        truncated = sum(len(ids) > limit for ids in pieces)
        if truncated:
            print(f"warning: {truncated} sentence(s) longer than {limit} subwords truncated to that "
                  "length (the longest source the model takes)", file=sys.stderr)
        return [ids[:limit] for ids in pieces]

    def _with_text(self, hyp: Hypothesis, attention: bool, originals: dict[str, str]) -> Translation:
        dates = self.protector.dates if self.protector else None  # dates are put back in the target language
        text = restore(self.tgt_tokenizer.decode(hyp.tokens), originals, dates).translate(LINE_BREAKS)
        pieces = shown_pieces(self.tgt_tokenizer.pieces(hyp.tokens + [EOS_ID]), originals, dates) if attention else None
        return Translation(hyp.tokens, hyp.score, hyp.attention, text, pieces)


# ---------------------------------------------------------------------------------------------
# Token ids in, hypotheses out: batching of sentences around `seq2seq.search`


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


def pad_sequences(sequences: Sequence[Sequence[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    """Token lists -> (batch, longest) long tensor padded with PAD, and (batch,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded.to(device), lengths.to(device)


@torch.inference_mode()
def search_ids(model: Seq2SeqModel, sources: Sequence[Sequence[int]], max_lengths: Sequence[int],
               options: SearchOptions, batch_tokens: int = 8000) -> list[list[Hypothesis]]:
    """Search many sources given as id lists (pieces + [EOS]) in length-sorted batches.

    Returns the hypotheses in the order of `sources`. `batch_tokens` bounds source tokens x
    beam per batch (padding included).
    """
    device = next(model.parameters()).device
    results: list[list[Hypothesis]] = [[] for _ in sources]
    rows_budget = max(1, batch_tokens // options.beam_size)
    for batch in make_batches([len(s) for s in sources], rows_budget):
        src_tokens, src_lengths = pad_sequences([sources[i] for i in batch], device)
        found = search(model, src_tokens, src_lengths, [max_lengths[i] for i in batch], options)
        for index, hyps in zip(batch, found):
            results[index] = hyps
    return results
