"""The text pipeline every engine shares: sentences in, translations out.

    lines
      -> split       each line into its sentences (decode.split_sentences; seq2seq/sentences.py)
      -> normalise   as the training data was (normalization, lowercase, elision splitting)
      -> protect     names, numbers, dates and places become symbols (models trained with them)
      -> encode      SentencePiece ids of the source
      -> cut         to the longest source the model takes, with one warning for all cut ones
      -> batch       sentences of similar length together, by tokens
      -> engine      token ids in, hypotheses (ids, scores, attention if any) out
      -> decode      ids back into text
      -> restore     each symbol's words put back
      -> one line    per input: no output holds a line break (LINE_BREAKS); a split line's
                     sentences' translations joined again (their attention side by side)

`TextTranslator.translate_batch` runs it. An engine is a subclass that supplies only the step in
the middle: `max_positions`, `_batches` (how many sentences fit in one of its batches) and
`_search` (one batch of ids -> hypotheses). The engines are `seq2seq.translator.Translator`
(s2s's own search) and `seq2seq.export.ct2.CTranslate2Translator` (an exported model).

This module is also the one place outside the entities code that protects and restores text.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, overload

from seq2seq.config import DecodeConfig, option
from seq2seq.config_values import check_value
from seq2seq.data.normalize import normalize_text
from seq2seq.errors import UserError, Warnings
from seq2seq.entities import Protector, protect_all, restore, shown_pieces, symbol_ids
from seq2seq.search import Hypothesis, SearchOptions
from seq2seq.sentences import join_sentences, split_sentences
from seq2seq.special_tokens import EOS_ID

# Longest source and output (in subwords, EOS/BOS included) for models whose positional
# encodings do not bound them (RNNs, and exports made before the export recorded it): a
# sentence of thousands of subwords is far outside anything such a model was trained on.
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
    symbols: list[str | None] | None = None  # per piece, the entity symbol it is shown for (else None)


@dataclass
class TranslationResult:
    """What one input sentence became: its hypotheses, best first."""

    source: str  # the input sentence as given
    hypotheses: list[Translation]  # up to n_best, best score first; one empty one for empty input
    # the source pieces the model read, EOS included (one per column of the attention);
    # only with attention=True
    source_pieces: list[str] | None = None
    source_symbols: list[str | None] | None = None  # per source piece, the entity symbol it is shown for

    @property
    def best(self) -> Translation:
        return self.hypotheses[0]

    @property
    def text(self) -> str:
        return self.hypotheses[0].text


@dataclass
class Sources:
    """Input sentences made ready for an engine."""

    todo: list[int]  # indices of the sentences with something to translate (the others stay empty)
    ids: list[list[int]]  # their source ids, cut to fit, without EOS
    originals: list[dict[str, str]]  # per input sentence: what its symbols stand for


# ---------------------------------------------------------------------------------------------
# The arguments of the Python API, checked as the command line checks them

# API argument -> the decode key it overrides: its type and range (the CLI's options have the same)
DECODE_ARGUMENTS = {"beam": "beam_size", "length_penalty": "length_penalty",
                    "length_penalty_kind": "length_penalty_kind", "batch_tokens": "batch_tokens",
                    "max_repeats": "max_repeats", "no_repeat_ngram": "no_repeat_ngram",
                    "max_piece_run": "max_piece_run",
                    "split": "split_sentences", "protect_entities": "protect_entities"}
# arguments of one call that set no decode key, as --n-best and --max-len take them
CALL_ARGUMENTS: dict[str, tuple[dataclasses.Field, Any]] = {
    "n_best": (option(1, "hypotheses per sentence", low=1), int),
    "max_len": (option(None, "most pieces of an output", low=1), Optional[int]),
    "attention": (option(False, "return the attention"), bool)}
_DECODE_FIELDS = {f.name: f for f in dataclasses.fields(DecodeConfig)}
_DECODE_HINTS = typing.get_type_hints(DecodeConfig)
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_argument(name: str, value: Any, shown: str | None = None) -> Any:
    """An API argument checked by the rule of the config key it sets (or CALL_ARGUMENTS): a
    UserError naming it ("beam must be >= 1; got 0"), or as `shown` ("--beam", the CLI's name)."""
    key = DECODE_ARGUMENTS.get(name)
    fld, hint = (_DECODE_FIELDS[key], _DECODE_HINTS[key]) if key else CALL_ARGUMENTS[name]
    try:
        return check_value("", shown or name, value, fld, hint)
    except UserError as exc:
        raise UserError(str(exc).removeprefix(": ")) from None


def with_arguments(settings: DecodeConfig, **arguments: Any) -> DecodeConfig:
    """`settings` with the API arguments given (not None) in place of their decode keys, each checked."""
    return dataclasses.replace(settings, **{DECODE_ARGUMENTS[name]: check_argument(name, value)
                                            for name, value in arguments.items() if value is not None})


def sentence_list(sentences: Any) -> list[str]:
    """Any iterable of str (a generator too), read once; a TypeError that says what is not a str."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Iterable):
        raise TypeError(f"sentences must be a list (or any iterable) of str; got {type(sentences).__name__}"
                        + (" (translate() takes one sentence as a str)" if isinstance(sentences, str) else ""))
    listed = list(sentences)
    for index, sentence in enumerate(listed):
        if not isinstance(sentence, str):
            raise TypeError(f"sentences[{index}] must be a str; got {type(sentence).__name__}")
        lone = None if sentence.isascii() else _SURROGATE.search(sentence)  # no UTF-8 has one: SentencePiece fails
        if lone is not None:
            raise UserError(f"sentences[{index}] is no valid text: a lone surrogate U+{ord(lone.group()):04X} at "
                            f"character {lone.start() + 1} (decode its bytes with errors='replace')")
    return listed


# ---------------------------------------------------------------------------------------------
# The steps


def cut_to_fit(sources: list[list[int]], max_positions: int, warnings: Warnings = Warnings()) -> list[list[int]]:
    """Sources cut so that, with their EOS, they fit the model; one warning for all cut ones."""
    limit = max_positions - 1
    truncated = sum(len(ids) > limit for ids in sources)
    if truncated:
        warnings.say("truncated", truncated, lambda n: f"warning: {n} sentence(s) longer than {limit} subwords "
                     "truncated to that length (the longest source the model takes)")
    return [ids[:limit] for ids in sources]


def output_bounds(sources: list[list[int]], settings: DecodeConfig, max_len: int | None,
                  max_positions: int) -> list[int]:
    """Per source, the most pieces its output may have: max_len, else settings.max_len_ratio x
    source pieces + settings.max_len_offset; never past the model's positions."""
    if max_len is not None:
        bounds = [max_len] * len(sources)
    else:
        bounds = [int(settings.max_len_ratio * len(ids) + settings.max_len_offset) for ids in sources]
    return [min(n, max_positions - 1) for n in bounds]


def batches_by_length(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of sentences grouped into batches of similar length.

    Sentences are sorted longest first; a batch takes sentences while (sentences x longest
    length) stays within `budget` (always at least one sentence).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) + 1) * lengths[current[0]] > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


