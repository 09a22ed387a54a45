"""Weight conversions into the specformers spectrogram ViT: transformers' AST checkpoints (v4 and v5 naming),
timm ViT/DeiT ImageNet weights, and the original AST repository's `.pth` files; and back out to transformers' own
AST (`transformers_ast_config_kwargs`, `to_transformers_ast_state_dict`)."""

from __future__ import annotations

import re

import torch

from .spectrogram_vit import grid_to_tokens, resize_position_grid

TRANSFORMERS_AST_MODEL_TYPE = "audio-spectrogram-transformer"

# transformers AST (v4 names on the Hub, v5 names in memory) -> ours, applied to keys without the model prefix.
_TRANSFORMERS_RENAMES = [
    (r"^embeddings\.patch_embeddings\.projection\.", "embeddings.patch_embeddings."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"encoder.layers.\1.attention.proj."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"encoder.layers.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"encoder.layers.\1.mlp.fc2."),
    (r"^encoder\.layer\.(\d+)\.", r"encoder.layers.\1."),
    (r"^layers\.(\d+)\.attention\.o_proj\.", r"encoder.layers.\1.attention.proj."),
    (r"^layers\.(\d+)\.", r"encoder.layers.\1."),
]
_TRANSFORMERS_QKV = re.compile(
    r"^encoder\.layers\.(\d+)\.attention\.(?:attention\.(query|key|value)|(q|k|v)_proj)\.(weight|bias)$")

# timm ViT block names -> ours.
_TIMM_BLOCK_RENAMES = {
    "norm1": "layernorm_before", "attn.qkv": "attention.qkv", "attn.proj": "attention.proj",
    "norm2": "layernorm_after", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
}


# ---------------------------------------------------------------- transformers' AST


def config_kwargs_from_transformers_ast(config_dict: dict) -> dict:
    """An `audio-spectrogram-transformer` config.json -> ASTConfig keyword arguments (same architecture)."""
    copied = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
              "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
              "qkv_bias", "patch_size", "num_mel_bins", "id2label", "label2id", "problem_type", "architectures"]
    kwargs = {key: config_dict[key] for key in copied if key in config_dict}
    kwargs["patch_stride"] = (config_dict.get("frequency_stride", 10), config_dict.get("time_stride", 10))
    kwargs["target_frames"] = config_dict.get("max_length", 1024)
    kwargs["layer_norm_eps"] = config_dict.get("layer_norm_eps", 1e-12)  # transformers' default, not ours
    if "architectures" in kwargs:
        kwargs["architectures"] = [name for name in kwargs["architectures"] if name.startswith("AST")]
    return kwargs


