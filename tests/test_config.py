"""Config loading and validation, and the shipped configs (reference card and experiments)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from seq2seq.config import SECTIONS, Config, config_from_dict, load_config, read_yaml, reference_card
from seq2seq.config_history import upgrade_section, upgrade_stored
from seq2seq.errors import UserError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TATOEBA = ["tatoeba-transformer.yaml", "tatoeba-rnn.yaml", "tatoeba-rnn-noattn.yaml"]


def declared_keys() -> dict[str, list[str]]:
    return {section: [f.name for f in dataclasses.fields(cls)] for section, cls in SECTIONS.items()}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(UserError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# The reference card never drifts from config.py


def test_reference_yaml_lists_exactly_the_declared_keys_with_their_defaults():
    raw = read_yaml(CONFIGS / "reference.yaml")  # refuses a key listed twice
    assert list(raw) == ["name", *SECTIONS]
    assert raw["name"] == Config().name
    defaults = Config()
    for section, keys in declared_keys().items():
        # grouped for reading, so the order may differ; the set of keys may not
        assert sorted(raw[section]) == sorted(keys), f"reference.yaml section '{section}' differs from config.py"
        for key in keys:
            assert raw[section][key] == getattr(getattr(defaults, section), key), f"{section}.{key}"


def test_reference_yaml_loads():
    cfg = load_config(CONFIGS / "reference.yaml", ["data.path=corpus.tsv"])  # the only required key
    assert cfg == config_from_dict({"data": {"path": "corpus.tsv"}})


def test_reference_card_function_matches_the_file():
    card = yaml.safe_load(reference_card())
    raw = yaml.safe_load((CONFIGS / "reference.yaml").read_text(encoding="utf-8"))
    assert card == raw


# ---------------------------------------------------------------------------------------------
# The experiment configs


@pytest.mark.parametrize("name", TATOEBA + ["multi30k-transformer.yaml"])
def test_experiment_configs_load(name: str):
    cfg = load_config(CONFIGS / name)
    assert cfg.name == name.removesuffix(".yaml")
    assert cfg.data.vocab_type == "bpe" and cfg.data.vocab_size == 8000 and cfg.data.joint_vocab
    assert cfg.data.src_lang == "fr" and cfg.data.tgt_lang == "en"


def test_tatoeba_configs_share_one_data_section():
    sections = [load_config(CONFIGS / name).data for name in TATOEBA]
    assert sections[0] == sections[1] == sections[2]
    data = sections[0]
    assert data.dir == "data/tatoeba-fr-en"
    assert data.path == "../shared/data/tatoeba-fra-eng/fra.txt"
    assert (data.format, data.src_column, data.tgt_column) == ("tsv", 2, 1)
    assert (data.dev_size, data.test_size) == (2000, 3000)


def test_symbols_numbered_in_source_order_for_the_transformer_at_random_for_the_rnns():
    orders = {name: load_config(CONFIGS / name).train.symbol_order for name in TATOEBA}
    assert orders == {"tatoeba-transformer.yaml": "source", "tatoeba-rnn.yaml": "random",
                      "tatoeba-rnn-noattn.yaml": "random"}


def test_tatoeba_model_sections():
    transformer = load_config(CONFIGS / "tatoeba-transformer.yaml").model
    assert (transformer.type, transformer.encoder_layers, transformer.decoder_layers) == ("transformer", 3, 3)
    assert (transformer.d_model, transformer.heads, transformer.ff_size, transformer.norm) == (256, 4, 1024, "pre")
    assert transformer.dropout == 0.0 and transformer.tie_embeddings  # about one epoch in 10 minutes
    rnn = load_config(CONFIGS / "tatoeba-rnn.yaml").model
    noattn = load_config(CONFIGS / "tatoeba-rnn-noattn.yaml").model
    assert (rnn.type, rnn.rnn_cell, rnn.bidirectional, rnn.encoder_layers) == ("rnn", "lstm", True, 2)
    assert (rnn.hidden_size, rnn.embedding_dim, rnn.attention) == (256, 256, "dot")
    assert noattn.attention == "none"
    differing = {f.name for f in dataclasses.fields(rnn) if getattr(rnn, f.name) != getattr(noattn, f.name)}
    assert differing == {"attention", "input_feeding"}
    trains = [load_config(CONFIGS / name).train for name in ("tatoeba-rnn.yaml", "tatoeba-rnn-noattn.yaml")]
    assert trains[0] == trains[1] and (trains[0].schedule, trains[0].ema_decay) == ("linear", 0.999)  # a fair pair


def test_multi30k_config_reads_two_aligned_files():
    data = load_config(CONFIGS / "multi30k-transformer.yaml").data
    assert data.format == "parallel"
    assert data.src_path.endswith("multi30k-fr-en/train.fr") and data.tgt_path.endswith("multi30k-fr-en/train.en")


# ---------------------------------------------------------------------------------------------
# Validation messages


def test_unknown_key_names_section_and_suggestion(tmp_path: Path):
    message = error_of(write(tmp_path, "data:\n  path: x\n  vocab_sise: 10\n"))
    assert "c.yaml" in message and "unknown key 'vocab_sise' in section 'data'" in message
    assert "did you mean 'vocab_size'" in message


def test_unknown_section_and_top_level_key(tmp_path: Path):
    assert "did you mean 'train'" in error_of(write(tmp_path, "trian:\n  lr: 1\n"))
    assert "unknown top-level key 'foo'" in error_of(write(tmp_path, "foo: 1\n"))


@pytest.mark.parametrize("line, expected", [
    ("  vocab_size: lots", "data.vocab_size must be an integer; got 'lots'"),
    ("  vocab_size: 8000.5", "data.vocab_size must be an integer"),
    ("  dedup: 'yes please'", "data.dedup must be true or false"),
    ("  vocab_type: wordpiece", "data.vocab_type must be one of bpe, unigram; got 'wordpiece'"),
    ("  vocab_size: 4", "data.vocab_size must be >= 16; got 4"),
    ("  character_coverage: 1.5", "data.character_coverage must be >= 0.9 and <= 1.0"),
    ("  src_lang: null", "data.src_lang must not be empty (null)"),
])
def test_wrong_values(tmp_path: Path, line: str, expected: str):
    assert expected in error_of(write(tmp_path, f"data:\n  path: x\n{line}\n"))


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    message = error_of(write(tmp_path, "name: x\ndata:\n  path: x\n   bad: indent\n"))
    assert "c.yaml:4" in message and "YAML syntax error" in message


def test_duplicate_key_is_refused(tmp_path: Path):
    message = error_of(write(tmp_path, "data:\n  path: x\ntrain:\n  lr: 0.1\n  lr: 0.2\n"))
    assert "c.yaml:5" in message and "duplicate key 'lr'" in message


def test_missing_file_and_directory(tmp_path: Path):
    assert "config file not found" in error_of(tmp_path / "none.yaml")
    assert "is a directory" in error_of(tmp_path)


def test_rules_across_keys(tmp_path: Path):
    assert "data.path is required" in error_of(write(tmp_path, "data:\n  format: tsv\n"))
    assert "data.src_path and data.tgt_path are required" in error_of(
        write(tmp_path, "data:\n  format: parallel\n  src_path: a\n"))
    assert "must name different columns" in error_of(
        write(tmp_path, "data:\n  path: x\n  src_column: 1\n  tgt_column: 1\n"))
    assert "divisible by model.heads" in error_of(
        write(tmp_path, "data:\n  path: x\nmodel:\n  d_model: 100\n  heads: 3\n"))


def test_scientific_notation_is_a_number(tmp_path: Path):
    # PyYAML reads 1e-3 (no dot) as a string; float keys accept it anyway.
    cfg = load_config(write(tmp_path, "data:\n  path: x\ntrain:\n  lr: 1e-3\n"), ["train.min_lr=5E-6"])
    assert cfg.train.lr == 0.001 and cfg.train.min_lr == 5e-6


# ---------------------------------------------------------------------------------------------
# --set overrides


def test_overrides_apply_and_are_validated(tmp_path: Path):
    path = write(tmp_path, "name: x\ndata:\n")  # an empty section is fine to override into
    cfg = load_config(path, ["data.path=corpus.tsv", "train.lr=0.0005", "model.type=rnn", "name=y"])
    assert (cfg.data.path, cfg.train.lr, cfg.model.type, cfg.name) == ("corpus.tsv", 0.0005, "rnn", "y")
    message = error_of(path, ["data.path=x", "train.lrr=1"])
    assert message.startswith("--set: unknown key 'lrr'") and "did you mean 'lr'" in message
    assert error_of(path, ["data.path=x", "train.lr=fast"]).startswith("--set: train.lr must be a number")
    assert "expected section.key=value" in error_of(path, ["train.lr"])
    assert "unknown section 'trian'" in error_of(path, ["trian.lr=1"])


def test_round_trip_through_a_plain_dict():
    cfg = load_config(CONFIGS / "tatoeba-rnn.yaml")
    assert config_from_dict(cfg.to_dict()) == cfg
    assert config_from_dict(yaml.safe_load(cfg.to_yaml())) == cfg


# ---------------------------------------------------------------------------------------------
# Keys renamed since the previous release: a saved config is read under the new names (one
# conversion, config_history.upgrade_stored); a user's file or --set names the new key

OLD_KEYS = {"data": {"path": "c.tsv", "placeholders": True},
            "train": {"placeholders": 0.8, "placeholder_order": "random"},
            "decode": {"placeholders": False}}


def test_the_entity_keys_say_what_they_are():
    cfg = load_config(CONFIGS / "tatoeba-transformer.yaml")
    assert cfg.data.entity_symbols and cfg.train.protect_entities and cfg.decode.protect_entities
    assert cfg.train.name_symbol_probability == 0.5 and cfg.train.symbol_order == "source"
    defaults = Config()
    assert not defaults.data.entity_symbols and not defaults.train.protect_entities and defaults.decode.protect_entities


@pytest.mark.parametrize("section, key, new", [("data", "placeholders", "data.entity_symbols"),
                                               ("train", "placeholders", "train.protect_entities"),
                                               ("train", "placeholder_order", "train.symbol_order"),
                                               ("decode", "placeholders", "decode.protect_entities")])
def test_an_old_key_in_a_file_or_set_names_the_new_one(tmp_path: Path, section: str, key: str, new: str):
    value = OLD_KEYS[section][key]
    raw = {"data": {"path": "x"}}
    raw.setdefault(section, {})[key] = value
    message = error_of(write(tmp_path, yaml.safe_dump(raw)))
    assert f"{section}.{key} was renamed: it is now {new}" in message and "c.yaml" in message
    if (section, key) == ("train", "placeholders"):  # one key became two
        assert "and train.name_symbol_probability" in message
    message = error_of(write(tmp_path, "data:\n  path: x\n"), [f"{section}.{key}={str(value).lower()}"])
    assert message.startswith(f"--set: {section}.{key} was renamed: it is now {new}")


def test_a_stored_config_with_the_old_keys_reads_as_the_new_ones():
    cfg = config_from_dict(OLD_KEYS, stored=True)
    assert cfg.data.entity_symbols and not cfg.decode.protect_entities
    assert (cfg.train.protect_entities, cfg.train.name_symbol_probability, cfg.train.symbol_order) == \
        (True, 0.8, "random")
    off = config_from_dict({"data": {"path": "c.tsv"}, "train": {"placeholders": 0.0}}, stored=True)
    assert not off.train.protect_entities and off.train.name_symbol_probability == 0.5
    assert config_from_dict(cfg.to_dict(), stored=True) == cfg  # new keys pass unchanged
    assert upgrade_stored(OLD_KEYS)["train"] == {"protect_entities": True, "name_symbol_probability": 0.8,
                                                 "symbol_order": "random"}
    assert upgrade_section("data", {"placeholders": False, "seed": 3}) == {"entity_symbols": False, "seed": 3}


def test_a_checkpoint_of_the_previous_release_loads_with_the_new_keys(tmp_path: Path):
    from test_translate_eval import make_checkpoint

    from seq2seq.checkpoint import load_checkpoint, load_for_inference, save_checkpoint

    run = make_checkpoint(tmp_path / "run", {"type": "transformer", "d_model": 16, "heads": 2, "ff_size": 32,
                                             "encoder_layers": 1, "decoder_layers": 1})
    payload = load_checkpoint(run / "best.pt")
    config = payload["config"]
    for section, values in OLD_KEYS.items():  # as the previous release wrote it
        renamed = {"data": ["entity_symbols"], "train": ["protect_entities", "name_symbol_probability", "symbol_order"],
                   "decode": ["protect_entities"]}[section]
        config[section] = {k: v for k, v in config[section].items() if k not in renamed}
        config[section].update({k: v for k, v in values.items() if k != "path"})
    save_checkpoint(tmp_path / "old.pt", {k: v for k, v in payload.items() if k != "path"})
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert "placeholders" not in loaded["config"]["train"] and loaded["config"]["train"]["protect_entities"] is True
    model = load_for_inference(tmp_path / "old.pt")
    assert model.config.data.entity_symbols and model.config.train.name_symbol_probability == 0.8
    assert not model.config.decode.protect_entities


def test_data_prepared_by_the_previous_release_is_the_same_corpus(tmp_path: Path):
    from seq2seq.data.manifest import FORMAT, PREPARE_VERSION, read_manifest

    cfg = config_from_dict({"name": "c", "data": {"path": "c.tsv", "dir": str(tmp_path), "entity_symbols": True}})
    old = {k: v for k, v in dataclasses.asdict(cfg.data).items() if k != "entity_symbols"}
    manifest = {"format": FORMAT, "format_version": PREPARE_VERSION, "inputs": [],
                "config": {**old, "placeholders": True}}  # as the previous release wrote it
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert read_manifest(cfg) == manifest
    without = config_from_dict({"name": "c", "data": {"path": "c.tsv", "dir": str(tmp_path)}})
    with pytest.raises(UserError, match="data.entity_symbols True -> False"):
        read_manifest(without)


# data.corpora: several corpora, one-line errors naming the entry and key
@pytest.mark.parametrize("entries, message", [
    ([{"name": "a"}], r"data.corpora\[0\].path is required"),
    ([{"name": "a", "path": "x"}, {"name": "a", "path": "y"}], r"data.corpora\[1\].name 'a' is used twice"),
    ([{"name": "a", "path": "x", "weight": 0}], r"data.corpora\[0\].weight must be a number > 0"),
    ([{"name": "a", "path": "x", "wieght": 2}], r"unknown key 'wieght' in data.corpora\[0\] \(did you mean 'weight'\?\)"),
    ([{"name": "a", "format": "parallel", "src_path": "x"}], r"src_path and data.corpora\[0\].tgt_path are required"),
    ([{"name": "a b", "path": "x"}], r"data.corpora\[0\].name must be a short name"),
    ([], "data.corpora must be a list of corpora"),
])
def test_corpora_errors_name_the_entry_and_key(entries, message):
    with pytest.raises(UserError, match=message):
        config_from_dict({"name": "c", "data": {"corpora": entries}})


def test_corpora_and_a_single_corpus_read_one_way():
    from seq2seq.config_corpora import corpus_specs

    single = config_from_dict({"name": "c", "data": {"path": "c.tsv", "src_column": 1, "tgt_column": 2}})
    (spec,) = corpus_specs(single.data)
    assert (spec.name, spec.path, spec.src_column, spec.weight, spec.key("path")) == ("corpus", "c.tsv", 1, 1.0, "data.path")
    mixed = config_from_dict({"name": "c", "data": {"corpora": [
        {"name": "big", "path": "big.tsv"},
        {"name": "mine", "format": "parallel", "src_path": "a.fr", "tgt_path": "a.en", "weight": 3}]}})
    big, mine = corpus_specs(mixed.data)
    assert big.paths() == [Path("big.tsv")] and mine.paths() == [Path("a.fr"), Path("a.en")]
    assert mine.weight == 3.0 and mine.key("src_path") == "data.corpora[1].src_path"
    with pytest.raises(UserError, match="data.path and data.corpora are both set"):
        config_from_dict({"name": "c", "data": {"path": "c.tsv", "corpora": [{"name": "a", "path": "x"}]}})
