"""Documents (configs, manifests) as JSON or YAML text."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (from HDF5 attributes) as their Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(document: Any, indent: int | None = None) -> str:
    """Strict JSON (no NaN or infinities, which JSON parsers such as TF.js's reject)."""
    try:
        return json.dumps(document, indent=indent, allow_nan=False, default=_plain,
                          separators=(",", ":") if indent is None else None)
    except ValueError as exc:
        raise IncompatibleKerasConfigurationException(
            f"the configuration holds a value JSON cannot represent ({exc})") from None


def yaml_text(document: Any) -> str:
    """YAML with plain tags only (safe to read back with any safe loader)."""
    import yaml  # here: every writer imports this module, and only YAML output needs it (start-up)

    return yaml.safe_dump(json.loads(json_text(document)), sort_keys=False, default_flow_style=False)
