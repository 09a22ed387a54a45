"""The collectives the pretraining objectives need; in a single process they are identities."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over all processes (a new tensor)."""
    if not is_distributed():
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor / dist.get_world_size()


def all_gather_variable(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate every process's `tensor` (sizes may differ along dim 0) in rank order; also return where this
    process's rows start. No gradient flows through the other processes' rows."""
    if not is_distributed():
        return tensor, 0
    sizes = torch.tensor([tensor.shape[0]], device=tensor.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(dist.get_world_size())]
    dist.all_gather(all_sizes, sizes)
    all_sizes = [int(s) for s in all_sizes]
    padded = torch.zeros((max(all_sizes), *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.empty_like(padded) for _ in all_sizes]
    dist.all_gather(gathered, padded.contiguous())
    rank = dist.get_rank()
    gathered[rank] = tensor  # keep this process's rows in the graph
    return torch.cat([g[:n] for g, n in zip(gathered, all_sizes)]), sum(all_sizes[:rank])
