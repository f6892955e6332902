"""Choosing where the runtime computes: CPU, a given GPU, or the best available."""

from __future__ import annotations

import re

from kconvert.errors import KConvertError


class DeviceError(KConvertError):
    """A device was asked for that this machine does not have."""


def resolve_device(device: str | None) -> str:
    """``"cpu"``, ``"gpu"``, ``"gpu:1"`` or ``None``/``"auto"`` -> a TensorFlow device string."""
    from kconvert.runtime.quiet_start import tf

    gpus = tf.config.list_logical_devices("GPU")
    spec = (device or "auto").strip().lower()
    if spec == "auto":
        return "/GPU:0" if gpus else "/CPU:0"
    if spec == "cpu":
        return "/CPU:0"
    match = re.fullmatch(r"gpu(?::(\d+))?", spec)
    if not match:
        raise DeviceError(f"unknown device {device!r}; use 'cpu', 'gpu', 'gpu:N' or 'auto'")
    index = int(match.group(1) or 0)
    if index >= len(gpus):
        found = f"{len(gpus)} GPU(s)" if gpus else "no GPU"
        raise DeviceError(f"device {device!r} was asked for, but TensorFlow sees {found} on this machine")
    return f"/GPU:{index}"
