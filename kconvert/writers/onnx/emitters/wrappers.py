"""TimeDistributed: the time axis folded into the batch (Reshape), the wrapped layer emitted through
the registry over (batch * time, ...), and the two axes unfolded again; sizes are read from the
tensors' shapes, so any batch and sequence length run."""

from __future__ import annotations

import numpy as np

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, identity


@emits("TimeDistributed")
def time_distributed(em: Emit) -> list[Value]:
    inner = em.config.layer
    x = em.input(0)
    folded = em.op("Reshape", [x.name, em.op("Concat", [em.const([-1], np.int64), em.sizes(x.name, 2)], axis=0)])
    shape = em.shapes[0]
    (y,) = em.nested(inner, [Value(folded, identity(x.rank - 1))], [(None, *shape[2:])])
    y = em.graph.in_layout(y, identity(y.rank))
    unfolded = em.op("Concat", [em.sizes(x.name, 0, 2), em.sizes(y.name, 1)], axis=0)
    return [Value(em.op("Reshape", [y.name, unfolded]), identity(len(em.outputs[0])))]
