"""Replacements for Keras ``Lambda`` layers, registered by layer name.

A Lambda layer stores marshalled Python bytecode; running it would run whatever the file's author
(or an attacker) put there (CVE-2024-3660), and the bytecode is tied to one CPython version
anyway.  kconvert never unmarshals it.  Instead, as Deeplearning4j's ``registerLambdaLayer``
does, the user names what each Lambda computes, in one of three forms:

* an IR layer config, e.g. ``ir.layers.core.Rescaling(scale=3.0)``;
* a Keras layer config dict, e.g. ``{"class_name": "Rescaling", "config": {"scale": 3.0}}``;
* a callable receiving a :class:`LambdaInfo` and returning either of the above.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Union

from kconvert.ir.layer import LayerConfig

Replacement = Union[LayerConfig, dict, Callable[["LambdaInfo"], Union[LayerConfig, dict]]]

_REGISTRY: dict[str, Replacement] = {}


@dataclass(frozen=True)
class LambdaInfo:
    """What is known about a Lambda layer without running it."""

    name: str
    function_type: str  # "lambda" (bytecode) or "function" (a named Python function)
    function_name: str | None  # for named functions: "module.name"
    code_sha256: str | None  # fingerprint of the opaque bytecode, to check what a replacement replaces
    code_bytes: int
    output_shape: Any
    arguments: dict[str, Any]


def register_lambda(layer_name: str, replacement: Replacement) -> None:
    """Declare what the Lambda layer named ``layer_name`` computes (for every later load)."""
    if not isinstance(replacement, (LayerConfig, dict)) and not callable(replacement):
        raise TypeError("a Lambda replacement is an IR layer config, a Keras layer config dict, or a callable")
    _REGISTRY[layer_name] = replacement


def unregister_lambda(layer_name: str) -> None:
    _REGISTRY.pop(layer_name, None)


def clear_lambdas() -> None:
    _REGISTRY.clear()


def find_replacement(layer_name: str, per_call: dict[str, Replacement]) -> Replacement | None:
    return per_call.get(layer_name, _REGISTRY.get(layer_name))


def describe(name: str, config: dict[str, Any]) -> LambdaInfo:
    """Fingerprint a Lambda config (Keras 1, 2 or 3 encoding) without decoding the code."""
    fn = config.get("function", config.get("mode"))  # Keras 1 Merge keeps its code in "mode"
    function_type = config.get("function_type") or config.get("mode_type") or "lambda"
    function_name = None
    blob: bytes = b""
    if isinstance(fn, dict):  # Keras 3
        inner = fn.get("config")
        if fn.get("class_name") == "__lambda__" and isinstance(inner, dict):
            blob = _blob(inner.get("code"))
        else:
            function_type = "function"
            function_name = ".".join(str(p) for p in (fn.get("module"), inner) if p)
    elif isinstance(fn, (list, tuple)) and fn:  # Keras 1/2: [code, defaults, closure]
        blob = _blob(fn[0])
    elif isinstance(fn, str):
        if function_type == "function":
            function_name = ".".join(str(p) for p in (config.get("module"), fn) if p)
        else:
            blob = _blob(fn)
    import hashlib  # here: only a model with Lambda layers needs it (start-up)

    digest = hashlib.sha256(blob).hexdigest() if blob else None
    args = config.get("arguments") if isinstance(config.get("arguments"), dict) else {}
    return LambdaInfo(name, function_type, function_name, digest, len(blob), config.get("output_shape"),
                      json.loads(json.dumps(args, default=str)))


def _blob(code: Any) -> bytes:
    if not isinstance(code, str):
        return b""
    try:
        return base64.b64decode(code.encode("ascii"), validate=False)
    except (ValueError, UnicodeEncodeError):
        return code.encode("utf-8", "replace")