def convert_transformers_ast_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' AST weights (v4 or v5 naming, with or without the classifier) -> specformers AST weights.

    Keys of the base model come back under `vit.`, the classifier's under `classifier.`.
    """
    converted, qkv_parts = {}, {}
    for key, value in state_dict.items():
        if key.startswith("classifier."):
            converted[key] = value
            continue
        key = key.removeprefix("audio_spectrogram_transformer.")
        for pattern, replacement in _TRANSFORMERS_RENAMES:
            key = re.sub(pattern, replacement, key)
        match = _TRANSFORMERS_QKV.match(key)
        if match:
            layer, v4_name, v5_name, kind = match.groups()
            qkv_parts.setdefault((layer, kind), {})[(v4_name or v5_name)[0]] = value
        else:
            converted[f"vit.{key}"] = value
    for (layer, kind), parts in qkv_parts.items():
        if sorted(parts) != ["k", "q", "v"]:
            raise ValueError(f"Layer {layer} of the transformers AST checkpoint lacks some query/key/value {kind}s.")
        converted[f"vit.encoder.layers.{layer}.attention.qkv.{kind}"] = torch.cat([parts[n] for n in "qkv"])
    cls_token = converted.pop("vit.embeddings.cls_token")
    distillation_token = converted.pop("vit.embeddings.distillation_token")
    converted["vit.embeddings.prefix_tokens"] = torch.cat([cls_token, distillation_token], dim=1)
    return converted


# ---------------------------------------------------------------- back to transformers' AST

# ours -> transformers' in-memory (v5) names, applied to keys without the model prefix; q/k/v and the prefix tokens
# are split apart in `to_transformers_ast_state_dict`.
_TO_TRANSFORMERS_RENAMES = [
    (r"^embeddings\.patch_embeddings\.", "embeddings.patch_embeddings.projection."),
    (r"^encoder\.layers\.(\d+)\.attention\.proj\.", r"layers.\1.attention.o_proj."),
    (r"^encoder\.layers\.(\d+)\.", r"layers.\1."),
]
_OUR_QKV = re.compile(r"^encoder\.layers\.(\d+)\.attention\.qkv\.(weight|bias)$")

# What transformers' AST cannot represent: (config field, the value it has there).
_TRANSFORMERS_AST_FIXED = {"num_prefix_tokens": 2, "token_order": "frequency_major", "pooling": "prefix"}


def transformers_ast_config_kwargs(config) -> dict:
    """A specformers `ASTConfig` -> keyword arguments of transformers' `ASTConfig` (same architecture), or a
    ValueError naming what transformers' AST cannot represent."""
    different = {name: getattr(config, name) for name, value in _TRANSFORMERS_AST_FIXED.items()
                 if getattr(config, name) != value}
    if different:
        raise ValueError(f"transformers' AST has cls + distillation tokens, frequency-major patches and the mean of "
                         f"the two tokens as pooled output; this config has {different}. Only such ASTs convert.")
    copied = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
              "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
              "qkv_bias", "patch_size", "num_mel_bins", "id2label", "label2id", "problem_type"]
    kwargs = {key: getattr(config, key) for key in copied}
    kwargs.update(frequency_stride=config.patch_stride[0], time_stride=config.patch_stride[1],
                  max_length=config.target_frames)
    return kwargs


