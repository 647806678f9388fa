"""Data-parallel training across processes (torchrun / SageMaker torch_distributed): who am I, sums.

A `World` of size 1 (the default) is a plain single-process run and touches no torch.distributed
API, so local training is unchanged. torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; the process
group uses NCCL on GPUs and gloo on CPUs. Rank 0 alone writes checkpoints and the artifact.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> World:
        """The world torchrun describes in the environment (a single process when it does not)."""
        environ = os.environ if environ is None else environ
        return cls(
            rank=int(environ.get("RANK", 0)),
            size=int(environ.get("WORLD_SIZE", 1)),
            local_rank=int(environ.get("LOCAL_RANK", 0)),
        )

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes checkpoints and the artifact; the others only train."""
        return self.rank == 0

    def init(self, device) -> None:
        """Join the process group: NCCL on a GPU, gloo on the CPU (no-op for a single process)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def device(self, device):
        """This process's GPU (cuda:LOCAL_RANK) when training on GPUs; the CPU stays the CPU."""
        import torch

        if device.type == "cuda" and self.distributed:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, items: Sequence) -> list:
        """Every size-th item from rank: disjoint, covering all items (validation is not padded)."""
        return list(items[self.rank :: self.size])

    def sum(self, values: Sequence[float], device) -> list[float]:
        """Element-wise sum over all processes (the values themselves for a single process)."""
        if not self.distributed:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
