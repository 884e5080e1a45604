"""The same training loop under `torchrun --nproc_per_node=N`: DistributedDataParallel over gloo
(CPU) or nccl (GPU). Every rank takes every N-th batch of the shared epoch order (a distributed
sampler over length buckets); only rank 0 validates and writes the model."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from train.dataset import poem_nll

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> tuple[Ranks, torch.device | None]:
    """Join the process group torchrun describes in the environment (nothing without it).
    Returns the ranks and, under torchrun, this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(), None
    ranks = Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(ranks.local_rank)
        return ranks, torch.device("cuda", ranks.local_rank)
    return ranks, torch.device("cpu")


def shard(batches: list, ranks: Ranks) -> list:
    """This rank's share of an epoch; every rank gets the same number of batches (lockstep)."""
    if not ranks.enabled:
        return batches
    usable = len(batches) // ranks.world * ranks.world
    return batches[ranks.rank : usable : ranks.world]


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True if the flag is true on any rank (so that all ranks stop at the same step)."""
    if not ranks.enabled:
        return flag
    value = torch.tensor([1 if flag else 0])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(ranks: Ranks) -> None:
    if ranks.enabled:
        dist.barrier()


def teardown(ranks: Ranks) -> None:
    if ranks.enabled and dist.is_initialized():
        dist.destroy_process_group()


class SummedLoss(nn.Module):
    """The model and its loss in one forward, so DDP sees every parameter the loss uses."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return poem_nll(self.model, batch)[0]


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module | None:
    """DDP around the model's loss (None when not distributed)."""
    if not ranks.enabled:
        return None
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # adaptive softmax: a batch may leave a tail cluster unused
    unused = bool(getattr(model.cfg, "cutoffs", ()))
    return DistributedDataParallel(
        SummedLoss(model), device_ids=ids, find_unused_parameters=unused
    )
