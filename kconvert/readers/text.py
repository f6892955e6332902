"""Parsing model configurations from JSON and YAML text, safely.

Nothing here executes anything found in the text:

* JSON goes through :func:`json.loads` without object hooks;
* YAML goes through a :class:`yaml.SafeLoader` subclass that understands only the data-only
  Python tags Keras's ``to_yaml`` emits (``!!python/tuple``, and the Python 2 string and number
  tags) and refuses every other ``!!python/...`` tag -- ``object/apply``, ``name``, ``module``...
  (:mod:`kconvert.readers.yaml_loader`);
* the special encodings of tf.keras JSON (``__tuple__``, ``TensorShape``) are decoded to plain
  lists, while those that stand for runtime objects (``TypeSpec``, ``__ellipsis__``...) are refused.
"""

from __future__ import annotations

import json
from typing import Any

from kconvert.errors import InputReadError
from kconvert.readers.context import Limits

def parse_json(text: str | bytes, where: str, limits: Limits) -> Any:
    if len(text) > limits.max_config_bytes:
        raise InputReadError(f"the configuration is {len(text)} bytes, over the limit of "
                             f"{limits.max_config_bytes}", file=where)
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputReadError("the JSON is nested too deeply", file=where) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputReadError(f"malformed JSON: {exc}", file=where) from None
    return decode_keras_values(data, where, limits)


def parse_yaml(text: str | bytes, where: str, limits: Limits) -> Any:
    if len(text) > limits.max_config_bytes:
        raise InputReadError(f"the configuration is {len(text)} bytes, over the limit of "
                             f"{limits.max_config_bytes}", file=where)
    from kconvert.readers.yaml_loader import load_yaml  # here: PyYAML is a start-up cost JSON and HDF5 need not pay

    data = load_yaml(text, where)
    return decode_keras_values(data, where, limits)


#: (``__ellipsis__`` passes: it is a subscript item of a GetItem/SlicingOpLambda call, read there)
_REFUSED_ENCODINGS = {
    "TypeSpec": "a TensorFlow TypeSpec",
    "CompositeTensor": "a composite (ragged or sparse) tensor value",
    "__bytes__": "a bytes value",
    "__numpy__": "a NumPy array",
}


def decode_keras_values(data: Any, where: str, limits: Limits) -> Any:
    """Turn tf.keras/Keras 3 JSON value encodings into plain lists; check depth and sharing.

    Shared sub-structures (YAML aliases) are decoded once; cycles are refused, and so are aliases
    that expand (a "billion laughs") past what a configuration of ``max_config_bytes`` could hold
    or past ``max_nesting`` levels.
    """
    # id -> (decoded value, expanded number of values, height)
    done: dict[int, tuple[Any, int, int]] = {}
    active: set[int] = set()

    def too_deep(path: str) -> InputReadError:
        return InputReadError(f"the configuration is nested more than {limits.max_nesting} levels "
                              f"deep (at {path or 'top level'})", file=where)

    def walk(value: Any, depth: int, path: str) -> tuple[Any, int, int]:
        if depth > limits.max_nesting:
            raise too_deep(path)
        if not isinstance(value, (dict, list)):
            return value, 1, 0
        key = id(value)
        if key in done:
            if depth + done[key][2] > limits.max_nesting:
                raise too_deep(path)
            return done[key]
        if key in active:
            raise InputReadError(f"the configuration refers to itself (at {path or 'top level'})", file=where)
        active.add(key)
        if isinstance(value, list):
            parts = [walk(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]
            out: Any = [p[0] for p in parts]
        else:
            cls = value.get("class_name")
            if cls in ("__tuple__", "TensorShape") and "items" in value:
                parts = [walk(v, depth + 1, f"{path}.items[{i}]") for i, v in enumerate(value["items"] or [])]
                out = [p[0] for p in parts]
            elif isinstance(cls, str) and cls in _REFUSED_ENCODINGS:
                raise InputReadError(f"the configuration holds {_REFUSED_ENCODINGS[cls]} at "
                                     f"{path or 'top level'}, which kconvert does not read", file=where)
            else:
                items = [(str(k), walk(v, depth + 1, f"{path}.{k}" if path else str(k)))
                         for k, v in value.items() if k != "__passive_serialization__"]
                parts = [p for _, p in items]
                out = {k: p[0] for k, p in items}
        size = 1 + sum(p[1] for p in parts)
        if size > limits.max_config_bytes:
            raise InputReadError(f"the configuration expands (through repeated YAML aliases) to more than "
                                 f"{limits.max_config_bytes} values (at {path or 'top level'})", file=where)
        active.discard(key)
        done[key] = (out, size, 1 + max((p[2] for p in parts), default=0))
        return done[key]

    return walk(data, 0, "")[0]