SearchBatch = Callable[[list[list[int]], list[int]], list[list[Hypothesis]]]


def search_in_batches(search_batch: SearchBatch, sources: Sequence[list[int]], max_lengths: Sequence[int],
                      batches: list[list[int]], advance: Callable[[int], object] | None = None) -> list[list[Hypothesis]]:
    """`search_batch(sources, max_lengths)` over each batch of indices; the hypotheses in the order of
    `sources`. `advance(n)` after each batch of n sentences (a progress bar's update)."""
    found: list[list[Hypothesis]] = [[] for _ in sources]
    for batch in batches:
        for index, hyps in zip(batch, search_batch([sources[i] for i in batch], [max_lengths[i] for i in batch])):
            found[index] = hyps
        if advance is not None:
            advance(len(batch))
    return found


def sentence_bar(total: int, shown: bool) -> Any:
    """A bar on stderr of the sentences searched (done/total, sentences/s, ETA), gone when done;
    one that shows nothing unless `shown`."""
    from tqdm import tqdm

    return tqdm(total=total, unit=" sentences", file=sys.stderr, disable=not shown, leave=False, dynamic_ncols=True)


def _side_by_side(attentions: list[Any]) -> Any:
    """Attention of a line's sentences, (target_k, layers, heads, source_k) each, as one block-diagonal
    (sum of targets, layers, heads, sum of sources); None where the engine gives none."""
    if any(a is None for a in attentions):
        return None
    rows, columns = sum(a.shape[0] for a in attentions), sum(a.shape[-1] for a in attentions)
    whole = attentions[0].new_zeros((rows, *attentions[0].shape[1:-1], columns))
    row = column = 0
    for a in attentions:
        whole[row:row + a.shape[0], ..., column:column + a.shape[-1]] = a
        row, column = row + a.shape[0], column + a.shape[-1]
    return whole


# ---------------------------------------------------------------------------------------------
# Entities: what the pipeline asks of them


def search_symbols(src_tokenizer: Any, tgt_tokenizer: Any, protector: Protector | None) -> tuple[tuple[int, int], ...]:
    """(source id, target id) of the symbols the search places once each; none without a protector."""
    return symbol_ids(src_tokenizer, tgt_tokenizer) if protector else ()


