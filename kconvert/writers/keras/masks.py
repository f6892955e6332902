"""Padding masks between the Keras 3 graph form and the tf.keras 2 implicit form.

Keras 3 records the mask an ``Embedding(mask_zero=True)`` produces as an operation
(``NotEqual(ids, 0)``) passed to later layers as an explicit ``mask`` argument; tf.keras 2
configs have no such argument, its layers pass masks along implicitly.  An explicit mask that
is exactly the one implicit propagation delivers can be left out, and the operation with it.
"""

from __future__ import annotations

from kconvert.ir.graph import Call, Model, TensorRef


def is_implicit(model: Model, call: Call) -> bool:
    """Whether ``call``'s explicit mask is ``ids != 0`` for the ids of an ``Embedding(mask_zero)``
    whose output reaches the call's first input through layers that pass the mask along."""
    mask = call.kwargs.get("mask")
    if not isinstance(mask, TensorRef) or not call.inputs:
        return False
    producer = model.layer(mask.layer)
    if producer.kind != "NotEqual" or producer.config.value != 0:
        return False
    ids = producer.calls[mask.node].inputs[0]
    ref = call.inputs[0]
    while True:
        layer = model.layer(ref.layer)
        if layer.kind == "Embedding" and layer.config.mask_zero:
            return layer.calls[ref.node].inputs[0] == ids
        passes = layer.config.passes_mask or (
            layer.config.recurrent and layer.config.return_sequences and ref.index == 0)
        if not passes or not layer.calls:
            return False
        upstream = layer.calls[ref.node]
        if "mask" in upstream.kwargs and upstream.kwargs["mask"] != mask:
            return False
        ref = upstream.inputs[0]


def mask_operations(model: Model) -> set[str]:
    """The layers that only compute masks which implicit propagation delivers anyway."""
    operations = {layer.name for layer in model.layers if layer.kind == "NotEqual"}
    for layer in model.layers:
        for call in layer.calls:
            operations -= {ref.layer for ref in call.inputs}  # used as data
            mask = call.kwargs.get("mask")
            if mask is not None and not is_implicit(model, call):
                operations -= {ref.layer for ref in ([mask] if isinstance(mask, TensorRef) else mask)}
    operations -= {ref.layer for ref in model.outputs}
    return operations


def explicit_mask(model: Model, call: Call) -> bool:
    """Whether a call passes a mask that tf.keras 2 configs cannot express."""
    return call.kwargs.get("mask") is not None and not is_implicit(model, call)
