"""Configuration of ASiT: the spectrogram ViT with ASiT's layout, plus its pretraining objective."""

from __future__ import annotations

from .configuration_ast import SpectrogramViTConfig

LOCAL_LOSS_TOKENS = ("all", "corrupted")


class ASiTConfig(SpectrogramViTConfig):
    r"""ASiT (Atito et al. 2022): a ViT over non-overlapping 16 x 16 patches of a 592-frame (6 s) spectrogram, one
    cls token, time-major tokens (37 x 8 = 296 patches), position embeddings resized bicubically for other
    lengths, stochastic depth 0.1 (the authors' student; the EMA teacher runs in eval mode, without it). Defaults
    are ASiT-Base; presets `asit-base`, `asit-small`, `asit-tiny` (no stochastic depth: two layers).

    Backbone fields are those of `SpectrogramViTConfig`. Pretraining (`ASiTForPreTraining`) fields, defaults from
    the authors' code:

    Args:
        projection_hidden_size, projection_bottleneck_size: the shared projection MLP (768 -> 2048 -> 2048 -> 256).
        global_output_size, local_output_size: weight-normalised output layers for the cls token (8192) and each
            patch token (1024).
        reconstruction_hidden_size, reconstruction_bottleneck_size: reconstruction MLP (768 -> 768 -> 128) before
            the transposed convolution back to pixels.
        student_temperature, teacher_temperature, warmup_teacher_temperature: softmax temperatures; the teacher's
            rises linearly from the warm-up value (the training script sets the length).
        center_momentum: momentum of the teacher-output centres.
        global_loss_weight, local_loss_weight, reconstruction_loss_weight: the code's 1, 1, 2 (the paper's 1, 1, 1).
        local_loss_tokens: `"all"` patch tokens or only `"corrupted"` ones (at least half their pixels corrupted,
            the paper's Eq. 6) in the local distillation loss.
        gmml_min_coverage, gmml_max_coverage: share of the spectrogram zeroed, drawn uniformly per view.
        gmml_max_block_fraction: largest rectangle side, as a share of the frames and of the mel bins.
        gmml_alien_probability, gmml_alien_coverage: chance that a view instead gets rectangles copied from another
            clip of the batch, and their coverage.
    """

    model_type = "specformers-asit"
    presets = {
        "asit-base": {},
        "asit-small": {"hidden_size": 384, "num_attention_heads": 6, "intermediate_size": 1536},
        "asit-tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                      "target_frames": 96, "drop_path_rate": 0.0, "projection_hidden_size": 128,
                      "projection_bottleneck_size": 32,
                      "global_output_size": 256, "local_output_size": 64, "reconstruction_hidden_size": 64,
                      "reconstruction_bottleneck_size": 32},
    }

    def __init__(
        self,
        patch_stride=(16, 16),
        num_prefix_tokens: int = 1,
        token_order: str = "time_major",
        pooling: str = "prefix",
        position_resize: str = "bicubic",
        target_frames: int = 592,
        drop_path_rate: float = 0.1,
        projection_hidden_size: int = 2048,
        projection_bottleneck_size: int = 256,
        global_output_size: int = 8192,
        local_output_size: int = 1024,
        reconstruction_hidden_size: int = 768,
        reconstruction_bottleneck_size: int = 128,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.07,
        warmup_teacher_temperature: float = 0.04,
        center_momentum: float = 0.9,
        global_loss_weight: float = 1.0,
        local_loss_weight: float = 1.0,
        reconstruction_loss_weight: float = 2.0,
        local_loss_tokens: str = "all",
        gmml_min_coverage: float = 0.5,
        gmml_max_coverage: float = 0.7,
        gmml_max_block_fraction: float = 0.3,
        gmml_alien_probability: float = 0.5,
        gmml_alien_coverage: float = 0.3,
        **kwargs,
    ):
        self.projection_hidden_size = projection_hidden_size
        self.projection_bottleneck_size = projection_bottleneck_size
        self.global_output_size = global_output_size
        self.local_output_size = local_output_size
        self.reconstruction_hidden_size = reconstruction_hidden_size
        self.reconstruction_bottleneck_size = reconstruction_bottleneck_size
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temperature = warmup_teacher_temperature
        self.center_momentum = center_momentum
        self.global_loss_weight = global_loss_weight
        self.local_loss_weight = local_loss_weight
        self.reconstruction_loss_weight = reconstruction_loss_weight
        self.local_loss_tokens = local_loss_tokens
        self.gmml_min_coverage = gmml_min_coverage
        self.gmml_max_coverage = gmml_max_coverage
        self.gmml_max_block_fraction = gmml_max_block_fraction
        self.gmml_alien_probability = gmml_alien_probability
        self.gmml_alien_coverage = gmml_alien_coverage
        super().__init__(patch_stride=patch_stride, num_prefix_tokens=num_prefix_tokens, token_order=token_order,
                         pooling=pooling, position_resize=position_resize, target_frames=target_frames,
                         drop_path_rate=drop_path_rate, **kwargs)

    def validate_fields(self):
        super().validate_fields()
        checks = [
            (self.local_loss_tokens in LOCAL_LOSS_TOKENS,
             f"local_loss_tokens must be one of {LOCAL_LOSS_TOKENS}, got {self.local_loss_tokens!r}"),
            (0.0 < self.gmml_min_coverage <= self.gmml_max_coverage < 1.0,
             f"need 0 < gmml_min_coverage <= gmml_max_coverage < 1, got {self.gmml_min_coverage}, "
             f"{self.gmml_max_coverage}"),
            (0.0 < self.gmml_max_block_fraction <= 1.0,
             f"gmml_max_block_fraction must be in (0, 1], got {self.gmml_max_block_fraction}"),
            (0.0 <= self.gmml_alien_probability <= 1.0 and 0.0 < self.gmml_alien_coverage < 1.0,
             f"gmml_alien_probability must be in [0, 1] and gmml_alien_coverage in (0, 1), got "
             f"{self.gmml_alien_probability}, {self.gmml_alien_coverage}"),
            (self.student_temperature > 0 and self.teacher_temperature > 0 and self.warmup_teacher_temperature > 0,
             "temperatures must be positive"),
            (tuple(self.patch_stride) == (self.patch_size, self.patch_size),
             f"ASiT reconstructs pixels from non-overlapping patches: patch_stride must be ({self.patch_size}, "
             f"{self.patch_size}), got {tuple(self.patch_stride)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"ASiTConfig: {message}.")
