"""Tensor's operators and methods are defined in its class (delegating to fovea.ops), so a
program that imports only the Tensor and gradcheck has all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from fovea.autograd import Tensor

PROGRAM = textwrap.dedent("""
    import numpy as np
    from fovea.autograd import Tensor, gradcheck

    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = Tensor(np.ones((3, 2)), requires_grad=True)
    loss = ((a + 1) @ b).sum()
    loss.backward()
    assert loss.item() == 2 * (15 + 6), loss.item()
    assert np.array_equal(a.grad.numpy(), np.full((2, 3), 2.0))
    assert gradcheck(lambda x, y: (x * y + x @ y.T.T).tanh().sum(),
                     [Tensor(np.random.default_rng(0).random((3, 3)), requires_grad=True),
                      Tensor(np.random.default_rng(1).random((3, 3)), requires_grad=True)])["ok"]
    print("ok")
""")


def test_tensor_alone_has_operators_backward_and_gradcheck():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_operators_and_methods_are_written_in_the_class():
    for name in ("__add__", "__radd__", "__matmul__", "__getitem__", "__lt__", "__eq__", "sum",
                 "reshape", "to", "softmax", "max"):
        method = Tensor.__dict__[name]
        assert method.__qualname__ == f"Tensor.{name}", name
    assert isinstance(Tensor.__dict__["T"], property)
