"""Small sums over the processes on the host (CPU, gloo), for the loop's bookkeeping — clip counts, stop
requests — so that no step waits for the accelerator to finish its queued work. One process: no collective."""

from __future__ import annotations

import torch
import torch.distributed as dist
from accelerate import Accelerator


class HostSums:
    def __init__(self, accelerator: Accelerator):
        self.group = None
        if accelerator.num_processes > 1 and dist.is_initialized():
            # a CPU run's group is gloo already; an accelerator's (NCCL, XCCL, ...) gets a gloo twin
            self.group = dist.group.WORLD if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")

    def __call__(self, values: list[int]) -> list[int]:
        """`values` summed element-wise over every process (each process passes as many)."""
        if self.group is None:
            return list(values)
        total = torch.tensor(values, dtype=torch.int64)
        dist.all_reduce(total, group=self.group)
        return total.tolist()
