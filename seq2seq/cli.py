"""The `s2s` command line. Thin: parse arguments, call one function per command.

Every user-fixable problem surfaces as `seq2seq.errors.UserError`, printed as one line on
stderr (`error: ...`) with exit code 1, never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq import __version__
from seq2seq.errors import UserError

app = typer.Typer(
    name="s2s",
    help="Train, evaluate and use neural machine translation models (RNN with attention, Transformer).\n\n"
         "Typical path: s2s data prepare --config C; s2s train --config C; s2s eval; s2s translate TEXT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Get and prepare parallel corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="experiment YAML file (see configs/reference.yaml)")]
SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", help="override one config key, e.g. --set train.lr=0.0005 (repeatable)")]
MaxRepeatsOption = Annotated[Optional[int], typer.Option(
    "--max-repeats", min=0, help="end a translation that repeats one piece (or a run of up to 4) this many "
                                 "times in a row; 0 = never (default: the run's decode.max_repeats)")]
NoRepeatNgramOption = Annotated[Optional[int], typer.Option(
    "--no-repeat-ngram", min=0, help="no translation repeats an n-gram of this many subwords; 0 = off (default: "
                                     "the run's decode.no_repeat_ngram)")]
MaxPieceRunOption = Annotated[Optional[int], typer.Option(
    "--max-piece-run", min=0, help="no translation has one subword more than this many times in a row; 0 = no "
                                   "limit (default: the run's decode.max_piece_run)")]
NoSplitOption = Annotated[bool, typer.Option(
    "--no-split", help="translate each line as one sequence, not split into its sentences (decode.split_sentences)")]
LengthPenaltyOption = Annotated[Optional[float], typer.Option(
    "--length-penalty", min=0.0, help="length penalty exponent alpha (default: the run's decode.length_penalty)")]
PenaltyKindOption = Annotated[Optional[str], typer.Option(
    "--length-penalty-kind", help="gnmt: divide by ((5 + length) / 6) ** alpha; length: by length ** alpha "
                                  "(default: the run's decode.length_penalty_kind)")]
ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", "-m", help="run directory or checkpoint file; default: the most recently trained run under runs/")]


def _device_name(value: Optional[str]) -> Optional[str]:
    """--device: a name `seq2seq.devices` knows (whether this machine has it is checked on use)."""
    if value is not None:
        from seq2seq.devices import DEVICE_NAME  # here: it imports torch, which --help does not need

        if not DEVICE_NAME.fullmatch(value):
            raise typer.BadParameter(f"{value!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
    return value


def _precision_name(value: Optional[str]) -> Optional[str]:
    """--precision: one of seq2seq.devices.PRECISIONS (whether it runs here is checked on use)."""
    if value is not None:
        from seq2seq.devices import PRECISIONS

        if value not in PRECISIONS:
            raise typer.BadParameter(f"{value!r} is not a precision: use {', '.join(PRECISIONS)}")
    return value


DeviceOption = Annotated[Optional[str], typer.Option(
    "--device", callback=_device_name, help="where the model runs: auto (a CUDA GPU if there is one, else the "
                                            "CPU; the default), cpu, cuda, cuda:N or mps")]
PrecisionOption = Annotated[Optional[str], typer.Option(
    "--precision", callback=_precision_name,
    help="number format of decoding: fp32, bf16, fp16, or auto (bf16 on a CPU with AMX/AVX512-BF16 or a GPU "
         "that has it, fp16 on an older GPU, else fp32); default: the run's decode.precision")]
NoEntitiesOption = Annotated[bool, typer.Option(
    "--no-protect-entities", help="translate a model trained with train.protect_entities without its entity symbols: "
                                  "unknown names, numbers, dates and places go through the model as text (to measure "
                                  "what the symbols do)")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"s2s {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="print the version and exit")] = False) -> None:
    """s2s: neural machine translation from the command line."""


def _load(config: Path, overrides: Optional[list[str]]):
    from seq2seq.config import load_config

    return load_config(config, overrides or [])


@data_app.command("prepare")
def data_prepare(config: ConfigOption, overrides: SetOption = None,
                 force: Annotated[bool, typer.Option("--force", help="replace a different prepared corpus in the output directory")] = False) -> None:
    """Read, normalise, filter, de-duplicate and split a parallel corpus, and train SentencePiece.

    Writes data/<name>/ (or data.dir): the training shards (train.NNNNN.*, read memory-mapped), dev and test text, the SentencePiece model(s) and manifest.json; the corpus is streamed through one worker process per core (data.workers). Re-running with the same config and input does nothing; a directory holding a different prepared corpus is only replaced with --force.
    """
    from seq2seq.data.prepare import prepare_corpus

    prepare_corpus(_load(config, overrides), force=force)


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="corpus name: tatoeba-fra-eng or multi30k-fr-en")],
    dest: Annotated[Optional[Path], typer.Option("--dest", help="where to put the corpus; default data/raw/<name>")] = None,
    from_path: Annotated[Optional[Path], typer.Option("--from", help="use this local copy instead of the internet: the archive, the extracted file, or a folder holding them")] = None,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="base URL or folder that holds the same file names as the official source (default: $S2S_MIRROR)")] = None,
    force: Annotated[bool, typer.Option("--force", help="fetch again even if a verified copy exists")] = False,
) -> None:
    """Download a known public corpus, verify its checksum, resume partial downloads.

    Files go to data/raw/NAME/ (fra.txt; or train.fr, train.en, val.fr, val.en); the config keys to use them are printed at the end. See data/README.md.
    """
    from seq2seq.data.download import download_corpus

    download_corpus(name, dest=dest, from_path=from_path, mirror=mirror, force=force)


@app.command("train")
def train(config: ConfigOption, overrides: SetOption = None,
          run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="run directory; default runs/<name>")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="continue from the run directory's last.pt")] = False,
          force: Annotated[bool, typer.Option("--force", help="start afresh, replacing an existing run directory")] = False,
          quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live progress bar: progress lines on stderr instead (they always go to train.log)")] = False,
          device: Annotated[Optional[str], typer.Option("--device", callback=_device_name, help="where training runs: auto, cpu, cuda, cuda:N or mps; the same as --set train.device=D")] = None,
          precision: Annotated[Optional[str], typer.Option("--precision", callback=_precision_name, help="fp32, bf16, fp16 or auto; the same as --set train.precision=P")] = None) -> None:
    """Train the configured model on the prepared data; validate, checkpoint, resume.

    Several processes: torchrun --nproc_per_node N -m seq2seq train --config C
    """
    from seq2seq.train import train_command

    if device is not None:  # a GPU that is not there fails now, naming the option
        from seq2seq.devices import resolve_device, resolve_precision

        target = resolve_device(device, "--device")
        if precision is not None:
            resolve_precision(precision, target, "--precision")
    shortcuts = [f"train.{key}={value}" for key, value in (("device", device), ("precision", precision)) if value]
    train_command(_load(config, [*(overrides or []), *shortcuts]), run_dir=run_dir, resume=resume, force=force,
                  quiet=quiet)


@app.command("eval")
def evaluate(
    model: ModelOption = None,
    split: Annotated[str, typer.Option("--split", help="prepared split to score: test or dev")] = "test",
    src: Annotated[Optional[Path], typer.Option("--src", help="source file to translate instead of a split")] = None,
    ref: Annotated[Optional[Path], typer.Option("--ref", help="reference translations for --src")] = None,
    beam: Annotated[Optional[int], typer.Option("--beam", min=1, help="beam size; default decode.beam_size")] = None,
    batch_tokens: Annotated[Optional[int], typer.Option("--batch-tokens", min=1, help="source tokens per batch")] = None,
    max_repeats: MaxRepeatsOption = None,
    no_repeat_ngram: NoRepeatNgramOption = None,
    max_piece_run: MaxPieceRunOption = None,
    no_split: NoSplitOption = False,
    length_penalty: LengthPenaltyOption = None,
    length_penalty_kind: PenaltyKindOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    by_length: Annotated[bool, typer.Option("--by-length", help="also BLEU per source-length bucket, with a plot")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the hypotheses to this file")] = None,
    expect: Annotated[Optional[Path], typer.Option("--expect", help="also the copy rate: one line per source sentence of space-separated tokens (names, numbers) its output must contain verbatim; an empty line expects nothing")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="score every beam size x length penalty of the --sweep-* lists (tune on --split dev) and print a table")] = False,
    sweep_beams: Annotated[str, typer.Option("--sweep-beams", help="beam sizes for --sweep")] = "1,5",
    sweep_alphas: Annotated[str, typer.Option("--sweep-alphas", help="length penalty exponents for --sweep")] = "0,0.6,1,1.5",
    sweep_kinds: Annotated[str, typer.Option("--sweep-kinds", help="length penalty kinds for --sweep")] = "gnmt,length",
    device: DeviceOption = None,
    precision: PrecisionOption = None,
    no_protect_entities: NoEntitiesOption = False,
) -> None:
    """Translate a test set and score it with sacrebleu (BLEU, chrF, TER); or --sweep decoding settings."""
    if sweep:
        from seq2seq.sweep import sweep_command

        if beam is not None or length_penalty is not None or length_penalty_kind is not None or by_length or output \
                or expect is not None:
            raise UserError("--sweep chooses the beam and length penalty itself (give --sweep-beams, "
                            "--sweep-alphas, --sweep-kinds) and reports BLEU, chrF and length only: no "
                            "--output, --by-length or --expect")
        sweep_command(model=model, split=split, src=src, ref=ref, beams=sweep_beams, alphas=sweep_alphas,
                      kinds=sweep_kinds, batch_tokens=batch_tokens, max_repeats=max_repeats, json_output=json_output,
                      device=device, precision=precision, no_repeat_ngram=no_repeat_ngram,
                      max_piece_run=max_piece_run, split_sentences=False if no_split else None)
        return
    from seq2seq.evaluate import evaluate_command

    evaluate_command(model=model, split=split, src=src, ref=ref, beam=beam, batch_tokens=batch_tokens,
                     max_repeats=max_repeats, length_penalty=length_penalty, length_penalty_kind=length_penalty_kind,
                     json_output=json_output, by_length=by_length, output=output, expect=expect, device=device,
                     precision=precision, protect_entities=False if no_protect_entities else None,
                     no_repeat_ngram=no_repeat_ngram, max_piece_run=max_piece_run,
                     split_sentences=False if no_split else None)


@app.command("average")
def average(
    sources: Annotated[list[Path], typer.Argument(help="a run directory (its step-<N>.pt files, see train.keep_last) or checkpoint files")],
    last: Annotated[Optional[int], typer.Option("--last", min=2, help="average only the newest K step checkpoints of the run")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="the averaged checkpoint; default RUN/averaged.pt")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing output file")] = False,
) -> None:
    """Average the weights of several checkpoints of one run into one checkpoint."""
    from seq2seq.average import average_command

    average_command(sources=sources, last=last, output=output, force=force)


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="the model directory to write")],
    model: ModelOption = None,
    fmt: Annotated[str, typer.Option("--format", help="ctranslate2 (the only one for now)")] = "ctranslate2",
    quantization: Annotated[str, typer.Option("--quantization", help="int8, int16, float16, bfloat16 or float32")] = "float32",
    force: Annotated[bool, typer.Option("--force", help="replace an existing output directory")] = False,
) -> None:
    """Export a Transformer run to CTranslate2 (needs the ct2 extra of s2s); translate it with s2s translate --model DIR."""
    from seq2seq.export.ct2 import export_command

    export_command(model=model, output=output, fmt=fmt, quantization=quantization, force=force)


@app.command("serve")
def serve(
    model: ModelOption = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port")] = 8000,
    beam: Annotated[Optional[int], typer.Option("--beam", min=1, help="default beam size; default decode.beam_size")] = None,
    max_texts: Annotated[int, typer.Option("--max-texts", min=1, help="most sentences in one request")] = 64,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="longest sentence, in characters")] = 2000,
    max_request_chars: Annotated[int, typer.Option("--max-request-chars", min=1, help="most characters in all the sentences of one request")] = 20000,
    max_beam: Annotated[int, typer.Option("--max-beam", min=1, help="largest beam and n_best a request may ask for")] = 16,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, help="largest request body, in bytes")] = 1 << 20,
    window_ms: Annotated[float, typer.Option("--batch-window-ms", min=0, help="how long a batch waits for more requests")] = 5.0,
    max_batch_chars: Annotated[int, typer.Option("--max-batch-chars", min=1, help="most characters x beam in one batch (bounds how long one batch holds the model)")] = 8000,
    max_queued_texts: Annotated[int, typer.Option("--max-queued-texts", min=1, help="most sentences waiting in the server; more are answered 503")] = 4096,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads in all, shared by the workers (default: all cores)")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="batches translated side by side (default: one per core on a CPU, at most 4; one on a GPU)")] = None,
    no_repeat_ngram: NoRepeatNgramOption = None,
    max_piece_run: MaxPieceRunOption = None,
    no_split: NoSplitOption = False,
    device: DeviceOption = None,
    precision: PrecisionOption = None,
) -> None:
    """Serve a run (or an exported CTranslate2 model) over HTTP: POST /translate, GET /health, GET /info."""
    from seq2seq.serve import Limits, serve_command

    serve_command(model=model, host=host, port=port, beam=beam, threads=threads, workers=workers, device=device,
                  precision=precision, no_repeat_ngram=no_repeat_ngram, max_piece_run=max_piece_run,
                  split_sentences=False if no_split else None,
                  limits=Limits(max_texts=max_texts, max_chars=max_chars, max_request_chars=max_request_chars,
                                max_beam=max_beam, max_body_bytes=max_body_bytes, window_ms=window_ms,
                                max_batch_chars=max_batch_chars, max_queued_texts=max_queued_texts))


@app.command("translate")
def translate(
    text: Annotated[Optional[list[str]], typer.Argument(help="sentences to translate; none: read stdin line by line")] = None,
    model: ModelOption = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="file to translate, one sentence per line")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write translations here instead of stdout")] = None,
    beam: Annotated[Optional[int], typer.Option("--beam", min=1, help="beam size; default decode.beam_size")] = None,
    n_best: Annotated[Optional[int], typer.Option("--n-best", min=1, help="still one line per input: the K best as tab-separated score<TAB>translation pairs, best first (raises the beam to K if needed)")] = None,
    max_len: Annotated[Optional[int], typer.Option("--max-len", min=1, help="cut translations at this many subwords (without it the bound is decode.max_len_ratio x source + decode.max_len_offset)")] = None,
    batch_tokens: Annotated[Optional[int], typer.Option("--batch-tokens", min=1, help="source tokens per batch")] = None,
    max_repeats: MaxRepeatsOption = None,
    no_repeat_ngram: NoRepeatNgramOption = None,
    max_piece_run: MaxPieceRunOption = None,
    no_split: NoSplitOption = False,
    length_penalty: LengthPenaltyOption = None,
    length_penalty_kind: PenaltyKindOption = None,
    plot_attention: Annotated[Optional[Path], typer.Option("--plot-attention", help="save an attention heat map (PNG) of the one input sentence")] = None,
    layer: Annotated[Optional[int], typer.Option("--layer", help="Transformer: decoder layer to plot, 1-based (default: the last)")] = None,
    head: Annotated[Optional[int], typer.Option("--head", help="Transformer: attention head to plot, 1-based (default: the mean over heads)")] = None,
    device: DeviceOption = None,
    precision: PrecisionOption = None,
    no_protect_entities: NoEntitiesOption = False,
) -> None:
    """Translate text given as arguments, from --input FILE, or from stdin (one line out per line in)."""
    from seq2seq.translate import translate_command

    translate_command(text=text or [], model=model, input_file=input_file, output=output, beam=beam,
                      n_best=n_best, max_len=max_len, batch_tokens=batch_tokens, max_repeats=max_repeats,
                      length_penalty=length_penalty, length_penalty_kind=length_penalty_kind, plot_attention=plot_attention, layer=layer, head=head,
                      device=device, precision=precision, protect_entities=False if no_protect_entities else None,
                      no_repeat_ngram=no_repeat_ngram, max_piece_run=max_piece_run,
                     split_sentences=False if no_split else None)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it unwinds as after Ctrl-C."""


