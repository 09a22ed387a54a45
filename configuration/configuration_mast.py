"""Configuration of MAST, the multiscale audio spectrogram transformer (MViTv2 stages over the spectrogram)."""

from __future__ import annotations

from .configuration_utils import SpecformersConfig

AST_STEM = {"patch_kernel_size": 16, "patch_stride": 10, "patch_padding": 0}


def frequency_time(value) -> tuple[int, int]:
    """A size for both axes (an int) or one per axis -> `(frequency, time)`."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class MASTConfig(SpecformersConfig):
    r"""MAST (Ghosh et al., ICASSP 2023): MViTv2 stages with multi-head pooling attention over a
    `(frames, mel_bins)` log-mel spectrogram. Defaults are `mast-small` (the paper's Figure 1) with MViTv2's
    7 x 7 / stride 4 patch stem, compatible with timm's `mvitv2_small` weights. Presets `mast-small`, `mast-base`,
    `mast-tiny`, and each with the authors' AST-like 16 x 16 / stride 10 stem: `mast-small-ast-stem`, ...

    Stage `i` has width `embed_dim * 2**i` and `num_heads * 2**i` heads (head width constant); its first block
    pools the queries by `q_stride[i]` and widens the tokens (MViTv2's "expand in attention"); keys and values
    are pooled by a stride that starts at `kv_stride` and is divided by each query stride.

    Args:
        depths: blocks per stage.
        embed_dim, num_heads: width and heads of stage 0.
        mlp_ratio: MLP width over block width.
        qkv_bias: bias on the query/key/value projection.
        patch_kernel_size, patch_stride, patch_padding: the patch stem, an int or (frequency, time) pair
            (MViTv2: 7, 4, 3; the authors' AST-like stem: 16, 10, 0).
        pool_kernel_size: kernel of the depthwise convolutions that pool q, k and v.
        q_stride: query pooling stride per stage (applied in its first block).
        kv_stride: key/value pooling stride of stage 0, divided by each later query stride.
        drop_path_rate: stochastic depth, rising linearly over all blocks (mast-small 0.1, mast-base 0.3).
        use_cls_token: prepend a cls token and pool it (default: mean of the tokens after the final LayerNorm).
        layer_norm_eps, initializer_range, hidden_act: as usual.
        num_mel_bins, target_frames: the spectrogram the relative-position tables are sized for; smaller inputs
            read their centre rows (each distance its own row), larger ones stretch them about distance 0.

    The names generic tools read, as transformers' Swin and Hiera configs give them: `hidden_size` (the last
    stage's width, the size of `pooler_output`), `num_hidden_layers` (the number of stages: `hidden_states` has
    one entry per stage after the patch embeddings) and `num_attention_heads` (an alias of `num_heads`, stage 0).
    """

    model_type = "specformers-mast"
    attribute_map = {"num_attention_heads": "num_heads"}
    presets = {
        "mast-small": {},
        "mast-base": {"depths": (2, 3, 16, 3), "drop_path_rate": 0.3},
        "mast-tiny": {"depths": (1, 1, 1, 1), "embed_dim": 32, "target_frames": 128, "drop_path_rate": 0.0},
    }
    # the authors' code patchifies as AST does (16 x 16 patches every 10 bins and frames; no ImageNet init)
    presets.update({f"{name}-ast-stem": {**values, **AST_STEM} for name, values in list(presets.items())})

    def __init__(
        self,
        depths: tuple[int, ...] = (1, 2, 11, 2),
        embed_dim: int = 96,
        num_heads: int = 1,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        patch_kernel_size: int | tuple[int, int] = 7,
        patch_stride: int | tuple[int, int] = 4,
        patch_padding: int | tuple[int, int] = 3,
        pool_kernel_size: int = 3,
        q_stride: tuple[int, ...] = (1, 2, 2, 2),
        kv_stride: int = 4,
        drop_path_rate: float = 0.1,
        use_cls_token: bool = False,
        layer_norm_eps: float = 1e-6,
        initializer_range: float = 0.02,
        hidden_act: str = "gelu",
        num_mel_bins: int = 128,
        target_frames: int = 1024,
        **kwargs,
    ):
        self.depths = tuple(depths)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.patch_kernel_size = frequency_time(patch_kernel_size)
        self.patch_stride = frequency_time(patch_stride)
        self.patch_padding = frequency_time(patch_padding)
        self.pool_kernel_size = pool_kernel_size
        self.q_stride = tuple(q_stride)
        self.kv_stride = kv_stride
        self.drop_path_rate = drop_path_rate
        self.use_cls_token = use_cls_token
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.hidden_act = hidden_act
        self.num_mel_bins = num_mel_bins
        self.target_frames = target_frames
        super().__init__(**kwargs)

    # ------------------------------------------------------------ derived sizes

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    def stage_dim(self, stage: int) -> int:
        return self.embed_dim * 2**stage

    def stage_heads(self, stage: int) -> int:
        return self.num_heads * 2**stage

    @property
    def hidden_size(self) -> int:
        """Width of the last stage: the size of `pooler_output`."""
        return self.stage_dim(self.num_stages - 1)

    @property
    def num_hidden_layers(self) -> int:
        """The number of stages (`len(depths)`), as in transformers' Swin; `sum(depths)` is the number of blocks."""
        return self.num_stages

    def stage_kv_strides(self) -> list[int]:
        """Key/value pooling stride of every stage: `kv_stride`, divided by each query stride (at least 1)."""
        strides, stride = [], self.kv_stride
        for q_stride in self.q_stride:
            if q_stride > 1:
                stride = max(stride // q_stride, 1)
            strides.append(stride)
        return strides

    def pooled_size(self, size: int, stride: int) -> int:
        """Length of an axis of `size` after a pooling convolution with `stride`."""
        return conv_output_size(size, self.pool_kernel_size, stride, self.pool_kernel_size // 2)

    def patch_grid_for(self, frames: int) -> tuple[int, int]:
        """(frequency, time) patches of a `frames x num_mel_bins` input."""
        return tuple(conv_output_size(size, k, s, p) for size, k, s, p in zip(
            (self.num_mel_bins, frames), self.patch_kernel_size, self.patch_stride, self.patch_padding))

    def stage_grids(self, frames: int | None = None) -> list[tuple[int, int]]:
        """The (frequency, time) token grid after each stage (for `target_frames` unless given)."""
        grid, grids = self.patch_grid_for(self.target_frames if frames is None else frames), []
        for q_stride in self.q_stride:
            grid = tuple(self.pooled_size(size, q_stride) for size in grid)
            grids.append(grid)
        return grids

    def validate_fields(self):
        def fail(message):
            raise ValueError(f"MASTConfig: {message}.")

        if not self.depths or any(not isinstance(d, int) or d < 1 for d in self.depths):
            fail(f"depths must be positive ints, one per stage; got {self.depths}")
        if len(self.q_stride) != len(self.depths):
            fail(f"q_stride has {len(self.q_stride)} entries but depths has {len(self.depths)} stages; give one query "
                 "stride per stage")
        if any(s < 1 for s in self.q_stride) or self.kv_stride < 1:
            fail(f"strides must be >= 1; got q_stride={self.q_stride}, kv_stride={self.kv_stride}")
        if self.embed_dim % self.num_heads:
            fail(f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}")
        if self.pool_kernel_size < 1 or self.pool_kernel_size % 2 == 0:
            fail(f"pool_kernel_size must be odd (its padding keeps the grid centred); got {self.pool_kernel_size}")
        for axis, (name, size) in enumerate((("num_mel_bins", self.num_mel_bins),
                                             ("target_frames", self.target_frames))):
            if self.patch_kernel_size[axis] > size + 2 * self.patch_padding[axis]:
                fail(f"patch_kernel_size={self.patch_kernel_size[axis]} is larger than {name}={size} plus padding "
                     f"{self.patch_padding[axis]} on each side")
        grid = self.patch_grid_for(self.target_frames)
        if min(grid) < self.pool_kernel_size:
            fail(f"pool_kernel_size={self.pool_kernel_size} is larger than the {grid[0]} x {grid[1]} patch grid of "
                 f"{self.num_mel_bins} mel bins x {self.target_frames} frames; use a smaller kernel or patch stride")
