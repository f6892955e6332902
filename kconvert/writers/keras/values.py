"""IR values (initializers, regularizers, constraints) in Keras's serialized form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kconvert.ir.graph import Layer

if TYPE_CHECKING:
    from kconvert.writers.keras.dialect import Keras2Dialect

#: the Keras argument prefix of each canonical weight name (kernel_initializer, recurrent_regularizer...)
WEIGHT_PREFIXES = {"recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise", "pointwise_kernel": "pointwise"}


def weight_settings(layer: Layer, dialect: Keras2Dialect) -> dict[str, Any]:
    """``kernel_initializer``, ``bias_regularizer``... for the settings the layer carries."""
    out: dict[str, Any] = {}
    for weight, settings in layer.weight_settings.items():
        prefix = WEIGHT_PREFIXES.get(weight, weight)
        for family, value in (("initializer", settings.initializer), ("regularizer", settings.regularizer),
                              ("constraint", settings.constraint)):
            if value is not None:
                out[f"{prefix}_{family}"] = dialect.obj(family, value.name, dict(value.config))
    if layer.activity_regularizer is not None:
        value = layer.activity_regularizer
        out["activity_regularizer"] = dialect.obj("regularizer", value.name, dict(value.config))
    return out
