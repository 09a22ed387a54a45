"""Small building blocks shared by the specformers models."""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import ACT2FN


class DropPath(nn.Module):
    """Stochastic depth: during training, zero a sample's residual branch with probability `rate` and scale the
    kept ones by 1 / (1 - rate). `(batch, ...)` -> same shape."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"


class Mlp(nn.Module):
    """Linear -> activation -> Linear (-> dropout): `(..., in_features)` -> `(..., out_features)`."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None,
                 hidden_act: str = "gelu", dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.activation = ACT2FN[hidden_act]
        self.exact_gelu = hidden_act == "gelu"
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.fc1(hidden_states)
        if self.exact_gelu and not (torch.is_grad_enabled() and hidden_states.requires_grad):
            # Without autograd GELU can overwrite its input: one (batch, tokens, hidden_features) buffer fewer at
            # the model's memory peak.
            torch.ops.aten.gelu_(hidden_states)
        else:
            hidden_states = self.activation(hidden_states)
        return self.dropout(self.fc2(hidden_states))


def check_spectrogram(input_values: torch.Tensor, num_mel_bins: int, min_frames: int) -> None:
    """Raise a ValueError unless `input_values` is `(batch, frames >= min_frames, num_mel_bins)`."""
    if input_values is None:
        raise ValueError("input_values is required: a (batch, frames, mel_bins) spectrogram from the feature "
                         "extractor.")
    if input_values.ndim != 3 or input_values.shape[-1] != num_mel_bins:
        raise ValueError(f"input_values must have shape (batch, frames, {num_mel_bins}); got "
                         f"{tuple(input_values.shape)}. Use SpectrogramFeatureExtractor to make it from audio.")
    if input_values.shape[1] < min_frames:
        raise ValueError(f"input_values has {input_values.shape[1]} frames; this model needs at least {min_frames}.")


def check_attention_mask(attention_mask: torch.Tensor | None, input_values: torch.Tensor) -> None:
    """Raise a ValueError unless `attention_mask` is None or `(batch, frames)` for `input_values`."""
    if attention_mask is not None and tuple(attention_mask.shape) != tuple(input_values.shape[:2]):
        raise ValueError(f"attention_mask must have shape (batch, frames) = {tuple(input_values.shape[:2])}, one "
                         f"entry per spectrogram frame, as the feature extractor returns it; got "
                         f"{tuple(attention_mask.shape)}.")


def drop_patches(tokens: torch.Tensor, rate: float) -> torch.Tensor:
    """SS-MAST's patch-drop: zero the embeddings of `round(rate * patches)` random patches of each sample.

    `(batch, patches, dim)` -> same shape; the grid stays whole, as the pooling layers need it.
    """
    batch, count, _ = tokens.shape
    dropped = int(round(rate * count))
    if dropped == 0:
        return tokens
    order = torch.rand(batch, count, device=tokens.device).argsort(dim=1)
    keep = torch.ones(batch, count, 1, device=tokens.device, dtype=tokens.dtype)
    keep.scatter_(1, order[:, :dropped, None], 0.0)
    return tokens * keep
