"""Readers: every supported input format into the IR.

:func:`read_model` resolves the input, sniffs its format by content and dispatches to the
format's reader.
"""

from __future__ import annotations

from kconvert.ir.graph import Model
from kconvert.readers.context import LoadOptions
from kconvert.readers.source import SourceLike, resolve


def read_model(source: SourceLike, weights: SourceLike | None, options: LoadOptions) -> Model:
    from kconvert.readers.keras.reader import read_keras

    model_input = resolve(source, options.limits)
    weights_input = resolve(weights, options.limits) if weights is not None else None
    return read_keras(model_input, weights_input, options)
