"""AST: the Audio Spectrogram Transformer (Gong et al. 2021) on the shared spectrogram ViT, with its weight
conversions (transformers' AST checkpoints, timm ImageNet ViT/DeiT, the original AST repository)."""

from __future__ import annotations

from transformers import PretrainedConfig
from transformers.utils import logging

from ..configuration.configuration_ast import ASTConfig
from .ast_conversion import (
    TRANSFORMERS_AST_MODEL_TYPE,
    config_kwargs_from_transformers_ast,
    convert_original_ast_state_dict,
    convert_timm_vit_state_dict,
    convert_transformers_ast_state_dict,
    to_transformers_ast_state_dict,
    transformers_ast_config_kwargs,
)
from .modeling_utils import HUB_KWARGS, load_checkpoint_tensors, load_state_dict_file, timm_weights
from .spectrogram_vit import SpectrogramViTForAudioClassification, SpectrogramViTModel

logger = logging.get_logger(__name__)


class ASTConversionMixin:
    """`from_pretrained` that also reads transformers' AST checkpoints, plus `from_timm` and `from_original_ast`,
    and `to_transformers` back to transformers' own AST."""

    transformers_class_name: str  # the same model in transformers

    def to_transformers(self):
        """This model as transformers' own AST (`transformers.ASTModel` / `ASTForAudioClassification`, model type
        `audio-spectrogram-transformer`): the same weights and logits, on this model's device and dtype and in its
        train/eval mode. Loading and saving it needs no specformers (and no remote code), which is what Optimum's
        ONNX export, the Hub's widgets and transformers.js take.

        transformers' AST has cls + distillation tokens, frequency-major patches and the mean of the two tokens as
        pooled output: other `num_prefix_tokens`, `token_order` or `pooling` are a ValueError. It has no stochastic
        depth (`drop_path_rate` is dropped, with a warning: the same inference, another fine-tuning) and takes
        exactly `max_length` (= `target_frames`) frames, where specformers adapts its position grid to any length.
        """
        import transformers

        kwargs = transformers_ast_config_kwargs(self.config)
        if self.config.drop_path_rate:
            logger.warning(f"transformers' AST has no stochastic depth: drop_path_rate={self.config.drop_path_rate} "
                           "is left out (inference is the same).")
        native = getattr(transformers, self.transformers_class_name)(transformers.ASTConfig(**kwargs))
        native.base_model.load_state_dict(to_transformers_ast_state_dict(self.base_model.state_dict()))
        if hasattr(self, "classifier"):
            native.classifier.load_state_dict(self.classifier.state_dict())
        return native.to(device=self.device, dtype=self.dtype).train(self.training)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load a specformers AST, or convert on the fly a checkpoint saved by transformers' own
        `ASTModel`/`ASTForAudioClassification` (Hub v4 weight names or v5 names). Every keyword of
        `PreTrainedModel.from_pretrained` works (e.g. `num_labels=10, ignore_mismatched_sizes=True`)."""
        hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
        if not isinstance(kwargs.get("config"), PretrainedConfig):
            config_dict, _ = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **hub_kwargs)
            if config_dict.get("model_type") == TRANSFORMERS_AST_MODEL_TYPE:
                logger.info(f"Converting the transformers AST checkpoint {pretrained_model_name_or_path}.")
                state = convert_transformers_ast_state_dict(
                    load_checkpoint_tensors(pretrained_model_name_or_path, hub_kwargs))
                config = ASTConfig(**config_kwargs_from_transformers_ast(config_dict))
                rest = {k: v for k, v in kwargs.items() if k not in HUB_KWARGS}
                return cls._from_converted(config, state, pretrained_model_name_or_path, model_args, rest)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @classmethod
    def from_timm(cls, weights, config: ASTConfig | None = None, **config_overrides):
        """An AST initialised from timm ViT/DeiT ImageNet weights (the AST paper's ImageNet pretraining).

        Args:
            weights: a timm model, its `state_dict()`, a path to one (`.safetensors`, or a pickle opened with
                `weights_only=True`), or a timm model name (e.g. `"deit_base_distilled_patch16_384"`: timm builds it
                with its ImageNet weights; needs `pip install "specformers[timm]"`). DeiT-distilled weights give
                cls + distillation tokens; a plain ViT's cls token is copied into both.
            config: the AST to build (default `ASTConfig(**config_overrides)`, AST-Base for AudioSet); its width
                and depth must match the timm model.
        Patch filters are summed over RGB and the position grid is centre-cut in frequency and interpolated in
        time to the spectrogram grid. Classifier weights (if any) stay freshly initialised.
        """
        config = config if config is not None else cls.config_class(**config_overrides)
        model = cls(config)
        model.base_model.load_state_dict(convert_timm_vit_state_dict(timm_weights(weights), config))
        return model

    @classmethod
    def from_original_ast(cls, checkpoint, target_frames: int = 1024, patch_stride: tuple[int, int] = (10, 10),
                          **config_overrides):
        """Load a checkpoint of the original AST repository (github.com/YuanGongND/ast, keys `module.v.*`).

        Args:
            checkpoint: path to the `.pth` (opened with `weights_only=True`) or its state dict.
            target_frames, patch_stride: the `input_tdim` and `(fstride, tstride)` it was trained with (the file
                does not record them; AudioSet models use 1024 and (10, 10)).
        """
        state = checkpoint if isinstance(checkpoint, dict) else load_state_dict_file(checkpoint)
        config_kwargs, state = convert_original_ast_state_dict(state)
        config = ASTConfig(**{**config_kwargs, "target_frames": target_frames, "patch_stride": patch_stride,
                              **config_overrides})
        expected = config.num_prefix_tokens + config.patch_grid[0] * config.patch_grid[1]
        found = state["vit.embeddings.position_embeddings"].shape[1]
        if found != expected:
            raise ValueError(f"The checkpoint has {found} position embeddings but target_frames={target_frames} and "
                             f"patch_stride={tuple(patch_stride)} give {expected}; pass the input_tdim and "
                             "fstride/tstride it was trained with.")
        return cls._from_converted(config, state, source=None)


class ASTModel(ASTConversionMixin, SpectrogramViTModel):
    """The bare AST: `(batch, frames, 128)` log-mel -> `(batch, 2 + patches, hidden)` tokens and the mean of the
    cls and distillation tokens as `pooler_output`."""

    config_class = ASTConfig
    transformers_class_name = "ASTModel"
    _no_weight_decay_keys = ("prefix_tokens", "position_embeddings")  # timm's ViT/DeiT recipe


class ASTForAudioClassification(ASTConversionMixin, SpectrogramViTForAudioClassification):
    """AST with a LayerNorm + Linear head on the pooled output (single- or multi-label via `problem_type`)."""

    config_class = ASTConfig
    transformers_class_name = "ASTForAudioClassification"
    _no_weight_decay_keys = ("prefix_tokens", "position_embeddings")
