"""`--probe_on_embeddings`: a linear probe on embeddings computed once. The frozen encoder embeds every readable clip
of the training and evaluation splits once — its pooled output for the window evaluation reads (the clip's start,
no augmentation) — and the head then trains on those vectors: a step costs the head alone, not an encoder pass."""

from __future__ import annotations

import torch
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from transformers.modeling_outputs import SequenceClassifierOutput

from ..modeling.classification import classification_loss
from .classification_data import readable_rows


class HeadOnEmbeddings(nn.Module):
    """A classifier's head (shared, not copied) on pooled embeddings: `input_values` `(batch, hidden)` -> logits,
    and the classifier's loss of `labels`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.head, self.config = model.classifier, model.config

    def forward(self, input_values: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        logits = self.head(input_values)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


@torch.no_grad()
def embed_split(model: nn.Module, dataset, collator, batch_size: int, num_workers: int) -> Dataset:
    """Every readable clip of a map-style split -> a `Dataset` of `input_values` (the encoder's pooled output,
    float32 `(hidden,)`) and `labels` (the targets the collator makes), in the split's order. Unreadable clips are
    left out (the collator counts them)."""
    encoder = model.base_model.eval()
    device = next(encoder.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collator, num_workers=num_workers)
    embeddings, labels = [], []
    for batch in loader:
        readable = readable_rows(batch["labels"])
        pooled = encoder(input_values=batch["input_values"][readable].to(device)).pooler_output
        embeddings.append(pooled.float().cpu())
        labels.append(batch["labels"][readable])
    return Dataset.from_dict({"input_values": torch.cat(embeddings).numpy(),
                              "labels": torch.cat(labels).numpy()}).with_format("torch")


def embed_splits(model: nn.Module, splits: dict, collators: dict, training_args) -> tuple:
    """`{"train": split or None, "eval": split or None}` -> the same splits embedded (`embed_split`, with their
    evaluation-style collators), in that order."""
    batch, workers = training_args.eval_batch_size, training_args.dataloader_num_workers
    return tuple(None if dataset is None else embed_split(model, dataset, collators[name], batch, workers)
                 for name, dataset in splits.items())

