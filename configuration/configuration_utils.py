"""What every specformers config shares: named presets, label maps, field validation."""

from __future__ import annotations

import ast
import os

from transformers import PretrainedConfig


class SpecformersConfig(PretrainedConfig):
    """Base of the specformers configs. Subclasses set their fields before calling `super().__init__`, list
    their presets in the class attribute `presets`, and check their fields in `validate_fields`.

    As in transformers, a config may be built step by step (`ASTConfig(hidden_size=32)`, then
    `config.num_attention_heads = 4`): the fields are checked by `validate()` (which `save_pretrained` calls), when
    a model is built from the config, and by `from_preset`.
    """

    presets = {}  # preset name -> field values that differ from the class defaults

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.id2label is not None and not self.label2id:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}

    def validate_fields(self) -> None:
        """Raise a ValueError naming the first inconsistent field."""

    def validate(self) -> None:
        """transformers' checks, then `validate_fields`."""
        super().validate()
        self.validate_fields()

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """The config of preset `name` with `overrides` (config field names) applied on top."""
        if name not in cls.presets:
            raise ValueError(f"Unknown {cls.__name__} preset {name!r}; choose one of {sorted(cls.presets)}.")
        config = cls(**{**cls.presets[name], **overrides})
        config.validate_fields()
        return config


def parse_config_overrides(text: str | None) -> dict:
    """`"hidden_size=192,depths=(1,1,1,1),pooling=mean"` -> `{"hidden_size": 192, "depths": (1, 1, 1, 1), ...}`.

    Values are Python literals (numbers, tuples in parentheses, True/False/None); anything else is a string.
    Commas inside brackets belong to the value.
    """
    items, depth, current = [], 0, ""
    for char in text or "":
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    overrides = {}
    for item in filter(None, (i.strip() for i in items)):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"Bad config override {item!r}: expected key=value (e.g. hidden_size=192).")
        try:
            overrides[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            overrides[key] = raw.strip()
    return overrides


def config_fields(config_class) -> set[str]:
    """The fields a config class adds to transformers' `PretrainedConfig` (what `--config_overrides` may set)."""
    return set(config_class().to_dict()) - set(PretrainedConfig().to_dict())


def config_from_preset(config_class, preset: str | None, overrides: str | dict | None, **hub_kwargs):
    """The config named by `--config_name` (a preset of `config_class`, a folder or `config.json` path, or a Hub
    id; None: the class defaults) with overrides (`"k=v,..."` or a dict), rejecting unknown fields and configs of
    another model type. `hub_kwargs` (cache_dir, revision, token) reach `from_pretrained`."""
    values = overrides if isinstance(overrides, dict) else parse_config_overrides(overrides)
    known = config_fields(config_class) | {"num_labels"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Unknown {config_class.__name__} field(s) in --config_overrides: {unknown}. "
                         f"Fields: {sorted(known - {'num_labels'})}.")
    if not preset:
        config = config_class(**values)
    elif preset in config_class.presets:
        config = config_class.from_preset(preset, **values)
    else:
        config = config_class.from_dict(saved_config_dict(config_class, preset, **hub_kwargs), **values)
    config.validate_fields()  # fail before any data is loaded
    return config


def saved_config_dict(config_class, name: str, **hub_kwargs) -> dict:
    """The config dict of a folder, a `config.json` path or a Hub id (`owner/name`) that `config_class` can take.
    A bare name that is no local path is taken for a misspelt preset, without asking the Hub."""
    if "/" not in name and not os.path.exists(name):
        raise ValueError(f"Unknown {config_class.__name__} preset {name!r}; choose one of "
                         f"{sorted(config_class.presets)}, or give a config folder, config.json or Hub id.")
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(name, **hub_kwargs)
    except OSError as error:
        raise ValueError(f"--config_name {name!r} is not a {config_class.__name__} preset "
                         f"({', '.join(config_class.presets)}) and could not be read as a config folder, config.json "
                         f"or Hub id: {error}") from None
    if config_dict.get("model_type") != config_class.model_type:
        raise ValueError(f"--config_name {name!r} holds a {config_dict.get('model_type')!r} config, not a "
                         f"{config_class.model_type!r} one.")
    return config_dict
