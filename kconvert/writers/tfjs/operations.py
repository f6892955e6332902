"""Functional operations (keras.ops / tf.* nodes) as the companion module's layer classes.

tfjs-layers has no layer for most tensor operations and tf.keras 2 no safe spelling of them, so
what TF.js's rules leave of them (:mod:`kconvert.writers.tfjs.rewrites`: stock layers where they
compute the same) is written as a ``KConvert<kind>`` class of ``kconvert-layers.js``, whose
config holds the IR attributes (tfjs-layers camelCases every key and string value on reading).
"""

from __future__ import annotations

from typing import Any, Callable

from kconvert.ir.graph import Layer
from kconvert.ir.layers.ops import Index

#: the unary operations the companion class computes (the others are stock layers: rewrites.py)
COMPANION_UNARY = ("exp", "sqrt", "cast")
#: the companion module's class names start with this
CLASS_PREFIX = "KConvert"


def _item(item: Index) -> dict[str, Any]:
    return {"what": item.what, "start": item.start, "stop": item.stop, "step": item.step}


_CONFIGS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "BinaryOp": lambda c: {"op": c.op, "constant": c.constant, "constant_first": c.constant_first},
    "UnaryOp": lambda c: {"op": c.op},
    "Reduce": lambda c: {"op": c.op, "axis": list(c.axis), "keepdims": c.keepdims},
    "ExpandDims": lambda c: {"axis": list(c.axis)},
    "Squeeze": lambda c: {"axis": list(c.axis)},
    "GetItem": lambda c: {"items": [_item(i) for i in c.items]},
    "Cumsum": lambda c: {"axis": c.axis},
}
#: operation kinds the companion module has a class for
COMPANION_OPERATIONS = frozenset(_CONFIGS)


def companion_operation(layer: Layer) -> tuple[str, dict[str, Any]] | None:
    """The companion class and config computing ``layer``, or None where the module has none."""
    spell = _CONFIGS.get(layer.kind)
    if spell is None or (layer.kind == "UnaryOp" and layer.config.op not in COMPANION_UNARY):
        return None
    return CLASS_PREFIX + layer.kind, spell(layer.config)