def to_transformers_ast_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights of a specformers AST encoder (`ASTModel`, or a classifier's `.vit`) -> those of transformers'
    `ASTModel` (its in-memory names)."""
    converted = {}
    for key, value in state_dict.items():
        match = _OUR_QKV.match(key)
        if match:
            layer, kind = match.groups()
            for name, part in zip("qkv", value.chunk(3)):
                converted[f"layers.{layer}.attention.{name}_proj.{kind}"] = part
        elif key == "embeddings.prefix_tokens":
            converted["embeddings.cls_token"], converted["embeddings.distillation_token"] = value[:, :1], value[:, 1:]
        else:
            for pattern, replacement in _TO_TRANSFORMERS_RENAMES:
                key = re.sub(pattern, replacement, key)
            converted[key] = value
    return converted


# ---------------------------------------------------------------- timm ViT / DeiT and the original AST


def convert_timm_vit_state_dict(state_dict: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """timm ViT/DeiT (ImageNet) weights -> weights of a `SpectrogramViTModel` with `config` (the AST init).

    RGB patch filters are summed into one channel; a plain ViT's single cls token fills both AST prefix
    tokens; the square position grid is fitted to the spectrogram grid (centre-cut / bilinear per axis,
    rows = frequency, columns = time). Classification heads are dropped.
    """
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    patch_weight = state_dict["patch_embed.proj.weight"]
    if patch_weight.shape[0] != config.hidden_size:
        raise ValueError(f"The timm checkpoint has width {patch_weight.shape[0]} but the config has hidden_size="
                         f"{config.hidden_size}; pick a matching config (ViT-B/DeiT-B: 768, ViT-S: 384, ViT-Ti: 192).")
    if tuple(patch_weight.shape[-2:]) != (config.patch_size, config.patch_size):
        raise ValueError(f"The timm checkpoint has {tuple(patch_weight.shape[-2:])} patches; config.patch_size is "
                         f"{config.patch_size}.")
    depth = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("blocks."))
    if depth != config.num_hidden_layers:
        raise ValueError(f"The timm checkpoint has {depth} blocks but config.num_hidden_layers is "
                         f"{config.num_hidden_layers}.")

    timm_prefix = [state_dict["cls_token"]] + ([state_dict["dist_token"]] if "dist_token" in state_dict else [])
    position = state_dict["pos_embed"]
    timm_prefix_count = len(timm_prefix)
    side = int(round((position.shape[1] - timm_prefix_count) ** 0.5))
    grid = position[:, timm_prefix_count:].reshape(1, side, side, -1).permute(0, 3, 1, 2)  # (1, dim, rows, cols)
    patch_positions = grid_to_tokens(resize_position_grid(grid, config.patch_grid, "cut_or_bilinear"),
                                     config.token_order)
    prefix_positions = [position[:, i : i + 1] for i in range(timm_prefix_count)]
    # A plain ViT has one cls token (and position) where AST has cls + distillation: copy it.
    while len(timm_prefix) < config.num_prefix_tokens:
        timm_prefix.append(timm_prefix[0])
        prefix_positions.append(prefix_positions[0])

    converted = {
        "embeddings.patch_embeddings.weight": patch_weight.sum(dim=1, keepdim=True),
        "embeddings.patch_embeddings.bias": state_dict["patch_embed.proj.bias"],
        "embeddings.prefix_tokens": torch.cat(timm_prefix[: config.num_prefix_tokens], dim=1),
        "embeddings.position_embeddings": torch.cat(prefix_positions[: config.num_prefix_tokens] + [patch_positions],
                                                    dim=1),
        "layernorm.weight": state_dict["norm.weight"],
        "layernorm.bias": state_dict["norm.bias"],
    }
    converted.update(_convert_timm_blocks(state_dict, depth))
    return converted


def _convert_timm_blocks(state_dict: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    converted = {}
    for layer in range(depth):
        for timm_name, our_name in _TIMM_BLOCK_RENAMES.items():
            for kind in ("weight", "bias"):
                source = state_dict[f"blocks.{layer}.{timm_name}.{kind}"]
                converted[f"encoder.layers.{layer}.{our_name}.{kind}"] = source
    return converted


def convert_original_ast_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[dict, dict[str, torch.Tensor]]:
    """The original AST repository's checkpoint (`module.v.*`, `module.mlp_head.*`) -> (ASTConfig kwargs
    inferred from the shapes, specformers `ASTForAudioClassification` weights)."""
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    if "v.pos_embed" not in state_dict:
        raise ValueError("Not an original AST checkpoint: no 'module.v.pos_embed' key. Expected the .pth files of "
                         "github.com/YuanGongND/ast (keys module.v.*, module.mlp_head.*).")
    hidden = state_dict["v.pos_embed"].shape[-1]
    depth = 1 + max(int(k.split(".")[2]) for k in state_dict if k.startswith("v.blocks."))
    config_kwargs = {
        "hidden_size": hidden,
        "num_hidden_layers": depth,
        "num_attention_heads": hidden // 64,  # every DeiT/ViT size AST used has 64-dim heads
        "intermediate_size": state_dict["v.blocks.0.mlp.fc1.weight"].shape[0],
        "patch_size": state_dict["v.patch_embed.proj.weight"].shape[-1],
        "num_labels": state_dict["mlp_head.1.weight"].shape[0],
        "num_prefix_tokens": 2 if "v.dist_token" in state_dict else 1,
    }
    converted = {
        "vit.embeddings.patch_embeddings.weight": state_dict["v.patch_embed.proj.weight"],
        "vit.embeddings.patch_embeddings.bias": state_dict["v.patch_embed.proj.bias"],
        "vit.embeddings.prefix_tokens": torch.cat(
            [state_dict["v.cls_token"]] + ([state_dict["v.dist_token"]] if "v.dist_token" in state_dict else []),
            dim=1),
        # The original already stores the adapted (freq x time, frequency-major) grid.
        "vit.embeddings.position_embeddings": state_dict["v.pos_embed"],
        "vit.layernorm.weight": state_dict["v.norm.weight"],
        "vit.layernorm.bias": state_dict["v.norm.bias"],
        "classifier.layernorm.weight": state_dict["mlp_head.0.weight"],
        "classifier.layernorm.bias": state_dict["mlp_head.0.bias"],
        "classifier.dense.weight": state_dict["mlp_head.1.weight"],
        "classifier.dense.bias": state_dict["mlp_head.1.bias"],
    }
    blocks = {k.removeprefix("v."): v for k, v in state_dict.items() if k.startswith("v.blocks.")}
    converted.update({f"vit.{k}": v for k, v in _convert_timm_blocks(blocks, depth).items()})
    return config_kwargs, converted
