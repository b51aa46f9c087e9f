"""Several processes: `torchrun` and DistributedDataParallel, and the few collectives training needs.

One machine, N processes (CPU: gloo backend; with CUDA: nccl, one GPU per process):

    torchrun --standalone --nproc_per_node N -m seq2seq train --config C

Several machines: run the same command on every node, with node_rank 0 .. nnodes-1 and the
address of node 0 as master_addr (any free port, the same on every node):

    torchrun --nnodes 2 --nproc_per_node 4 --node_rank 0 \\
        --master_addr 10.0.0.1 --master_port 29500 -m seq2seq train --config C
    torchrun --nnodes 2 --nproc_per_node 4 --node_rank 1 \\
        --master_addr 10.0.0.1 --master_port 29500 -m seq2seq train --config C

Every node needs the prepared data at the same path (data.dir). Only rank 0 (on node 0) writes
the run directory and reads last.pt for --resume; the other processes receive it from rank 0.

How the work is split: every process plans the same batches for an epoch from the same
memory-mapped shards (seq2seq/data/plan.py); with N processes and `train.accumulate` A, one
update takes A x N consecutive batches and rank r makes and computes batches r, r + N, ... of
them (seq2seq/data/loader.py: nothing is copied or sent between processes). Each process scales
its summed loss by N / (target tokens of all A x N batches) -- known from the plan, or, when
augmentation changes the pairs' lengths, summed over the processes in one scalar all-reduce --
and DDP's gradient averaging then yields exactly the per-token mean over the whole update: two
processes with accumulate 1 match one process with accumulate 2. Rank 0 validates and writes;
the others wait for its dev BLEU, which all of them need (early stopping, plateau schedule).
With CPU processes, set train.threads (or OMP_NUM_THREADS) so that processes x threads <= cores.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

from seq2seq.devices import resolve_device
from seq2seq.errors import UserError

T = TypeVar("T")


@dataclass
class Distributed:
    """Who this process is; every method is a no-op (or the identity) for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over all processes (float64, so token counts stay exact)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor.tolist()

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj` on every process (any picklable object)."""
        if not self.enabled:
            return obj
        box = [obj]
        torch_dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every process's `obj` as a list on rank 0 (None elsewhere)."""
        if not self.enabled:
            return [obj]
        boxes: list[Any] = [None] * self.world_size if self.is_main else None  # type: ignore[assignment]
        torch_dist.gather_object(obj, boxes, dst=0)
        return boxes

    def run_on_main(self, fn: Callable[[], T]) -> T:
        """`fn()` on rank 0, its result on every process; a UserError there is raised everywhere.

        Without this, a refusal on rank 0 (say, an existing run directory) would leave the other
        processes waiting forever at their next collective.
        """
        if not self.enabled:
            return fn()
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except UserError as exc:
                error = str(exc)
        result, error = self.broadcast((result, error))
        if error is not None:
            raise UserError(error)
        return result

    def close(self) -> None:
        if self.enabled and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def init_distributed(device_name: str = "auto") -> Distributed:
    """Join the process group torchrun describes in the environment, or run as one process.

    device_name is train.device (auto: a CUDA GPU when there is one); with several processes on
    CUDA each takes the GPU of its LOCAL_RANK.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name, "train.device")
    cuda = device.type == "cuda"
    if world_size <= 1:
        return Distributed(device=device)
    if "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
        raise UserError("WORLD_SIZE is set but RANK/MASTER_ADDR are not; launch several processes with "
                        "`torchrun --nproc_per_node N -m seq2seq train --config C`")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    # A long timeout: the other ranks wait while rank 0 validates (greedy decoding on a CPU).
    torch_dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(hours=2))
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=device)
