"""A test backend, device type "fake": NumPy arrays wrapped in an array type fovea has never
seen, which proves that fovea reaches tensor data only through its backend seam.

``FakeArray`` holds a NumPy array but is not one. As CuPy's arrays do, it refuses to become a
NumPy array implicitly (``__array__`` raises TypeError), NumPy's ufuncs refuse it, and its
``flags`` have no ``writeable``; so any NumPy function applied directly to tensor data, or any
NumPy array mixed into device arithmetic, raises. ``fakenp`` is its namespace: NumPy's names,
with FakeArray arguments unwrapped and array results wrapped (0-d results stay arrays, as
CuPy's reductions do). Host arrays are accepted only by ``asarray``/``array``, which copy them
to the device, as ``cupy.asarray`` does. Its random generator draws NumPy's streams, so seeded
results on "fake" and on "cpu" can be compared.
"""

from __future__ import annotations

import numpy as np

from fovea import backend

_HOST_ARGUMENTS = {"asarray", "array"}
"""The namespace functions that take host arrays (and copy them to the device)."""


def _unwrap(x, host_ok=False):
    """x with every FakeArray replaced by its NumPy array (recursing into lists and tuples); a
    bare NumPy array is a TypeError unless ``host_ok``."""
    if type(x) is FakeArray:
        return x._a
    if isinstance(x, np.ndarray):
        if host_ok:
            return x
        raise TypeError(f"a host (NumPy) array of shape {x.shape} was given where the fake "
                        "device expects device arrays")
    if type(x) in (list, tuple):
        return type(x)(_unwrap(i, host_ok) for i in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, host_ok) for k, v in x.items()}
    return x


def _wrap(r):
    """A NumPy result as device arrays: arrays and NumPy scalars become FakeArrays."""
    if isinstance(r, np.ndarray):
        return FakeArray(r)
    if isinstance(r, np.generic):
        return FakeArray(np.asarray(r))
    if isinstance(r, list):
        return [_wrap(i) for i in r]
    if type(r) is tuple:
        return tuple(_wrap(i) for i in r)
    if isinstance(r, tuple):  # a named tuple, e.g. linalg.qr's
        return type(r)(*(_wrap(i) for i in r))
    return r


def _device_function(fn):
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))

    call.__name__ = getattr(fn, "__name__", "function")
    return call


def _host_to_device(fn):
    """asarray/array: data from the host (a NumPy array, a list) is copied to the device."""
    def call(data, *args, **kwargs):
        if isinstance(data, np.ndarray):
            data = data.copy()
        return _wrap(fn(_unwrap(data, host_ok=True), *_unwrap(args), **_unwrap(kwargs)))

    return call


class _Flags:
    """CuPy's flags: contiguity and ownership, no writeable flag."""

    def __init__(self, flags):
        self.c_contiguous = flags.c_contiguous
        self.f_contiguous = flags.f_contiguous
        self.owndata = flags.owndata


class FakeArray:
    """An array on the fake device: a NumPy array that will not pass for one."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 2000
    __array_ufunc__ = None  # NumPy's ufuncs refuse it, and ndarray ⊕ FakeArray defers to it
    __hash__ = None

    def __init__(self, a):
        assert isinstance(a, np.ndarray)
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a fake-device array to a NumPy array is not "
                        "allowed; use backend.to_numpy")

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ & co. for NumPy to find
            raise AttributeError(name)
        attr = getattr(self._a, name)
        return _device_function(attr) if callable(attr) else _wrap(attr)

    @property
    def flags(self):
        return _Flags(self._a.flags)

    def __repr__(self):
        return f"FakeArray({self._a!r})"

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __getitem__(self, idx):
        return _wrap(self._a[_unwrap(idx)])

    def __setitem__(self, idx, value):
        self._a[_unwrap(idx)] = _unwrap(value)


def _binary(name):
    def method(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))

    method.__name__ = name
    return method


def _in_place(name):
    def method(self, other):
        getattr(self._a, name)(_unwrap(other))
        return self

    method.__name__ = name
    return method


def _unary(name):
    def method(self):
        return _wrap(getattr(self._a, name)())

    method.__name__ = name
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
            "xor"):
    setattr(FakeArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(FakeArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(FakeArray, f"__i{_op}__", _in_place(f"__i{_op}__"))
for _op in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(FakeArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg", "pos", "abs", "invert"):
    setattr(FakeArray, f"__{_op}__", _unary(f"__{_op}__"))


class FakeNamespace:
    """NumPy's functions for FakeArrays (and its submodules: linalg, fft, lib.stride_tricks)."""

    def __init__(self, module):
        self._module = module
        self._cache = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "ndarray":
            return FakeArray
        attr = getattr(self._module, name)
        if isinstance(attr, type(np)):
            return FakeNamespace(attr)
        if isinstance(attr, type) or not callable(attr):  # dtypes, errstate, finfo, inf, …
            return attr
        if name not in self._cache:
            make = _host_to_device if name in _HOST_ARGUMENTS else _device_function
            self._cache[name] = make(attr)
        return self._cache[name]


fakenp = FakeNamespace(np)


class FakeGenerator:
    """A NumPy Generator whose draws land on the fake device."""

    def __init__(self, generator):
        self._gen = generator

    def __getattr__(self, name):
        return _device_function(getattr(self._gen, name))


class FakeBackend(backend.Backend):
    name = "fake"
    xp = fakenp
    array_types = (FakeArray,)

    def to_device(self, host_array, index):
        return FakeArray(np.array(host_array, copy=True))

    def to_numpy(self, array):
        return array._a.copy()

    def generator(self, seed, index):
        return FakeGenerator(np.random.default_rng(seed))

    def errstate(self, **kwargs):
        return np.errstate(**kwargs)

    def scatter_add(self, out, indices, values):
        np.add.at(out._a, _unwrap(indices), _unwrap(values))

    def is_writeable(self, array):
        return array._a.flags.writeable


if "fake" not in backend.registered():
    backend.register(FakeBackend())
FAKE = backend.device("fake")
