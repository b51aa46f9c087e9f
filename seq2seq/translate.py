"""`s2s translate`: sentences from arguments, a file or stdin, one output line per input line.

Lines are split on '\\n' only, so a '\\r', vertical tab or form feed inside a line never makes
an extra line; every output line is made free of line-break characters. Reading stdin streams:
what is available is translated and written (and flushed) at once, so the command works both
as a pipe filter over a big file and interactively, one line at a time.
"""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator

from seq2seq.allocator import keep_large_tensors_on_the_heap
from seq2seq.checkpoint import resolve_model
from seq2seq.errors import UserError
from seq2seq.files import check_output, decode_utf8, read_lines, write_lines

if TYPE_CHECKING:
    from seq2seq.translator import Translation, TranslationResult, Translator

STDIN_BATCH_LINES = 2000  # most stdin lines translated together (length-sorted inside)
_READ_SIZE = 1 << 16


class _LineDecoder:
    """UTF-8 text of stdin's lines, counted, so the first line that is not UTF-8 gets one warning."""

    def __init__(self) -> None:
        self.line = 0
        self.warned = False

    def __call__(self, raw: bytes) -> str:
        self.line += 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if self.warned:
                return raw.decode("utf-8", errors="replace")
            self.warned = True
            return decode_utf8(raw, "stdin line {line}", first_line=self.line)  # warns


def stdin_batches(stream: BinaryIO, max_lines: int = STDIN_BATCH_LINES) -> Iterator[list[str]]:
    """Lines of a binary stream in batches of what is available right now.

    With a real file descriptor, read whatever has arrived (blocking only when nothing has),
    and keep reading while more is ready without waiting, up to `max_lines` complete lines:
    an interactive user gets each line back at once, a pipe from a big file gets big batches.
    Streams without a descriptor (e.g. in tests) are read line by line in batches.
    """
    _decode_line = _LineDecoder()
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None:
        batch: list[str] = []
        for raw in iter(stream.readline, b""):
            batch.append(_decode_line(raw.rstrip(b"\n")))
            if len(batch) >= max_lines:
                yield batch
                batch = []
        if batch:
            yield batch
        return

    pending = b""
    eof = False
    while not eof:
        chunk = os.read(fd, _READ_SIZE)  # blocks until something (or EOF) arrives
        eof = not chunk
        pending += chunk
        while not eof and pending.count(b"\n") < max_lines and _ready(fd):
            chunk = os.read(fd, _READ_SIZE)
            eof = not chunk
            pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()  # an unfinished last line waits for its newline (or EOF)
        if eof and pending:
            lines.append(pending)
            pending = b""
        for start in range(0, len(lines), max_lines):
            yield [_decode_line(raw) for raw in lines[start:start + max_lines]]


def _ready(fd: int) -> bool:
    """True if a read from fd would not block."""
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def format_hypotheses(hyps: list[Translation], n_best: int | None) -> str:
    """One output line: the best translation, or exactly K tab-separated `score<TAB>text` pairs.

    Every line has the same K pairs, so the output stays a table: where the search found fewer
    than K hypotheses (an empty input has just the empty one) the missing pairs are `-inf<TAB>`.
    """
    if not n_best:
        return hyps[0].text
    pairs = [f"{hyp.score:.4f}\t{hyp.text.replace(chr(9), ' ')}" for hyp in hyps[:n_best]]
    return "\t".join(pairs + ["-inf\t"] * (n_best - len(pairs)))


