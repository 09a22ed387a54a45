"""Per-step schedules, computed once for the whole run (DINO style) and indexed by the optimiser step.

A warm-up longer than the run is not squeezed into it: the run stops part way up, as it would part way through a
longer run.
"""

from __future__ import annotations

import numpy as np


def cosine_schedule(start: float, end: float, total_steps: int, warmup_steps: int = 0,
                    warmup_start: float = 0.0) -> np.ndarray:
    """`total_steps` values: linear from `warmup_start` to `start` over `warmup_steps`, then a half cosine from
    `start` to `end` over the steps left (none when the warm-up is as long as the run or longer)."""
    warmup = np.linspace(warmup_start, start, warmup_steps, endpoint=False)[:total_steps]
    steps = np.arange(total_steps - len(warmup))
    cosine = end + 0.5 * (start - end) * (1 + np.cos(np.pi * steps / max(len(steps), 1)))
    return np.concatenate([warmup, cosine])


def linear_warmup(start: float, end: float, total_steps: int, warmup_steps: int) -> np.ndarray:
    """`total_steps` values rising linearly from `start` to `end` over `warmup_steps`, then `end`."""
    warmup = np.linspace(start, end, warmup_steps)[:total_steps]
    return np.concatenate([warmup, np.full(total_steps - len(warmup), end)])


def constant_schedule(value: float, total_steps: int) -> np.ndarray:
    """`total_steps` copies of `value`."""
    return np.full(total_steps, float(value))
