"""The views each pretraining method makes from a batch of clips.

ASiT: two random crops of each clip's (randomly rolled) waveform as spectrograms, and their GMML corruption.
SS-MAST: one random crop per clip as a spectrogram, the boxes of its two views' random resized crops and the
random draws of their mixup (the mixup needs the memory of earlier clips, so the training process applies it).
Unreadable clips are left out and counted in `num_skipped`.

Each collator works in two parts: `draw` (decoding, crops, resampling and every random draw, in the DataLoader
workers) and `finish` (spectrograms and the tensor work on them). `finish` runs in the workers too, unless
`features_on_device`: then the training loop calls it on the batch once it is on the accelerator.
"""

from __future__ import annotations

import numpy as np
import torch

from ..configuration.configuration_asit import ASiTConfig
from ..configuration.configuration_ssmast import SSMASTConfig
from ..feature_extraction.augmentations import draw_resized_crop, resized_crop
from ..modeling.pretraining_asit import apply_gmml, draw_gmml
from .data import ClipCollator


class ASiTCollator(ClipCollator):
    """Audio examples -> `clean_views`, `corrupted_views` `(n, 2, frames, mel_bins)` and their `pixel_mask`."""

    def __init__(self, extractor, config: ASiTConfig, audio_column: str, seed: int, roll_probability: float,
                 process_index: int = 0, features_on_device: bool = False):
        super().__init__(extractor, audio_column, seed, process_index, features_on_device)
        self.config, self.roll_probability = config, roll_probability

    def draw(self, items: list[tuple[int, dict]]) -> dict:
        """Decoded clips -> two crops each, as `waveforms` (`(n * 2, samples)` and `num_samples`), and the GMML
        draws of both views: `pixel_mask` `(n, 2, frames, mel_bins)`, `gmml_sources` `(n, 2)`."""
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        crops = []
        for index, audio, rate in clips:
            rng = self.rng(index)
            if rng.random() < self.roll_probability:  # the authors roll the waveform, before cropping
                audio = np.roll(audio, int(rng.integers(len(audio))), axis=0)
            crops += [self.random_crop(audio, rate, rng) for _ in range(2)]
        batch_rng = self.rng(items[0][0], 1)
        shape = (self.extractor.target_frames, self.extractor.num_mel_bins)
        masks, sources = zip(*(draw_gmml(len(clips), shape, self.config, batch_rng) for _ in range(2)))
        return {**self.waveforms(crops), "pixel_mask": torch.from_numpy(np.stack(masks, 1)),
                "gmml_sources": torch.from_numpy(np.stack(sources, 1)), "num_clips": len(clips),
                "num_skipped": skipped}

    def finish(self, batch: dict) -> dict:
        views = self.spectrograms(batch).unflatten(0, (-1, 2))  # (n, 2, frames, mel_bins)
        corrupted = apply_gmml(views.transpose(0, 1), batch["pixel_mask"].transpose(0, 1),
                               batch.pop("gmml_sources").T).transpose(0, 1)  # each view corrupted within the batch
        return {**batch, "clean_views": views, "corrupted_views": corrupted}


class SSMASTCollator(ClipCollator):
    """Audio examples -> `clips` `(n, frames, mel_bins)`, `crop_boxes` `(n, 2, 6)`, `mixup_lambda` and
    `mixup_pick` `(n, 2)`; also the cropped `views` when the mixup comes after the crops."""

    def __init__(self, extractor, config: SSMASTConfig, audio_column: str, seed: int, process_index: int = 0,
                 features_on_device: bool = False):
        super().__init__(extractor, audio_column, seed, process_index, features_on_device)
        self.config = config

    def draw(self, items: list[tuple[int, dict]]) -> dict:
        """Decoded clips -> one crop each as `waveforms`, the boxes of its two views' random resized crops and the
        draws of their mixup."""
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        rngs = [self.rng(index) for index, _, _ in clips]
        crops = [self.random_crop(audio, rate, rng) for (_, audio, rate), rng in zip(clips, rngs)]
        shape = (self.extractor.target_frames, self.extractor.num_mel_bins)
        scales = (self.config.crop_virtual_scale, self.config.crop_frequency_scale, self.config.crop_time_scale)
        boxes = torch.tensor([[draw_resized_crop(shape, rng, *scales) for _ in range(2)] for rng in rngs])  # (n, 2, 6)
        draws = torch.from_numpy(np.stack([rng.random((2, 2)) for rng in rngs])).float()  # (n, [lam, pick], view)
        return {**self.waveforms(crops), "crop_boxes": boxes, "mixup_lambda": draws[:, 0],
                "mixup_pick": draws[:, 1], "num_clips": len(clips), "num_skipped": skipped}

    def finish(self, batch: dict) -> dict:
        spectrograms = self.spectrograms(batch)  # (n, frames, mel_bins)
        batch = {**batch, "clips": spectrograms}
        if self.config.mixup_position == "after_crop":
            batch["views"] = crop_views(spectrograms[:, None].expand(-1, 2, -1, -1), batch["crop_boxes"])
        return batch


def crop_views(views: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """`(n, 2, frames, mel_bins)` views, each cut by its `draw_resized_crop` box in `boxes` `(n, 2, 6)`."""
    return torch.stack([torch.stack([resized_crop(view, tuple(box)) for view, box in zip(pair, pair_boxes)])
                        for pair, pair_boxes in zip(views, boxes.tolist())])
