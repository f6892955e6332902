"""Padding masks in TF.js: which masked models tfjs-layers runs as Keras does.

tfjs-layers keeps one mask for the whole forward pass: once a layer produces a mask, every layer
run after it that reads masks receives that mask, whether Keras would give it one or not.  Its
merge layers and GlobalAveragePooling1D mishandle masks, a masked Bidirectional with
``return_sequences`` carries outputs forward where Keras writes zeros, and nested models drop
masks.  So a model with a mask source is written only when a single source's mask reaches
exactly the layers that read masks, through layers that pass it on unchanged in both.
"""

from __future__ import annotations

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Layer, Model, TensorRef

#: kinds besides recurrent ones whose output depends on the mask they receive (in Keras or in tfjs-layers)
_READERS = frozenset({"Bidirectional", "Softmax", "GlobalAveragePooling1D", "Add", "Multiply", "Average",
                         "Maximum", "Minimum", "Concatenate", "Dot", "Model", "MultiHeadAttention"})


def is_mask_source(layer: Layer) -> bool:
    return layer.kind == "Masking" or (layer.kind == "Embedding" and layer.config.mask_zero)


def _reads_masks(layer: Layer) -> bool:
    if layer.kind == "TimeDistributed":
        return _reads_masks(layer.config.layer)
    return layer.config.recurrent or layer.kind in _READERS


def check_masks(model: Model) -> None:
    """Refuse a masked model tfjs-layers would compute differently (see the module docstring)."""
    sources = [layer for layer in model.iter_layers() if is_mask_source(layer)]
    if not sources:
        return
    if len(sources) > 1:
        raise _refuse(sources[1], f"the model has {len(sources)} mask sources ({', '.join(s.name for s in sources)}); "
                      "TF.js applies the last mask computed to every layer after it")
    source = sources[0]
    if source not in model.layers:
        raise _refuse(source, "a mask source inside a nested model or wrapper: TF.js does not propagate masks out "
                      "of nested models")
    before = _ancestors(model, source)  # run before the source in any order: they see no mask in TF.js either
    masked: set[tuple[str, int, int]] = set()
    for layer, node in model.nodes():
        call = layer.calls[node]
        explicit_none = "mask" in call.kwargs and call.kwargs["mask"] is None
        receives = not explicit_none and any(_key(ref) in masked for ref in call.inputs)
        if layer is source:
            masked.add((layer.name, node, 0))
            continue
        if _reads_masks(layer) and not receives and (layer.name, node) not in before:
            raise _refuse(layer, f"TF.js would apply the padding mask of '{source.name}' here, where Keras applies "
                          "none")
        if not receives:
            continue
        if layer.config.recurrent:
            if layer.config.zero_output_for_mask and layer.config.return_sequences:
                raise _refuse(layer, "zero_output_for_mask: TF.js repeats the last output at masked steps")
            if layer.config.return_sequences:
                masked.add((layer.name, node, 0))
        elif layer.kind == "Bidirectional":
            if layer.config.forward.config.return_sequences:
                raise _refuse(layer, "a masked Bidirectional with return_sequences: TF.js repeats the last output at "
                              "masked steps where Keras writes zeros")
        elif layer.config.passes_mask and not _reads_masks(layer):
            masked.add((layer.name, node, 0))
        elif _reads_masks(layer):
            raise _refuse(layer, "TF.js mishandles the padding mask this layer receives")


def _ancestors(model: Model, layer: Layer) -> set[tuple[str, int]]:
    """The calls every call of ``layer`` depends on."""
    seen: set[tuple[str, int]] = set()
    stack = [ref for call in layer.calls for ref in call.refs()]
    while stack:
        ref = stack.pop()
        key = (ref.layer, ref.node)
        owner = model.layer(ref.layer)
        if key in seen or not owner.calls:
            continue
        seen.add(key)
        stack.extend(owner.calls[ref.node].refs())
    return seen


def _key(ref: TensorRef) -> tuple[str, int, int]:
    return (ref.layer, ref.node, ref.index)


def _refuse(layer: Layer, reason: str) -> IncompatibleKerasConfigurationException:
    return layer.context_error(IncompatibleKerasConfigurationException(  # type: ignore[return-value]
        f"TF.js masks differently from Keras: {reason}"))
