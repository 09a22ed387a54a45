"""The views each pretraining method makes from a batch of clips, in the DataLoader workers.

ASiT: two random crops of each clip's (randomly rolled) waveform as spectrograms, and their GMML corruption.
SS-MAST: one random crop per clip as a spectrogram, the boxes of its two views' random resized crops and the
random draws of their mixup (the mixup needs the memory of earlier clips, so the training process applies it).
Unreadable clips are left out and counted in `num_skipped`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..configuration.configuration_asit import ASiTConfig
from ..configuration.configuration_ssmast import SSMASTConfig
from ..feature_extraction.augmentations import draw_resized_crop, resized_crop
from ..modeling.pretraining_asit import gmml_corrupt
from .data import ClipCollator


class ASiTCollator(ClipCollator):
    """Audio examples -> `clean_views`, `corrupted_views` `(n, 2, frames, mel_bins)` and their `pixel_mask`."""

    def __init__(self, extractor, config: ASiTConfig, audio_column: str, seed: int, roll_probability: float,
                 process_index: int = 0):
        super().__init__(extractor, audio_column, seed, process_index)
        self.config, self.roll_probability = config, roll_probability

    def __call__(self, items: list[tuple[int, dict]]) -> dict:
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        crops = []
        for index, audio, rate in clips:
            rng = self.rng(index)
            if rng.random() < self.roll_probability:  # the authors roll the waveform, before cropping
                audio = np.roll(audio, int(rng.integers(len(audio))), axis=0)
            crops += [self.random_crop(audio, rate, rng) for _ in range(2)]
        views = self.extractor(crops, return_tensors="pt")["input_values"].unflatten(0, (-1, 2))  # (n, 2, T, F)
        batch_rng = self.rng(items[0][0], 1)
        corrupted, masks = zip(*(gmml_corrupt(views[:, view], self.config, batch_rng) for view in range(2)))
        return {"clean_views": views, "corrupted_views": torch.stack(corrupted, 1), "pixel_mask": torch.stack(masks, 1),
                "num_clips": views.shape[0], "num_skipped": skipped}


class SSMASTCollator(ClipCollator):
    """Audio examples -> `clips` `(n, frames, mel_bins)`, `crop_boxes` `(n, 2, 6)`, `mixup_lambda` and
    `mixup_pick` `(n, 2)`; also the cropped `views` when the mixup comes after the crops."""

    def __init__(self, extractor, config: SSMASTConfig, audio_column: str, seed: int, process_index: int = 0):
        super().__init__(extractor, audio_column, seed, process_index)
        self.config = config

    def __call__(self, items: list[tuple[int, dict]]) -> dict:
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        rngs = [self.rng(index) for index, _, _ in clips]
        crops = [self.random_crop(audio, rate, rng) for (_, audio, rate), rng in zip(clips, rngs)]
        spectrograms = self.extractor(crops, return_tensors="pt")["input_values"]  # (n, frames, mel_bins)
        scales = (self.config.crop_virtual_scale, self.config.crop_frequency_scale, self.config.crop_time_scale)
        boxes = torch.tensor([[draw_resized_crop(tuple(spectrograms.shape[1:]), rng, *scales) for _ in range(2)]
                              for rng in rngs])  # (n, view, 6)
        draws = torch.from_numpy(np.stack([rng.random((2, 2)) for rng in rngs])).float()  # (n, [lam, pick], view)
        batch = {"clips": spectrograms, "crop_boxes": boxes, "mixup_lambda": draws[:, 0], "mixup_pick": draws[:, 1],
                 "num_clips": len(clips), "num_skipped": skipped}
        if self.config.mixup_position == "after_crop":
            batch["views"] = crop_views(spectrograms[:, None].expand(-1, 2, -1, -1), boxes)
        return batch


def crop_views(views: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """`(n, 2, frames, mel_bins)` views, each cut by its `draw_resized_crop` box in `boxes` `(n, 2, 6)`."""
    return torch.stack([torch.stack([resized_crop(view, tuple(box)) for view, box in zip(pair, pair_boxes)])
                        for pair, pair_boxes in zip(views, boxes.tolist())])
