"""The runtime: executes the IR with TensorFlow ops (CPU, and GPU when present) to verify
conversions numerically.  TensorFlow is imported only when the runtime itself is first used, so
that asking what it covers (:mod:`kconvert.runtime.inventory`) starts nothing."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kconvert.runtime.device import DeviceError, resolve_device
    from kconvert.runtime.executor import Runtime, run

_LAZY = {"DeviceError": "kconvert.runtime.device", "resolve_device": "kconvert.runtime.device",
         "Runtime": "kconvert.runtime.executor", "run": "kconvert.runtime.executor"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kconvert.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = ["DeviceError", "Runtime", "resolve_device", "run"]
