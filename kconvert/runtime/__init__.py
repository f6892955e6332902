"""The runtime: executes the IR with TensorFlow ops (CPU, and GPU when present) to verify
conversions numerically.  TensorFlow is imported only when this package is."""

from kconvert.runtime.device import DeviceError, resolve_device
from kconvert.runtime.executor import Runtime, run

__all__ = ["DeviceError", "Runtime", "resolve_device", "run"]
