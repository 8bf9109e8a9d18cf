"""fovea.distributed: data-parallel training over MPI (``mpiexec -n N``), ChainerMN's and
Horovod's design. Every process (rank) holds the whole model; each step every rank computes the
gradient of its share of the global batch, the gradients are summed across ranks in one
packed all-reduce, and every rank takes the same optimizer step.

This package is the communication: :func:`init`, :func:`rank`, :func:`world_size`,
:func:`barrier`, and :func:`broadcast_` / :func:`all_reduce_` on tensors (in place, as
``torch.distributed``). ``fovea.nn.parallel.DistributedDataParallel`` and
``fovea.nn.SyncBatchNorm`` are built on it, and ``fovea train --distributed`` uses both.
Without mpiexec a program is a job of one process and every collective is the identity.
"""

from __future__ import annotations

from .comm import (
    DistributedError,
    abort,
    all_reduce_array,
    all_reduce_packed,
    barrier,
    broadcast_array,
    init,
    is_initialized,
    is_main,
    launched_by_mpiexec,
    launched_processes,
    rank,
    sum_over_ranks,
    world_size,
)

__all__ = ["DistributedError", "abort", "all_reduce_", "all_reduce_array", "all_reduce_packed",
           "barrier", "broadcast_", "broadcast_array", "init", "is_initialized", "is_main",
           "launched_by_mpiexec", "launched_processes", "rank", "sum_over_ranks", "world_size"]


def _array(tensor):
    """A Tensor's array (duck-typed: this package sits below autograd), or the array itself."""
    return tensor.data if hasattr(tensor, "requires_grad") else tensor


def broadcast_(tensor, src: int = 0):
    """Overwrite ``tensor`` (a Tensor or an array) on every rank with rank ``src``'s values,
    in place; returns it."""
    broadcast_array(_array(tensor), src)
    return tensor


def all_reduce_(tensor, op: str = "sum"):
    """Replace ``tensor`` (a Tensor or an array) on every rank, in place, by its sum (or
    ``op`` = "mean", "max", "min") over all ranks; returns it."""
    all_reduce_array(_array(tensor), op)
    return tensor
