"""Exceptions fovea raises on bad input.

Every error a user can cause derives from :class:`FoveaError`, so the command-line tool can
print its message on one line and exit non-zero without a traceback.
"""


class FoveaError(Exception):
    """Base class of the errors fovea raises for bad input."""


class ShapeError(FoveaError, ValueError):
    """Arrays whose shapes do not fit the operation; the message names the shapes."""


class DataError(FoveaError):
    """A data file that is missing, truncated, corrupt or fails its checksum; names the file."""


class CheckpointError(FoveaError):
    """A run directory or checkpoint that cannot be read."""


class ExportError(FoveaError, ValueError):
    """A model (or a module in it) the ONNX exporter cannot write; the message names it."""


class DataArgumentError(FoveaError, ValueError):
    """A bad argument to the data layer: an unknown dataset name or split, a bad batch size."""


class DeviceError(FoveaError, RuntimeError):
    """A device this machine cannot provide (e.g. "cuda" without CuPy or a GPU); names what is
    missing."""


class TrainingDiverged(FoveaError):
    """Training stopped because the loss or the weights stopped being finite (a learning rate
    too large); the message says which epoch and what was kept."""
