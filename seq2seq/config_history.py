"""Config keys of earlier releases, and `upgrade_stored`: the one conversion of a saved config.

A checkpoint stores the config it was trained with, and a prepared corpus's manifest.json its
data section. Every reader of a saved config (checkpoint.load_checkpoint, config_from_dict with
stored=True, manifest.identity) passes it through `upgrade_stored` first, so a renamed key is read
under its new name with the meaning it had; a user's file or --set with an old name is refused
with one line naming the new one (config._build_section).
"""

from __future__ import annotations

from typing import Any

# Keys that earlier versions had: the configs stored in their checkpoints still hold them.
RETIRED_KEYS: dict[str, str] = {
    "decode.n_best": "it was never used; ask for n-best lists with `s2s translate --n-best K`",
    "train.cosine_steps": "it is now train.decay_steps (for the linear and cosine schedules)",
}
# Keys added later whose default is not what checkpoints made before them did: a stored config
# without the key gets this value, so an old model loads and behaves exactly as it was trained.
STORED_DEFAULTS: dict[str, Any] = {"model.attention_scale": False}
# Keys renamed (issue 30: "placeholders" was a vocabulary switch in data, a probability in train
# and a switch in decode): old name -> what it is now.
RENAMED_KEYS: dict[str, str] = {
    "data.placeholders": "data.entity_symbols",
    "train.placeholders": "train.protect_entities (true where it was above 0) and train.name_symbol_probability "
                          "(its value)",
    "train.placeholder_order": "train.symbol_order",
    "decode.placeholders": "decode.protect_entities",
}


def _renamed(section: str, key: str, value: Any) -> dict[str, Any]:
    """The new key(s) and value(s) of one renamed key."""
    if (section, key) == ("train", "placeholders"):  # a probability, 0 = off: now a switch and the probability
        return {"protect_entities": True, "name_symbol_probability": value} if value else {"protect_entities": False}
    return {RENAMED_KEYS[f"{section}.{key}"].split(".")[1]: value}


def upgrade_section(section: str, values: Any) -> Any:
    """A saved config's `section` with its renamed keys under their new names (anything else as it is)."""
    if not isinstance(values, dict) or not any(f"{section}.{key}" in RENAMED_KEYS for key in values):
        return values
    upgraded: dict[str, Any] = {}
    for key, value in values.items():
        upgraded.update(_renamed(section, key, value) if f"{section}.{key}" in RENAMED_KEYS else {key: value})
    return upgraded


def upgrade_stored(config: Any) -> Any:
    """A saved config (a dict of sections) with its renamed keys under their new names."""
    if not isinstance(config, dict):
        return config
    return {section: upgrade_section(section, values) for section, values in config.items()}
