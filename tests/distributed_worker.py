"""Run by tests/test_distributed.py, alone or under ``mpiexec -n N``: trains a small network for
some steps with the Trainer (distributed when started by mpiexec) on mnist-mini batches and
saves rank 0's final weights, so the test can compare N processes with one.

usage: python distributed_worker.py OUT.npz MODEL STEPS BATCH [sync]
MODEL: lenet5 or bn_mlp (an MLP with BatchNorm1d, optionally converted to SyncBatchNorm);
raise_on_rank1: rank 1 raises after the first step while rank 0 goes on (the job must end).
"""

from __future__ import annotations

import sys

import numpy as np

from fovea import backend, distributed, nn, optim
from fovea.data import load_mnist_mini
from fovea.models import MLP, LeNet5
from fovea.train.trainer import Trainer


def main(out, model_name, steps, batch, sync=False):
    distributed.init()
    backend.manual_seed(0)
    if model_name == "lenet5":
        model = LeNet5()
    else:
        model = MLP((784, 64, 64, 10), "relu", batchnorm=True)
    if sync:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    images, labels = load_mnist_mini("train")
    x = ((images.astype(np.float32) / 255 - 0.13) / 0.31).reshape(-1, 1, 28, 28)
    if model_name != "lenet5":
        x = x.reshape(len(x), -1)
    y = labels.astype(np.int64)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    trainer = Trainer(model, optimizer, distributed=distributed.world_size() > 1,
                      progress=False, log=None)
    rng = np.random.default_rng(1)
    for step in range(steps):
        idx = rng.integers(0, len(y), batch)
        trainer.step(x[idx], y[idx])
        if model_name == "raise_on_rank1" and step == 0 and distributed.rank() == 1:
            raise RuntimeError("rank 1 failed on purpose")
    state = {k: backend.to_numpy(v.data) for k, v in model.state_dict().items()}
    mine = np.concatenate([v.ravel().astype(np.float64) for v in state.values()])
    theirs = distributed.broadcast_array(mine.copy())
    if distributed.is_main():
        state["ranks_agree"] = np.array(bool(np.array_equal(mine, theirs)))
        np.savez(out, **state)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
         len(sys.argv) > 5 and sys.argv[5] == "sync")
