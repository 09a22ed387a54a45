"""The ViT over a log-mel spectrogram shared by AST and ASiT (they differ only by configuration).

Reads top to bottom: position-grid helper -> embeddings -> attention -> MLP -> layer -> encoder ->
PreTrainedModel -> Model -> ForAudioClassification.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling

from ..configuration.configuration_ast import SpectrogramViTConfig
from .classification import AudioClassificationMixin, ClassifierHead
from .layers import DropPath, Mlp, SpectrogramEncoderMixin, drop_patches, is_exporting
from .modeling_utils import SpecformersPreTrainedModel


def resize_position_grid(grid: torch.Tensor, size: tuple[int, int], mode: str = "cut_or_bilinear") -> torch.Tensor:
    """Fit position embeddings laid out as `(1, dim, freq, time)` to another `(freq, time)` grid.

    `cut_or_bilinear` (AST) works per axis: an axis that shrinks keeps its centre, one that grows is
    interpolated bilinearly. `bicubic` (ASiT, timm) interpolates both axes.
    """
    if is_exporting():
        return _resize_for_export(grid, size, mode)
    if tuple(grid.shape[-2:]) == tuple(size):
        return grid
    if mode == "bicubic":
        return F.interpolate(grid, size=size, mode="bicubic", align_corners=False)
    for axis, new in zip((2, 3), size):
        old = grid.shape[axis]
        if new < old:
            grid = grid.narrow(axis, old // 2 - new // 2, new)
        elif new > old:
            grid = _stretch(grid, axis, new)
    return grid


def _stretch(grid: torch.Tensor, axis: int, new: int) -> torch.Tensor:
    """`grid` interpolated bilinearly to `new` positions along `axis` (2 or 3)."""
    target = list(grid.shape[-2:])
    target[axis - 2] = new
    return F.interpolate(grid, size=tuple(target), mode="bilinear", align_corners=False)


def _resize_for_export(grid: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """`resize_position_grid` for a graph whose input length is symbolic (ONNX export): the same results, with no
    choice made in Python on that length. Bicubic returns the table itself at its own size; for `cut_or_bilinear`
    the centre cut (as a clamped gather, defined for any length) and the interpolation are both computed and the
    graph picks one (position tables are small)."""
    if mode == "bicubic":
        return F.interpolate(grid, size=size, mode="bicubic", align_corners=False)
    for axis, new in zip((2, 3), size):
        old = grid.shape[axis]
        if isinstance(new, int) and isinstance(old, int):  # a fixed axis (the mel bins): decided here
            grid = grid.narrow(axis, old // 2 - new // 2, new) if new <= old else _stretch(grid, axis, new)
            continue
        positions = (torch.arange(new, device=grid.device) + (old // 2 - new // 2)).clamp(0, old - 1)
        cut = grid.index_select(axis, positions)
        shorter = torch.full((), old - new, device=grid.device) >= 0
        grid = torch.where(shorter, cut, _stretch(grid, axis, new))
    return grid


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int], token_order: str) -> torch.Tensor:
    """`(batch, freq * time, dim)` patch tokens in `token_order` -> `(batch, dim, freq, time)`."""
    freq, time = grid
    if token_order == "time_major":
        return tokens.unflatten(1, (time, freq)).permute(0, 3, 2, 1)
    return tokens.unflatten(1, (freq, time)).permute(0, 3, 1, 2)


def grid_to_tokens(grid: torch.Tensor, token_order: str) -> torch.Tensor:
    """`(batch, dim, freq, time)` -> `(batch, freq * time, dim)` patch tokens in `token_order`."""
    if token_order == "time_major":
        grid = grid.transpose(2, 3)
    return grid.flatten(2).transpose(1, 2)


class SpectrogramViTEmbeddings(nn.Module):
    """Patch embeddings + prefix tokens + position embeddings.

    `(batch, frames, mel_bins)` -> `(batch, prefix + patches, hidden)` and the `(freq, time)` patch grid.
    """

    _trunc_normal_parameters = ("prefix_tokens", "position_embeddings")

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.config = config
        self.patch_embeddings = nn.Conv2d(1, config.hidden_size, config.patch_size, stride=config.patch_stride)
        # [cls] or [cls, distillation]
        self.prefix_tokens = nn.Parameter(torch.zeros(1, config.num_prefix_tokens, config.hidden_size))
        freq, time = config.patch_grid
        self.position_embeddings = nn.Parameter(
            torch.zeros(1, config.num_prefix_tokens + freq * time, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def patch_position_embeddings(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embeddings of the patch tokens for a run-time grid: `(1, freq * time, hidden)`."""
        learned = self.position_embeddings[:, self.config.num_prefix_tokens:]
        if not is_exporting() and tuple(grid) == self.config.patch_grid:
            return learned
        order = self.config.token_order
        learned = tokens_to_grid(learned, self.config.patch_grid, order)
        return grid_to_tokens(resize_position_grid(learned, grid, self.config.position_resize), order)

    def forward(self, input_values: torch.Tensor, patch_drop_rate: float = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
        patches = self.patch_embeddings(input_values.transpose(1, 2).unsqueeze(1))  # (batch, hidden, freq, time)
        grid = tuple(patches.shape[-2:])
        patches = grid_to_tokens(patches, self.config.token_order)
        if patch_drop_rate > 0:  # dropped patches keep their position: a zero "mask" embedding
            patches = drop_patches(patches, patch_drop_rate)
        patches = patches + self.patch_position_embeddings(grid)
        prefix = self.prefix_tokens + self.position_embeddings[:, : self.config.num_prefix_tokens]
        embeddings = torch.cat([prefix.expand(patches.shape[0], -1, -1), patches], dim=1)
        return self.dropout(embeddings), grid


class SpectrogramViTAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection; SDPA unless eager or attention maps are asked for."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.proj_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False):
        """`(batch, tokens, hidden)` -> same shape, and `(batch, heads, tokens, tokens)` weights when asked."""
        batch, tokens, hidden = hidden_states.shape
        query, key, value = (self.qkv(hidden_states).view(batch, tokens, 3, self.num_heads, self.head_dim)
                             .permute(2, 0, 3, 1, 4).unbind(0))  # each (batch, heads, tokens, head_dim)
        dropout = self.config.attention_probs_dropout_prob if self.training else 0.0
        weights = None
        if output_attentions or self.config._attn_implementation == "eager":
            weights = (query * self.head_dim**-0.5) @ key.transpose(-2, -1)
            weights = weights.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
            context = F.dropout(weights, dropout, self.training) @ value
        else:
            context = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout)
        context = context.transpose(1, 2).reshape(batch, tokens, hidden)
        return self.proj_dropout(self.proj(context)), weights


