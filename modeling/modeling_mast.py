"""MAST: the Multiscale Audio Spectrogram Transformer (Ghosh et al., ICASSP 2023).

MViTv2 stages with multi-head pooling attention over the spectrogram. Tokens travel with their (frequency, time)
grid through the stages. Reads top to bottom: patch embeddings -> relative positions -> pooling attention ->
layer -> stage -> encoder -> PreTrainedModel -> Model -> ForAudioClassification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..configuration.configuration_mast import MASTConfig
from .classification import AudioClassificationMixin
from .layers import DropPath, Mlp, SpectrogramEncoderMixin, drop_patches, is_exporting
from .modeling_utils import HUB_KWARGS, SpecformersPreTrainedModel, load_checkpoint_tensors, timm_weights


@dataclass
class MASTModelOutput(BaseModelOutputWithPooling):
    r"""
    grid_sizes (`tuple[tuple[int, int]]`): the (frequency, time) token grid of each entry of `hidden_states`
        (the patch embeddings, then every stage), or of the last stage alone when hidden states are not asked for.
    """

    grid_sizes: tuple[tuple[int, int], ...] | None = None


class MASTPatchEmbeddings(nn.Module):
    """`(batch, frames, mel_bins)` -> `(batch, [cls +] freq * time, embed_dim)` tokens (frequency-major) and the
    (freq, time) grid. No absolute position embedding: MAST's positions are relative, inside attention."""

    _trunc_normal_parameters = ("cls_token",)

    def __init__(self, config: MASTConfig):
        super().__init__()
        self.projection = nn.Conv2d(1, config.embed_dim, config.patch_kernel_size, stride=config.patch_stride,
                                    padding=config.patch_padding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim)) if config.use_cls_token else None

    def forward(self, input_values: torch.Tensor, patch_drop_rate: float = 0.0):
        patches = self.projection(input_values.transpose(1, 2).unsqueeze(1))  # (batch, dim, freq, time)
        grid = tuple(patches.shape[-2:])
        tokens = patches.flatten(2).transpose(1, 2)
        if patch_drop_rate > 0:
            tokens = drop_patches(tokens, patch_drop_rate)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return tokens, grid


def relative_position_index(q_size: int, k_size: int, device: torch.device) -> torch.Tensor:
    """Table row of every (query, key) pair along one axis, `(q_size, k_size)`: MViTv2's decomposed relative
    positions, with the coarser of the two grids stretched to the finer one's spacing: row = query position - key
    position + the key axis' last position, in units of the finer grid, rounded down. Distance 0 (a query and a
    key at the same place) is row `zero_distance_row(q_size, k_size)`.

    In integers, so that every backend (an ONNX export too) reads the same rows; MViTv2's own float formula can land
    a row lower where the grids do not divide (e.g. 8 queries over 6 keys), and gives these rows where they do."""
    q, k = (torch.scalar_tensor(size, dtype=torch.long, device=device) for size in (q_size, k_size))  # maybe symbolic
    queries, keys = torch.arange(q_size, device=device)[:, None], torch.arange(k_size, device=device)[None, :]
    keys_from_last = k - 1 - keys
    more_queries = queries + keys_from_last * q // k  # keys pooled more: stretched to the query spacing
    more_keys = queries * k // q + keys_from_last  # queries pooled more: stretched to the key spacing
    return torch.where(q >= k, more_queries, more_keys)


def _ratio(a, b, device=None) -> torch.Tensor:
    """max(a / b, 1) as a float64 0-dim tensor (also for symbolic sizes)."""
    return (_size(a, device) / _size(b, device)).clamp(min=1.0)


def _size(size, device=None) -> torch.Tensor:
    return torch.scalar_tensor(size, dtype=torch.float64, device=device)


def zero_distance_row(q_size: int, k_size: int, device=None) -> torch.Tensor:
    """The row of distance 0 in the table of a `(q_size, k_size)` axis (the table's centre when the keys are at
    least as many as the queries; before it when the keys are pooled more), a float64 0-dim tensor."""
    return (_size(k_size, device) - 1) * _ratio(q_size, k_size, device)


