"""Module forward hooks (register_forward_pre_hook / register_forward_hook) behave as PyTorch's:
the same calls in the same order with the same arguments, the same replaced inputs and
outputs, and handles that remove them."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea import nn

torch = pytest.importorskip("torch")


def pair(rng):
    """A fovea and a torch Sequential(Linear(4, 3), Tanh()) with the same weights."""
    ours = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    w, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    ours[0].weight.data[...], ours[0].bias.data[...] = w, b
    with torch.no_grad():
        theirs[0].weight.copy_(torch.from_numpy(w))
        theirs[0].bias.copy_(torch.from_numpy(b))
    return ours, theirs


def values(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.data)


def install(model, log):
    """The same hooks on a fovea or a torch model; returns their handles."""
    linear = model[0]

    def pre_double(m, args):  # a single value: wrapped in a tuple
        log.append(("pre_double", type(m).__name__, len(args)))
        return args[0] * 2

    def pre_log(m, args):
        log.append(("pre_log", values(args[0]).round(5).tolist()))

    def pre_kwargs(m, args, kwargs):
        log.append(("pre_kwargs", sorted(kwargs)))
        return (args[0] + 1,), kwargs

    def post_add(m, args, output):
        log.append(("post_add", values(args[0]).round(5).tolist()))
        return output + 0.5

    def post_kwargs(m, args, kwargs, output):
        log.append(("post_kwargs", values(output).round(5).tolist()))

    return [
        linear.register_forward_pre_hook(pre_log),
        linear.register_forward_pre_hook(pre_double, prepend=True),
        linear.register_forward_pre_hook(pre_kwargs, with_kwargs=True),
        linear.register_forward_hook(post_add),
        linear.register_forward_hook(post_kwargs, with_kwargs=True, prepend=True),
        model.register_forward_hook(lambda m, args, out: log.append(("model", len(args)))),
    ]


def assert_same_log(ours, theirs):
    """The same hook calls in the same order, with values equal to float32 precision (rounding
    both to 5 decimals can still differ by one in the last place)."""
    assert [e[0] for e in ours] == [e[0] for e in theirs]
    for a, b in zip(ours, theirs):
        assert len(a) == len(b), a[0]
        for x, y in zip(a[1:], b[1:]):
            if isinstance(x, list) and x and not isinstance(x[0], str):
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=2e-5, err_msg=a[0])
            else:
                assert x == y, a[0]


def test_hooks_match_pytorch(rng):
    ours, theirs = pair(rng)
    x = rng.normal(size=(2, 4)).astype(np.float32)
    ours_log, theirs_log = [], []
    ours_handles, theirs_handles = install(ours, ours_log), install(theirs, theirs_log)
    got, want = ours(fovea.tensor(x)), theirs(torch.from_numpy(x))
    np.testing.assert_allclose(values(got), values(want), rtol=1e-5, atol=1e-6)
    assert_same_log(ours_log, theirs_log)
    assert [e[0] for e in ours_log] == ["pre_double", "pre_log", "pre_kwargs", "post_kwargs",
                                        "post_add", "model"]

    for h in ours_handles[:3] + ours_handles[4:]:  # only post_add stays
        h.remove()
    for h in theirs_handles[:3] + theirs_handles[4:]:
        h.remove()
    ours_log.clear(), theirs_log.clear()
    got, want = ours(fovea.tensor(x)), theirs(torch.from_numpy(x))
    np.testing.assert_allclose(values(got), values(want), rtol=1e-5, atol=1e-6)
    assert_same_log(ours_log, theirs_log)
    assert [e[0] for e in ours_log] == ["post_add"]
    ours_handles[3].remove()
    ours_handles[3].remove()  # removing twice is harmless, as in PyTorch
    plain = nn.Sequential(*ours)
    np.testing.assert_allclose(values(ours(fovea.tensor(x))), values(plain(fovea.tensor(x))))


def test_handle_as_context_manager_and_bad_pre_hook_result(rng):
    ours, _ = pair(rng)
    x = fovea.tensor(rng.normal(size=(2, 4)).astype(np.float32))
    plain = values(ours(x))
    with ours.register_forward_hook(lambda m, args, out: out * 0):
        assert not values(ours(x)).any()
    np.testing.assert_array_equal(values(ours(x)), plain)
    with ours.register_forward_pre_hook(lambda m, args, kwargs: args, with_kwargs=True):
        with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
            ours(x)
    assert not ours._forward_pre_hooks and not ours._forward_hooks
