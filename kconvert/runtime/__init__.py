"""The runtime: executes the IR with TensorFlow ops (CPU, and GPU when present) to verify
conversions numerically.  TensorFlow is imported only when the runtime itself is first used, so
that asking what it covers (:mod:`kconvert.runtime.inventory`) starts nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kconvert.lazy import lazy_attributes

if TYPE_CHECKING:
    from kconvert.runtime.device import DeviceError, resolve_device
    from kconvert.runtime.executor import Runtime
    from kconvert.runtime.reuse import run

__getattr__, __dir__ = lazy_attributes(__name__, {
    "DeviceError": "kconvert.runtime.device:DeviceError", "resolve_device": "kconvert.runtime.device:resolve_device",
    "Runtime": "kconvert.runtime.executor:Runtime", "run": "kconvert.runtime.reuse:run"})

__all__ = ["DeviceError", "Runtime", "resolve_device", "run"]
