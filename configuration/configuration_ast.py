"""Configurations of the spectrogram ViT shared by AST and ASiT, and of AST itself."""

from __future__ import annotations

from .configuration_utils import SpecformersConfig

TOKEN_ORDERS = ("frequency_major", "time_major")
POOLINGS = ("prefix", "mean")
POSITION_RESIZES = ("cut_or_bilinear", "bicubic")


class SpectrogramViTConfig(SpecformersConfig):
    r"""Fields of a ViT over a `(frames, mel_bins)` spectrogram; AST and ASiT differ only in their values.

    Args:
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size: transformer size.
        hidden_act: MLP activation.
        hidden_dropout_prob, attention_probs_dropout_prob: dropout after projections / on attention weights.
        drop_path_rate: stochastic depth, rising linearly to this rate over the layers.
        initializer_range: std of the truncated-normal initialisation.
        layer_norm_eps: LayerNorm epsilon (1e-6; checkpoints converted from transformers' AST keep 1e-12).
        qkv_bias: bias on the query/key/value projection.
        patch_size: square patch side in spectrogram bins.
        patch_stride: `(frequency, time)` stride of the patch grid (AST 10 x 10 overlapping, ASiT 16 x 16).
        num_mel_bins, target_frames: the spectrogram size the position embeddings are learned for; other
            frame counts work, the position grid is adapted at run time.
        num_prefix_tokens: 1 (cls) or 2 (cls + distillation, as in AST).
        token_order: `"frequency_major"` (AST: index = f * time_patches + t) or `"time_major"` (ASiT).
        pooling: `"prefix"` (mean of the prefix tokens after the final norm) or `"mean"` (mean of patch tokens).
        position_resize: how position embeddings follow another grid size: `"cut_or_bilinear"` (AST: centre-cut
            an axis that shrinks, bilinear on an axis that grows) or `"bicubic"` (ASiT, timm).
    """

    def __init__(
        self,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-6,
        qkv_bias: bool = True,
        patch_size: int = 16,
        patch_stride: tuple[int, int] = (10, 10),
        num_mel_bins: int = 128,
        target_frames: int = 1024,
        num_prefix_tokens: int = 2,
        token_order: str = "frequency_major",
        pooling: str = "prefix",
        position_resize: str = "cut_or_bilinear",
        **kwargs,
    ):
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.patch_size = patch_size
        self.patch_stride = tuple(patch_stride) if isinstance(patch_stride, (list, tuple)) else (patch_stride,) * 2
        self.num_mel_bins = num_mel_bins
        self.target_frames = target_frames
        self.num_prefix_tokens = num_prefix_tokens
        self.token_order = token_order
        self.pooling = pooling
        self.position_resize = position_resize
        super().__init__(**kwargs)

    def validate_fields(self):
        checks = [
            (self.hidden_size % self.num_attention_heads == 0,
             f"hidden_size={self.hidden_size} must be divisible by num_attention_heads={self.num_attention_heads}"),
            (self.num_prefix_tokens in (1, 2), f"num_prefix_tokens must be 1 or 2, got {self.num_prefix_tokens}"),
            (self.token_order in TOKEN_ORDERS, f"token_order must be one of {TOKEN_ORDERS}, got {self.token_order!r}"),
            (self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {self.pooling!r}"),
            (self.position_resize in POSITION_RESIZES,
             f"position_resize must be one of {POSITION_RESIZES}, got {self.position_resize!r}"),
            (len(self.patch_stride) == 2 and min(self.patch_stride) >= 1,
             f"patch_stride must be two positive ints (frequency, time), got {self.patch_stride}"),
            (self.patch_size <= self.num_mel_bins and self.patch_size <= self.target_frames,
             f"patch_size={self.patch_size} is larger than the spectrogram "
             f"({self.target_frames} frames x {self.num_mel_bins} mel bins)"),
            (0.0 <= self.drop_path_rate < 1.0, f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{type(self).__name__}: {message}.")

    def patch_grid_for(self, frames: int) -> tuple[int, int]:
        """(frequency, time) patches of a `frames x num_mel_bins` input."""
        return (
            (self.num_mel_bins - self.patch_size) // self.patch_stride[0] + 1,
            (frames - self.patch_size) // self.patch_stride[1] + 1,
        )

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(frequency, time) patches of a `target_frames x num_mel_bins` input."""
        return self.patch_grid_for(self.target_frames)


class ASTConfig(SpectrogramViTConfig):
    r"""Audio Spectrogram Transformer (Gong et al. 2021). Defaults are AST-Base for AudioSet.

    Presets: `ASTConfig.from_preset("ast-base" | "ast-tiny", **overrides)`. See `SpectrogramViTConfig` for
    every field.

    Example:
        >>> from specformers import ASTConfig, ASTForAudioClassification
        >>> config = ASTConfig.from_preset("ast-tiny", num_labels=12)
        >>> model = ASTForAudioClassification(config)
    """

    model_type = "specformers-ast"

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers >= 5.5 from regenerating it
        super().__init__(**kwargs)
    presets = {
        "ast-base": {},
        "ast-tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                     "target_frames": 128},
    }
