"""Configuration of SS-MAST pretraining around any specformers backbone (MAST or AST)."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from .configuration_utils import SpecformersConfig

MIXUP_POSITIONS = ("before_crop", "after_crop")


def scale_range(value) -> tuple[float, float]:
    """A `(low, high)` range of scales (a list from JSON) -> a tuple."""
    return tuple(value)


class SSMASTConfig(SpecformersConfig):
    r"""SS-MAST (Ghosh et al. 2023): symmetric contrastive pretraining between a student and its momentum teacher.

    Args:
        backbone_config: the encoder's config (a MAST or AST config, or its dict); default `MASTConfig()`.
        projection_size: the linear projection after the pooled output (256 in the paper).
        contrastive_temperature: InfoNCE temperature (the authors' code: 0.07; `temperature` is a generation
            parameter name transformers rejects in configs).
        patch_drop_rate: share of the student's patches zeroed (0.2 in the paper; 0 to turn patch-drop off).
        mixup_ratio, mixup_memory_size: BYOL-A log-domain mixup with an earlier clip, weight ~ U(0, ratio), drawn
            from a memory of that many clips (BYOL-A's and the authors' 2048).
        mixup_position: `"before_crop"` (BYOL-A and the authors: each view is mixed, then cropped) or
            `"after_crop"` (the crops are mixed, specformers' earlier order).
        crop_virtual_scale, crop_frequency_scale, crop_time_scale: BYOL-A random resized crop (canvas, crop sizes).
    """

    model_type = "specformers-ssmast"

    def __init__(
        self,
        backbone_config: dict | PretrainedConfig | None = None,
        projection_size: int = 256,
        contrastive_temperature: float = 0.07,
        patch_drop_rate: float = 0.2,
        mixup_ratio: float = 0.4,
        mixup_memory_size: int = 2048,
        mixup_position: str = "before_crop",
        crop_virtual_scale=(1.0, 1.5),
        crop_frequency_scale=(0.6, 1.5),
        crop_time_scale=(0.6, 1.5),
        **kwargs,
    ):
        if backbone_config is None:
            from .configuration_mast import MASTConfig

            backbone_config = MASTConfig()
        if isinstance(backbone_config, PretrainedConfig):
            backbone_config = backbone_config.to_dict()
        self.backbone_config = backbone_config
        self.projection_size = projection_size
        self.contrastive_temperature = contrastive_temperature
        self.patch_drop_rate = patch_drop_rate
        self.mixup_ratio = mixup_ratio
        self.mixup_memory_size = mixup_memory_size
        self.mixup_position = mixup_position
        self.crop_virtual_scale = scale_range(crop_virtual_scale)
        self.crop_frequency_scale = scale_range(crop_frequency_scale)
        self.crop_time_scale = scale_range(crop_time_scale)
        # the projection is initialised like the backbone
        self.initializer_range = kwargs.pop("initializer_range", backbone_config.get("initializer_range", 0.02))
        super().__init__(**kwargs)

    @property
    def backbone(self) -> PretrainedConfig:
        """The backbone's config object (its class comes from its `model_type`)."""
        values = dict(self.backbone_config)
        return AutoConfig.for_model(values.pop("model_type"), **values)

    def validate_fields(self):
        checks = [
            (isinstance(self.backbone_config, dict) and "model_type" in self.backbone_config,
             "backbone_config must be a specformers config (or its dict with model_type)"),
            (self.contrastive_temperature > 0,
             f"contrastive_temperature must be positive, got {self.contrastive_temperature}"),
            (0.0 <= self.patch_drop_rate < 1.0, f"patch_drop_rate must be in [0, 1), got {self.patch_drop_rate}"),
            (0.0 <= self.mixup_ratio < 1.0, f"mixup_ratio must be in [0, 1), got {self.mixup_ratio}"),
            (self.mixup_memory_size >= 1, f"mixup_memory_size must be >= 1, got {self.mixup_memory_size}"),
            (self.mixup_position in MIXUP_POSITIONS,
             f"mixup_position must be one of {MIXUP_POSITIONS}, got {self.mixup_position!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SSMASTConfig: {message}.")