class SpectrogramViTLayer(GradientCheckpointingLayer):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)), each through stochastic depth. A
    `GradientCheckpointingLayer`: `activation_checkpointing_enable()` recomputes it in the backward pass."""

    def __init__(self, config: SpectrogramViTConfig, drop_path_rate: float = 0.0):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SpectrogramViTAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(config.hidden_size, config.intermediate_size, hidden_act=config.hidden_act,
                       dropout=config.hidden_dropout_prob)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False):
        # Each residual sum is added in place into the branch's fresh output, so no extra
        # (batch, tokens, hidden) buffer is alive at the memory peak inside the MLP.
        attended, weights = self.attention(self.layernorm_before(hidden_states), output_attentions)
        hidden_states = self.drop_path(attended).add_(hidden_states)
        hidden_states = self.drop_path(self.mlp(self.layernorm_after(hidden_states))).add_(hidden_states)
        return hidden_states, weights


class SpectrogramViTEncoder(nn.Module):
    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        # Stochastic depth rises linearly over the layers (plain floats: models may be built on the meta device).
        depth = config.num_hidden_layers
        rates = [config.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.layers = nn.ModuleList([SpectrogramViTLayer(config, rate) for rate in rates])

    def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutput:
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)


class SpectrogramViTPreTrainedModel(SpecformersPreTrainedModel):
    config_class = SpectrogramViTConfig
    base_model_prefix = "vit"
    _no_split_modules = ["SpectrogramViTLayer"]


class SpectrogramViTModel(SpectrogramEncoderMixin, SpectrogramViTPreTrainedModel):
    """The bare spectrogram ViT: `(batch, frames, mel_bins)` -> token states and a pooled `(batch, hidden)`."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__(config)
        self.embeddings = SpectrogramViTEmbeddings(config)
        self.encoder = SpectrogramViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    @property
    def min_frames(self) -> int:
        return self.config.patch_size  # one patch

    def encode(self, input_values: torch.Tensor, patch_drop_rate: float, output_attentions: bool,
               output_hidden_states: bool) -> BaseModelOutputWithPooling:
        """`(batch, frames, mel_bins)` (position embeddings adapted to the grid of any length) -> `last_hidden_state`
        `(batch, prefix + patches, hidden)` after the final LayerNorm, `pooler_output` `(batch, hidden)`, and
        per-layer `hidden_states` / `attentions` when asked."""
        config = self.config
        embeddings, _ = self.embeddings(input_values.to(self.embeddings.patch_embeddings.weight.dtype),
                                        patch_drop_rate)
        encoded = self.encoder(embeddings, output_attentions, output_hidden_states)
        sequence = self.layernorm(encoded.last_hidden_state)
        if config.pooling == "prefix":
            pooled = sequence[:, : config.num_prefix_tokens].mean(dim=1)
        else:
            pooled = sequence[:, config.num_prefix_tokens:].mean(dim=1)

        return BaseModelOutputWithPooling(last_hidden_state=sequence, pooler_output=pooled,
                                          hidden_states=encoded.hidden_states, attentions=encoded.attentions)

    def time_tokens(self, output: BaseModelOutputWithPooling, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The patch tokens of `output.last_hidden_state` averaged over frequency: `(batch, time_columns, hidden)`,
        and the centre of each column's patches in input frames `(time_columns,)` (frame-level tasks, HEAR's
        timestamp embeddings). `frames`: the input's frame count."""
        config = self.config
        grid = config.patch_grid_for(frames)
        patches = tokens_to_grid(output.last_hidden_state[:, config.num_prefix_tokens:], grid, config.token_order)
        centres = torch.arange(grid[1], device=patches.device) * config.patch_stride[1] + (config.patch_size - 1) / 2
        return patches.mean(2).transpose(1, 2), centres


class SpectrogramViTForAudioClassification(AudioClassificationMixin, SpectrogramViTPreTrainedModel):
    """Spectrogram ViT + LayerNorm/Linear head on the pooled output. Single-label (CE), multi-label (BCE) or
    regression (MSE), from `config.problem_type`."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__(config)
        self.vit = SpectrogramViTModel(config)
        self.classifier = ClassifierHead(config.hidden_size, config.num_labels, config.layer_norm_eps)
        self.post_init()
