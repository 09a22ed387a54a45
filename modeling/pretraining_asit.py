"""ASiT pretraining: GMML corruption, reconstruction and projection heads, the local/global distillation and
reconstruction losses, and `ASiTForPreTraining` (student + EMA teacher).

Reads top to bottom: corruption -> heads -> loss (owns the teacher centres) -> pretraining model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..configuration.configuration_asit import ASiTConfig
from .distributed import all_reduce_mean
from .modeling_asit import ASiTModel
from .spectrogram_vit import SpectrogramViTPreTrainedModel, grid_to_tokens, tokens_to_grid
from .teacher import EMATeacherMixin

# ---------------------------------------------------------------- GMML corruption


def draw_rectangles(mask: np.ndarray, coverage: float, max_fraction: float, rng: np.random.Generator) -> None:
    """Mark random rectangles in the `(frames, bins)` boolean `mask` until `coverage` of it is marked.

    Sides are drawn uniformly from 1 to `max_fraction` of each axis, positions uniformly: pixel-level, not aligned
    to patches."""
    frames, bins = mask.shape
    max_height, max_width = max(1, int(max_fraction * frames)), max(1, int(max_fraction * bins))
    covered, target = int(mask.sum()), coverage * mask.size
    while covered < target:
        height, width = rng.integers(1, max_height + 1), rng.integers(1, max_width + 1)
        top, left = rng.integers(0, frames - height + 1), rng.integers(0, bins - width + 1)
        block = mask[top : top + height, left : left + width]
        covered += block.size - int(block.sum())
        block[...] = True


def draw_gmml(batch: int, shape: tuple[int, int], config: ASiTConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """The random part of GMML's corruption of a batch of one view: each spectrogram gets rectangles up to a share
    drawn from U(gmml_min_coverage, gmml_max_coverage), set to 0, or, with probability `gmml_alien_probability`,
    rectangles up to `gmml_alien_coverage` copied from another clip of the batch.

    Returns the boolean pixel masks `(batch, frames, mel_bins)` and each clip's source `(batch,)`: the index of the
    clip its rectangles are copied from, or -1 for zeros. Depends only on the shape and `rng`, so the workers can
    draw it for corruption applied elsewhere (`apply_gmml`)."""
    masks = np.zeros((batch, *shape), dtype=bool)
    sources = np.full(batch, -1, dtype=np.int64)
    for index in range(batch):
        alien = batch > 1 and rng.random() < config.gmml_alien_probability
        coverage = (config.gmml_alien_coverage if alien
                    else rng.uniform(config.gmml_min_coverage, config.gmml_max_coverage))
        draw_rectangles(masks[index], coverage, config.gmml_max_block_fraction, rng)
        if alien:
            sources[index] = (index + int(rng.integers(1, batch))) % batch
    return masks, sources


def apply_gmml(spectrograms: torch.Tensor, masks: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """`draw_gmml`'s corruption on `(..., batch, frames, mel_bins)` spectrograms, on their device: masked pixels
    become 0 or the source clip's pixels (`masks` same shape, `sources` `(..., batch)`)."""
    copied = spectrograms.gather(-3, sources.clamp_min(0)[..., None, None].expand_as(spectrograms))
    replacement = copied * (sources >= 0)[..., None, None]
    return torch.where(masks, replacement, spectrograms)


def gmml_corrupt(spectrograms: torch.Tensor, config: ASiTConfig, rng: np.random.Generator):
    """Group masked model learning corruption of a batch of one view (`draw_gmml`, then `apply_gmml`).

    Args:
        spectrograms: `(batch, frames, mel_bins)` normalised features.
    Returns:
        corrupted `(batch, frames, mel_bins)` and the boolean pixel mask of what was replaced, same shape.
    """
    masks, sources = draw_gmml(spectrograms.shape[0], tuple(spectrograms.shape[1:]), config, rng)
    masks, sources = torch.from_numpy(masks).to(spectrograms.device), torch.from_numpy(sources).to(spectrograms.device)
    return apply_gmml(spectrograms, masks, sources), masks


# ---------------------------------------------------------------- heads


class NormalizedLinear(nn.Module):
    """Bias-free linear layer with unit-norm weight rows: DINO's weight-normalised output layer with its norm fixed
    at 1. `(..., in_features)` -> `(..., out_features)`."""

    _trunc_normal_parameters = ("weight",)

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.normalize(self.weight, dim=-1))


