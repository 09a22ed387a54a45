"""timm MViTv2 weights -> MAST weights (the MAST paper's "ImageNet weights" initialisation)."""

from __future__ import annotations

import re

import torch

from .modeling_mast import fit_relative_table

_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.(.+)$")
# timm block parameter names -> ours, applied in order.
_BLOCK_RENAMES = [
    (r"^norm1\.", "layernorm_before."), (r"^norm2\.", "layernorm_after."), (r"^shortcut_proj_attn\.", "shortcut_proj."),
    (r"^attn\.rel_pos_h$", "attention.rel_pos_freq"), (r"^attn\.rel_pos_w$", "attention.rel_pos_time"),
    (r"^attn\.", "attention."),
]


def convert_timm_mvitv2_state_dict(state_dict: dict[str, torch.Tensor], backbone) -> dict[str, torch.Tensor]:
    """timm `mvitv2_*` weights -> weights for `backbone` (a `MASTModel`).

    RGB patch filters are summed into one channel. timm sizes its relative-position tables for a square image;
    each is fitted to the MAST grid as a run-time grid of another size is (`fit_relative_table`: its centre rows
    for a smaller grid, stretched about distance 0 for a larger one), so a MAST configured for timm's grid
    computes what timm computes. (On a grid smaller than its own, timm reads a table's leading rows, which pairs
    distance 0 with the row trained for another distance; MAST does not follow it there.) The ImageNet head is
    dropped.
    """
    config = backbone.config
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    if any(".shortcut_proj_mlp." in k for k in state_dict):
        raise ValueError("This MViTv2 widens tokens in its MLP (expand_attn=False, e.g. mvitv2_large); MAST follows "
                         "mvitv2_tiny/small/base, which widen them in attention.")
    blocks = [tuple(map(int, m.groups()[:2])) for m in map(_BLOCK_KEY.match, state_dict) if m]
    depths = tuple(1 + max(b for s, b in blocks if s == stage) for stage in range(1 + max(s for s, _ in blocks)))
    embed_dim = state_dict["patch_embed.proj.weight"].shape[0]
    if depths != tuple(config.depths) or embed_dim != config.embed_dim:
        raise ValueError(f"The timm model has depths {depths} and embed_dim {embed_dim}; the config has depths "
                         f"{tuple(config.depths)} and embed_dim {config.embed_dim}. Use the matching preset "
                         "(mvitv2_small: mast-small, mvitv2_base: mast-base, mvitv2_tiny: depths=(1, 2, 5, 2)).")
    if ("cls_token" in state_dict) != config.use_cls_token:
        raise ValueError(f"Set use_cls_token={'cls_token' in state_dict} to match the timm model.")

    converted = {
        "embeddings.projection.weight": state_dict["patch_embed.proj.weight"].sum(dim=1, keepdim=True),
        "embeddings.projection.bias": state_dict["patch_embed.proj.bias"],
        "layernorm.weight": state_dict["norm.weight"],
        "layernorm.bias": state_dict["norm.bias"],
    }
    if config.use_cls_token:
        converted["embeddings.cls_token"] = state_dict["cls_token"]
    expected = backbone.state_dict()
    attention = {name: module for name, module in backbone.named_modules() if hasattr(module, "rel_pos_freq")}
    for key, value in state_dict.items():
        match = _BLOCK_KEY.match(key)
        if not match:
            continue
        stage, block, name = match.groups()
        for pattern, replacement in _BLOCK_RENAMES:
            name = re.sub(pattern, replacement, name)
        ours = f"encoder.stages.{stage}.layers.{block}.{name}"
        if name.startswith("attention.rel_pos_"):
            block = attention[ours.rsplit(".", 1)[0]]
            value = fit_relative_table(value, expected[ours].shape[0], block.q_stride, block.kv_stride)
        converted[ours] = value
    return converted
