"""The PreTrainedModel base every specformers model shares."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init

HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
# what to do with a folder of another model type
AUTO = "or with AutoModelForAudioClassification / AutoModel, which pick the class from its config"
LOADERS = {
    "specformers-ast": f"Load it with ASTModel / ASTForAudioClassification, {AUTO}.",
    "specformers-mast": f"Load it with MASTModel / MASTForAudioClassification, {AUTO}.",
    "specformers-asit": f"Load it with ASiTModel / ASiTForAudioClassification, {AUTO}.",
    "audio-spectrogram-transformer": "Load it with ASTModel / ASTForAudioClassification: they convert transformers' "
                                     "AST checkpoints.",
    "specformers-ssmast": "It is an SS-MAST pretraining checkpoint: fine-tune the encoder that pretrain_ssmast saved "
                          "in its --output_dir, or take it out of this checkpoint with "
                          "`SSMASTForPreTraining.from_pretrained(path).backbone.save_pretrained(folder)`.",
}


class SpecformersPreTrainedModel(PreTrainedModel):
    """Spectrogram input, SDPA or eager attention (switchable at any time with `set_attn_implementation`),
    activation checkpointing of every block (each a `GradientCheckpointingLayer`), and truncated-normal
    initialisation (std `config.initializer_range`) of linear and convolution weights, plus of the parameters a
    module names in its class attribute `_trunc_normal_parameters` (tokens, position tables).

    The config is validated when the model is built (as transformers' models do), so a config may be assembled
    field by field first."""

    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: PretrainedConfig, *inputs, **kwargs):
        config.validate_fields()
        super().__init__(config, *inputs, **kwargs)

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        # Every attention module reads `config._attn_implementation` at each call, so switching takes effect at
        # once. (transformers' default guesses this from the module source and caches it on the class.)
        return True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing what would not give the encoder the user means: a folder of
        another model type, a pretraining checkpoint (`checkpoint-N`), or one with none of the encoder's weights.

        Weights given explicitly (`from_pretrained(None, config=config, state_dict=...)`) are the caller's choice
        and are not checked."""
        if pretrained_model_name_or_path is None:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        if not isinstance(kwargs.get("config"), PretrainedConfig):
            hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
            try:
                config_dict, _ = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **hub_kwargs)
            except OSError:
                config_dict = {}  # no config.json: from_pretrained says so itself
            found, wanted = config_dict.get("model_type"), cls.config_class.model_type
            if found and found != wanted:
                raise ValueError(f"{pretrained_model_name_or_path} holds a {found!r} model, not a {wanted!r} one "
                                 f"for {cls.__name__}. {LOADERS.get(found, f'Load it with its own class, {AUTO}.')}")
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *model_args, output_loading_info=True,
                                              **kwargs)
        if any(key.startswith("teacher_vit.") for key in info["unexpected_keys"]):
            raise ValueError(f"{pretrained_model_name_or_path} is an ASiT pretraining checkpoint (student and "
                             f"teacher); {cls.__name__} would take the student from it. Fine-tune the teacher encoder "
                             f"that pretrain_asit saved in its --output_dir, or take it out of this checkpoint with "
                             f"`ASiTForPreTraining.from_pretrained(path).teacher_vit.save_pretrained(folder)`.")
        base = model.base_model
        prefix = "" if base is model else f"{model.base_model_prefix}."
        encoder = {prefix + name for name, _ in base.named_parameters()}
        if encoder and encoder <= set(info["missing_keys"]):
            raise ValueError(f"{pretrained_model_name_or_path} has none of the {len(encoder)} encoder weights "
                             f"{cls.__name__} needs. If it is a pretraining checkpoint (`checkpoint-N`), fine-tune "
                             f"the encoder the script saved in its --output_dir instead; to start from random "
                             f"weights, build the model from a config ({cls.__name__}(config)).")
        return (model, info) if wants_info else model

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        for name in getattr(module, "_trunc_normal_parameters", ()):
            if getattr(module, name) is not None:
                init.trunc_normal_(getattr(module, name), std=std)
