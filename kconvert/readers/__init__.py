"""Readers: every supported input format into the IR.

:func:`read_model` resolves the input, sniffs its format by content and dispatches to the
format's reader.
"""

from __future__ import annotations

from typing import Any

from kconvert.errors import KConvertError
from kconvert.ir.graph import Model
from kconvert.readers.context import LoadOptions
from kconvert.readers.source import Input, SourceLike, resolve


def read_model(source: SourceLike, weights: SourceLike | None, options: LoadOptions) -> Model:
    from kconvert.readers.keras.reader import read_keras

    model_input = resolve(source, options.limits)
    if weights is None:
        from kconvert.readers.dl4j import is_dl4j_zip, read_dl4j

        if model_input.kind == "zip" and is_dl4j_zip(model_input.content()):
            return read_dl4j(model_input, options.limits)
        document = _dl4j_config(model_input, options)
        if document is not None:
            return read_dl4j(model_input, options.limits, document)
    weights_input = resolve(weights, options.limits) if weights is not None else None
    return read_keras(model_input, weights_input, options)


def _dl4j_config(inp: Input, options: LoadOptions) -> dict[str, Any] | None:
    """A Deeplearning4j configuration (its MultiLayer or ComputationGraph keys), parsed; else None."""
    from kconvert.readers.dl4j import is_dl4j_config
    from kconvert.readers.text import parse_json

    if inp.kind != "json":
        return None
    try:
        text = inp.text(options.limits)
        # parse only what names a DL4J key: a Keras configuration is then parsed once, by its reader
        if '"confs"' not in text and '"networkInputs"' not in text:
            return None
        document = parse_json(text, inp.display, options.limits)
    except KConvertError:
        return None  # the Keras reader reports it
    return document if is_dl4j_config(document) else None
