"""The processes of a job started by ``mpiexec`` and the collectives between them, over MPI
(mpi4py): who am I (``rank``), how many are we (``world_size``), ``barrier``, and the sum or
broadcast of an array across all processes.

Without mpiexec (or without mpi4py) a program is a job of one process: rank 0 of 1, and every
collective is the identity, so code written for N processes runs unchanged on one.

A process that dies of an exception while the others wait in a collective would hang the
job; :func:`init` installs an excepthook that prints the traceback and calls ``MPI_Abort``,
which ends every process of the job (ChainerMN's FAQ, "MPI process hangs after an unhandled
Python exception").
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from .. import backend
from ..errors import FoveaError

_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
"""Set by MPICH's Hydra (PMI_*) and Open MPI (OMPI_*, PMIX_*) in every process they start."""

_FORWARD_SECONDS = 0.5
"""How long a process that aborts the job waits first: MPI_Abort kills every process at once,
and mpiexec may drop output it has not yet forwarded (the one-line error)."""

_comm = None  # MPI.COMM_WORLD once init() has run in a job of several processes


class DistributedError(FoveaError, RuntimeError):
    """Distributed training that cannot start: mpi4py missing, or not under mpiexec."""


def launched_by_mpiexec() -> bool:
    """True when this process was started by mpiexec/mpirun/srun (an MPI launcher)."""
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


def launched_processes() -> int:
    """How many processes the MPI launcher started in this job, read from its environment
    before MPI is initialized (1 when not started by one)."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError(f"distributed training needs mpi4py and an MPI library: "
                               f"pip install 'fovea[mpi]' ({exc})") from None
    return MPI


def init() -> None:
    """Join the job: initialize MPI (once) and install the excepthook that aborts every
    process when one dies of an exception. A process not started by an MPI launcher is a job
    of one and needs no MPI."""
    global _comm
    if _comm is not None or not launched_by_mpiexec():
        return
    MPI = _mpi()
    _comm = MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        _previous = sys.excepthook

        def abort_job(kind, value, tb):
            _previous(kind, value, tb)
            abort(1)
        sys.excepthook = abort_job


def is_initialized() -> bool:
    return _comm is not None


def rank() -> int:
    """This process's index in the job, 0 … world_size() − 1 (0 in a job of one)."""
    return 0 if _comm is None else _comm.Get_rank()


def world_size() -> int:
    """The number of processes in the job (1 without mpiexec)."""
    return 1 if _comm is None else _comm.Get_size()


def is_main() -> bool:
    """True on rank 0, the process that writes files and prints progress."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process has reached this call."""
    if _comm is not None:
        _comm.Barrier()


def abort(code: int = 1) -> None:
    """End every process of the job now with exit status ``code`` (no cleanup): what a process
    does when it cannot go on and the others would otherwise wait for it forever."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _comm is not None and _comm.Get_size() > 1:
        time.sleep(_FORWARD_SECONDS)  # mpiexec forwards what was printed before it kills all
        _comm.Abort(code)
    os._exit(code)


def _host(array):
    """(a C-contiguous host array to communicate, whether it must be copied back)."""
    host = backend.to_numpy(array)
    if host is array and host.flags.c_contiguous:
        return host, False
    return np.ascontiguousarray(host), True


def _write_back(array, host) -> None:
    if isinstance(array, np.ndarray):
        np.copyto(array, host.reshape(array.shape))
    else:  # a device array: through the host
        array[...] = backend.to_device(host.reshape(array.shape), backend.device_of(array))


def all_reduce_array(array, op: str = "sum"):
    """Replace ``array`` (in place) by its elementwise sum (``op="sum"``), mean, max or min
    over all processes; every process gets the same values. Returns ``array``."""
    if op not in ("sum", "mean", "max", "min"):
        raise ValueError(f"all_reduce: op must be sum, mean, max or min, got {op!r}")
    if _comm is None or _comm.Get_size() == 1:
        return array
    MPI = _mpi()
    host, copied = _host(array)
    _comm.Allreduce(MPI.IN_PLACE, host, op={"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX,
                                            "min": MPI.MIN}[op])
    if op == "mean":
        host /= host.dtype.type(_comm.Get_size())
    if copied:
        _write_back(array, host)
    return array


def broadcast_array(array, src: int = 0):
    """Replace ``array`` (in place) on every process by rank ``src``'s values. Returns it."""
    if _comm is None or _comm.Get_size() == 1:
        return array
    host, copied = _host(array)
    _comm.Bcast(host, root=src)
    if copied:
        _write_back(array, host)
    return array


def sum_over_ranks(values) -> list:
    """The sums over all processes of a few Python numbers (one float64 all-reduce)."""
    buffer = np.asarray(values, dtype=np.float64)
    return all_reduce_array(buffer).tolist()


def all_reduce_packed(arrays, scale: float = 1.0) -> None:
    """Sum every array of ``arrays`` over all processes, in place, in one all-reduce of one
    packed buffer (of their common dtype, float32 for a float32 model) (ChainerMN's "flat" communicator: one message instead of one per
    parameter), then multiply by ``scale``. The order is the list's, the same on every
    process, so the result is the same on every run."""
    if not arrays:
        return
    sizes = [a.size for a in arrays]
    xp = backend.namespace(arrays[0])
    buffer = xp.empty(sum(sizes), dtype=np.result_type(*[a.dtype for a in arrays]))
    start = 0
    for a, n in zip(arrays, sizes):
        buffer[start:start + n] = a.reshape(-1)
        start += n
    all_reduce_array(buffer)
    if scale != 1.0:
        buffer *= buffer.dtype.type(scale)
    start = 0
    for a, n in zip(arrays, sizes):
        a[...] = buffer[start:start + n].reshape(a.shape).astype(a.dtype, copy=False)
        start += n
