"""DistributedDataParallel: one model trained by every process of an MPI job on its share of
each batch, its gradients summed across the processes after every backward pass
(``torch.nn.parallel.DistributedDataParallel``'s name and contract)."""

from __future__ import annotations

from contextlib import contextmanager

from .. import backend, distributed
from ..autograd import Tensor, is_grad_enabled, queue_callback
from .module import Module


def sync_module_states(module) -> None:
    """Overwrite every parameter and buffer of ``module`` with rank 0's (the same start on
    every process)."""
    arrays = [t.data for t in module.parameters()] + [
        t.data for t in module.buffers() if t is not None]
    for a in arrays:
        distributed.broadcast_array(a)


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: at construction every process takes rank
    0's parameters and buffers; each training-mode forward pass with gradients enabled has
    the next backward pass end by averaging every parameter's gradient over the processes
    (their sum divided by the number of processes) in one packed all-reduce, in the
    parameters' order, so every process takes the same optimizer step and the result does
    not depend on timing. A parameter without a gradient on some process counts as zeros.
    With ``broadcast_buffers`` the buffers (BatchNorm's running statistics) are rank 0's at
    every forward, as PyTorch's.

    The average of the processes' mean losses is the whole batch's mean loss when the shares
    are equal; a training loop with unequal shares scales each process's loss by its share
    (fovea's Trainer does). ``no_sync()`` accumulates gradients locally.
    """

    def __init__(self, module, device_ids=None, broadcast_buffers: bool = True):
        super().__init__()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self._queued = False
        self._sync = True
        sync_module_states(module)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers:
            self.sync_buffers()
        if (self.training and self._sync and not self._queued and is_grad_enabled()
                and distributed.world_size() > 1):
            self._queued = True
            queue_callback(self._after_backward)
        return self.module(*args, **kwargs)

    def sync_buffers(self) -> None:
        """Overwrite every buffer with rank 0's (e.g. before evaluating or saving)."""
        if distributed.world_size() > 1:
            for b in self.module.buffers():
                if b is not None:
                    distributed.broadcast_array(b.data)

    def _after_backward(self) -> None:
        self._queued = False
        self.sync_gradients()

    def sync_gradients(self) -> None:
        """Average every parameter's gradient over the processes now. A process that has no
        samples in a step calls it (after zeroing its gradients) instead of a backward pass,
        so that the others are not left waiting."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = Tensor(backend.namespace(p.data).zeros_like(p.data))
        distributed.all_reduce_packed([p.grad.data for p in params],
                                      scale=1.0 / distributed.world_size())

    @contextmanager
    def no_sync(self):
        """Inside the block, forward/backward passes leave the gradients local (accumulate
        several batches; the first backward outside it averages them all)."""
        self._sync = False
        try:
            yield
        finally:
            self._sync = True