def table_zero_row(length: int, q_stride: int, kv_stride: int, device=None) -> torch.Tensor:
    """The row of distance 0 in a table of `length` rows made for a block that pools its queries by `q_stride` and
    its keys by `kv_stride` (the axis lengths follow from the table's: the longer one has `(length + 1) / 2`)."""
    longer = (length + 1) // 2
    if kv_stride > q_stride:  # keys pooled more: the queries are the longer axis
        # the ceiling in integers, with operands >= 0 (an ONNX graph may divide negative ones toward zero)
        return zero_distance_row(longer, (longer * q_stride + kv_stride - 1) // kv_stride, device)
    return _size(longer, device) - 1.0


def fit_relative_table(table: torch.Tensor, length: int, q_stride: int, kv_stride: int) -> torch.Tensor:
    """A `(rows, dim)` relative-position table fitted to `length` rows (an axis of another size).

    Shorter: the centre rows, so that distance d reads the row trained for d (exactly, when the axis lengths
    divide by the pooling strides). Longer: the table stretched about its row of distance 0 by linear
    interpolation (timm's resize of relative positions, anchored at distance 0).
    """
    rows = table.shape[0]
    if is_exporting():  # a symbolic length: both fits in the graph, which picks one
        centre = table.index_select(0, (torch.arange(length, device=table.device) + (rows - length) // 2)
                                    .clamp(0, rows - 1))
        return torch.where(torch.full((), rows - length, device=table.device) >= 0, centre,
                           _stretch_table(table, length, q_stride, kv_stride))
    if length <= rows:
        start = (rows - length) // 2
        return table[start:start + length]
    return _stretch_table(table, length, q_stride, kv_stride)


def _stretch_table(table: torch.Tensor, length: int, q_stride: int, kv_stride: int) -> torch.Tensor:
    """`fit_relative_table` for a longer axis (also defined for a shorter one)."""
    rows, device = table.shape[0], table.device
    zero = table_zero_row(rows, q_stride, kv_stride, device)
    new_zero = table_zero_row(length, q_stride, kv_stride, device)
    position = zero + (torch.arange(length, device=device, dtype=torch.float64) - new_zero) * (rows / _size(length,
                                                                                                           device))
    position = position.clamp(0, rows - 1)
    low = position.floor().long()
    weight = (position - low).to(table.dtype)[:, None]
    return torch.lerp(table[low], table[(low + 1).clamp(max=rows - 1)], weight)


class MASTPoolingAttention(nn.Module):
    """Multi-head pooling attention (MViTv2): q, k and v are pooled by depthwise convolutions (q by `q_stride`,
    k and v by `kv_stride`) and normalised; scores get decomposed relative positions per axis; the pooled query is
    added back (residual pooling). `(batch, tokens, dim)` on a grid -> `(batch, pooled tokens, dim_out)`."""

    _trunc_normal_parameters = ("rel_pos_freq", "rel_pos_time")

    def __init__(self, config: MASTConfig, dim: int, dim_out: int, num_heads: int, q_stride: int, kv_stride: int,
                 grid: tuple[int, int]):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = dim_out // num_heads
        self.num_prefix = int(config.use_cls_token)
        self.q_stride, self.kv_stride = q_stride, kv_stride
        self.qkv = nn.Linear(dim, 3 * dim_out, bias=config.qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)

        def pool(stride):
            return nn.Conv2d(self.head_dim, self.head_dim, config.pool_kernel_size, stride=stride,
                             padding=config.pool_kernel_size // 2, groups=self.head_dim, bias=False)

        self.pool_q, self.pool_k, self.pool_v = pool(q_stride), pool(kv_stride), pool(kv_stride)
        self.norm_q, self.norm_k, self.norm_v = (nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
                                                 for _ in range(3))
        # Tables sized for the configured grid (one row per relative distance along the axis).
        q_grid = [config.pooled_size(size, q_stride) for size in grid]
        kv_grid = [config.pooled_size(size, kv_stride) for size in grid]
        self.rel_pos_freq = nn.Parameter(torch.zeros(2 * max(q_grid[0], kv_grid[0]) - 1, self.head_dim))
        self.rel_pos_time = nn.Parameter(torch.zeros(2 * max(q_grid[1], kv_grid[1]) - 1, self.head_dim))

    def _pool(self, x: torch.Tensor, grid: tuple[int, int], conv: nn.Conv2d, norm: nn.LayerNorm):
        """`(batch, heads, [prefix +] freq * time, head_dim)` -> pooled and normalised, and the new grid."""
        prefix, spatial = x[:, :, : self.num_prefix], x[:, :, self.num_prefix:]
        batch, heads, _, channels = spatial.shape
        spatial = conv(spatial.reshape(batch * heads, *grid, channels).permute(0, 3, 1, 2))
        new_grid = tuple(spatial.shape[-2:])
        spatial = spatial.flatten(2).transpose(1, 2).reshape(batch, heads, new_grid[0] * new_grid[1], channels)
        if self.num_prefix:
            spatial = torch.cat([prefix, spatial], dim=2)
        return norm(spatial), new_grid

    def _relative_scores(self, q: torch.Tensor, q_grid, k_grid) -> tuple[torch.Tensor, torch.Tensor]:
        """q · R per axis for the spatial queries: `(batch, heads, q_freq * q_time, k_freq)` and `(..., k_time)`."""
        spatial_q = q[:, :, self.num_prefix:].unflatten(2, q_grid)  # (batch, heads, q_freq, q_time, head_dim)
        scores = []
        for axis, table in enumerate((self.rel_pos_freq, self.rel_pos_time)):
            index = relative_position_index(q_grid[axis], k_grid[axis], q.device)
            length = 2 * torch.sym_max(q_grid[axis], k_grid[axis]) - 1
            rows = fit_relative_table(table, length, self.q_stride, self.kv_stride)[index]  # (q, k, head_dim)
            equation = "bhftc,fkc->bhftk" if axis == 0 else "bhftc,tkc->bhftk"
            scores.append(torch.einsum(equation, spatial_q, rows).flatten(2, 3))
        return scores[0], scores[1]

    def forward(self, hidden_states: torch.Tensor, grid: tuple[int, int], output_attentions: bool = False):
        batch, tokens, _ = hidden_states.shape
        q, k, v = (self.qkv(hidden_states).view(batch, tokens, 3, self.num_heads, self.head_dim)
                   .permute(2, 0, 3, 1, 4).unbind(0))  # each (batch, heads, tokens, head_dim)
        q, q_grid = self._pool(q, grid, self.pool_q, self.norm_q)
        k, k_grid = self._pool(k, grid, self.pool_k, self.norm_k)
        v, _ = self._pool(v, grid, self.pool_v, self.norm_v)
        rel_freq, rel_time = self._relative_scores(q, q_grid, k_grid)
        scale, prefix = self.head_dim**-0.5, self.num_prefix

        weights = None
        if output_attentions or self.config._attn_implementation == "eager":
            scores = (q * scale) @ k.transpose(-2, -1)
            bias = (rel_freq[..., :, None] + rel_time[..., None, :]).flatten(-2)  # keys frequency-major
            scores[:, :, prefix:, prefix:] += bias
            weights = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
            context = weights @ v
        else:
            # Exact, and no (queries x keys) bias tensor: append the relative scores to the queries and one-hot key
            # coordinates to the keys, so q_aug . k_aug = scale q.k + q.R_freq + q.R_time. Zero-padding v to the
            # same width lets SDPA use its fused kernels (MAST-S, 1024 frames, CPU: as fast as an additive mask
            # with a quarter of its peak memory).
            # each key's (frequency, time) coordinates one-hot, by comparison: plain tensor arithmetic, which an
            # ONNX export with a symbolic grid keeps (F.one_hot needs a concrete class count)
            freqs, times = torch.arange(k_grid[0], device=q.device), torch.arange(k_grid[1], device=q.device)
            keys = torch.arange(k_grid[0] * k_grid[1], device=q.device)[:, None]  # frequency-major
            per_row = torch.scalar_tensor(k_grid[1], dtype=keys.dtype, device=q.device)
            one_hot = torch.cat([keys // per_row == freqs, keys % per_row == times], dim=1).to(q.dtype)
            relative = torch.cat([rel_freq, rel_time], dim=-1)
            q_aug = torch.cat([q * scale, F.pad(relative, (0, 0, prefix, 0))], dim=-1)
            k_aug = torch.cat([k, F.pad(one_hot, (0, 0, prefix, 0)).expand(batch, self.num_heads, -1, -1)], dim=-1)
            v_pad = F.pad(v, (0, q_aug.shape[-1] - self.head_dim))
            context = F.scaled_dot_product_attention(q_aug, k_aug, v_pad, scale=1.0)[..., : self.head_dim]
        context = context + q  # residual pooling
        output = self.proj(context.transpose(1, 2).flatten(2))
        return output, q_grid, weights


class MASTLayer(GradientCheckpointingLayer):
    """MViTv2 block. The shortcut is the input, projected from its normalised form when the width changes and
    max-pooled when the queries are; then x = shortcut + attn(LN(x)) and x = x + MLP(LN(x)). A
    `GradientCheckpointingLayer`: `activation_checkpointing_enable()` recomputes it in the backward pass."""

    def __init__(self, config: MASTConfig, dim: int, dim_out: int, num_heads: int, q_stride: int, kv_stride: int,
                 grid: tuple[int, int], drop_path_rate: float):
        super().__init__()
        self.num_prefix = int(config.use_cls_token)
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = MASTPoolingAttention(config, dim, dim_out, num_heads, q_stride, kv_stride, grid)
        self.shortcut_proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.shortcut_pool = (nn.MaxPool2d(q_stride + 1, q_stride, (q_stride + 1) // 2) if q_stride > 1 else None)
        self.drop_path = DropPath(drop_path_rate)
        self.layernorm_after = nn.LayerNorm(dim_out, eps=config.layer_norm_eps)
        self.mlp = Mlp(dim_out, int(dim_out * config.mlp_ratio), hidden_act=config.hidden_act)

    def _pool_shortcut(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        if self.shortcut_pool is None:
            return x
        prefix, spatial = x[:, : self.num_prefix], x[:, self.num_prefix:]
        spatial = self.shortcut_pool(spatial.transpose(1, 2).unflatten(2, grid)).flatten(2).transpose(1, 2)
        return torch.cat([prefix, spatial], dim=1) if self.num_prefix else spatial

    def forward(self, hidden_states: torch.Tensor, grid: tuple[int, int], output_attentions: bool = False):
        normed = self.layernorm_before(hidden_states)
        shortcut = hidden_states if self.shortcut_proj is None else self.shortcut_proj(normed)
        shortcut = self._pool_shortcut(shortcut, grid)
        attended, grid, weights = self.attention(normed, grid, output_attentions)
        # residual sums added in place into each branch's fresh output: no extra buffer at the memory peak
        hidden_states = self.drop_path(attended).add_(shortcut)
        hidden_states = self.drop_path(self.mlp(self.layernorm_after(hidden_states))).add_(hidden_states)
        return hidden_states, grid, weights


class MASTStage(nn.Module):
    """Blocks of one width; the first pools the queries by the stage's stride and widens the tokens."""

    def __init__(self, config: MASTConfig, stage: int, dim: int, grid: tuple[int, int], drop_path_rates: list):
        super().__init__()
        dim_out, q_stride = config.stage_dim(stage), config.q_stride[stage]
        kv_stride = config.stage_kv_strides()[stage]
        self.layers = nn.ModuleList()
        for index, rate in enumerate(drop_path_rates):
            stride = q_stride if index == 0 else 1
            self.layers.append(MASTLayer(config, dim if index == 0 else dim_out, dim_out,
                                         config.stage_heads(stage), stride, kv_stride, grid, rate))
            grid = tuple(config.pooled_size(size, stride) for size in grid)

    def forward(self, hidden_states: torch.Tensor, grid: tuple[int, int], output_attentions: bool = False):
        all_weights = ()
        for layer in self.layers:
            hidden_states, grid, weights = layer(hidden_states, grid, output_attentions)
            all_weights += (weights,)
        return hidden_states, grid, all_weights


class MASTEncoder(nn.Module):
    def __init__(self, config: MASTConfig):
        super().__init__()
        # Stochastic depth rises linearly over all blocks (plain floats: models may be built on the meta device).
        total = sum(config.depths)
        rates = [config.drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        grids = [config.patch_grid_for(config.target_frames)] + config.stage_grids()
        self.stages = nn.ModuleList()
        for stage, depth in enumerate(config.depths):
            dim = config.embed_dim if stage == 0 else config.stage_dim(stage - 1)
            first = sum(config.depths[:stage])
            self.stages.append(MASTStage(config, stage, dim, grids[stage], rates[first : first + depth]))

    def forward(self, hidden_states: torch.Tensor, grid: tuple[int, int], output_attentions: bool = False,
                output_hidden_states: bool = False) -> MASTModelOutput:
        all_hidden = (hidden_states,) if output_hidden_states else None
        grids = (grid,)
        all_attentions = () if output_attentions else None
        for stage in self.stages:
            hidden_states, grid, weights = stage(hidden_states, grid, output_attentions)
            grids += (grid,)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += weights
        return MASTModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions,
                               grid_sizes=grids if output_hidden_states else (grid,))


class MASTPreTrainedModel(SpecformersPreTrainedModel):
    config_class = MASTConfig
    base_model_prefix = "mast"
    _no_split_modules = ["MASTLayer"]
    _no_weight_decay_keys = ("rel_pos_freq", "rel_pos_time", "cls_token")  # timm's MViTv2 recipe

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`from_pretrained`, also at another spectrogram size than the checkpoint's (e.g. pretrained at 1024
        frames, loaded with `target_frames=96`): the relative-position tables are fitted to the new size as a
        run-time grid of that size would fit them (`fit_relative_table`), so the loaded model computes what the
        saved one computes on clips of the new length (and, when shrinking, on every shorter clip too)."""
        if pretrained_model_name_or_path is None:  # weights given explicitly (`state_dict=`): nothing saved to fit
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
        try:
            saved, _ = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **hub_kwargs)
        except (OSError, TypeError, ValueError):  # no folder or no config: from_pretrained says so
            saved = {}
        if saved.get("model_type") != MASTConfig.model_type:  # another model type: the base class refuses it
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        given = kwargs.get("config")
        config = given if isinstance(given, PretrainedConfig) else MASTConfig.from_dict(
            {**saved, **{k: v for k, v in kwargs.items() if k in saved}})
        saved_tables, new_tables = relative_table_lengths(MASTConfig.from_dict(saved)), relative_table_lengths(config)
        if saved_tables == new_tables:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        state = load_checkpoint_tensors(pretrained_model_name_or_path, hub_kwargs)
        for key, value in state.items():
            block = _TABLE_KEY.search(key)
            if block and block.group(0) in new_tables:
                length, q_stride, kv_stride = new_tables[block.group(0)]
                state[key] = fit_relative_table(value, length, q_stride, kv_stride)
        rest = {k: v for k, v in kwargs.items() if k not in HUB_KWARGS}
        return cls._from_converted(config, state, pretrained_model_name_or_path, model_args, rest)


# `...stages.S.layers.L.attention.rel_pos_freq` (or `_time`), under any prefix
_TABLE_KEY = re.compile(r"stages\.\d+\.layers\.\d+\.attention\.rel_pos_(freq|time)$")


def relative_table_lengths(config: MASTConfig) -> dict[str, tuple[int, int, int]]:
    """`stages.S.layers.L.attention.rel_pos_*` -> (rows, q_stride, kv_stride) of every relative-position table of
    a MAST built from `config` (found without building it)."""
    with torch.device("meta"):
        encoder = MASTEncoder(config)
    return {name: (parameter.shape[0], module.q_stride, module.kv_stride)
            for module_name, module in encoder.named_modules() if isinstance(module, MASTPoolingAttention)
            for name, parameter in ((f"{module_name}.{p}", getattr(module, p)) for p in ("rel_pos_freq",
                                                                                          "rel_pos_time"))}


class MASTTimmMixin:
    """`from_timm`: MAST from timm MViTv2 weights."""

    @classmethod
    def from_timm(cls, weights, config: MASTConfig | None = None, **config_overrides):
        """A MAST initialised from timm `mvitv2_*` weights (the MAST paper's ImageNet initialisation).

        Args:
            weights: a timm MViTv2 model, its `state_dict()`, a path to one (`.safetensors`, or a pickle opened
                with `weights_only=True`), or a timm model name (e.g. `"mvitv2_small"`: timm builds it with its
                ImageNet weights; needs `pip install "specformers[timm]"`). `mvitv2_small` matches the default
                config (`mast-small`), `mvitv2_base` the preset `mast-base`.
            config: the MAST to build (default `MASTConfig(**config_overrides)`); depths, width and cls token must
                match the timm model.
        RGB patch filters are summed; relative-position tables are fitted to the spectrogram grid as the model
        fits them (`fit_relative_table`: the centre rows on a smaller grid, stretched about distance 0 on a larger
        one). A classification head stays freshly initialised.
        """
        from .mast_conversion import convert_timm_mvitv2_state_dict

        config = config if config is not None else cls.config_class(**config_overrides)
        model = cls(config)
        model.base_model.load_state_dict(convert_timm_mvitv2_state_dict(timm_weights(weights), model.base_model))
        return model


class MASTModel(MASTTimmMixin, SpectrogramEncoderMixin, MASTPreTrainedModel):
    """The bare MAST: `(batch, frames, mel_bins)` -> tokens of the last stage after the final LayerNorm and their
    mean (or the cls token) as `pooler_output` `(batch, hidden_size)`."""

    def __init__(self, config: MASTConfig):
        super().__init__(config)
        self.embeddings = MASTPatchEmbeddings(config)
        self.encoder = MASTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.projection

    @property
    def min_frames(self) -> int:
        return self.config.patch_kernel_size[1] - 2 * self.config.patch_padding[1]  # one patch

    def encode(self, input_values: torch.Tensor, patch_drop_rate: float, output_attentions: bool,
               output_hidden_states: bool) -> MASTModelOutput:
        """`(batch, frames, mel_bins)`, any frame count -> `last_hidden_state` `(batch, [1 +] tokens, hidden_size)`
        after the final LayerNorm, `pooler_output`, `hidden_states` (patch embeddings, then each stage's output,
        before the final LayerNorm) with their `grid_sizes`, and per-block `attentions` when asked."""
        config = self.config
        embeddings, grid = self.embeddings(input_values.to(self.embeddings.projection.weight.dtype), patch_drop_rate)
        encoded = self.encoder(embeddings, grid, output_attentions, output_hidden_states)
        sequence = self.layernorm(encoded.last_hidden_state)
        pooled = sequence[:, 0] if config.use_cls_token else sequence.mean(dim=1)
        return MASTModelOutput(last_hidden_state=sequence, pooler_output=pooled, hidden_states=encoded.hidden_states,
                               attentions=encoded.attentions, grid_sizes=encoded.grid_sizes)

    def time_tokens(self, output: MASTModelOutput, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The last stage's tokens of `output.last_hidden_state` averaged over frequency: `(batch, time_columns,
        hidden)`, and the centre of each column's receptive field in input frames `(time_columns,)` (frame-level
        tasks, HEAR's timestamp embeddings). `frames`: the input's frame count."""
        config = self.config
        freq, time = output.grid_sizes[-1]
        tokens = output.last_hidden_state[:, int(config.use_cls_token):]
        # a pooling convolution (padding k // 2) centres output j on input j * stride (odd kernels, as the presets'
        # 3); the patch stem centres patch j on frame j * stride + (kernel - 1) / 2 - padding
        position = torch.arange(time, device=tokens.device, dtype=torch.float64)
        for stride in config.q_stride:
            position = position * stride
        kernel, stride, padding = config.patch_kernel_size[1], config.patch_stride[1], config.patch_padding[1]
        centres = position * stride + (kernel - 1) / 2 - padding
        return tokens.unflatten(1, (freq, time)).mean(1), centres


class MASTForAudioClassification(MASTTimmMixin, AudioClassificationMixin, MASTPreTrainedModel):
    """MAST with a linear head on the pooled output (single- or multi-label via `problem_type`)."""

    def __init__(self, config: MASTConfig):
        super().__init__(config)
        self.mast = MASTModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()
