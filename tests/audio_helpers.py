"""Generated test audio: no files, no downloads."""

from __future__ import annotations

import numpy as np


def noisy_tone(num_samples: int = 16000, rate: int = 16000, freq: float = 440.0, noise: float = 0.05,
               seed: int = 0) -> np.ndarray:
    """A sine at `freq` Hz plus white noise, float32 in [-1, 1].

    The noise comes from numpy's legacy RandomState, whose stream numpy keeps frozen across versions (the
    committed reference fixtures are made from these signals)."""
    t = np.arange(num_samples) / rate
    noise_samples = np.random.RandomState(seed).standard_normal(num_samples)
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise * noise_samples).astype(np.float32)


def chirp(num_samples: int = 16000, rate: int = 16000, low: float = 100.0, high: float = 6000.0) -> np.ndarray:
    """A linear sweep from `low` to `high` Hz, float32: energy in every mel band over time."""
    t = np.arange(num_samples) / rate
    duration = num_samples / rate
    phase = 2 * np.pi * (low * t + (high - low) * t**2 / (2 * duration))
    return (0.5 * np.sin(phase)).astype(np.float32)
