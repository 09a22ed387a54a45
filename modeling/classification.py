"""Classification head and loss shared by every `...ForAudioClassification`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Loss of `(batch, num_labels)` logits: MSE (regression), cross-entropy (single-label; class indices or
    `(batch, num_labels)` soft targets such as mixup's) or binary cross-entropy (multi-label)."""
    problem_type = problem_type_of(config, labels)
    labels = labels.to(logits.device)
    if problem_type == "regression":
        if logits.shape[-1] == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
        return F.mse_loss(logits.float(), labels.float())
    if problem_type == "single_label_classification":
        if labels.is_floating_point() and labels.shape == logits.shape:
            return F.cross_entropy(logits.float(), labels.float())
        return F.cross_entropy(logits.float(), labels.long().view(-1))
    if problem_type == "multi_label_classification":
        if labels.shape != logits.shape:
            raise ValueError(f"Multi-label targets must have the logits' shape {tuple(logits.shape)}; "
                             f"got {tuple(labels.shape)}.")
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    raise ValueError(f"Unknown problem_type {problem_type!r}; use 'single_label_classification', "
                     "'multi_label_classification' or 'regression'.")
