"""Keras padding masks written for Deeplearning4j: a ``Masking`` layer, or an ``Embedding(mask_zero=True)``,
read by an LSTM or SimpleRNN returning its last step becomes DL4J's ``MaskZeroLayer`` around that layer.

What each runtime computes (measured in DL4J 1.0.0-M2.1 against Keras 3, ``tests/test_dl4j_masks.py``):
``MaskZeroLayer`` masks the steps whose features all equal its ``maskingValue`` (NWC: it permutes for a
recurrent layer of that format), and DL4J's LSTM and SimpleRnn then zero their state and output at every
masked step, where Keras carries the state and the last output over it.  ``LastTimeStep`` takes each
example's last unmasked step.  So:

* the last step equals Keras's for padded sequences (masked steps before and/or after the unmasked ones:
  ``pad_sequences``' ``pre`` and ``post``); a masked step *between* unmasked ones resets DL4J's state
  where Keras keeps it, so that input alone differs (the report says so);
* with ``return_sequences``, DL4J outputs zeros at a trailing masked step where Keras repeats the last
  output: refused.

DL4J derives no mask from token ids, so an ``Embedding(mask_zero=True)`` has row 0 of its embeddings
written as :data:`SENTINEL` (that row is read only at masked steps, which the recurrent layer skips) and
the ``MaskZeroLayer`` masks the steps equal to it.  A ``Masking`` layer is dropped: the recurrent layer
reads its input, masked on ``mask_value`` (Keras's zeroing of masked steps is never read).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers.core import Embedding, Masking
from kconvert.ir.weights import Weight
from kconvert.writers.context import WriteContext

#: the embedding row 0 is written as (every feature), so that DL4J's MaskZeroLayer finds the masked ids
SENTINEL = -1.0e4
#: the recurrent kinds written inside a MaskZeroLayer (DL4J's BaseRecurrentLayer subclasses kconvert writes)
MASKED_KINDS = ("LSTM", "SimpleRNN")
_INTERIOR = ("exact for padded sequences (masked steps before and/or after the unmasked ones); a masked step "
             "between unmasked ones resets DL4J's state and output to zero where Keras carries them over it")


def _refuse(layer: Layer, message: str) -> IncompatibleKerasConfigurationException:
    return layer.context_error(IncompatibleKerasConfigurationException(  # type: ignore[return-value]
        f"{message}: Deeplearning4j cannot express it", key="mask"))


def _makes_mask(layer: Layer) -> bool:
    return isinstance(layer.config, Masking) or (isinstance(layer.config, Embedding) and layer.config.mask_zero)


def masked_recurrent(model: Model, ctx: WriteContext) -> tuple[Model, dict[str, float]]:
    """``model`` without its Masking layers and with its masking Embeddings' row 0 set to :data:`SENTINEL`,
    and the masking value of each recurrent layer to write inside a MaskZeroLayer; refuses every mask
    another layer would read."""
    readers: dict[str, list[Layer]] = {}
    for layer in model.layers:
        for call in layer.calls:
            for ref in call.refs():
                readers.setdefault(ref.layer, []).append(layer)
    outputs = {ref.layer for ref in model.outputs}
    masks: dict[str, float] = {}
    dropped: dict[str, TensorRef] = {}
    embeddings: dict[str, Layer] = {}
    for layer in model.layers:
        if not _makes_mask(layer):
            continue
        what = "Masking" if isinstance(layer.config, Masking) else "Embedding(mask_zero=True)"
        consumers = readers.get(layer.name, [])
        if layer.name in outputs or len(consumers) != 1 or len(layer.calls) != 1:
            raise _refuse(layer, f"a {what} whose mask is not read by exactly one recurrent layer (DL4J masks "
                          "only inside a MaskZeroLayer around a recurrent layer)")
        (rnn,) = consumers
        if rnn.kind not in MASKED_KINDS or rnn.calls[0].kwargs or len(rnn.calls[0].inputs) != 1:
            raise _refuse(layer, f"a {what} read by {rnn.kind} '{rnn.name}' (DL4J masks only inside a MaskZeroLayer "
                          f"around an LSTM or SimpleRnn called on the sequence alone)")
        if rnn.config.return_sequences:
            raise _refuse(rnn, f"{rnn.kind} with return_sequences reading the mask of {what} '{layer.name}' (DL4J "
                          "outputs zeros at a trailing masked step where Keras repeats the last output, and resets "
                          "its state at a masked step between unmasked ones)")
        if isinstance(layer.config, Masking):
            masks[rnn.name] = float(layer.config.mask_value)
            dropped[layer.name] = layer.calls[0].inputs[0]
        else:
            masks[rnn.name] = SENTINEL
            embeddings[layer.name] = layer
        ctx.note("rewritten", f"the mask of {what} '{layer.name}' written as a MaskZeroLayer around {rnn.kind} "
                 f"'{rnn.name}': {_INTERIOR}", layer=rnn.name, severity="warning")
    if not masks:
        return model, masks

    def ref(r: TensorRef) -> TensorRef:
        return dropped.get(r.layer, r)

    layers = []
    for layer in model.layers:
        if layer.name in dropped:
            continue
        if layer.name in embeddings:
            layer = replace(layer, config=replace(layer.config, mask_zero=False),
                            weights={**layer.weights, **_sentinel_row(layer, ctx)})
        layers.append(replace(layer, calls=[Call([ref(r) for r in c.inputs], c.kwargs) for c in layer.calls]))
    result = Model(model.name, layers, model.inputs, model.outputs, structure=model.structure,
                   provenance=model.provenance, training=model.training, input_structure=model.input_structure,
                   output_structure=model.output_structure)
    result.validate()
    return result, masks


def _sentinel_row(layer: Layer, ctx: WriteContext) -> dict[str, Weight]:
    """The embeddings with row 0 (read at masked steps only) set to :data:`SENTINEL`; refused where another
    row equals it, which DL4J would mask too."""
    if not layer.weights:  # a configuration written alone: the weights loaded later must hold the sentinel
        ctx.note("rewritten", f"row 0 of the embeddings must be {SENTINEL:g} in every feature (the masked id, found "
                 "by the MaskZeroLayer)", layer=layer.name, severity="warning")
        return {}
    embeddings = layer.weights["embeddings"]

    def with_sentinel(values: np.ndarray) -> np.ndarray:
        if np.any(np.all(values[1:] == SENTINEL, axis=-1)):
            raise _refuse(layer, f"an Embedding(mask_zero=True) with a row other than 0 equal to {SENTINEL:g} "
                          "(the value row 0 is written as, so that the MaskZeroLayer finds masked ids)")
        out = values.copy()
        out[0] = SENTINEL
        return out
    return {"embeddings": embeddings.derive(with_sentinel, embeddings.shape, f"row 0 set to {SENTINEL:g}")}
