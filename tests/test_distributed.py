"""fovea.distributed: data-parallel training over MPI, two processes on this machine
(``mpiexec -n 2``), against one process.

Bounds: N processes sum their shares' gradients where one process sums the whole batch in one
GEMM, so the float32 results differ by rounding (≈1e-7 relative per step). Over tens of steps
the weights agree to ≤ 1e-5 relative (measured ≤ 7.2e-7 after 30 SGD steps of LeNet-5); over
hundreds the training itself amplifies any rounding difference (see docs/distributed.md)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

WORKER = Path(__file__).with_name("distributed_worker.py")
MPIEXEC = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ.get('PATH', '')}")
BOUND = 1e-5

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")


def _env():
    src = str(Path(__file__).resolve().parents[1] / "src")
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run(args, ranks=None, timeout=240, **kw):
    cmd = ([MPIEXEC, "-n", str(ranks)] if ranks else []) + [sys.executable, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), **kw)


def fovea(*args, ranks=None, timeout=240):
    return run(["-m", "fovea.cli", *args], ranks, timeout)


def weights(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def max_relative_difference(a: dict, b: dict) -> float:
    keys = [k for k in a if a[k].dtype.kind == "f"]
    assert keys and set(keys) <= set(b)
    return max(float(np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-30)) for k in keys)


def one_and_two(tmp_path, *args):
    for n, ranks in (("one", None), ("two", 2)):
        proc = run([WORKER, tmp_path / f"{n}.npz", *args], ranks)
        assert proc.returncode == 0, proc.stderr
    return weights(tmp_path / "one.npz"), weights(tmp_path / "two.npz")


def test_two_processes_take_the_steps_of_one(tmp_path):
    one, two = one_and_two(tmp_path, "lenet5", 30, 64)
    assert bool(two.pop("ranks_agree"))  # every rank holds the same weights
    one.pop("ranks_agree")
    assert max_relative_difference(one, two) < BOUND


def test_uneven_shares_and_empty_shares_do_not_hang(tmp_path):
    # 65 = 32 + 33; a batch of 1 leaves rank 1 with nothing to do at every step
    for batch in (65, 1):
        one, two = one_and_two(tmp_path, "lenet5", 4, batch)
        assert bool(two.pop("ranks_agree"))
        one.pop("ranks_agree")
        assert max_relative_difference(one, two) < BOUND


def test_sync_batchnorm_normalizes_as_one_process(tmp_path):
    one, synced = one_and_two(tmp_path, "bn_mlp", 20, 64, "sync")
    assert any(k.endswith("running_var") for k in one)  # the statistics are compared too
    assert max_relative_difference(one, synced) < BOUND
    # without it each process normalizes by its own half-batch: not the one-process steps
    _, local = one_and_two(tmp_path, "bn_mlp", 20, 64)
    assert max_relative_difference(one, local) > 100 * BOUND


def test_a_rank_that_raises_ends_the_job(tmp_path):
    t0 = time.monotonic()
    proc = run([WORKER, tmp_path / "x.npz", "raise_on_rank1", 1000, 64], ranks=2, timeout=60)
    assert time.monotonic() - t0 < 30
    assert proc.returncode != 0
    assert "rank 1 failed on purpose" in proc.stderr


def test_cli_rank_error_ends_the_job_in_one_line(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("a file of a previous run")
    t0 = time.monotonic()
    proc = fovea("train", "--distributed", "--out", busy, "--epochs", "1", "--quiet",
                 ranks=2, timeout=60)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and str(busy) in proc.stderr


def test_cli_refuses_mpiexec_without_distributed(tmp_path):
    proc = fovea("train", "--out", tmp_path / "r", "--epochs", "1", "--quiet", ranks=2,
                 timeout=60)
    assert proc.returncode == 2 and "add --distributed" in proc.stderr


def _train_args(out, epochs):
    return ("train", "--distributed", "--model", "lenet5", "--dataset", "mnist-mini",
            "--epochs", str(epochs), "--seed", "0", "--quiet", "--out", str(out))


def test_cli_two_ranks_write_one_run_like_one_process(tmp_path):
    one = fovea(*_train_args(tmp_path / "one", 1))
    two = fovea(*_train_args(tmp_path / "two", 1), ranks=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout.count("test accuracy") == 1  # rank 0 alone reports
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "one").iterdir())


def _fovea_pids(marker: str) -> list:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"fovea.cli" in cmd and marker.encode() in cmd and not any(
                b"mpiexec" in c for c in cmd):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the ranks")
def test_sigkill_of_one_rank_ends_the_job_and_resume_is_bit_identical(tmp_path):
    whole = fovea(*_train_args(tmp_path / "whole", 3), ranks=2)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "fovea.cli", *_train_args(out, 3)]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "checkpoint.json").is_file()
        pids = _fovea_pids(str(out))
        assert len(pids) == 2
        os.kill(max(pids), signal.SIGKILL)
        t0 = time.monotonic()
        job.wait(timeout=30)
        assert time.monotonic() - t0 < 30 and job.returncode != 0
    finally:
        if job.poll() is None:
            job.kill()
    resumed = fovea("train", "--distributed", "--resume", out, "--quiet", ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    from safetensors.numpy import load_file
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_in_one_process_sync_batchnorm_is_batchnorm_and_ddp_is_the_module():
    from fovea import Tensor, nn
    from fovea.nn.parallel import DistributedDataParallel

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    x = rng.standard_normal((5, 3, 8, 8)).astype(np.float32)
    expected = model(Tensor(x)).data.copy()
    keys = list(model.state_dict())
    model[1].running_mean.data[...] = 0  # the first forward moved them: start again
    model[1].running_var.data[...] = 1
    model[1].num_batches_tracked.data[...] = 0
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(synced[1], nn.SyncBatchNorm) and list(synced.state_dict()) == keys
    ddp = DistributedDataParallel(synced)
    out = ddp(Tensor(x))
    np.testing.assert_array_equal(out.data, expected)
    assert list(ddp.state_dict()) == ["module." + k for k in keys]
    out.sum().backward()
    assert all(p.grad is not None for p in synced.parameters())


def test_ensemble_under_mpiexec_trains_members_side_by_side(tmp_path):
    out = tmp_path / "ens"
    proc = fovea("ensemble", "--members", "3", "--epochs", "1", "--quiet", "--out", out,
                 ranks=2, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ensemble (mean probabilities)") == 1  # rank 0 reports
    import json
    result = json.loads((out / "ensemble.json").read_text())
    assert len(result["members"]) == 3
    assert all((out / f"member-{i}" / "model.safetensors").is_file() for i in range(3))
