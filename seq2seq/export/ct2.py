"""CTranslate2: export an s2s Transformer (`s2s export`) and translate with the exported model.

The export goes through CTranslate2's converter API (a `Converter` whose `_load` returns a
`TransformerSpec`; `Converter.convert`'s steps are run one by one, a stage of the bar each),
mapping every weight of `seq2seq.models.transformer` explicitly:

    s2s                                         CTranslate2 TransformerSpec
    src_embed / tgt_embed (x sqrt(d_model))     encoder/decoder.embeddings (scale_embeddings)
    the sinusoidal table PE[pos, 2i] = sin,     encoder/decoder.position_encodings.encodings
      PE[pos, 2i + 1] = cos (positions from 0)    (written out: CTranslate2's own default
                                                  table puts all sines before all cosines)
    layer.self_attn.qkv_proj ([W_Q; W_K; W_V])  layer.self_attention.linear[0] (fused, same order)
    layer.cross_attn.qkv_proj                   layer.attention.linear[0] (W_Q), linear[1] ([W_K; W_V])
    layer.*.out_proj                            layer.*.linear[-1]
    layer.self_attn_norm, cross_attn_norm       layer.self_attention.layer_norm, attention.layer_norm
    layer.feed_forward.hidden / out, ff_norm    layer.ffn.linear_0 / linear_1, ffn.layer_norm
    encoder_norm, decoder_norm (pre-norm only)  encoder/decoder.layer_norm
    output_proj                                 decoder.projection

Pre- and post-norm map onto CTranslate2's `pre_norm`; tied embeddings are written as the same
matrix; LayerNorm epsilon is PyTorch's 1e-5; the source gets its EOS from `add_source_eos`.
CTranslate2 has no recurrent decoders, so an RNN run is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seq2seq import __version__
from seq2seq.checkpoint import load_checkpoint, model_from_payload
from seq2seq.config import DataConfig, DecodeConfig
from seq2seq.config_values import check_value
from seq2seq.data.normalize import ELISIONS, elision_language
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.errors import UserError
from seq2seq.files import replace_directory
from seq2seq.ownership import EXPORT, MARKER, check_folder, check_replaceable, marker_bytes
from seq2seq.entities import Protector
from seq2seq.pipeline import DEFAULT_MAX_POSITIONS, TextTranslator, TranslationResult, batches_by_length, with_arguments
from seq2seq.search import Hypothesis, SearchOptions
from seq2seq.special_tokens import BOS_ID, PAD_ID, UNK_ID

EXPORT_INFO = "s2s_export.json"  # what translating with the export needs besides the weights
QUANTIZATIONS = ("int8", "int16", "float16", "bfloat16", "float32")


def ctranslate2_module() -> Any:
    try:
        import ctranslate2
    except ImportError:
        raise UserError("CTranslate2 is not installed: pip install 's2s[ct2]' (or pip install ctranslate2)") from None
    return ctranslate2


def is_exported(path: Path) -> bool:
    """A directory written by `s2s export --format ctranslate2`."""
    return path.is_dir() and (path / EXPORT_INFO).is_file() and (path / "model.bin").is_file()


def export_ctranslate2(checkpoint: Path, out_dir: Path, quantization: str, force: bool,
                       show_progress: bool = False) -> Path:
    """Write a CTranslate2 model directory for a Transformer checkpoint or run; returns it.
    show_progress: a bar on stderr of its EXPORT_STAGES (`s2s export` on a terminal)."""
    if quantization not in QUANTIZATIONS:
        raise UserError(f"--quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    if out_dir.is_symlink():  # -o LINK: the export goes where it points, the link kept (not replaced by a folder)
        out_dir = Path(os.path.realpath(out_dir))
    # only a new or empty folder or an earlier export is written, never one holding the checkpoint
    if check_folder(out_dir, EXPORT, inputs=[checkpoint]) is not None:
        if not force:
            raise UserError(f"{out_dir} already holds an export; use --force to replace it")
        check_replaceable(out_dir, EXPORT)
    with stage_bar(f"reading {checkpoint.name}", shown=show_progress) as bar:
        payload = load_checkpoint(checkpoint)
        next_stage(bar, "building the model")
        loaded = model_from_payload(payload)
        del payload
        from seq2seq.models.transformer import TransformerModel

        if not isinstance(loaded.model, TransformerModel):
            raise UserError(f"{loaded.path}: CTranslate2 runs Transformers only (it has no recurrent decoders); "
                            "this is an RNN model")
        converter = _converter_class()(loaded)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=_existing_parent(out_dir)))
        try:
            # CTranslate2's Converter.convert, a stage at a time (each one call into CTranslate2)
            layers = f"{loaded.config.model.encoder_layers}+{loaded.config.model.decoder_layers}"
            next_stage(bar, f"mapping the weights of {layers} layers")
            spec = converter._load()
            spec.validate()
            next_stage(bar, f"weights to {quantization}")
            spec.optimize(quantization=quantization)
            size = sum(v.num_bytes() for v in spec.variables().values() if not isinstance(v, str))
            next_stage(bar, f"writing model.bin ({size / 1e6:,.0f} MB)")
            spec.save(str(tmp))
            next_stage(bar, "writing tokenizers and export info")
            _write_export_files(tmp, loaded, quantization)
            replace_directory(tmp, out_dir)
            bar.update(1)
        except OSError as exc:
            raise UserError(f"{out_dir}: cannot write the exported model ({exc.strerror or exc})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


EXPORT_STAGES = 6  # what the bar of `s2s export` counts: read, build, map, quantize, write model.bin, the rest


def stage_bar(first: str, shown: bool) -> Any:
    """A bar on stderr of the export's stages (what it does now, done/total, ETA), `first` the one
    shown first; gone when done; one that shows nothing unless `shown` (as pipeline.sentence_bar)."""
    from tqdm import tqdm

    return tqdm(total=EXPORT_STAGES, unit=" stages", file=sys.stderr, disable=not shown, leave=False,
                dynamic_ncols=True, desc=f"export: {first}")


def next_stage(bar: Any, what: str) -> None:
    """The stage shown done; `what` the one shown now (drawn at once: stages can be quicker than
    tqdm's redraw interval)."""
    bar.set_description_str(f"export: {what}", refresh=False)
    bar.update(1)
    bar.refresh()


def _write_export_files(tmp: Path, loaded: Any, quantization: str) -> None:
    config = loaded.config
    (tmp / "spm.src.model").write_bytes(loaded.src_tokenizer.to_bytes())
    (tmp / "spm.tgt.model").write_bytes(loaded.tgt_tokenizer.to_bytes())
    info = {"format": "s2s-ctranslate2", "s2s_version": __version__, "checkpoint": str(loaded.path),
            "quantization": quantization, "data": {"normalization": config.data.normalization,
                                                   "lowercase": config.data.lowercase,
                                                   "src_lang": config.data.src_lang,
                                                   "tgt_lang": config.data.tgt_lang,
                                                   "elision": elision_language(config.data.split_elision,
                                                                               config.data.src_lang)},
            "decode": {k: getattr(config.decode, k) for k in (
                "beam_size", "length_penalty", "length_penalty_kind", "max_len_ratio", "max_len_offset",
                "batch_tokens", "no_repeat_ngram", "split_sentences")},
            "max_positions": loaded.model.max_positions,  # rows of its positional encodings
            "placeholders": loaded.protector.to_state() if loaded.protector else None}
    (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(_readme(loaded.path, quantization, config), encoding="utf-8")
    (tmp / MARKER).write_bytes(marker_bytes(EXPORT, "s2s export"))
    tmp.chmod(0o755)


def _existing_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


def _readme(checkpoint: Path, quantization: str, config: Any) -> str:
    return f"""# CTranslate2 model exported by s2s {__version__}

From `{checkpoint}` ({config.data.src_lang} -> {config.data.tgt_lang}), weights in {quantization}.

    s2s translate --model THIS_DIRECTORY "Bonjour."

With CTranslate2 directly: normalise the text ({config.data.normalization}{", lower-cased" if config.data.lowercase else ""}{
", a space after elided words as seq2seq.data.normalize.split_elisions puts it" if config.data.split_elision else ""}),
split it with `spm.src.model` into pieces, `ctranslate2.Translator(THIS_DIRECTORY).translate_batch([pieces])`
(the source EOS is added by the model), and join the output pieces with `spm.tgt.model`.
`{EXPORT_INFO}` holds the decode settings the model was trained with.
"""


def _converter_class() -> type:
    ctranslate2_module()  # a clear error when it is not installed
    from ctranslate2.converters.converter import Converter
    from ctranslate2.specs import common_spec, transformer_spec

    class S2SConverter(Converter):
        """CTranslate2's converter API over a loaded s2s Transformer (see the module docstring)."""

        def __init__(self, loaded: Any) -> None:
            self.loaded = loaded

        def _load(self) -> Any:
            model, cfg = self.loaded.model, self.loaded.config.model
            pre_norm = cfg.norm == "pre"
            spec = transformer_spec.TransformerSpec.from_config(
                (cfg.encoder_layers, cfg.decoder_layers), cfg.heads, pre_norm=pre_norm,
                no_final_norm=not pre_norm, activation=common_spec.Activation.RELU)
            weights = {name: tensor.detach().float().numpy() for name, tensor in model.state_dict().items()}
            table = model.positions.table.float().numpy()
            _set_stack(spec.encoder, weights, "encoder", "src_embed", table, pre_norm)
            _set_stack(spec.decoder, weights, "decoder", "tgt_embed", table, pre_norm)
            spec.decoder.projection.weight = weights["output_proj.weight"]
            spec.config.layer_norm_epsilon = 1e-5  # torch.nn.LayerNorm's
            spec.config.add_source_eos = True
            spec.config.decoder_start_token = "<s>"
            spec.register_source_vocabulary(_vocabulary(self.loaded.src_tokenizer))
            spec.register_target_vocabulary(_vocabulary(self.loaded.tgt_tokenizer))
            return spec

    return S2SConverter


def _vocabulary(tokenizer: Tokenizer) -> list[str]:
    return tokenizer.pieces(range(tokenizer.vocab_size))


def _set_stack(spec: Any, weights: dict[str, Any], side: str, embed: str, table: Any, pre_norm: bool) -> None:
    embeddings = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    embeddings.weight = weights[f"{embed}.weight"]
    spec.scale_embeddings = True
    spec.position_encodings.encodings = table
    if pre_norm:
        _set_norm(spec.layer_norm, weights, f"{side}_norm")
    d_model = table.shape[1]
    for i, layer in enumerate(spec.layer):
        prefix = f"{side}_layers.{i}"
        _set_linear(layer.self_attention.linear[0], weights, f"{prefix}.self_attn.qkv_proj")
        _set_linear(layer.self_attention.linear[1], weights, f"{prefix}.self_attn.out_proj")
        _set_norm(layer.self_attention.layer_norm, weights, f"{prefix}.self_attn_norm")
        if side == "decoder":
            qkv_w, qkv_b = weights[f"{prefix}.cross_attn.qkv_proj.weight"], weights[f"{prefix}.cross_attn.qkv_proj.bias"]
            layer.attention.linear[0].weight, layer.attention.linear[0].bias = qkv_w[:d_model], qkv_b[:d_model]
            layer.attention.linear[1].weight, layer.attention.linear[1].bias = qkv_w[d_model:], qkv_b[d_model:]
            _set_linear(layer.attention.linear[2], weights, f"{prefix}.cross_attn.out_proj")
            _set_norm(layer.attention.layer_norm, weights, f"{prefix}.cross_attn_norm")
        _set_linear(layer.ffn.linear_0, weights, f"{prefix}.feed_forward.hidden")
        _set_linear(layer.ffn.linear_1, weights, f"{prefix}.feed_forward.out")
        _set_norm(layer.ffn.layer_norm, weights, f"{prefix}.ff_norm")


def _set_linear(spec: Any, weights: dict[str, Any], name: str) -> None:
    spec.weight, spec.bias = weights[f"{name}.weight"], weights[f"{name}.bias"]


def _set_norm(spec: Any, weights: dict[str, Any], name: str) -> None:
    spec.gamma, spec.beta = weights[f"{name}.weight"], weights[f"{name}.bias"]


def ct2_device(name: str | None, key: str = "device") -> tuple[str, int]:
    """CTranslate2's (device, device_index) for an s2s device name: it has its own CUDA build, so
    whether a GPU is there is asked of CTranslate2, not of torch; mps it does not run on."""
    from seq2seq.devices import check_device_name

    name = name or "auto"
    check_device_name(name, key)
    if name == "cpu":
        return "cpu", 0
    if name == "mps":
        raise UserError(f"{key} mps: CTranslate2 runs on cpu or cuda only; use cpu")
    gpus = ctranslate2_module().get_cuda_device_count()
    if name == "auto":
        return ("cuda" if gpus else "cpu"), 0
    index = int(name.partition(":")[2] or 0)
    if index >= gpus:
        use = f"cuda:0 .. cuda:{gpus - 1}" if gpus else "cpu or auto"
        raise UserError(f"{key} {name!r}: CTranslate2 sees {gpus} CUDA GPU(s) on this machine; use {use}")
    return "cuda", index


class CTranslate2Translator(TextTranslator):
    """An exported model behind the Translator's interface (translate, translate_batch): the
    pipeline of `seq2seq.pipeline` around CTranslate2's search."""

    def __init__(self, path: Path, *, beam: int | None = None, batch_tokens: int | None = None,
                 length_penalty: float | None = None, device: str | None = None, threads: int | None = None,
                 protect_entities: bool | None = None, no_repeat_ngram: int | None = None,
                 split: bool | None = None, workers: int = 1) -> None:
        """device: as s2s names them (auto, cpu, cuda, cuda:N; see `ct2_device`); protect_entities=False: without
        entity symbols; workers: batches CTranslate2 translates at once, from as many threads (`s2s serve`)."""
        ctranslate2 = ctranslate2_module()
        arguments = dict(beam=beam, batch_tokens=batch_tokens, length_penalty=length_penalty,
                         protect_entities=protect_entities, no_repeat_ngram=no_repeat_ngram, split=split)
        with_arguments(DecodeConfig(), **arguments)  # bad values fail before the load
        self.path = path / "model.bin"
        self.config = None  # the training config is not exported; `eval --split` needs the run
        self.info, stored, self.protector = read_export_info(path)
        self.settings = with_arguments(stored, **arguments)
        data = self.info["data"]
        self.normalization, self.lowercase, self.elision = data["normalization"], data["lowercase"], data.get("elision")
        self.languages = (data["src_lang"], data["tgt_lang"])
        self.src_tokenizer, self.tgt_tokenizer = (_export_tokenizer(path / name)
                                                  for name in ("spm.src.model", "spm.tgt.model"))
        self.tgt_ids = {piece: i for i, piece in enumerate(_vocabulary(self.tgt_tokenizer))}
        # what s2s's search never outputs (seq2seq.search.log_softmax_scores): CTranslate2 would
        self.suppressed = [[piece] for piece in self.tgt_tokenizer.pieces([PAD_ID, BOS_ID])]
        # as many threads as torch uses (all cores, or --threads): CTranslate2's own default is 4
        import torch

        kind, index = ct2_device(device)
        try:
            self.engine = ctranslate2.Translator(str(path), device=kind, device_index=index,
                                                 intra_threads=threads or torch.get_num_threads(),
                                                 inter_threads=workers)
        except (RuntimeError, ValueError) as exc:  # a truncated model.bin, a damaged config.json ...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{path}: CTranslate2 cannot load this export ({reason}); if it is damaged or "
                            f"incomplete, export the run again (s2s export -o {path} --force)") from None

    def translate_batch(self, sentences: Iterable[str], *, beam: int | None = None, n_best: int = 1,
                        max_len: int | None = None, batch_tokens: int | None = None,
                        attention: bool = False, split: bool | None = None) -> list[TranslationResult]:
        """As Translator.translate_batch (the same pipeline), but for CTranslate2's search: it divides a
        hypothesis' score by length ** length_penalty (s2s's default kind, `length`; a model set to
        decode.length_penalty_kind gnmt may rank hypotheses of different lengths differently here); it
        has no repetition stop (decode.max_repeats), no limit on a piece's run (decode.max_piece_run;
        decode.no_repeat_ngram it has), and no rule that places each entity symbol
        exactly once (seq2seq.entities), so where the model slips an export may drop or double a
        name that s2s keeps; at the length bound it scores no EOS; and it gives no attention."""
        if attention:
            raise UserError(f"{self.path}: an exported CTranslate2 model gives no attention weights; "
                            "plot with the s2s run instead")
        return super().translate_batch(sentences, beam=beam, n_best=n_best, max_len=max_len,
                                       batch_tokens=batch_tokens, attention=False, split=split)

    @property
    def max_positions(self) -> int:
        """Longest source or output the model takes, in pieces with BOS/EOS (its positional encodings)."""
        return int(self.info.get("max_positions", DEFAULT_MAX_POSITIONS))  # older exports: the default

    def _batches(self, lengths: list[int], batch_tokens: int, beam_size: int) -> list[list[int]]:
        # as exports have always been batched: pieces without the EOS (CTranslate2 adds its own),
        # batch_tokens of them per batch whatever the beam
        return batches_by_length([n - 1 for n in lengths], batch_tokens)

    def _search(self, sources: list[list[int]], max_lengths: list[int], options: SearchOptions) -> list[list[Hypothesis]]:
        # CTranslate2 takes one length bound per call: the batch's longest (its sentences have
        # similar lengths); each output is then cut to its own bound.
        answers = self.engine.translate_batch(
            [self.src_tokenizer.pieces(ids[:-1]) for ids in sources], beam_size=options.beam_size,
            num_hypotheses=options.n_best, length_penalty=options.alpha, max_decoding_length=max(max_lengths),
            no_repeat_ngram_size=options.no_repeat_ngram, suppress_sequences=self.suppressed, return_scores=True)
        return [[Hypothesis([self.tgt_ids.get(token, UNK_ID) for token in tokens if token != "</s>"][:bound],
                            float(score)) for tokens, score in zip(answer.hypotheses, answer.scores)]
                for answer, bound in zip(answers, max_lengths)]


def read_export_info(path: Path) -> tuple[dict[str, Any], DecodeConfig, Protector | None]:
    """An export's s2s_export.json, its decode settings and its protector, checked: a damaged one is a
    UserError naming it."""
    file, again = path / EXPORT_INFO, f"export the run again (s2s export -o {path} --force)"
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{file}: unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); the "
                        f"export is damaged: {again}") from None
    data = info.get("data") if isinstance(info, dict) else None
    if (not isinstance(info, dict) or info.get("format") != "s2s-ctranslate2"
            or not isinstance(info.get("decode"), dict) or "quantization" not in info or not isinstance(data, dict)
            or not {"normalization", "lowercase", "src_lang", "tgt_lang"} <= data.keys()):
        raise UserError(f"{file}: not the description s2s export writes (format, quantization, data, decode); {again}")
    for section, cls, values in (("data", DataConfig, {k: v for k, v in data.items() if k != "elision"}),
                                 ("decode", DecodeConfig, info["decode"])):
        fields, hints = {f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls)
        for key, value in values.items():
            if key not in fields:
                raise UserError(f"{file}: unknown key {section}.{key}; {again}")
            check_value(str(file), f"{section}.{key}", value, fields[key], hints[key])
    if data.get("elision") not in (None, *ELISIONS) or not isinstance(info.get("max_positions", 2), int) \
            or info.get("max_positions", 2) < 2:
        raise UserError(f"{file}: data.elision or max_positions is not one s2s export writes; {again}")
    try:  # exports made before placeholders have no such key
        protector = Protector.from_state(info["placeholders"]) if info.get("placeholders") else None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{file}: its placeholders (the entity state) are damaged; {again}") from None
    return info, DecodeConfig(**info["decode"]), protector


def _export_tokenizer(path: Path) -> Tokenizer:
    try:
        return Tokenizer(path.read_bytes(), origin=str(path))
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc}); export the run again "
                        f"(s2s export -o {path.parent} --force)") from None


def export_command(*, model: Path | None, output: Path, fmt: str, quantization: str, force: bool) -> None:
    """`s2s export`: a run or checkpoint -> a CTranslate2 model directory."""
    from seq2seq.checkpoint import resolve_model

    if fmt != "ctranslate2":
        raise UserError(f"--format must be ctranslate2; got {fmt!r}")
    # a bar of its stages on a terminal, nothing extra when piped
    path = export_ctranslate2(resolve_model(model), output, quantization, force, show_progress=sys.stderr.isatty())
    print(f"exported {path} (CTranslate2, {quantization}); translate with `s2s translate --model {path}`",
          file=sys.stderr)

