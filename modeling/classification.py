"""What every `...ForAudioClassification` shares: the forward, the LayerNorm + Linear head, the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput


class AudioClassificationMixin:
    """The forward of a classifier: its encoder (`self.base_model`), the pooled output through `self.classifier`,
    and the loss of `labels` when given."""

    def forward(
        self,
        input_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        Args:
            input_values: `(batch, frames, mel_bins)` normalised log-mel features (the feature extractor's
                `input_values`; `model(**features)` passes them).
            labels: `(batch,)` class indices (single-label), `(batch, num_labels)` targets (multi-label, or soft
                single-label targets such as mixup's), or `(batch,)` floats for regression, as
                `config.problem_type` says.
            attention_mask: `(batch, frames)`; accepted and not applied (see the encoder's forward).
        Returns:
            `SequenceClassifierOutput`: `logits` `(batch, num_labels)`, `loss` when `labels` are given, and the
            encoder's `hidden_states` / `attentions` when asked.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.base_model(input_values, attention_mask, output_attentions=output_attentions,
                                  output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)
        return output if return_dict else output.to_tuple()


class ClassifierHead(nn.Module):
    """LayerNorm + Linear: `(batch, hidden)` -> `(batch, num_labels)` logits."""

    def __init__(self, hidden_size: int, num_labels: int, layer_norm_eps: float):
        super().__init__()
        self.layernorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dense = nn.Linear(hidden_size, num_labels) if num_labels > 0 else nn.Identity()

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))


def problem_type_of(config, labels: torch.Tensor) -> str:
    """`config.problem_type`, or the transformers rule when unset: one label -> regression, integer labels ->
    single-label, float `(batch, num_labels)` labels -> multi-label."""
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if not labels.is_floating_point():
        return "single_label_classification"
    return "multi_label_classification"


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config, label_smoothing: float = 0.0
                        ) -> torch.Tensor:
    """Loss of `(batch, num_labels)` logits: MSE (regression), cross-entropy (single-label; class indices or
    `(batch, num_labels)` soft targets such as mixup's, either smoothed by `label_smoothing`) or binary
    cross-entropy (multi-label)."""
    problem_type = problem_type_of(config, labels)
    labels = labels.to(logits.device)
    if problem_type == "regression":
        if logits.shape[-1] == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
        return F.mse_loss(logits.float(), labels.float())
    if problem_type == "single_label_classification":
        if labels.is_floating_point() and labels.shape == logits.shape:
            return F.cross_entropy(logits.float(), labels.float(), label_smoothing=label_smoothing)
        return F.cross_entropy(logits.float(), labels.long().view(-1), label_smoothing=label_smoothing)
    if problem_type == "multi_label_classification":
        if labels.shape != logits.shape:
            raise ValueError(f"Multi-label targets must have the logits' shape {tuple(logits.shape)}; "
                             f"got {tuple(labels.shape)}.")
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    raise ValueError(f"Unknown problem_type {problem_type!r}; use 'single_label_classification', "
                     "'multi_label_classification' or 'regression'.")