_TERMINATED: list[bool] = []  # set by SIGTERM: click may turn the exception into a plain interruption


def _terminate(signum: int, frame: object) -> None:
    _TERMINATED.append(True)
    raise Terminated()


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run() -> None:
    """Console-script entry point: every failure is one line on stderr, never a traceback.

    Exit codes: 0 done, 1 an error (a UserError, or an operating-system error such as a full disk),
    2 a command line Typer cannot parse, 130 interrupted.
    """
    from seq2seq.allocator import bound_primitive_caches

    bound_primitive_caches()  # before any command's first oneDNN primitive
    signal.signal(signal.SIGTERM, _terminate)  # training puts its own (save, then stop) while it trains
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()  # here, not at exit: a reader gone away is handled below
    except BrokenPipeError:  # `s2s eval --json | head -c 10`: the reader took what it wanted
        _stdout_to_devnull()
        code = 0
    except SystemExit as exc:  # click turns a broken pipe inside a command into a silent exit 1
        if not isinstance(exc.__context__, BrokenPipeError):
            raise
        _stdout_to_devnull()
        code = 0
    except UserError as exc:
        _fail(str(exc), 1)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except OSError as exc:  # a full disk, a read-only or vanished directory, ...
        _fail(describe_os_error(exc), 1)
    except Exception as exc:
        if not _is_command_line_error(exc):
            raise  # a bug: the traceback is what a report needs
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `s2s data`: its help
            print(ctx.get_help(), file=sys.stderr)
            sys.exit(2)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(f"{where}{exc.format_message()}{see}", exc.exit_code)  # type: ignore[attr-defined]
    if _TERMINATED:
        _fail("stopped by SIGTERM (a file it was writing is left as it was: written whole or not at all)", 143)
    if code == 130:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _is_command_line_error(exc: Exception) -> bool:
    """Click's errors (Typer vendors its own copy of click): a bad option, value or command."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def describe_os_error(exc: OSError) -> str:
    """'PATH: reason' (or just the reason when no file is known)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