def shown(pieces: list[str], originals: dict[str, str], protector: Protector | None,
          target: bool) -> tuple[list[str], list[str | None]]:
    """Pieces for an attention plot, each symbol shown as its words (in the target language on that
    side), and per piece the symbol it is shown for (None for the other pieces)."""
    return shown_pieces(pieces, originals, protector if target else None), [p if p in originals else None for p in pieces]


# ---------------------------------------------------------------------------------------------
# The pipeline around an engine


class TextTranslator:
    """Text in, text out around an engine (see the module docstring).

    A subclass sets the attributes below and implements `max_positions`, `_batches` and `_search`.
    """

    settings: DecodeConfig  # beam, length penalty, output length, batching, entities
    src_tokenizer: Any
    tgt_tokenizer: Any
    normalization: str  # as the training data was
    lowercase: bool
    elision: str | None  # the source language whose elisions are split (data.split_elision)
    protector: Protector | None  # the model's entity symbols (train.protect_entities), when it has them
    languages: tuple[str | None, str | None] = (None, None)  # data.src_lang, data.tgt_lang: how to split and join
    warnings: Warnings = Warnings()  # each said; the server sets ThrottledWarnings (no client floods its log)
    show_progress: bool = False  # a bar while batches are searched (`s2s eval`, `translate -i`: on a terminal)

    @overload
    def translate(self, sentences: str, *, beam: int | None = None) -> str: ...

    @overload
    def translate(self, sentences: Iterable[str], *, beam: int | None = None) -> list[str]: ...

    def translate(self, sentences: str | Iterable[str], *, beam: int | None = None) -> str | list[str]:
        """The best translation of one sentence, or of each sentence of a list or any iterable (in input order)."""
        if isinstance(sentences, str):
            return self.translate_batch([sentences], beam=beam)[0].text
        return [result.text for result in self.translate_batch(sentence_list(sentences), beam=beam)]

    def translate_batch(self, sentences: Iterable[str], *, beam: int | None = None, n_best: int = 1,
                        max_len: int | None = None, batch_tokens: int | None = None,
                        attention: bool = False, split: bool | None = None) -> list[TranslationResult]:
        """Translate raw lines: split into sentences, normalise, protect, encode, search in length-sorted
        batches, decode, restore, join.

        Returns one TranslationResult per sentence, in input order, with up to n_best hypotheses
        (the beam is widened to n_best if narrower). Empty or whitespace-only sentences give one
        empty hypothesis without calling the model. Sources longer than the model takes are
        truncated (with a warning on stderr). max_len cuts outputs at that many pieces (beam search
        then compares the cut hypotheses by their pieces alone); without it the bound is
        settings.max_len_ratio x source pieces + settings.max_len_offset. With attention=True
        each hypothesis carries its encoder-decoder attention and target pieces, and each
        result its source pieces (an empty sentence: an empty attention, no pieces).
        `sentences` may be any iterable of str, read once; the other arguments are checked as the
        command line checks them (`check_argument`: a UserError naming the argument).
        With split (default: settings.split_sentences) a line of several sentences is translated as
        its sentences, each among the batch's others, and their translations joined: its k-th
        hypothesis joins the sentences' k-th (their last, where a sentence has fewer), scored by
        the sum of their scores; max_len bounds each sentence; its attention puts the sentences'
        side by side (each with its EOS row and column, zero between sentences).
        """
        sentences = sentence_list(sentences)
        settings = with_arguments(self.settings, beam=beam, batch_tokens=batch_tokens, split=split)
        n_best, max_len, attention = (check_argument(name, value) for name, value in
                                      (("n_best", n_best), ("max_len", max_len), ("attention", attention)))
        if settings.split_sentences:
            parts = [split_sentences(sentence, self.languages[0]) for sentence in sentences]
            if any(len(p) > 1 for p in parts):
                found = iter(self._translate([p for line in parts for p in line], settings, n_best, max_len, attention))
                return [self._joined(sentence, [next(found) for _ in line], attention)
                        for sentence, line in zip(sentences, parts)]
        return self._translate(sentences, settings, n_best, max_len, attention)

    def _translate(self, sentences: list[str], settings: DecodeConfig, n_best: int, max_len: int | None,
                   attention: bool) -> list[TranslationResult]:
        """`translate_batch` of sentences that are not split (arguments checked)."""
        protector = self.protector if settings.protect_entities else None
        results = [TranslationResult(sentence, [self._nothing(attention)], *(([], []) if attention else ()))
                   for sentence in sentences]
        ready = self.sources(sentences, protector)
        if not ready.ids:
            return results
        # a wider beam is a slip (--beam 100000) that runs out of memory
        vocabulary = getattr(self.tgt_tokenizer, "vocab_size", None)
        if vocabulary is not None and max(settings.beam_size, n_best) > vocabulary:
            raise UserError(f"beam {max(settings.beam_size, n_best)} is wider than the target vocabulary "
                            f"({vocabulary} pieces); choose a beam of at most {vocabulary}")
        options = SearchOptions(beam_size=max(settings.beam_size, n_best), alpha=settings.length_penalty,
                                penalty=settings.length_penalty_kind,
                                symbols=search_symbols(self.src_tokenizer, self.tgt_tokenizer, protector),
                                n_best=n_best, need_attention=attention, max_repeats=settings.max_repeats,
                                no_repeat_ngram=settings.no_repeat_ngram, max_piece_run=settings.max_piece_run,
                                cut_at_max_len=max_len is not None, stop_lookahead=settings.stop_lookahead)
        sources = [ids + [EOS_ID] for ids in ready.ids]
        max_lengths = output_bounds(ready.ids, settings, max_len, self.max_positions)
        batches = self._batches([len(ids) for ids in sources], settings.batch_tokens, options.beam_size)
        with sentence_bar(len(sources), self.show_progress) as bar:
            found = search_in_batches(lambda batch, bounds: self._search(batch, bounds, options), sources,
                                      max_lengths, batches, bar.update)
        for index, source_ids, hyps in zip(ready.todo, sources, found):
            originals = ready.originals[index]
            results[index].hypotheses = [self._with_text(hyp, attention, originals) for hyp in hyps]
            if attention:
                pieces = self.src_tokenizer.pieces(source_ids)
                results[index].source_pieces, results[index].source_symbols = shown(
                    pieces, originals, self.protector, target=False)
        return results

    def _joined(self, line: str, parts: list[TranslationResult], attention: bool) -> TranslationResult:
        """The result of a line from the results of its sentences (see `translate_batch`)."""
        joined = TranslationResult(line, [], None)
        for k in range(max(len(part.hypotheses) for part in parts)):
            hyps = [part.hypotheses[min(k, len(part.hypotheses) - 1)] for part in parts]
            text = join_sentences([hyp.text for hyp in hyps], self.languages[1])
            hyp = Translation([t for h in hyps for t in h.tokens], sum(h.score for h in hyps), None, text)
            if attention:
                hyp.pieces, hyp.symbols = ([x for h in hyps for x in getattr(h, name) or []] for name in ("pieces", "symbols"))
                hyp.attention = _side_by_side([h.attention for h in hyps])
            joined.hypotheses.append(hyp)
        if attention:
            joined.source_pieces, joined.source_symbols = (
                [x for part in parts for x in getattr(part, name) or []] for name in ("source_pieces", "source_symbols"))
        return joined

    def sources(self, sentences: Sequence[str], protector: Protector | None) -> Sources:
        """Normalise, protect, encode and cut: the sentences as the engine reads them."""
        texts = [normalize_text(s, self.normalization, self.lowercase, self.elision) for s in sentences]
        texts, originals = protect_all(texts, protector)
        todo = [i for i, text in enumerate(texts) if text]
        ids = self.src_tokenizer.encode_batch([texts[i] for i in todo]) if todo else []
        return Sources(todo, cut_to_fit(ids, self.max_positions, self.warnings), originals)

    def _nothing(self, attention: bool) -> Translation:
        """The translation of an empty sentence (the model is not asked): no pieces; with attention,
        an empty one (0 x layers x heads x 0) where the model has attention."""
        if not attention:
            return Translation([], 0.0)
        return Translation([], 0.0, self._empty_attention(), "", [], [])

    def _empty_attention(self) -> Any:
        """What `_nothing` gives as attention (None: the engine gives none)."""
        return None

    def _with_text(self, hyp: Hypothesis, attention: bool, originals: dict[str, str]) -> Translation:
        """A hypothesis decoded into one line of text, its symbols' words put back."""
        text = restore(self.tgt_tokenizer.decode(hyp.tokens), originals, self.protector).translate(LINE_BREAKS)
        pieces, symbols = (shown(self.tgt_tokenizer.pieces(hyp.tokens + [EOS_ID]), originals, self.protector, True)
                           if attention else (None, None))
        return Translation(hyp.tokens, hyp.score, hyp.attention, text, pieces, symbols)

    # -- the engine ---------------------------------------------------------------------------

    @property
    def max_positions(self) -> int:
        """Longest source or output the model takes, in pieces with BOS/EOS."""
        raise NotImplementedError

    def _batches(self, lengths: list[int], batch_tokens: int, beam_size: int) -> list[list[int]]:
        """Sentence indices in batches (`batches_by_length`); `lengths`: source ids with EOS."""
        raise NotImplementedError

    def _search(self, sources: list[list[int]], max_lengths: list[int], options: SearchOptions) -> list[list[Hypothesis]]:
        """One batch: source ids (EOS included) -> per source up to options.n_best hypotheses, best first."""
        raise NotImplementedError