def _mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class ASiTProjectionHead(nn.Module):
    """Shared MLP (hidden -> 2048 -> 2048 -> 256), L2-normalised, then weight-normalised output layers: the cls
    token to `global_output_size` logits, every patch token to `local_output_size` logits.

    `(batch, 1 + patches, hidden)` -> `(batch, global_output_size)`, `(batch, patches, local_output_size)`."""

    def __init__(self, config: ASiTConfig):
        super().__init__()
        self.mlp = _mlp([config.hidden_size, config.projection_hidden_size, config.projection_hidden_size,
                         config.projection_bottleneck_size])
        self.global_layer = NormalizedLinear(config.projection_bottleneck_size, config.global_output_size)
        self.local_layer = NormalizedLinear(config.projection_bottleneck_size, config.local_output_size)

    def output_layer_parameters(self) -> list[nn.Parameter]:
        """The weight-normalised output layers' parameters (DINO's `last_layer`), frozen for the first epoch."""
        return [*self.global_layer.parameters(), *self.local_layer.parameters()]

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = F.normalize(self.mlp(tokens), dim=-1)
        return self.global_layer(projected[:, 0]), self.local_layer(projected[:, 1:])


class ASiTReconstructionHead(nn.Module):
    """MLP (hidden -> 768 -> 768 -> 128, GELU after each) and a transposed convolution back to pixels.

    `(batch, patches, hidden)` on a (freq, time) grid -> `(batch, time * patch, freq * patch)` spectrogram."""

    def __init__(self, config: ASiTConfig):
        super().__init__()
        self.token_order = config.token_order
        self.mlp = _mlp([config.hidden_size, config.reconstruction_hidden_size, config.reconstruction_hidden_size,
                         config.reconstruction_bottleneck_size], final_activation=True)
        self.to_pixels = nn.ConvTranspose2d(config.reconstruction_bottleneck_size, 1, config.patch_size,
                                            stride=config.patch_size)

    def forward(self, patch_tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        # A transposed convolution whose kernel equals its stride maps each token to its own patch of pixels: that is
        # one matrix product (same weights and result; the convolution kernel is slow on a CPU for this shape).
        size = self.to_pixels.kernel_size[0]
        patches = self.mlp(patch_tokens) @ self.to_pixels.weight.flatten(1) + self.to_pixels.bias  # (B, N, p*p)
        patches = tokens_to_grid(patches, grid, self.token_order).unflatten(1, (size, size))  # (B, pf, pt, f, t)
        freq, time = grid
        pixels = patches.permute(0, 3, 1, 4, 2).reshape(patches.shape[0], freq * size, time * size)
        return pixels.transpose(1, 2)


# ---------------------------------------------------------------- loss


def distillation_cross_entropy(student_logits: torch.Tensor, teacher_probabilities: torch.Tensor,
                               student_temperature: float) -> torch.Tensor:
    """`-sum(p_teacher * log softmax(student / temperature))` over the last axis: `(..., classes)` -> `(...)`."""
    log_probabilities = F.log_softmax(student_logits.float() / student_temperature, dim=-1)
    return -(teacher_probabilities * log_probabilities).sum(dim=-1)


class ASiTLoss(nn.Module):
    """ASiT's three losses. Owns the centres of the teacher's global and local outputs, updated by EMA with the
    batch mean of all processes after each call (DINO's centring; sharpening by the teacher temperature)."""

    def __init__(self, config: ASiTConfig):
        super().__init__()
        self.config = config
        self.register_buffer("global_center", torch.zeros(config.global_output_size))
        self.register_buffer("local_center", torch.zeros(config.local_output_size))

    def teacher_probabilities(self, logits: torch.Tensor, center: torch.Tensor, temperature: float) -> torch.Tensor:
        return F.softmax((logits.float() - center) / temperature, dim=-1)

    def forward(self, student_global, teacher_global, student_local, teacher_local, token_weights, reconstruction,
                target, pixel_mask, teacher_temperature: float) -> dict[str, torch.Tensor]:
        """
        Args:
            student_global, teacher_global: `(2, batch, global_output_size)` logits of the two views.
            student_local, teacher_local: `(2, batch, patches, local_output_size)`; the student saw view i
                corrupted, the teacher view i clean.
            token_weights: `(2, batch, patches)` weights of each token in the local loss (1 = counts).
            reconstruction, target, pixel_mask: `(2, batch, frames, bins)`; L1 over the corrupted pixels only.
        Returns:
            `{"global": ..., "local": ..., "reconstruction": ..., "loss": weighted sum}`.
        """
        config = self.config
        global_targets = self.teacher_probabilities(teacher_global, self.global_center, teacher_temperature)
        # each view's cls token learns from the teacher's output for the other view
        global_loss = distillation_cross_entropy(student_global, global_targets.flip(0),
                                                 config.student_temperature).mean()
        local_targets = self.teacher_probabilities(teacher_local, self.local_center, teacher_temperature)
        per_token = distillation_cross_entropy(student_local, local_targets, config.student_temperature)
        local_loss = (per_token * token_weights).sum() / token_weights.sum().clamp_min(1.0)
        mask = pixel_mask.to(reconstruction.dtype)
        reconstruction_loss = ((reconstruction - target).abs() * mask).sum() / mask.sum().clamp_min(1.0)
        self.update_centers(teacher_global, teacher_local)
        total = (config.global_loss_weight * global_loss + config.local_loss_weight * local_loss
                 + config.reconstruction_loss_weight * reconstruction_loss)
        return {"loss": total, "global": global_loss, "local": local_loss, "reconstruction": reconstruction_loss}

    @torch.no_grad()
    def update_centers(self, teacher_global: torch.Tensor, teacher_local: torch.Tensor) -> None:
        momentum = self.config.center_momentum
        batch_global = all_reduce_mean(teacher_global.float().flatten(0, -2).mean(dim=0))
        batch_local = all_reduce_mean(teacher_local.float().flatten(0, -2).mean(dim=0))
        self.global_center.mul_(momentum).add_(batch_global, alpha=1 - momentum)
        self.local_center.mul_(momentum).add_(batch_local, alpha=1 - momentum)


# ---------------------------------------------------------------- pretraining model


@dataclass
class ASiTPreTrainingOutput(ModelOutput):
    r"""
    loss: weighted sum of the three losses.
    global_loss, local_loss, reconstruction_loss: the terms.
    reconstruction: `(batch, 2, frames, bins)` the student's reconstruction of the clean views.
    """

    loss: torch.Tensor | None = None
    global_loss: torch.Tensor | None = None
    local_loss: torch.Tensor | None = None
    reconstruction_loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None


class ASiTForPreTraining(EMATeacherMixin, SpectrogramViTPreTrainedModel):
    """ASiT's student (backbone + projection + reconstruction heads) and its EMA teacher (backbone + projection,
    see `EMATeacherMixin`). After pretraining, `teacher_vit` is the encoder to fine-tune (`pretrain_asit.py`
    saves it)."""

    config_class = ASiTConfig
    _teacher_pairs = (("vit", "teacher_vit"), ("projection", "teacher_projection"))

    def __init__(self, config: ASiTConfig):
        super().__init__(config)
        self.vit = ASiTModel(config)
        self.projection = ASiTProjectionHead(config)
        self.reconstruction = ASiTReconstructionHead(config)
        self.teacher_vit = ASiTModel(config)
        self.teacher_projection = ASiTProjectionHead(config)
        self.objective = ASiTLoss(config)
        self.post_init()
        self.reset_teacher()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ASiTLoss):  # centres start at zero, also when a checkpoint lacks them
            init.zeros_(module.global_center)
            init.zeros_(module.local_center)

    def forward(self, clean_views: torch.Tensor, corrupted_views: torch.Tensor, pixel_mask: torch.Tensor,
                teacher_temperature: float | None = None, return_dict: bool | None = None) -> ASiTPreTrainingOutput:
        r"""
        Args:
            clean_views: `(batch, 2, frames, mel_bins)` two crops of each clip, for the teacher.
            corrupted_views: the same after `gmml_corrupt`, for the student.
            pixel_mask: `(batch, 2, frames, mel_bins)` True where the student's input was corrupted.
            teacher_temperature: the scheduled teacher temperature (default `config.teacher_temperature`).
        """
        config = self.config
        temperature = config.teacher_temperature if teacher_temperature is None else teacher_temperature
        batch = clean_views.shape[0]

        def by_view(x):  # (batch, 2, ...) -> (2 * batch, ...), view-major
            return x.transpose(0, 1).flatten(0, 1)

        def per_view(x):  # (2 * batch, ...) -> (2, batch, ...)
            return x.unflatten(0, (2, batch))

        with torch.no_grad():
            teacher_global, teacher_local = self.teacher_projection(self.teacher_vit(by_view(clean_views))[0])
        student_tokens = self.vit(by_view(corrupted_views))[0]
        student_global, student_local = self.projection(student_tokens)
        grid = config.patch_grid_for(clean_views.shape[2])
        reconstruction = self.reconstruction(student_tokens[:, config.num_prefix_tokens:], grid)
        frames, bins = reconstruction.shape[-2:]  # patches may not cover a last partial patch
        target = by_view(clean_views)[:, :frames, :bins]
        mask = by_view(pixel_mask)[:, :frames, :bins]

        token_weights = torch.ones(student_local.shape[:2], device=student_local.device)
        if config.local_loss_tokens == "corrupted":
            share = F.avg_pool2d(mask.transpose(1, 2)[:, None].float(), config.patch_size)  # (2B, 1, freq, time)
            token_weights = (grid_to_tokens(share, config.token_order)[..., 0] >= 0.5).float()

        losses = self.objective(per_view(student_global), per_view(teacher_global), per_view(student_local),
                                per_view(teacher_local), per_view(token_weights), per_view(reconstruction),
                                per_view(target), per_view(mask), temperature)
        return ASiTPreTrainingOutput(loss=losses["loss"], global_loss=losses["global"], local_loss=losses["local"],
                                     reconstruction_loss=losses["reconstruction"],
                                     reconstruction=per_view(reconstruction).transpose(0, 1))
