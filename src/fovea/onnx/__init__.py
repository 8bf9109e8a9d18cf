"""Export a fovea model to ONNX: ``fovea.onnx.export(model, example_input, path, opset=17)``.

Four steps, one module each:

- :mod:`~fovea.onnx.trace` runs the model once on the example input, in eval mode and
  without gradients, recording every module call (which module, on which tensor, giving
  which tensor, the calls inside it) with forward hooks;
- :mod:`~fovea.onnx.graph` writes the record as ONNX nodes: a container (Sequential, LeNet5,
  VGG, ResNet's blocks, a user's own module) is followed through the data flow of its calls;
- :mod:`~fovea.onnx.exporters` holds the writer of each known module type (Conv2d, Linear,
  the poolings, the norms, the activations, …); :func:`register_exporter` adds one;
- :mod:`~fovea.onnx.runtime` checks a graph against the model with onnxruntime.

Dropout is the identity and BatchNorm uses its running statistics (the eval-mode network).
The graph has one input, "input", of the example's shape with a dynamic batch dimension
("batch"), and one output, "logits". The model's own preprocessing (a run's normalization or
whitening) is not part of the graph: feed it preprocessed input. What cannot be exported
exactly raises :class:`ExportError` naming the module, never a silently wrong graph.

``onnx`` (``pip install onnx``) and ``onnxruntime`` are optional and imported only when a
graph is built or checked, so ``import fovea`` never needs them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ExportError
from ..serialization import atomic_write_bytes
from .exporters import EXPORTERS, register_exporter
from .graph import DEFAULT_OPSET, MIN_OPSET, serialize
from .runtime import compare_onnxruntime

__all__ = ["export", "build", "serialize", "compare_onnxruntime", "register_exporter",
           "ExportError", "EXPORTERS", "DEFAULT_OPSET", "MIN_OPSET"]


def build(model, example_input, opset: int = DEFAULT_OPSET):
    """The ONNX ModelProto of ``model`` traced on ``example_input`` (checked, not written)."""
    return serialize(model, example_input, opset)[0]


def export(model, example_input, path, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically); returns the path.

    ``example_input`` (a Tensor or array (N, C, H, W); use realistic, non-constant values:
    the tracer recognizes the steps between submodules by their values) is run once through
    the model in eval mode to trace it; the graph's input "input" has its shape with a
    dynamic batch dimension, the output is "logits". Dropout is the identity, BatchNorm uses
    its running statistics; the model's training flags are restored afterwards. Raises
    :class:`ExportError` (a FoveaError) naming the first module it cannot export, with its
    dotted path.
    """
    _, data = serialize(model, example_input, opset)
    return atomic_write_bytes(path, data)
