"""Module and Parameter: the containers of layers, with PyTorch's conventions.

A Module registers the Parameters, sub-Modules and buffers assigned to it as attributes, in
order, so that ``state_dict()`` names them with PyTorch's dotted keys ("features.0.weight").
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple

from .. import backend
from ..autograd import Tensor
from ..errors import ShapeError


class Parameter(Tensor):
    """A Tensor that is a module's learnable parameter (requires_grad by default)."""

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = backend.asarray([], dtype=backend.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _as_tensor(value):
    """A buffer value as a Tensor (arrays are wrapped; None stays None)."""
    return value if value is None or isinstance(value, Tensor) else Tensor(value)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_hook_ids = itertools.count()


class RemovableHandle:
    """What ``register_forward_hook``/``register_forward_pre_hook`` return: ``remove()`` takes
    the hook off again (so does leaving it as a context manager)."""

    def __init__(self, hooks: OrderedDict):
        self.hooks, self.id = hooks, next(_hook_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _castable(source, target) -> bool:
    """Whether load_state_dict may cast ``source`` values into a ``target`` array: within one
    kind (float into float, signed or unsigned integer into integer, bool into bool)."""
    kinds = {"f": "f", "i": "iu", "u": "iu", "b": "b"}
    return source.kind in kinds.get(target.kind, "") and (
        source.kind == target.kind or source.kind == "u"
    )


class Module:
    """Base class of layers and models: override ``forward``; call the module to run it."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())  # id -> (hook, with_kwargs)
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ---- registration --------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            store = self._parameters
        elif isinstance(value, Module):
            store = self._modules
        elif name in self.__dict__.get("_buffer_names", ()):
            store, value = self._buffers, _as_tensor(value)
        else:
            store = None
        for other in (self._parameters, self._modules, self._buffers):
            if other is not store:
                other.pop(name, None)
        if store is None:
            object.__setattr__(self, name, value)
            return
        store[name] = value  # a name assigned again keeps its place (and state_dict order)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param) -> None:
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """A non-learnable state tensor saved in state_dict (e.g. running statistics)."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = _as_tensor(tensor)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        self._modules[name] = module

    # ---- traversal -----------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) pairs, pre-order from self; a module reached twice is yielded once
        unless ``remove_duplicate`` is False (as state_dict needs for shared modules)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if mod is None or (remove_duplicate and id(mod) in seen):
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, mod in mods:
            for pname, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, mod in mods:
            for bname, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    # ---- modes ----------------------------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(backend.namespace(p.grad.data).zeros_like(p.grad.data))

    def apply(self, fn):
        """Call ``fn`` on every submodule, children before their parent (PyTorch's order)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs):
        """Move parameters, their gradients and buffers to a device and/or convert the
        floating ones to a dtype, in place, as ``torch.nn.Module.to``: ``to(device)``,
        ``to(dtype)``, ``to(device, dtype)`` or keywords. Returns the module."""
        device, dtype = backend.to_args(*args, **kwargs)
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    if dtype is not None and t.data.dtype.kind == "f":
                        t.data = t.data.astype(dtype)
                    if device is not None:
                        t.data = backend.to_device(t.data, device)
                        if t.grad is not None:
                            t.grad.data = backend.to_device(t.grad.data, device)
        return self

    def cpu(self):
        return self.to(backend.CPU)

    def double(self):
        return self.to(backend.float64)

    def float(self):
        return self.to(backend.float32)

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by PyTorch's dotted names (sharing memory)."""
        out = OrderedDict()
        for mname, mod in self.named_modules(remove_duplicate=False):
            for pname, p in mod._parameters.items():
                if p is not None:
                    out[f"{mname}.{pname}" if mname else pname] = p.detach()
            for bname, b in mod._buffers.items():
                if b is not None and bname not in mod._non_persistent:
                    out[f"{mname}.{bname}" if mname else bname] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into parameters and buffers by name; returns missing/unexpected keys.

        With ``strict`` any missing or unexpected key raises KeyError. A shape mismatch always
        raises ShapeError naming the key. Values may be Tensors or arrays; a value is cast only
        within its kind (float64 into a float32 parameter, int32 into an int64 buffer): a
        complex, bool, integer or object value for a float parameter raises TypeError naming
        the key.
        """
        own = {}
        for mname, mod in self.named_modules(remove_duplicate=False):
            for store in (mod._parameters, mod._buffers):
                for name, t in store.items():
                    if t is not None and not (store is mod._buffers
                                              and name in mod._non_persistent):
                        own[f"{mname}.{name}" if mname else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        arrays = {}
        for key, target in own.items():  # check every shape before changing anything
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = backend.to_device(value.data if isinstance(value, Tensor) else value,
                                    target.device)
            if tuple(arr.shape) != tuple(target.shape):
                raise ShapeError(
                    f"load_state_dict: {key} has shape {tuple(arr.shape)} in the state dict "
                    f"but {tuple(target.shape)} in the model"
                )
            if not _castable(arr.dtype, target.dtype):
                raise TypeError(
                    f"load_state_dict: {key} is {arr.dtype} in the state dict but "
                    f"{target.dtype} in the model; only a cast within one kind is safe"
                )
            arrays[key] = arr
        for key, arr in arrays.items():
            target = own[key]
            xp = backend.namespace(target.data)
            if backend.is_writeable(target.data):  # in place, so views of the old data see it
                xp.copyto(target.data, arr, casting="same_kind")
            else:
                target.data = xp.array(arr, dtype=target.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ---- calling --------------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook, with_kwargs in tuple(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           "(new_args, new_kwargs)")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in tuple(self._forward_hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``, as PyTorch: a non-None result
        replaces the positional arguments (a single value is wrapped in a tuple). With
        ``with_kwargs`` it is ``hook(module, args, kwargs)`` and may return (args, kwargs)."""
        return _add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``, as PyTorch: a non-None
        result replaces the output. With ``with_kwargs`` it is ``hook(module, args, kwargs,
        output)``. Hooks run in registration order (``prepend`` puts this one first)."""
        return _add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self._modules.items())
        if not children:
            return lines[0] + ")"
        for name, m in children:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _add_hook(hooks: OrderedDict, hook, prepend: bool, with_kwargs: bool) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = (hook, bool(with_kwargs))
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class Sequential(Module):
    """Modules applied in order; indexable, named "0", "1", … as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):  # keeps the names, as PyTorch: model[2:] has "2.weight"
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules registered under "0", "1", …"""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
