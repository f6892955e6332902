"""The runtime: executes the IR with TensorFlow ops (CPU, and GPU when present) to verify
conversions numerically.  TensorFlow is imported only when this package is."""

import os

# TensorFlow's C++ start-up banners (oneDNN, CUDA probing) would bury kconvert's own one-line
# messages; a user's explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kconvert.runtime.device import DeviceError, resolve_device
from kconvert.runtime.executor import Runtime, run

__all__ = ["DeviceError", "Runtime", "resolve_device", "run"]
