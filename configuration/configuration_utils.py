"""What every specformers config shares: named presets, label maps, field validation."""

from __future__ import annotations

from transformers import PretrainedConfig


class SpecformersConfig(PretrainedConfig):
    """Base of the specformers configs. Subclasses set their fields before calling `super().__init__`, list
    their presets in the class attribute `presets`, and check their fields in `validate_fields`."""

    presets = {}  # preset name -> field values that differ from the class defaults

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.id2label is not None and not self.label2id:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        self.validate_fields()

    def validate_fields(self) -> None:
        """Raise a ValueError naming the first inconsistent field."""

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """The config of preset `name` with `overrides` (config field names) applied on top."""
        if name not in cls.presets:
            raise ValueError(f"Unknown {cls.__name__} preset {name!r}; choose one of {sorted(cls.presets)}.")
        return cls(**{**cls.presets[name], **overrides})
