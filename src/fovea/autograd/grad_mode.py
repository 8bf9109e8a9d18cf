"""Whether operations are recorded for backward: ``no_grad`` and ``enable_grad``, per thread."""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward (False inside ``no_grad``)."""
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set_grad_enabled(self.mode)

    def __exit__(self, *exc):
        _set_grad_enabled(self.prev)
        return False

    def _recreate_cm(self):
        # a fresh instance per decorated call: recursion (or threads) must not share ``prev``
        return type(self)()


class no_grad(_GradMode):
    """Context manager (and decorator, with or without parentheses) in which no graph is
    recorded."""

    mode = False

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        return cls()(func)  # bare @no_grad on a function


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns recording back on inside ``no_grad``."""

    mode = True
