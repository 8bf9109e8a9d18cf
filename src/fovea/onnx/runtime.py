"""The check of an exported graph: onnxruntime's output against the model's own."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..errors import ExportError
from .trace import as_input, values


def compare_onnxruntime(onnx_model, model, example_input) -> float:
    """Run ``onnx_model`` (a file's path, its bytes or a ModelProto) with onnxruntime and the
    model (eval mode, no grad) on ``example_input``; the largest absolute difference of their
    outputs relative to the model's largest absolute output. Needs onnxruntime
    (``pip install onnxruntime``)."""
    try:
        import onnxruntime as ort  # optional: only this check needs it
    except ImportError:
        raise ExportError("checking an ONNX file needs onnxruntime (pip install "
                          "onnxruntime)") from None
    x = as_input(example_input, model)
    if hasattr(onnx_model, "SerializeToString"):
        onnx_model = onnx_model.SerializeToString()
    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    where = "the ONNX model" if isinstance(onnx_model, bytes) else str(onnx_model)
    try:
        session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"{where}: onnxruntime cannot load it ({exc})") from None
    (got,) = session.run(["logits"], {"input": values(x).astype(np.float32)})
    training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            want = values(model(x)).astype(np.float32)
    finally:
        for m, mode in training:
            m.training = mode
    if got.shape != want.shape:
        raise ExportError(f"{where}: onnxruntime gives shape {got.shape}, the model "
                          f"{want.shape}")
    scale = max(float(np.max(np.abs(want))), 1e-12) if want.size else 1.0
    return float(np.max(np.abs(got - want))) / scale if want.size else 0.0
