"""Where the training scripts run: on whatever Accelerate picks (CUDA, XPU, MPS, ...), and on the CPU only when
asked or when nothing else is there."""

from __future__ import annotations

import os

import torch


def accelerator_type() -> str | None:
    """The accelerator torch sees ("cuda", "xpu", "mps", ...), or None."""
    if not hasattr(torch, "accelerator"):  # torch < 2.6
        return "cuda" if torch.cuda.is_available() else None
    return torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else None


def run_on_cpu(asked: bool) -> bool:
    """Whether to ask Accelerate for the CPU: when the user did (`--use_cpu`, or `accelerate launch --cpu`, which
    Accelerate reads itself), when there is no accelerator, or when several processes would share an MPS device
    (which has no collective backend). Several CPU processes then talk over gloo: Accelerate gives them a
    process group only when told they are CPU processes; otherwise each would train on its own."""
    kind = accelerator_type()
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return asked or kind is None or (several and kind == "mps")