class _Output:
    """Where translated lines go: stdout (flushed per batch) or a file written atomically at the end."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.kept: list[str] = []

    def write(self, lines: list[str]) -> None:
        if self.path is not None:
            self.kept.extend(lines)
            return
        data = "".join(f"{line}\n" for line in lines)
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:  # UTF-8 whatever the locale says
            sys.stdout.flush()
            buffer.write(data.encode("utf-8", errors="replace"))
            buffer.flush()
        else:
            sys.stdout.write(data)
            sys.stdout.flush()

    def close(self) -> None:
        if self.path is not None:
            write_lines(self.path, self.kept)


def _check_attention_args(translator: Translator, layer: int | None, head: int | None) -> None:
    model = getattr(translator, "model", None)
    if model is None:
        raise UserError(f"{translator.path.parent}: an exported CTranslate2 model gives no attention weights; "
                        "plot with the s2s run instead")
    if model.attention_layers == 0:
        raise UserError(f"{translator.path}: this model has no attention (model.attention: none), "
                        "so there is nothing to plot")
    layers, heads = model.attention_layers, model.attention_heads
    if layer is not None and not 1 <= layer <= layers:
        raise UserError(f"--layer {layer}: the model has {layers} decoder layer(s) with "
                        f"encoder-decoder attention; choose 1..{layers}")
    if head is not None and not 1 <= head <= heads:
        raise UserError(f"--head {head}: the model has {heads} attention head(s); choose 1..{heads}")


def _plot_attention(translator: Translator, result: TranslationResult, path: Path, layer: int | None,
                    head: int | None) -> None:
    from seq2seq.plots import plot_attention

    hyp = result.best
    if hyp.attention is None or result.source_pieces is None or hyp.pieces is None:
        raise UserError(f"{translator.path}: this model has no attention, so there is nothing to plot")
    attention = hyp.attention  # (tgt_len + 1, layers, heads, src_len)
    layer_index = (layer - 1) if layer is not None else attention.size(1) - 1
    weights = attention[:, layer_index]  # (tgt_len + 1, heads, src_len)
    weights = weights.mean(dim=1) if head is None else weights[:, head - 1]
    model = translator.model
    what = ("" if model.attention_layers == 1 and model.attention_heads == 1 else
            f", decoder layer {layer_index + 1}, " + ("mean of heads" if head is None else f"head {head}"))
    title = f"{result.source[:80]}\n→ {hyp.text[:80]}\n({translator.path}{what})"
    plot_attention(weights, result.source_pieces, hyp.pieces, path, title, result.source_symbols, hyp.symbols)
    print(f"attention plot: {path}", file=sys.stderr)


def translate_command(*, text: list[str], model: Path | None, input_file: Path | None,
                      output: Path | None, beam: int | None, n_best: int | None, max_len: int | None,
                      batch_tokens: int | None, max_repeats: int | None, plot_attention: Path | None,
                      length_penalty: float | None = None, length_penalty_kind: str | None = None,
                      layer: int | None, head: int | None, device: str | None = None,
                      precision: str | None = None, protect_entities: bool | None = None,
                      no_repeat_ngram: int | None = None, max_piece_run: int | None = None,
                      split_sentences: bool | None = None) -> None:
    """`s2s translate`: see the module docstring; one output line per input line."""
    from seq2seq.loading import open_translator

    if text and input_file is not None:
        raise UserError("give sentences as arguments or --input FILE, not both")
    if (layer is not None or head is not None) and plot_attention is None:
        raise UserError("--layer and --head only apply with --plot-attention PATH.png")
    if plot_attention is not None and plot_attention.suffix.lower() != ".png":
        raise UserError(f"--plot-attention {plot_attention}: the file name must end in .png")
    if input_file is not None and not input_file.exists():  # /dev/stdin, <(cmd), /dev/null will do
        raise UserError(f"{input_file}: input file not found")
    model = resolve_model(model)
    inputs = ([input_file] if input_file is not None else []) + [model]
    if output is not None:
        check_output(output, inputs, "output file", others=[plot_attention] if plot_attention else ())
    if plot_attention is not None:
        check_output(plot_attention, inputs, "attention plot")

    translator = open_translator(model, beam=beam, batch_tokens=batch_tokens, max_repeats=max_repeats,
                                 length_penalty=length_penalty, length_penalty_kind=length_penalty_kind,
                                 device=device, precision=precision, protect_entities=protect_entities,
                                 no_repeat_ngram=no_repeat_ngram,
                                 max_piece_run=max_piece_run, split=split_sentences)
    keep_large_tensors_on_the_heap()
    translator.show_progress = input_file is not None and sys.stderr.isatty()  # a file: long work; piped: nothing
    if n_best is not None and beam is not None and n_best > beam:
        raise UserError(f"--n-best {n_best} needs a beam at least that wide; got --beam {beam}")
    if plot_attention is not None:
        _check_attention_args(translator, layer, head)

    def translate(lines: list[str], attention: bool = False) -> list[TranslationResult]:
        return translator.translate_batch(lines, n_best=n_best or 1, max_len=max_len, attention=attention)

    if text:  # one output line per argument, even for an argument that holds newlines
        batches: Iterable[list[str]] = [[t.replace("\n", " ") for t in text]]
    elif input_file is not None:
        batches = [read_lines(input_file, "input file")]
    else:
        if sys.stdin.isatty() and plot_attention is None:
            print("reading sentences from stdin, one per line (Ctrl-D to end)", file=sys.stderr)
        batches = stdin_batches(sys.stdin.buffer)

    sink = _Output(output)
    try:
        if plot_attention is not None:
            lines = [line for batch in batches for line in batch]
            if len(lines) != 1 or not lines[0].strip():
                raise UserError(f"--plot-attention needs exactly one non-empty input sentence; "
                                f"got {len(lines)} line(s)")
            result = translate(lines, attention=True)[0]
            _plot_attention(translator, result, plot_attention, layer, head)
            sink.write([format_hypotheses(result.hypotheses, n_best)])
        else:
            for lines in batches:
                sink.write([format_hypotheses(result.hypotheses, n_best) for result in translate(lines)])
    except BrokenPipeError:  # e.g. `s2s translate < big.txt | head -3`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return
    sink.close()
