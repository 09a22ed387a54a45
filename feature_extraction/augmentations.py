"""Augmentations used by the training scripts, on normalised `(frames, mel_bins)` features or on waveforms.

AST's fine-tuning recipe: SpecAugment masks, noise with a time roll, waveform mixup. BYOL-A's random resized crop
and log-domain mixup (SS-MAST's views). Random draws come from the caller's generator, so runs are reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def spec_augment(features: torch.Tensor, rng: np.random.Generator, freqm: int, timem: int,
                 fill: float) -> torch.Tensor:
    """SpecAugment as AST trains with it: one band of U{0..freqm-1} mel bins and one span of U{0..timem-1} frames,
    each at a uniformly drawn place, set to `fill`.

    `(frames, mel_bins)` -> a masked copy. AST masks with 0 before normalising: pass the normalised value of 0.
    """
    features = features.clone()
    for axis, max_width in ((1, freqm), (0, timem)):
        size = features.shape[axis]
        width = min(int(rng.integers(0, max_width)) if max_width > 0 else 0, size)
        start = int(rng.integers(0, size - width + 1))
        features.narrow(axis, start, width).fill_(fill)
    return features


def noise_and_roll(features: torch.Tensor, rng: np.random.Generator, max_noise: float = 0.1,
                   max_shift: int = 10) -> torch.Tensor:
    """AST's `noise` augmentation: add uniform noise scaled by U(0, `max_noise`), then roll the frames by
    U{-max_shift..max_shift-1}. `(frames, mel_bins)` -> same shape."""
    noise = torch.from_numpy(rng.random(features.shape, dtype=np.float32)) * float(rng.random() * max_noise)
    return torch.roll(features + noise, int(rng.integers(-max_shift, max_shift)), dims=0)


def waveform_mixup(audio: np.ndarray, other: np.ndarray, lam: float) -> np.ndarray:
    """AST's mixup: `lam * audio + (1 - lam) * other` (other cut or zero-padded to `audio`'s length), minus its
    mean. Mix the targets with the same `lam`. 1-D float arrays -> 1-D float32."""
    other = np.pad(other[: len(audio)], (0, max(0, len(audio) - len(other))))
    mixed = lam * audio + (1 - lam) * other
    return (mixed - mixed.mean()).astype(np.float32)


def draw_resized_crop(shape: tuple[int, int], rng: np.random.Generator,
                      virtual_scale: tuple[float, float] = (1.0, 1.5),
                      frequency_scale: tuple[float, float] = (0.6, 1.5),
                      time_scale: tuple[float, float] = (0.6, 1.5)) -> tuple[int, int, int, int, int, int]:
    """The random part of BYOL-A's random resized crop for a `(frames, mel_bins)` spectrogram: a zero canvas
    `virtual_scale` times its (mel bins, frames), and a window of U(`frequency_scale`) x U(`time_scale`) its size
    (at most the canvas) at a random place. Returns `(canvas_frames, canvas_bins, start_frame, crop_frames,
    start_bin, crop_bins)` for `resized_crop`."""
    frames, bins = shape
    canvas_bins, canvas_frames = int(bins * virtual_scale[0]), int(frames * virtual_scale[1])
    crop_bins = min(canvas_bins, max(1, int(bins * rng.uniform(*frequency_scale))))
    crop_frames = min(canvas_frames, max(1, int(frames * rng.uniform(*time_scale))))
    start_frame = int(rng.integers(0, canvas_frames - crop_frames + 1))
    start_bin = int(rng.integers(0, canvas_bins - crop_bins + 1))
    return canvas_frames, canvas_bins, start_frame, crop_frames, start_bin, crop_bins


def resized_crop(spectrogram: torch.Tensor, box: tuple[int, int, int, int, int, int]) -> torch.Tensor:
    """Apply a `draw_resized_crop` box: the spectrogram in the middle of the zero canvas, the window cut out and
    resized back bicubically. `(frames, mel_bins)` -> same shape and dtype."""
    canvas_frames, canvas_bins, start_frame, crop_frames, start_bin, crop_bins = box
    frames, bins = spectrogram.shape
    canvas = spectrogram.new_zeros(canvas_frames, canvas_bins)
    top, left = (canvas_frames - frames) // 2, (canvas_bins - bins) // 2
    canvas[top : top + frames, left : left + bins] = spectrogram
    crop = canvas[start_frame : start_frame + crop_frames, start_bin : start_bin + crop_bins]
    resized = F.interpolate(crop[None, None].float(), size=(frames, bins), mode="bicubic", align_corners=True)
    return resized[0, 0].to(spectrogram.dtype)


def random_resized_crop(spectrogram: torch.Tensor, rng: np.random.Generator,
                        virtual_scale: tuple[float, float] = (1.0, 1.5),
                        frequency_scale: tuple[float, float] = (0.6, 1.5),
                        time_scale: tuple[float, float] = (0.6, 1.5)) -> torch.Tensor:
    """BYOL-A's random resized crop (`draw_resized_crop`, then `resized_crop`). `(frames, mel_bins)` -> same."""
    box = draw_resized_crop(tuple(spectrogram.shape), rng, virtual_scale, frequency_scale, time_scale)
    return resized_crop(spectrogram, box)


class LogMixup:
    """BYOL-A's mixup in the log domain with a memory of earlier clips: a view x becomes
    `log((1 - lam) exp(x) + lam exp(z))`, `z` an earlier clip, `lam` ~ U(0, ratio).

    The memory holds the last `memory_size` clips given to `remember` (in the training scripts: every process's
    clips, gathered, so it is the same everywhere and saved with the checkpoints), in float16: BYOL-A's 2048 clips
    of 1024 x 128 frames take 0.5 GB. The random draws come from the caller (per example), which keeps runs
    reproducible.
    """

    def __init__(self, ratio: float = 0.4, memory_size: int = 2048):
        self.ratio, self.memory_size = ratio, memory_size
        self.memory = None  # (clips, frames, mel_bins), oldest first

    def __call__(self, views: torch.Tensor, lam_draw: torch.Tensor, pick_draw: torch.Tensor) -> torch.Tensor:
        """Mix each view with an earlier clip.

        Args:
            views: `(batch, views, frames, mel_bins)`.
            lam_draw, pick_draw: `(batch, views)` uniform [0, 1) draws: the mixing weight is `ratio * lam_draw`,
                the partner `memory[floor(pick_draw * len(memory))]`.
        Returns: the mixed views (unchanged while the memory is empty).
        """
        if self.memory is None or len(self.memory) == 0:
            return views
        memory = self.memory.to(views.device, views.dtype)
        partners = memory[(pick_draw.to(views.device) * len(memory)).long().clamp_max(len(memory) - 1)]
        frames = min(views.shape[2], partners.shape[2])  # memory clips may be shorter than the views
        partners = F.pad(partners[:, :, :frames], (0, 0, 0, views.shape[2] - frames))
        lam = (self.ratio * lam_draw.to(views.device, views.dtype))[..., None, None]
        return torch.logaddexp(torch.log1p(-lam) + views, torch.log(lam.clamp_min(1e-12)) + partners)

    def remember(self, clips: torch.Tensor) -> None:
        """Append `(clips, frames, mel_bins)` to the memory, dropping the oldest beyond `memory_size`."""
        clips = clips.detach().to(torch.float16)
        memory = clips if self.memory is None else torch.cat([self.memory.to(clips.device), clips])
        self.memory = memory[-self.memory_size:]

    def state_dict(self) -> dict:
        return {"memory": None if self.memory is None else self.memory.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.memory = state["memory"]
