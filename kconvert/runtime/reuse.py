"""The :class:`Runtime` that ``kconvert.run`` keeps on a model, so that running one model again and
again (a loop over batches) converts its weights and traces its graph once, not on every call.

It is kept with a snapshot of what it was built from: the graph's inputs and outputs and, for every
layer (nested ones too), the layer, its configuration, its weight objects and a copy of its calls.
A model changed since (a layer, configuration or weight replaced, a call rewired) is compiled anew.
Only numbers changed in place inside an array a :class:`~kconvert.ir.weights.Weight` wraps go
unseen, as they would by a Runtime its caller keeps.  ``model.close()`` drops what is kept.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from kconvert.ir.graph import Model
from kconvert.readers.context import Limits
from kconvert.runtime.device import resolve_device
from kconvert.runtime.executor import Runtime


class _Snapshot:
    """What a Runtime was built from; holds the objects it names, so their ids stay theirs."""

    def __init__(self, model: Model) -> None:
        layers = list(model.iter_layers(recursive=True))
        self._held = [(layer, layer.config, list(layer.weights.values())) for layer in layers]
        self._key = (list(model.inputs), list(model.outputs),
                     [(id(layer), id(config), [id(w) for w in weights], layer.name, layer.dtype,
                       list(layer.weights)) for layer, config, weights in self._held])
        self._calls = [copy.deepcopy(layer.calls) for layer in layers]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Snapshot) or self._key != other._key:
            return False
        try:
            return bool(self._calls == other._calls)
        except ValueError:  # an array among a call's arguments (built by hand): compared as changed
            return False


def runtime_for(model: Model, device: str | None = None, dtype: str = "float32",
                limits: Limits | None = None) -> Runtime:
    """The Runtime kept on ``model`` for this device, dtype and limits, built first if none fits."""
    limits = limits or Limits()
    key = (resolve_device(device), dtype, limits)
    snapshot = _Snapshot(model)
    kept = model._runtimes.get(key)
    if kept is not None and kept[0] == snapshot:
        return kept[1]
    runtime = Runtime(model, device=device, dtype=dtype, limits=limits)
    model._runtimes[key] = (snapshot, runtime)
    return runtime


def run(model: Model, inputs: Any, *, device: str | None = None, dtype: str = "float32",
        limits: Limits | None = None) -> list[np.ndarray]:
    """Run ``model`` on ``inputs`` with kconvert's TensorFlow runtime (compiled once per model)."""
    return runtime_for(model, device=device, dtype=dtype, limits=limits)(inputs)
