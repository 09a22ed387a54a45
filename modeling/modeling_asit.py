"""ASiT (Atito et al. 2022) backbone and classifier: the shared spectrogram ViT with ASiT's configuration
(non-overlapping 16 x 16 patches, one cls token, time-major tokens). Pretraining lives in pretraining_asit.py."""

from __future__ import annotations

from ..configuration.configuration_asit import ASiTConfig
from .spectrogram_vit import SpectrogramViTForAudioClassification, SpectrogramViTModel


class ASiTModel(SpectrogramViTModel):
    """The bare ASiT encoder: `(batch, frames, 128)` -> `(batch, 1 + patches, hidden)`; `pooler_output` is the cls
    token after the final LayerNorm. `ASiTForPreTraining` saves its teacher as this model."""

    config_class = ASiTConfig


class ASiTForAudioClassification(SpectrogramViTForAudioClassification):
    """ASiT with a LayerNorm + Linear head on the cls token. `from_pretrained(pretraining_output_dir)` loads the
    pretrained teacher encoder and adds a fresh head."""

    config_class = ASiTConfig
