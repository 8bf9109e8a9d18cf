"""fovea.onnx: ONNX export under the name the issue and the docs use (``fovea.onnx.export``);
the implementation is :mod:`fovea.onnx_export` (named so it never shadows the ``onnx`` package
inside fovea's own modules)."""

from .onnx_export import ExportError, build, compare_onnxruntime, export, register_exporter

__all__ = ["export", "build", "compare_onnxruntime", "register_exporter", "ExportError"]
