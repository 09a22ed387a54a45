"""Small building blocks shared by the specformers models."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from transformers.activations import ACT2FN


def is_exporting() -> bool:
    """Whether torch.export (e.g. the ONNX export) is tracing: code that must not choose in Python on a symbolic
    input length asks this (`torch.compiler.is_exporting`; an older torch without it never exports here)."""
    check = getattr(torch.compiler, "is_exporting", None)
    return bool(check and check())


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


class SpectrogramEncoderMixin:
    """The forward every encoder shares: the output switches, the input checks, then the encoder's own
    `encode(input_values, patch_drop_rate, output_attentions, output_hidden_states)` (a ModelOutput with
    `last_hidden_state` and `pooler_output`). `min_frames`: the shortest input the encoder takes."""

    min_frames: int

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        patch_drop_rate: float = 0.0,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        r"""
        Args:
            input_values: `(batch, frames, mel_bins)` normalised log-mel features (the feature extractor's
                `input_values`; `model(**features)` passes them); any frame count from `min_frames` on.
            attention_mask: `(batch, frames)`, as the feature extractor returns it; accepted so that code written
                for transformers' audio models (padding collators, example scripts) runs, and not applied: AST,
                MAST and ASiT attend to every frame, padding included, as they are trained and evaluated (and
                MAST's pooling needs the whole grid).
            patch_drop_rate: in training, zero this fraction of patch embeddings (SS-MAST's patch-drop, 0.2 in
                the paper); ignored in eval mode.
            output_attentions, output_hidden_states, return_dict: as in transformers (default: the config's).
        Returns:
            the encoder's output (see its `encode`), or its tuple when `return_dict=False`.
        """
        output_attentions, output_hidden_states, return_dict = self.output_flags(output_attentions,
                                                                                 output_hidden_states, return_dict)
        check_inputs(input_values, attention_mask, patch_drop_rate, self.config.num_mel_bins, self.min_frames)
        output = self.encode(input_values, patch_drop_rate if self.training else 0.0, output_attentions,
                             output_hidden_states)
        return output if return_dict else output.to_tuple()


def check_inputs(input_values: torch.Tensor, attention_mask: torch.Tensor | None, patch_drop_rate: float,
                 num_mel_bins: int, min_frames: int) -> None:
    """What every encoder's forward checks first: the spectrogram, the attention mask and the patch-drop rate."""
    check_spectrogram(input_values, num_mel_bins, min_frames)
    check_attention_mask(attention_mask, input_values)
    if not 0.0 <= patch_drop_rate < 1.0:
        raise ValueError(f"patch_drop_rate must be in [0, 1); got {patch_drop_rate}.")


def check_spectrogram(input_values: torch.Tensor, num_mel_bins: int, min_frames: int) -> None:
    """Raise a ValueError unless `input_values` is `(batch, frames >= min_frames, num_mel_bins)`."""
    if input_values is None:
        raise ValueError("input_values is required: a (batch, frames, mel_bins) spectrogram from the feature "
                         "extractor.")
    if isinstance(input_values, Mapping):  # e.g. the extractor's whole BatchFeature
        raise ValueError(f"input_values must be the spectrogram tensor; got a {type(input_values).__name__} with keys "
                         f"{sorted(input_values)}. Call model(**features) or model(features['input_values']).")
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
