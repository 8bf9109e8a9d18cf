"""Devices, array backends and the registry that maps arrays to their backend.

A :class:`Backend` serves one device type ("cpu", "cuda", …): its array namespace ``xp``
(NumPy's functions, or a library that spells them the same), the array types it makes,
transfers to and from the host, a random generator per device, and the few operations whose
spelling differs between libraries (errstate, scatter-add, the writeable flag, strided views).

Code above the backend never names an array library: an op asks :func:`namespace` for the
namespace of its input arrays (Chainer's ``get_array_module``), a dict lookup keyed by the
array's type; creation functions ask :func:`get` for the backend of a device. Backends that
need an optional library (CuPy for "cuda") are loaded the first time their device is asked
for, so that ``import fovea`` never imports them.
"""

from __future__ import annotations

import contextlib
import importlib

import numpy as np

from ..errors import DeviceError

_BACKENDS: dict = {}
"""Device type → Backend, in registration order."""

_BY_TYPE: dict = {}
"""Array type → Backend, for the lookups ops make on every call."""

_XP_BY_TYPE: dict = {np.ndarray: np}
"""Array type → namespace: :func:`namespace` in one dict lookup, NumPy's entry first."""

array_types: tuple = ()
"""Every registered array type (for isinstance checks)."""

_LOADERS = {"cuda": (".cuda", "CuPy and an NVIDIA GPU (pip install cupy-cuda12x)")}
"""Device types whose backend lives in an optional module: (module, what it needs)."""


class device:
    """Where a tensor's data lives, as ``torch.device``: ``device("cpu")``,
    ``device("cuda:1")`` or ``device("cuda", 1)``; ``.type`` and ``.index`` (None when
    unspecified)."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - torch's argument name
        if isinstance(type, device):
            if index is not None:
                raise ValueError(f"device {type} already names its index")
            type, index = type.type, type.index
        elif not isinstance(type, str):
            raise TypeError(f"a device is given as a string or a device, not {type!r}")
        else:
            name, sep, number = type.partition(":")
            if sep:
                if index is not None or not number.isdigit():
                    raise ValueError(f"invalid device string {type!r}")
                index = int(number)
            type = name
        known = tuple(_BACKENDS) + tuple(t for t in _LOADERS if t not in _BACKENDS)
        if type not in known:
            raise ValueError(f"unknown device type {type!r}; expected one of {', '.join(known)}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"a device index is a non-negative int, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("a device is immutable")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"

    def __eq__(self, other):
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return device, (self.type, self.index)

    @classmethod
    def _unchecked(cls, type, index=None):  # noqa: A002
        """A device of a type that need not be registered yet (the CPU, made at import)."""
        d = object.__new__(cls)
        object.__setattr__(d, "type", type)
        object.__setattr__(d, "index", index)
        return d


class Backend:
    """One device type's array library. Subclasses set ``name``, ``xp`` and ``array_types``
    and implement the transfers and ``generator``; the defaults fit a library that spells
    everything as NumPy does but reports no floating-point errors."""

    name = ""
    """The device type it serves ("cpu", "cuda")."""
    xp = None
    """The array namespace: NumPy's functions under NumPy's names."""
    array_types: tuple = ()
    """The array types it makes (the keys of the namespace lookup)."""

    def device_of(self, array) -> device:
        """The device ``array`` lives on."""
        return device(self.name)

    def use(self, index):
        """A context in which new arrays are made on device ``index``."""
        return contextlib.nullcontext()

    def to_device(self, host_array, index):
        """A copy of a NumPy array on device ``index``."""
        raise NotImplementedError

    def to_numpy(self, array) -> np.ndarray:
        """A NumPy array with ``array``'s values, on the host."""
        raise NotImplementedError

    def generator(self, seed, index):
        """A new random generator on device ``index`` seeded with ``seed`` (None: entropy). It
        has NumPy Generator's ``random``, ``standard_normal``, ``uniform`` and ``normal``."""
        raise NotImplementedError

    def errstate(self, **kwargs):
        """numpy.errstate's context for this library's floating-point error reports."""
        return contextlib.nullcontext()

    def scatter_add(self, out, indices, values) -> None:
        """out[indices] += values, with repeated indices accumulating (numpy.add.at)."""
        raise NotImplementedError

    def is_writeable(self, array) -> bool:
        """Whether ``array`` may be written in place."""
        return True

    def as_strided(self, array, shape, strides):
        """A view of ``array``'s memory with the given shape and strides, read-only where the
        library can mark it so."""
        return self.xp.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def register(backend: Backend) -> None:
    """Make ``backend`` serve its device type and its arrays."""
    global array_types
    _BACKENDS[backend.name] = backend
    for t in backend.array_types:
        _BY_TYPE[t] = backend
        _XP_BY_TYPE[t] = backend.xp
    array_types = tuple(_BY_TYPE)


def registered() -> tuple:
    """The device types with a backend (loaded so far)."""
    return tuple(_BACKENDS)


def as_device(spec=None) -> device:
    """``spec`` (a device, a string such as "cpu" or "cuda:0", or None for the CPU) as a
    device."""
    if isinstance(spec, device):
        return spec
    return CPU if spec is None else device(spec)


def get(spec=None) -> Backend:
    """The backend of a device (the CPU's for None); a DeviceError naming what is missing
    when the device needs a library or hardware this machine lacks."""
    name = spec.type if isinstance(spec, device) else as_device(spec).type
    backend = _BACKENDS.get(name)
    if backend is None:
        module, needs = _LOADERS[name]
        try:
            importlib.import_module(module, __package__)
        except Exception as exc:  # noqa: BLE001 - ImportError, or CuPy finding no GPU
            raise DeviceError(f"device {name!r} needs {needs}; here: {exc}") from None
        backend = _BACKENDS[name]
    return backend


def _fallback(arrays):
    """The backend of the first array whose type subclasses a registered one, else NumPy's
    (Python numbers, NumPy scalars and ndarray subclasses live on the CPU)."""
    for a in arrays:
        for t, backend in _BY_TYPE.items():
            if isinstance(a, t):
                return backend
    return _BACKENDS["cpu"]


def namespace(*arrays):
    """The array namespace of the first of ``arrays`` that is a backend array (NumPy's when
    none is): ``xp = namespace(x, w)`` at the top of an op."""
    for a in arrays:
        xp = _XP_BY_TYPE.get(type(a))
        if xp is not None:
            return xp
    return _fallback(arrays).xp


def of(*arrays) -> Backend:
    """The Backend of the first of ``arrays`` that is a backend array (the CPU's when none
    is)."""
    for a in arrays:
        backend = _BY_TYPE.get(type(a))
        if backend is not None:
            return backend
    return _fallback(arrays)


def device_of(array) -> device:
    """The device ``array`` lives on."""
    return of(array).device_of(array)


def is_on(array, target: device) -> bool:
    """Whether ``array`` lives on ``target``. A device without an index stands for any of its
    type: "cuda" for the array's GPU, and the CPU's arrays (of no index) are on "cpu:0"."""
    here = of(array).device_of(array)
    return here.type == target.type and (here.index is None or target.index is None
                                         or here.index == target.index)


CPU = device._unchecked("cpu")
"""device("cpu"), the default device."""
