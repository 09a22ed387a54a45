"""The PreTrainedModel base every specformers model shares."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init


class SpecformersPreTrainedModel(PreTrainedModel):
    """Spectrogram input, SDPA and gradient checkpointing, and truncated-normal initialisation (std
    `config.initializer_range`) of linear and convolution weights, plus of the parameters a module names in its
    class attribute `_trunc_normal_parameters` (tokens, position tables)."""

    main_input_name = "input_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        for name in getattr(module, "_trunc_normal_parameters", ()):
            if getattr(module, name) is not None:
                init.trunc_normal_(getattr(module, name), std=std)
