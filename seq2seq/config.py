"""Typed experiment configs: YAML in, validated dataclasses out.

A config file has the top-level key `name` and the sections `data`, `model`, `train`, `decode`.
Every key is declared below with its type, default, allowed values and a one-line help text;
`configs/reference.yaml` documents them all. Validation is strict: an unknown key names its
section and the nearest valid key, a wrong type or range names the key, the value and what is
allowed. `--set section.key=value` overrides go through exactly the same checks.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from seq2seq.config_corpora import check_corpora
from seq2seq.config_history import RENAMED_KEYS, RETIRED_KEYS, STORED_DEFAULTS, upgrade_stored
from seq2seq.config_values import allowed_kinds, check_value, show_choice, suggest
from seq2seq.devices import check_device_name
from seq2seq.errors import UserError
from seq2seq.files import read_yaml


def option(default: Any, help: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> Any:
    """A config key: its default, a help line, and an optional numeric range [low, high]."""
    return field(default=default, metadata={"help": help, "low": low, "high": high,
                                            "low_open": low_open})


@dataclass
class DataConfig:
    """Where the parallel corpus is, how to clean and split it, and the subword model."""

    format: Literal["tsv", "parallel"] = option("tsv", "corpus form: one TSV file, or two line-aligned files")
    corpora: Optional[list] = option(
        None, "several corpora mixed by weight, each {name, path (TSV) or format: parallel + src_path/tgt_path, "
        "src_column, tgt_column, weight: how often each of its pairs is seen per epoch, default 1}; replaces "
        "data.format/path/src_path/tgt_path (seq2seq/config_corpora.py)")
    path: Optional[str] = option(None, "the TSV file (format: tsv)")
    src_column: int = option(2, "1-based TSV column of the source side", low=1)
    tgt_column: int = option(1, "1-based TSV column of the target side", low=1)
    src_path: Optional[str] = option(None, "source-language file (format: parallel)")
    tgt_path: Optional[str] = option(None, "target-language file (format: parallel)")
    src_lang: str = option("fr", "source language code (for names and reports)")
    tgt_lang: str = option("en", "target language code")
    dir: Optional[str] = option(None, "where the prepared data goes; default data/<name>")
    normalization: Literal["nfkc", "nfc", "none"] = option("nfkc", "Unicode normalisation form")
    lowercase: bool = option(False, "lower-case both sides")
    max_words: int = option(80, "drop pairs with more whitespace words than this on either side", low=1)
    max_length_ratio: float = option(3.0, "drop pairs whose word-count ratio exceeds this", low=1.0)
    dedup: bool = option(True, "drop exact duplicate (source, target) pairs")
    dev_size: int = option(2000, "sentence pairs held out for validation", low=0)
    test_size: int = option(2000, "sentence pairs held out for testing", low=0)
    seed: int = option(1, "seed of the shuffle that makes the split")
    vocab_type: Literal["bpe", "unigram"] = option("bpe", "SentencePiece model type")
    vocab_size: int = option(8000, "SentencePiece vocabulary size", low=16)
    joint_vocab: bool = option(True, "one vocabulary for both languages (needed to tie source and target embeddings)")
    character_coverage: float = option(1.0, "SentencePiece character coverage", low=0.9, high=1.0)
    spm_max_sentences: int = option(2_000_000, "train SentencePiece on a seeded sample of at most this many "
                                    "training sentences (0 = all)", low=0)
    entity_symbols: bool = option(False, "add the entity symbols (names, numbers, months and weekdays, places) to the "
                                  "vocabulary, one piece each (needed by train.protect_entities; seq2seq/entities/)")
    split_elision: bool = option(False, "put a space after the source language's elided words (French l', d', "
                                 "qu'..., Italian dell'...), so \"l'Afrique\" is segmented as \"l'\" + \"Afrique\"")

    shard_pairs: int = option(1_000_000, "training pairs per shard: training holds one shard's index in memory "
                              "at a time, so memory does not grow with the corpus", low=1)
    workers: int = option(0, "processes that prepare the corpus (0 = one per core); the output is the same", low=0)

    def resolved_dir(self, name: str) -> Path:
        return Path(self.dir) if self.dir else Path("data") / name


@dataclass
class ModelConfig:
    """Architecture. Keys marked (rnn) or (transformer) apply to that family only."""

    type: Literal["rnn", "transformer"] = option("transformer", "model family")
    encoder_layers: int = option(3, "encoder layers", low=1)
    decoder_layers: int = option(3, "decoder layers", low=1)
    dropout: float = option(0.1, "dropout probability", low=0.0, high=0.9)
    tie_embeddings: bool = option(True, "share target embeddings with the output layer (and with the source side when the vocabulary is joint)")
    # RNN family
    rnn_cell: Literal["lstm", "gru"] = option("lstm", "(rnn) recurrent cell")
    embedding_dim: int = option(256, "(rnn) embedding size", low=1)
    hidden_size: int = option(256, "(rnn) hidden size of each direction of the encoder and of the decoder", low=1)
    bidirectional: bool = option(True, "(rnn) bidirectional encoder")
    attention: Literal["dot", "general", "none"] = option("dot", "(rnn) score h_t.h_s, h_t W h_s, or no attention (the bottleneck baseline)")
    input_feeding: bool = option(True, "(rnn) feed the previous attentional state into the next decoder step")
    attention_scale: bool = option(
        True, "(rnn) divide the attention scores by sqrt(hidden_size), as the Transformer does: unscaled, "
        "they grow large early and the softmax collapses onto one source position")
    # Transformer family
    d_model: int = option(256, "(transformer) model width", low=1)
    heads: int = option(4, "(transformer) attention heads; must divide d_model", low=1)
    ff_size: int = option(1024, "(transformer) feed-forward inner size", low=1)
    norm: Literal["pre", "post"] = option("pre", "(transformer) layer norm before or after each sub-layer")
    attention_dropout: float = option(0.0, "(transformer) dropout on attention weights", low=0.0, high=0.9)
    max_positions: int = option(1024, "(transformer) longest sequence the positional encodings cover", low=16)

    def check(self, where: str) -> None:
        """Rules between this section's keys (the ones a single key's range cannot express)."""
        if self.type == "transformer" and self.d_model % self.heads:
            raise UserError(f"{where}: model.d_model ({self.d_model}) must be divisible by model.heads ({self.heads})")


@dataclass
class TrainConfig:
    """Optimisation, batching, stopping and validation."""

    batch_tokens: int = option(4000, "target tokens per batch (padding included)", low=1)
    accumulate: int = option(1, "batches whose gradients are summed before one update", low=1)
    bucket_pool: int = option(100, "batches per shuffled pool sorted by length (less padding)", low=1)
    optimizer: Literal["adam", "adamw"] = option("adam", "optimiser")
    lr: float = option(0.001, "peak learning rate", low=0.0, low_open=True)
    adam_beta1: float = option(0.9, "Adam beta1", low=0.0, high=1.0)
    adam_beta2: float = option(0.98, "Adam beta2", low=0.0, high=1.0)
    weight_decay: float = option(0.0, "weight decay", low=0.0)
    schedule: Literal["inverse_sqrt", "noam", "linear", "cosine", "plateau", "constant"] = option(
        "inverse_sqrt", "learning-rate schedule (each warms up linearly over warmup_steps); linear and cosine decay to "
        "min_lr exactly when the budget (decay_steps or max_steps, and max_minutes) ends")
    warmup_steps: int = option(1000, "linear warm-up steps", low=0)
    min_lr: float = option(0.0, "floor of the linear and cosine schedules", low=0.0)
    decay_steps: Optional[int] = option(
        None, "linear, cosine: the step where the decay reaches min_lr; default train.max_steps (with "
        "train.max_minutes too, whichever budget ends first)", low=1)
    plateau_factor: float = option(0.5, "plateau: multiply the lr by this when dev BLEU stalls", low=0.0, high=1.0, low_open=True)
    plateau_patience: int = option(2, "plateau: validations without improvement before the lr drops", low=1)
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy", low=0.0, high=0.9)
    clip_norm: float = option(1.0, "gradient-norm clipping (0 = off)", low=0.0)
    max_steps: Optional[int] = option(None, "stop after this many updates", low=1)
    max_epochs: Optional[int] = option(None, "stop after this many passes over the data", low=1)
    max_minutes: Optional[float] = option(None, "stop after this much wall-clock training time", low=0.0, low_open=True)
    snapshot_minutes: Optional[float] = option(
        None, "also validate when this much wall-clock time has passed and copy best.pt to "
        "best-at-<m>min.pt: with a schedule that does not depend on the budget (inverse_sqrt, noam, "
        "plateau, constant), what a run with max_minutes=<m> would end with; refused with linear or "
        "cosine and max_minutes, whose decay follows the time budget", low=0.0, low_open=True)
    patience: Optional[int] = option(None, "early stopping: validations without a better dev BLEU", low=1)
    validate_every: int = option(500, "updates between validations", low=1)
    dev_sentences: int = option(500, "dev sentences greedy-decoded for BLEU/chrF at each validation (0 = all)", low=0)
    log_every: int = option(50, "updates between progress lines in train.log", low=1)
    tensorboard: Literal["auto", True, False] = option(
        "auto", "also write TensorBoard event files to the run folder (training/tensorboard.py): auto = when the "
        "tensorboard package is installed, true = required (pip install 's2s[tensorboard]'), false = never")
    save_every: Optional[int] = option(None, "updates between saves of last.pt besides the one at each validation (null = only at validations)", low=1)
    keep_last: int = option(0, "also keep the weights of the last K saves of last.pt as step-<N>.pt, for `s2s average` (0 = none)", low=0)
    ema_decay: float = option(
        0.0, "keep an exponential moving average of the weights with this decay (e.g. 0.999; 0 = off); "
        "validation, best.pt and step-<N>.pt use it, last.pt keeps both", low=0.0, high=1.0)
    name_augmentation: float = option(
        0.0, "probability that a training pair with the same name on both sides gets it replaced, "
        "consistently, by a name from a large varied list, anew each epoch (0 = off; teaches copying names)",
        low=0.0, high=1.0)
    number_augmentation: float = option(0.0, "probability that a training pair with the same digit string on both "
        "sides gets it replaced, consistently, by a random number of as many digits, anew each epoch (0 = off; "
        "teaches copying numbers)", low=0.0, high=1.0)
    date_augmentation: float = option(0.0, "probability that a training pair naming the same month or weekday on "
        "both sides gets it renamed, consistently, to another one, anew each epoch (0 = off; French and English; "
        "every pair with a month then teaches every month)", low=0.0, high=1.0)
    protect_entities: bool = option(
        False, "train with entity symbols: each epoch, every number alike on both sides of a training pair (in "
        "digits or words), every month, weekday and place named once on both, and each shared name with "
        "train.name_symbol_probability, becomes one symbol on both sides; translation then carries unknown names "
        "and all numbers through verbatim and puts months, weekdays and places back in the target language "
        "(needs data.entity_symbols)")
    name_symbol_probability: float = option(
        0.5, "with train.protect_entities: probability that each name standing alike on both sides of a training "
        "pair becomes a symbol, anew each epoch (a name the model knows stays text in translation)",
        low=0.0, high=1.0, low_open=True)
    symbol_order: Literal["source", "random"] = option(
        "source", "how a training pair's entity symbols are numbered: source (in source order, as translation "
        "numbers them: the symbols translation uses most are trained most) or random (drawn at random: copying a "
        "symbol then needs the attention to find it in the source, which helps an RNN's attention take off)")
    subword_sampling: float = option(
        0.0, "subword regularisation: encode the training pairs anew each epoch with SentencePiece "
        "sampling of this alpha (BPE-dropout probability for bpe, e.g. 0.1; 0 = off)", low=0.0, high=1.0)
    concat_augmentation: float = option(
        0.0, "probability that a training example is its pair joined with 1 to train.concat_max_pairs - 1 other "
        "random pairs of its shard, on both sides, anew each epoch (0 = off; teaches long lines and several "
        "sentences in one line)", low=0.0, high=1.0)
    concat_max_pairs: int = option(4, "most pairs train.concat_augmentation joins into one example", low=2)
    seed: int = option(1, "seed of weights, shuffling and dropout")
    data_workers: int = option(1, "processes that make the training batches (ids, subword sampling) beside "
                               "training (0 = in the training process); the batches are the same", low=0)
    threads: Optional[int] = option(None, "torch threads (default: all cores)", low=1)
    device: str = option("auto", "where training runs: auto (a CUDA GPU if there is one, else the CPU), cpu, "
                         "cuda, cuda:N or mps")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "fp32", "number format of the matrix products: fp32; bf16 or fp16 (float32 master weights, optimiser "
        "and log-softmax; fp16 with loss scaling); auto = bf16 on a CPU with AMX/AVX512-BF16 or a GPU that has "
        "it, fp16 on an older GPU, else fp32")


@dataclass
class DecodeConfig:
    """Search settings used by validation, `s2s eval` and `s2s translate`."""

    beam_size: int = option(5, "beam size (1 = greedy)", low=1)
    length_penalty: float = option(1.0, "length penalty exponent alpha (0 = none)", low=0.0)
    length_penalty_kind: Literal["gnmt", "length"] = option(
        "length", "divide a hypothesis' log-probability by ((5 + length) / 6) ** alpha (GNMT) or by length ** alpha")
    max_len_ratio: float = option(1.5, "longest output = ratio * source length + offset", low=0.0)
    max_len_offset: int = option(10, "see max_len_ratio", low=0)
    max_repeats: int = option(
        8, "end a hypothesis whose last pieces are one piece, or one run of up to 4 pieces, repeated this "
        "many times in a row (stops 'house house house ...'; 0 = never)", low=0)
    no_repeat_ngram: int = option(
        4, "no output repeats an n-gram of this many pieces: the piece that would is blocked (0 = off; as fairseq's "
        "--no-repeat-ngram-size and CTranslate2's no_repeat_ngram_size)", low=0)
    max_piece_run: int = option(
        2, "no output has one piece more than this many times in a row: the piece that would is blocked (stops "
        "'indededed', 'fire fire fire'; 0 = no limit; an exported CTranslate2 model has no such rule)", low=0)
    stop_lookahead: Optional[int] = option(
        2, "beam search with a length penalty ends a sentence once its n best finished translations score better than "
        "any live one could if it ended within this many more pieces (null: within its length limit, the exact "
        "bound: a third more decoder work, and on Tatoeba's dev split 3 outputs in 2,000 differ; docs/decoding.md)",
        low=0)
    split_sentences: bool = option(
        True, "split each input line into its sentences (seq2seq/sentences.py), translate them in one batch and join "
        "their translations: one output line per input line (false, or --no-split: the line as one sequence)")
    batch_tokens: int = option(8000, "source tokens per decoding batch", low=1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "fp32", "number format of decoding (auto: bf16 where training's auto would pick it)")
    protect_entities: bool = option(
        True, "put symbols in place of unknown names, numbers, months, weekdays and places when the model was trained "
        "with them (train.protect_entities), and the words back into the output")


@dataclass
class Config:
    name: str = option("experiment", "experiment name: names data/<name> and runs/<name>")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
                             "decode": DecodeConfig}

def _build_section(cls: type, values: Any, section: str, where: str,
                   overridden: frozenset[str] = frozenset(), stored: bool = False) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UserError(f"{where}: section '{section}' must be a mapping of key: value; got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        key_where = "--set" if f"{section}.{key}" in overridden else where
        if key not in fields and f"{section}.{key}" in RETIRED_KEYS:
            if stored:
                continue
            raise UserError(f"{key_where}: {section}.{key} is no longer a config key: "
                            f"{RETIRED_KEYS[f'{section}.{key}']}; remove it")
        if key not in fields and f"{section}.{key}" in RENAMED_KEYS:
            raise UserError(f"{key_where}: {section}.{key} was renamed: it is now {RENAMED_KEYS[f'{section}.{key}']}")
        if key not in fields:
            raise UserError(f"{key_where}: unknown key '{key}' in section '{section}'"
                            f"{suggest(str(key), list(fields))}")
        kwargs[key] = check_value(key_where, f"{section}.{key}", value, fields[key], hints[key])
    if stored:  # keys the checkpoint predates: what it was trained with
        kwargs.update({k: STORED_DEFAULTS[f"{section}.{k}"] for k in fields if k not in kwargs and f"{section}.{k}" in STORED_DEFAULTS})
    return cls(**kwargs)


def _check_consistency(cfg: Config, where: str, overridden: frozenset[str] = frozenset()) -> None:
    """Rules that involve more than one key; an error blames --set when it set one of them."""

    def blame(*keys: str) -> str:
        return "--set" if overridden & set(keys) else where

    d, m = cfg.data, cfg.model
    check_corpora(d, blame("data.corpora", "data.path", "data.src_path", "data.tgt_path"))
    if not d.corpora and d.format == "tsv" and not d.path:
        raise UserError(f"{blame('data.format', 'data.path')}: data.path is required when data.format is tsv")
    if not d.corpora and d.format == "tsv" and d.src_column == d.tgt_column:
        raise UserError(f"{blame('data.src_column', 'data.tgt_column')}: data.src_column and data.tgt_column "
                        f"are both {d.src_column}; they must name different columns")
    if not d.corpora and d.format == "parallel" and not (d.src_path and d.tgt_path):
        raise UserError(f"{blame('data.format', 'data.src_path', 'data.tgt_path')}: data.src_path and "
                        "data.tgt_path are required when data.format is parallel")
    m.check(blame("model.type", "model.d_model", "model.heads"))
    check_device_name(cfg.train.device, f"{blame('train.device')}: train.device")
    if not name_ok(cfg.name):
        raise UserError(f"{blame('name')}: name {cfg.name!r} may only hold letters, digits, '.', '_' and '-', "
                        "and must not start with '.' (it names the directories data/<name> and runs/<name>)")


def name_ok(name: str) -> bool:
    """A name that is one plain directory name: never '.', '..', hidden, or a path."""
    return bool(name) and not name.startswith(".") and all(c.isalnum() or c in "._-" for c in name)


def config_from_dict(raw: Any, where: str = "config", overridden: frozenset[str] = frozenset(),
                     stored: bool = False) -> Config:
    """Validate a plain dict (from YAML or a checkpoint) into a Config.

    `overridden` holds the "section.key" names set with --set; their errors name --set.
    stored=True (a checkpoint's config) reads renamed keys under their new names (upgrade_stored)
    and drops RETIRED_KEYS instead of refusing them.
    """
    if raw is None:
        raw = {}
    if stored:
        raw = upgrade_stored(raw)
    if not isinstance(raw, dict):
        raise UserError(f"{where}: the file must be a mapping with name, data, model, train, decode")
    top_keys = ["name", *SECTIONS]
    for key in raw:
        if key not in top_keys:
            raise UserError(f"{where}: unknown top-level key '{key}'{suggest(str(key), top_keys)}")
    name_field = next(f for f in dataclasses.fields(Config) if f.name == "name")
    name_where = "--set" if "name" in overridden else where
    name = check_value(name_where, "name", raw.get("name", name_field.default), name_field, str)
    sections = {s: _build_section(cls, raw.get(s), s, where, overridden, stored) for s, cls in SECTIONS.items()}
    cfg = Config(name=name, **sections)
    _check_consistency(cfg, where, overridden)
    return cfg


def parse_override(text: str) -> tuple[str, str, Any]:
    """'section.key=value' -> (section, key, YAML-parsed value)."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected section.key=value, e.g. --set train.lr=0.0005")
    path, _, raw_value = text.partition("=")
    path = path.strip()
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        value = raw_value  # not valid YAML: take it as a plain string
    if path == "name":
        return "", "name", value
    section, dot, key = path.partition(".")
    if not dot or not key:
        raise UserError(f"--set {text!r}: expected section.key=value with a section of "
                        f"{', '.join(SECTIONS)}")
    if section not in SECTIONS:
        raise UserError(f"--set {text!r}: unknown section '{section}'{suggest(section, list(SECTIONS))}")
    return section, key, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for text in overrides:
        section, key, value = parse_override(text)
        if not section:
            merged["name"] = value
        else:
            if merged.get(section) is None:
                merged[section] = {}  # "data:" with nothing under it
            target = merged[section]
            if not isinstance(target, dict):
                raise UserError(f"--set {text!r}: section '{section}' in the file is not a mapping")
            target[key] = value
    return merged


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate an experiment config file."""
    path = Path(path)
    raw = read_yaml(path)
    if raw is not None and not isinstance(raw, dict):
        raise UserError(f"{path}: the file must be a mapping with name, data, model, train, decode")
    raw = apply_overrides(raw or {}, overrides or [])
    overridden = frozenset(f"{s}.{k}" if s else k for s, k, _ in map(parse_override, overrides or []))
    return config_from_dict(raw, where=str(path), overridden=overridden)


def reference_card() -> str:
    """Every key with its default and help text, as commented YAML (for docs and tests)."""
    lines = ["name: experiment  # experiment name: names data/<name> and runs/<name>"]
    for section, cls in SECTIONS.items():
        lines.append(f"\n{section}:")
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            (kind,), optional = allowed_kinds(hints[f.name])
            if typing.get_origin(kind) is Literal:
                allowed = " | ".join(map(show_choice, typing.get_args(kind)))
            else:
                allowed = kind.__name__ + (" or null" if optional else "")
            default = yaml.safe_dump(f.default, default_flow_style=True).strip().removesuffix("...").strip()
            lines.append(f"  {f.name}: {default}  # {f.metadata['help']} [{allowed}]")
    return "\n".join(lines) + "\n"
