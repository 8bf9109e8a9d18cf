"""Shared test helpers (importable as ``helpers`` from the test files)."""


def lenet(lib):
    """LeNet-5 as one Sequential, built from ``fovea.nn`` or ``torch.nn`` alike."""
    return lib.Sequential(
        lib.Conv2d(1, 6, 5, padding=2), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(6, 16, 5), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(),
        lib.Linear(400, 120), lib.ReLU(),
        lib.Linear(120, 84), lib.ReLU(),
        lib.Linear(84, 10),
    )


def assert_close(actual, expected, rtol=1e-4, what="value"):
    """max |actual − expected| ≤ rtol · max(1, max |expected|), compared in float64."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return
    err = np.max(np.abs(actual - expected))
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert err <= rtol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g})"


def assert_steps_leave_grads(model, optimizer, steps=3):
    """Step ``optimizer`` on the model's current gradients: every ``p.grad`` stays the same
    array with the same values, and no optimizer state shares its memory."""
    import numpy as np

    grads = [p.grad.data for p in model.parameters()]
    copies = [g.copy() for g in grads]
    for _ in range(steps):  # the same grads, stepped on repeatedly (momentum buffers grow)
        optimizer.step()
    for p, g, c in zip(model.parameters(), grads, copies):
        assert p.grad.data is g
        np.testing.assert_array_equal(g, c)
        for v in optimizer.state.get(id(p), {}).values():
            if hasattr(v, "shape"):
                assert not np.shares_memory(v, g)


def assert_continues_torch_state(torch, name, kwargs, fmod, tmod, fovea_step, torch_step,
                                 rtol):
    """Five steps of ``torch.optim.<name>``; its state_dict (tensors as arrays) loaded into
    ``fovea.optim.<name>`` on the same weights continues the same trajectory: the next five
    steps agree within ``rtol``, in float32. ``fovea_step(model, opt)`` and
    ``torch_step(model, opt)`` take one step and return the parameters as arrays."""
    import numpy as np

    from fovea import optim

    topt = getattr(torch.optim, name)(tmod.parameters(), **kwargs)
    for _ in range(5):
        torch_step(tmod, topt)
    tsd = topt.state_dict()
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    fopt = getattr(optim, name)(fmod.parameters(), **kwargs)
    fopt.load_state_dict({
        "state": {i: {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
                  for i, s in tsd["state"].items()},
        "param_groups": tsd["param_groups"],
    })
    for _ in range(5):
        for a, b in zip(fovea_step(fmod, fopt), torch_step(tmod, topt)):
            assert a.dtype == np.float32
            assert_close(a, b, rtol)


MISSING_ORACLE = "oracle missing"
"""The reason prefix of :func:`skip_missing`, which conftest turns into a failure when
FOVEA_REQUIRE_ORACLES=1."""


def skip_missing(what):
    """Skip the test: the reference ``what`` (not an importable module) is absent."""
    import pytest

    pytest.skip(f"{MISSING_ORACLE}: {what}")


def kill_and_resume(train_args, tmp_path, killed_when, settle=0.0, timeout=300):
    """Run ``fovea train *train_args`` twice, into tmp_path/full and tmp_path/killed; SIGKILL
    the second once ``killed_when(checkpoint.json's content)`` holds (and ``settle`` seconds
    more), resume it with ``--resume`` and let both finish. Returns (full, killed, the
    checkpoint.json content at the kill)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def train(args):
        return subprocess.Popen([sys.executable, "-m", "fovea.cli", "train", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    full, killed = tmp_path / "full", tmp_path / "killed"
    ref = train([*train_args, "--out", str(full)])
    victim = train([*train_args, "--out", str(killed)])
    pointer = killed / "checkpoint.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if killed_when(json.loads(pointer.read_text())):
                break
        except (OSError, ValueError, KeyError):  # not written yet, or being replaced
            pass
        time.sleep(0.005)
    time.sleep(settle)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    at_kill = json.loads(pointer.read_text())
    resumed = train(["--resume", str(killed)])
    _, err = resumed.communicate(timeout=timeout)
    assert resumed.returncode == 0, err
    _, err = ref.communicate(timeout=timeout)
    assert ref.returncode == 0, err
    return full, killed, at_kill


def fovea_in_process(capsys, *args):
    """Run ``fovea ARGS`` in this process (``fovea.cli.main``): exit code, stdout, stderr
    (argparse errors included)."""
    from fovea.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
