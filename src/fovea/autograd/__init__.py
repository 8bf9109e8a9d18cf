"""Reverse-mode automatic differentiation: Tensor, Function, the graph walk, no_grad, gradcheck.

Bottom to top: ``grad_mode`` (whether to record), ``tensor`` (Tensor and the backward walk),
``function`` (Function: applying a primitive records it), ``gradcheck``. The ops that give a
Tensor its operators live one layer up, in :mod:`fovea.ops` (see :mod:`.tensor` for how the
Tensor reaches them).
"""

from .function import Function, unbroadcast
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor, queue_callback

__all__ = ["Function", "GradcheckError", "Tensor", "enable_grad", "gradcheck",
           "is_grad_enabled", "no_grad", "queue_callback", "unbroadcast"]
