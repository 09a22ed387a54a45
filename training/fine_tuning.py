"""The fine-tuning protocol options of the recipes: a frozen encoder (linear probe), layer-wise learning-rate decay,
and label-balanced sampling."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler
from transformers.modeling_layers import GradientCheckpointingLayer


def freeze_encoder(model: nn.Module) -> None:
    """Train the head alone (a linear probe): the encoder's weights get no gradient, and the encoder stays in eval
    mode (no dropout, stochastic depth or patch drop) whatever `model.train()` sets."""
    encoder = model.base_model
    encoder.requires_grad_(False)
    encoder.register_forward_pre_hook(_stay_in_eval)


def _stay_in_eval(module: nn.Module, args) -> None:
    if module.training:
        module.eval()


def encoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of the encoder, input side first (a ViT's layers; MAST's blocks, stage by stage)."""
    return [module for module in model.base_model.modules() if isinstance(module, GradientCheckpointingLayer)]


def layer_depths(model: nn.Module) -> dict[str, int]:
    """Each parameter's depth for layer-wise decay: 0 for the encoder's embeddings (patches, positions, prefix
    tokens), `i + 1` for block `i`, `blocks + 1` for what follows (the final norm and the head)."""
    blocks = encoder_blocks(model)
    depth_of = {id(p): index + 1 for index, block in enumerate(blocks) for p in block.parameters()}
    embeddings = model.base_model.embeddings
    depth_of.update({id(p): 0 for p in embeddings.parameters()})
    return {name: depth_of.get(id(p), len(blocks) + 1) for name, p in model.named_parameters()}


def layer_decay_groups(model: nn.Module, learning_rate: float, layer_decay: float, weight_decay: float,
                       decay_names: set[str]) -> list[dict]:
    """Optimizer parameter groups with the learning rate `learning_rate * layer_decay ** (top - depth)` (BEiT's
    layer-wise decay: the head at the full rate, each block below a factor `layer_decay` slower), weight decay on
    `decay_names` only. Frozen parameters are left out."""
    depths = layer_depths(model)
    top = max(depths.values())
    groups = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        depth, decayed = depths[name], name in decay_names
        group = groups.setdefault((depth, decayed), {
            "params": [], "lr": learning_rate * layer_decay ** (top - depth),
            "weight_decay": weight_decay if decayed else 0.0, "depth": depth})
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def label_balanced_weights(targets: np.ndarray) -> np.ndarray:
    """AST's balanced sampling weights: `(clips, num_labels)` 0/1 targets -> `(clips,)`, each clip the sum over its
    labels of 1 / (that label's clip count), so that rare labels are drawn as often as common ones. A clip with no
    label gets the smallest weight of the others."""
    counts = targets.sum(axis=0)
    weights = targets @ np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    if (weights > 0).any():
        weights[weights == 0] = weights[weights > 0].min()
    else:
        weights[:] = 1.0
    return weights


class BalancedSampler(Sampler):
    """Draws `len(weights)` indices an epoch, with replacement, each with probability proportional to its weight;
    the draws depend on (seed, epoch) alone, so every process draws the same (accelerate then gives each its share
    of the batches) and a resumed run draws what the interrupted one did."""

    def __init__(self, weights: np.ndarray, seed: int):
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.weights)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.multinomial(self.weights, len(self.weights), replacement=True, generator=generator).tolist())
